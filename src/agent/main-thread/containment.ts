/**
 * Keeps errors from manhole code inside the manhole, at no cost to the app where Node carries an
 * async context (Node 24 and later), else at a cost paid only while manhole work exists.
 *
 * Which code is manhole code, and whose, a tagger knows (tagging.ts): by async context where
 * AsyncLocalStorage rides on AsyncContextFrame and Node does not abort on uncaught exceptions
 * (tagging-by-context.ts), else by hooks on only while manhole work exists (tagging-by-hooks.ts).
 *
 * - An unhandled rejection of a manhole promise is reported to its session; any other one gets
 *   the treatment Node would have given it had we not been listening. The `unhandledRejection`
 *   listener is attached only while manhole work may reject (and until the rejections of that
 *   tick have been processed): with hooks, while they are on; by context, from the first
 *   evaluation until the manhole closes.
 * - An uncaught exception: Node first emits `uncaughtExceptionMonitor`, then calls the capture
 *   callback if one is set, else emits `uncaughtException` or crashes. Our monitor listener asks
 *   the tagger whose callback threw; if it is manhole code, it sets a one-shot capture callback,
 *   which reports the throw to the session. Anything else finds no capture callback of ours and
 *   gets Node's own handling, untouched.
 *
 * Callbacks that manhole code hands to timers, queueMicrotask and process.nextTick are wrapped
 * as well (see session-globals.ts), which also covers an app that set its own capture callback.
 */
import { setImmediate } from "node:timers";
import { ABORTS_ON_UNCAUGHT, rejectionMode } from "./node-flags.js";
import type { Reporter, Tagger } from "./tagging.js";
import { contextFramesAvailable, contextTagger } from "./tagging-by-context.js";
import { hookTagger } from "./tagging-by-hooks.js";

export type { Reporter } from "./tagging.js";

let formatError: (err: unknown) => string = String;
let users = 0;

function tell(r: Reporter, err: unknown): void {
  try {
    r(`Uncaught ${formatError(err)}\n`);
  } catch {
    // nowhere to report: the throw is still ours, and goes no further
  }
}

const tagger: Tagger =
  contextFramesAvailable() && !ABORTS_ON_UNCAUGHT
    ? contextTagger()
    : hookTagger({ opened: attachRejections, closed: detachRejectionsSoon, threw: tell });

// ---------------------------------------------------------------------------------------------
// Uncaught exceptions in manhole callbacks

function onMonitor(_err: unknown, origin: string): void {
  if (origin !== "uncaughtException" || process.hasUncaughtExceptionCaptureCallback()) return;
  const r = tagger.thrower();
  if (!r) return;
  // Node calls the capture callback right after its monitor listeners, instead of crashing.
  process.setUncaughtExceptionCaptureCallback((err) => {
    process.setUncaughtExceptionCaptureCallback(null);
    tell(r, err);
  });
}

// ---------------------------------------------------------------------------------------------
// Unhandled rejections

/** Whether our `unhandledRejection` listener is attached. */
let listening = false;
let detachScheduled = false;

/** Manhole work may make rejections from now on: they must come to us. */
function attachRejections(): void {
  if (listening || users === 0) return;
  listening = true;
  process.on("unhandledRejection", onUnhandledRejection);
}

/**
 * Manhole work can make no more rejections: let go of the listener once this tick's rejections
 * have been emitted (Node emits them before any immediate runs), so a promise that manhole code
 * rejected just now still comes to us.
 */
function detachRejectionsSoon(): void {
  if (!listening || detachScheduled) return;
  detachScheduled = true;
  tagger.asAgent(() =>
    setImmediate(() => {
      detachScheduled = false;
      if (!tagger.live()) detachRejections();
    }).unref(),
  );
}

function detachRejections(): void {
  if (!listening) return;
  listening = false;
  process.off("unhandledRejection", onUnhandledRejection);
}

/** The --unhandled-rejections modes in which Node acts on a rejection only when no listener heard it. */
const ACTS_UNHEARD = new Set(["throw", "warn-with-error-code"]);

function onUnhandledRejection(reason: unknown, promise: Promise<unknown>): void {
  const report = tagger.rejecter(promise);
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
  // name this one). Listening resumes at the next immediate if manhole work may still reject.
  detachRejections();
  tagger.asAgent(() => {
    void Promise.reject(reason);
    setImmediate(() => {
      if (tagger.live()) attachRejections();
    }).unref();
  });
}

// ---------------------------------------------------------------------------------------------
// Entry points

/** Runs `fn` as manhole code of the session that `report` writes to. */
export function runAsManholeCode<T>(report: Reporter, fn: () => T): T {
  attachRejections();
  return tagger.run(report, fn);
}

/** Runs `fn` as the agent's own code (e.g. writing a session's output): nothing it starts is tagged. */
export function asAgentCode<T>(fn: () => T): T {
  return tagger.asAgent(fn);
}

/** Marks a promise (e.g. an evaluation's result) as manhole-owned after the fact. */
export function tagPromise(promise: object, report: Reporter): void {
  tagger.tagPromise(promise, report);
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

/** Installs the process-wide rejection and uncaught-exception-monitor listeners once; `close()` removes it when the last manhole closes. */
export function installContainment(format: (err: unknown) => string): { close(): void } {
  formatError = format;
  // Node makes these streams on first use: made by manhole code (say, a stream's destroy path
  // that logs), they would be the manhole's for the life of the process. Made now, they are the app's.
  void process.stdout;
  void process.stderr;
  if (users++ === 0) {
    process.on("uncaughtExceptionMonitor", onMonitor);
    if (tagger.live() && tagger.design === "hooks") attachRejections();
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

/** Which way this process tells manhole code apart, and what keeps hooks on (for diagnostics and tests). */
export function pendingWork(): { design: Tagger["design"]; hooksOn: boolean; promises: number; resources: number } {
  return { design: tagger.design, ...tagger.pending() };
}

/** After a terminated evaluation: its frames never unwound, so forget what they pushed. */
export function resetRunning(): void {
  tagger.reset();
}
