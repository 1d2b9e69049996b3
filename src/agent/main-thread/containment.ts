/**
 * Keeps errors from manhole code inside the manhole, at a cost paid only while manhole work exists.
 *
 * What manhole code starts is tagged with the session to report to: promises (a V8 promise hook)
 * and every other async resource, whatever Node API made it (an async_hooks `init` hook). A
 * resource or promise made while manhole code runs, or while the callback of a tagged resource
 * runs, is tagged in turn. Both hooks are on only while manhole code runs or something tagged is
 * pending (a promise not yet settled, a resource not yet destroyed); the rest of the time the app
 * runs with no hook at all.
 *
 * - An unhandled rejection of a tagged promise is reported to its session; any other one gets
 *   the treatment Node would have given it had we not been listening. The `unhandledRejection`
 *   listener is attached only while the hooks are on (and until the rejections of that tick have
 *   been processed): the rest of the time the app's rejections meet Node alone.
 * - An uncaught exception: Node first emits `uncaughtExceptionMonitor`, then calls the capture
 *   callback if one is set, else emits `uncaughtException` or crashes. Our monitor listener looks
 *   at the async resource whose callback threw (executionAsyncId()); if it is tagged, it sets a
 *   one-shot capture callback, which reports the throw to the session. Anything else finds no
 *   capture callback of ours and gets Node's own handling, untouched. The resource hook has no
 *   before/after callbacks (they would add a frame to the app's stacks, and cost).
 * - Under --abort-on-uncaught-exception, V8 aborts at the throw, before any listener: there the
 *   capture callback is set for as long as a tagged callback runs instead (before/after hooks),
 *   which tells V8 not to abort.
 *
 * Callbacks that manhole code hands to timers, queueMicrotask and process.nextTick are wrapped
 * as well (see session-globals.ts), which also covers an app that set its own capture callback.
 */
import { createHook, executionAsyncId } from "node:async_hooks";
import { setImmediate, setTimeout } from "node:timers";
import v8 from "node:v8";

export type Reporter = (text: string) => void;

/** Promises made by manhole code, and where their rejections go. */
const tagged = new WeakMap<object, Reporter>();
/**
 * Who runs now, innermost last: a session's reporter for manhole code (or a tagged callback),
 * null for code known not to be manhole code (the app's promise continuations, our own plumbing).
 */
const running: (Reporter | null)[] = [];
/** Tagged async resources not yet destroyed, by async id. */
const resources = new Map<number, Reporter>();
/** Tagged promises not yet settled. */
const unsettled = new WeakSet<object>();
let pendingPromises = 0;

/** A tagged promise or resource collected without settling or being destroyed is pending no more. */
const collected = new FinalizationRegistry<number | undefined>((asyncId) => {
  if (asyncId === undefined) pendingPromises--;
  else resources.delete(asyncId);
  closeSoon();
});

let formatError: (err: unknown) => string = String;
let users = 0;

function current(): Reporter | null | undefined {
  return running[running.length - 1];
}

/** Whose code runs now: the innermost manhole code, else the tagged resource whose callback this is. */
function owner(): Reporter | null | undefined {
  return running.length > 0 ? current() : resources.get(executionAsyncId());
}

// ---------------------------------------------------------------------------------------------
// Uncaught exceptions in tagged callbacks

function tell(r: Reporter, err: unknown): void {
  try {
    r(`Uncaught ${formatError(err)}\n`);
  } catch {
    // nowhere to report: the throw is still ours, and goes no further
  }
}

function onMonitor(_err: unknown, origin: string): void {
  if (origin !== "uncaughtException" || process.hasUncaughtExceptionCaptureCallback()) return;
  const r = resources.get(executionAsyncId());
  if (!r) return;
  // Node calls the capture callback right after its monitor listeners, instead of crashing.
  process.setUncaughtExceptionCaptureCallback((err) => {
    process.setUncaughtExceptionCaptureCallback(null);
    tell(r, err);
  });
}

/** Node's own flags: the command line's and NODE_OPTIONS as the process started with them. */
const NODE_FLAGS = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];
/** Node's --abort-on-uncaught-exception, as given on the command line or in NODE_OPTIONS. */
const ABORTS_ON_UNCAUGHT = NODE_FLAGS.some((f) => /^--abort[-_]on[-_]uncaught[-_]exception$/.test(f));

/** Under --abort-on-uncaught-exception: the async ids of the tagged callbacks running now. */
const callbacks: number[] = [];
let ownCapture = false;

function releaseCapture(): void {
  if (!ownCapture) return;
  ownCapture = false;
  process.setUncaughtExceptionCaptureCallback(null);
}

/**
 * Hook callbacks, and Node 24's trackPromises: false (the promise hook tags promises; earlier
 * Nodes ignore the option and track promises too, which costs only while the hooks are on).
 */
type HookOptions = Parameters<typeof createHook>[0] & { trackPromises?: boolean };
const hook = (options: HookOptions) => createHook({ ...options, trackPromises: false } as HookOptions);

const callbackHook = hook({
  before(asyncId) {
    const r = resources.get(asyncId);
    if (!r) return;
    callbacks.push(asyncId);
    if (callbacks.length === 1 && !process.hasUncaughtExceptionCaptureCallback()) {
      process.setUncaughtExceptionCaptureCallback((err) => tell(r, err));
      ownCapture = true;
    }
  },
  after(asyncId) {
    const at = callbacks.lastIndexOf(asyncId);
    if (at < 0) return;
    callbacks.length = at; // above it: callbacks that threw (Node emits their `after` first)
    if (at === 0) releaseCapture();
  },
});

// ---------------------------------------------------------------------------------------------
// The hooks

/**
 * Resources made once per process, for whoever comes next, when first needed: the one that manhole
 * code happened to be first to need is no more the manhole's than the app's.
 */
const SHARED = new Set(["PROMISE", "DNSCHANNEL", "TTYWRAP", "SIGNALWRAP"]);

const resourceHook = hook({
  init(asyncId, type, triggerAsyncId, resource) {
    if (SHARED.has(type)) return; // promises: the promise hook tags those
    const r = running.length > 0 ? current() : (resources.get(executionAsyncId()) ?? resources.get(triggerAsyncId));
    if (!r) return;
    resources.set(asyncId, r);
    collected.register(resource, asyncId, resource);
  },
  destroy(asyncId) {
    if (resources.delete(asyncId)) closeSoon();
  },
});

let stopPromiseHook: (() => void) | undefined;
let withCallbackHook = false;

function promiseHooks(): () => void {
  return <() => void>v8.promiseHooks.createHook({
    init(promise, parent) {
      const r = owner() ?? (parent ? tagged.get(parent) : undefined);
      if (!r) return;
      tagged.set(promise, r);
      unsettled.add(promise);
      pendingPromises++;
      collected.register(promise, undefined, promise);
    },
    settled(promise) {
      if (!unsettled.delete(promise)) return;
      pendingPromises--;
      collected.unregister(promise);
      closeSoon();
    },
    before(promise) {
      running.push(tagged.get(promise) ?? null);
    },
    after() {
      running.pop();
    },
  });
}

/** When the hooks last went off, and whether they came on again soon after (a burst of inputs). */
let closedAt = Number.NEGATIVE_INFINITY;
let burst = false;

/** Whether our `unhandledRejection` listener is attached (see attachRejections). */
let listening = false;
let detachScheduled = false;

/** Manhole work may make rejections from now on: they must come to us. */
function attachRejections(): void {
  if (listening || users === 0) return;
  listening = true;
  process.on("unhandledRejection", onUnhandledRejection);
}

/**
 * The hooks went off: let go of the listener once this tick's rejections have been emitted
 * (Node emits them before any immediate runs), so a promise that manhole code rejected just
 * now still comes to us.
 */
function detachRejectionsSoon(): void {
  if (!listening || detachScheduled) return;
  detachScheduled = true;
  asAgentCode(() =>
    setImmediate(() => {
      detachScheduled = false;
      if (!stopPromiseHook) detachRejections();
    }).unref(),
  );
}

function detachRejections(): void {
  if (!listening) return;
  listening = false;
  process.off("unhandledRejection", onUnhandledRejection);
}

/** Turns the hooks on: manhole code is about to run. */
function open(): void {
  attachRejections();
  if (stopPromiseHook) return;
  burst = performance.now() - closedAt < LINGER_MS;
  stopPromiseHook = promiseHooks();
  resourceHook.enable();
  withCallbackHook = ABORTS_ON_UNCAUGHT;
  if (withCallbackHook) callbackHook.enable();
}

function idle(): boolean {
  return running.length === 0 && pendingPromises === 0 && resources.size === 0;
}

/** Turns the hooks off when nothing of the manhole's runs or is pending. Never from inside a hook. */
function closeIfIdle(): void {
  if (!stopPromiseHook || !idle()) return;
  stopPromiseHook();
  stopPromiseHook = undefined;
  closedAt = performance.now();
  resourceHook.disable();
  if (withCallbackHook) callbackHook.disable();
  detachRejectionsSoon();
}

/**
 * How long the hooks stay on after manhole work ends, in a burst of inputs. Switching them on
 * and off costs about as much as evaluating `1` (each is a promise-hook update in V8 and
 * async_hooks' own), so a burst (a script, a client's round trips: the hooks came on again
 * within this long of going off) pays for one switch, not one per input. A lone input turns
 * them off as soon as it is over: while on, they slow every promise of the app, and an
 * await-heavy server evaluated in once a second lost 14% of its throughput to 10 ms of them.
 */
const LINGER_MS = 10;
let linger: NodeJS.Timeout | undefined;

/** Manhole code has returned: the hooks go off once it has stayed idle for LINGER_MS. */
function closeLater(): void {
  if (!stopPromiseHook) return;
  // Under --abort-on-uncaught-exception the callback hook puts Node's trampoline into the app's
  // own abort reports while it is on: never longer than manhole work needs it.
  if (withCallbackHook || !burst) {
    closeIfIdle();
    return;
  }
  if (linger) linger.refresh();
  else linger = asAgentCode(() => setTimeout(closeIfIdle, LINGER_MS).unref());
}

let closeScheduled = false;
/** From a hook: look again once the current callback is over. */
function closeSoon(): void {
  if (closeScheduled || !stopPromiseHook || pendingPromises > 0 || resources.size > 0) return;
  closeScheduled = true;
  asAgentCode(() =>
    setImmediate(() => {
      closeScheduled = false;
      closeLater();
    }).unref(),
  );
}

// ---------------------------------------------------------------------------------------------
// Entry points

/** Runs `fn` as manhole code of the session that `report` writes to. */
export function runAsManholeCode<T>(report: Reporter, fn: () => T): T {
  open();
  running.push(report);
  try {
    return fn();
  } finally {
    running.pop();
    if (running.length === 0) closeLater();
  }
}

/** Runs `fn` as the agent's own code (e.g. writing a session's output): nothing it starts is tagged. */
export function asAgentCode<T>(fn: () => T): T {
  running.push(null);
  try {
    return fn();
  } finally {
    running.pop();
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

/** The --unhandled-rejections modes in which Node acts on a rejection only when no listener heard it. */
const ACTS_UNHEARD = new Set(["throw", "warn-with-error-code"]);

/** The --unhandled-rejections mode in force, as Node would read it. */
function rejectionMode(): string {
  let mode = "throw";
  for (const f of NODE_FLAGS) {
    const m = /^--unhandled-rejections=(\w[\w-]*)$/.exec(f);
    if (m) mode = m[1];
  }
  return mode;
}

function onUnhandledRejection(reason: unknown, promise: Promise<unknown>): void {
  const report = tagged.get(promise);
  if (report) {
    report(`Uncaught (in promise) ${formatError(reason)}\n`);
    return;
  }
  // Not ours. Had we not been listening, Node would have handed it to the app's listeners or,
  // with none, applied --unhandled-rejections. "strict" raised it before emitting it, "warn"
  // warns whoever listens, "none" does nothing: only "throw" and "warn-with-error-code" act on
  // a rejection nobody listened for.
  if (process.listenerCount("unhandledRejection") > 1 || !ACTS_UNHEARD.has(rejectionMode())) return;
  // The reason goes back to Node as a new rejection nobody listens for, in this same tick, so
  // that Node's own handling applies as it would without a manhole: its warning, or the app's
  // uncaughtException listener, or the crash naming the app's line (thrown from here, it would
  // name this one). Listening resumes at the next immediate if manhole work still runs.
  detachRejections();
  asAgentCode(() => {
    void Promise.reject(reason);
    setImmediate(() => {
      if (stopPromiseHook) attachRejections();
    }).unref();
  });
}

/** Installs the process-wide rejection and uncaught-exception-monitor listeners once; `close()` removes it when the last manhole closes. */
export function installContainment(format: (err: unknown) => string): { close(): void } {
  formatError = format;
  // Node makes these streams on first use: made by manhole code (say, a stream's destroy path
  // that logs), they would be tagged for the life of the process. Made now, they are the app's.
  void process.stdout;
  void process.stderr;
  if (users++ === 0) {
    process.on("uncaughtExceptionMonitor", onMonitor);
    if (stopPromiseHook) attachRejections();
  }
  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      if (--users === 0) {
        detachRejections();
        process.off("uncaughtExceptionMonitor", onMonitor);
      }
    },
  };
}

/** What keeps the hooks on (for diagnostics and tests). */
export function pendingWork(): { hooksOn: boolean; promises: number; resources: number } {
  return { hooksOn: stopPromiseHook !== undefined, promises: pendingPromises, resources: resources.size };
}

/** After a terminated evaluation: its frames never unwound, so forget what they pushed. */
export function resetRunning(): void {
  running.length = 0;
  callbacks.length = 0;
  releaseCapture();
  closeIfIdle();
}
