/**
 * Keeps errors from manhole code inside the manhole.
 *
 * Promises created while manhole code runs are tagged with their session (a V8 promise hook,
 * switched on only while manhole code may be running, because it slows await-heavy apps).
 * An unhandled rejection of a tagged promise is reported to its session; any other one gets
 * the treatment Node would have given it had we not been listening.
 *
 * Callbacks that manhole code hands to timers, queueMicrotask and process.nextTick are wrapped
 * (see session-globals.ts) so that a throw there is reported instead of killing the process.
 */
import v8 from "node:v8";

export type Reporter = (text: string) => void;

const tagged = new WeakMap<object, Reporter>();
/** Reporter of the manhole code running right now, innermost last. */
const running: (Reporter | undefined)[] = [];
let stopHook: (() => void) | undefined;
let users = 0;
let idleTimer: NodeJS.Timeout | undefined;
let lastRun = 0;
/** How long the hook stays on after manhole code last ran, to tag promises its continuations create. */
const TAIL_MS = 10_000;
let formatError: (err: unknown) => string = String;

function current(): Reporter | undefined {
  return running[running.length - 1];
}

function enableHook(): void {
  if (stopHook) return;
  stopHook = <() => void>v8.promiseHooks.createHook({
    init(promise, parent) {
      const r = current() ?? (parent ? tagged.get(parent) : undefined);
      if (r) tagged.set(promise, r);
    },
    before(promise) {
      running.push(tagged.get(promise));
    },
    after() {
      running.pop();
    },
  });
}

/** Turns the hook off once no manhole code has run for TAIL_MS (one timer, re-armed as needed, not one per run). */
function scheduleDisable(): void {
  lastRun = Date.now();
  if (idleTimer) return;
  const check = () => {
    const quiet = Date.now() - lastRun;
    if (running.length > 0 || quiet < TAIL_MS) {
      idleTimer = setTimeout(check, Math.max(TAIL_MS - quiet, 100)).unref();
      return;
    }
    idleTimer = undefined;
    stopHook?.();
    stopHook = undefined;
  };
  idleTimer = setTimeout(check, TAIL_MS).unref();
}

/** Runs `fn` as manhole code of the session that `report` writes to. */
export function runAsManholeCode<T>(report: Reporter, fn: () => T): T {
  enableHook();
  running.push(report);
  try {
    return fn();
  } finally {
    running.pop();
    if (running.length === 0) scheduleDisable();
  }
}

/** Marks a promise (e.g. an evaluation's result) as manhole-owned after the fact. */
export function tagPromise(promise: object, report: Reporter): void {
  tagged.set(promise, report);
}

/** Wraps a callback so that a throw inside it is reported to `report` and goes no further. */
export function guardCallback<A extends unknown[], R>(report: Reporter, fn: (...args: A) => R): (...args: A) => R | undefined {
  return function guarded(this: unknown, ...args: A) {
    try {
      return runAsManholeCode(report, () => fn.apply(this, args));
    } catch (err) {
      report(`Uncaught ${formatError(err)}\n`);
      return undefined;
    }
  };
}

/** The --unhandled-rejections mode in force, as Node would read it. */
function rejectionMode(): string {
  const flags = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
  let mode = "throw";
  for (const f of flags) {
    const m = /^--unhandled-rejections=(\w[\w-]*)$/.exec(f);
    if (m) mode = m[1];
  }
  return mode;
}

class UnhandledPromiseRejection extends Error {
  code = "ERR_UNHANDLED_REJECTION";
  constructor(reason: unknown) {
    let shown: string;
    try {
      shown = String(reason);
    } catch {
      shown = "[unprintable]";
    }
    super(
      "This error originated either by throwing inside of an async function without a catch block, " +
        `or by rejecting a promise which was not handled with .catch(). The promise rejected with the reason "${shown}".`,
    );
    this.name = "UnhandledPromiseRejection";
  }
}

function onUnhandledRejection(reason: unknown, promise: Promise<unknown>): void {
  const report = tagged.get(promise);
  if (report) {
    report(`Uncaught (in promise) ${formatError(reason)}\n`);
    return;
  }
  // Not ours. Had we not been listening, Node would have handed it to the app's listeners or,
  // with none, applied --unhandled-rejections. Do the same.
  if (process.listenerCount("unhandledRejection") > 1) return;
  const mode = rejectionMode();
  if (mode === "none") return;
  if (mode === "warn" || mode === "warn-with-error-code") {
    process.emitWarning(`Unhandled promise rejection: ${formatError(reason)}`, "UnhandledPromiseRejectionWarning");
    if (mode === "warn-with-error-code") process.exitCode = 1;
    return;
  }
  const isErrorLike = typeof reason === "object" && reason !== null && "stack" in reason;
  throw isErrorLike ? reason : new UnhandledPromiseRejection(reason);
}

/** Installs the process-wide rejection listener once; `close()` removes it when the last manhole closes. */
export function installContainment(format: (err: unknown) => string): { close(): void } {
  formatError = format;
  if (users++ === 0) process.on("unhandledRejection", onUnhandledRejection);
  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      if (--users === 0) process.off("unhandledRejection", onUnhandledRejection);
    },
  };
}

/** After a terminated evaluation: its frames never unwound, so forget what they pushed. */
export function resetRunning(): void {
  running.length = 0;
  scheduleDisable();
}
