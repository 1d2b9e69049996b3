/**
 * Keeps errors from manhole code inside the manhole, at no cost to the app where Node carries an
 * async context (Node 24 and later), else at a cost paid only while manhole work exists.
 *
 * Which code is manhole code, and whose, a tagger knows (tagging.ts): by async context where
 * AsyncLocalStorage rides on AsyncContextFrame and Node does not abort on uncaught exceptions
 * (tagging-by-context.ts), else by hooks on only while manhole work exists (tagging-by-hooks.ts).
 *
 * - An unhandled rejection of a manhole promise is reported to its session and goes no further:
 *   the rejection filter (rejection-filter.ts) takes it out of `process.emit` before the app's
 *   listeners or Node's --unhandled-rejections mode see it; the app's own rejections pass
 *   through untouched. The filter is on while manhole work may reject: with hooks, while they
 *   are on (and until the rejections of that tick have been emitted); by context, from the
 *   first evaluation for the life of the process, since nothing tells when such work is over.
 * - An uncaught exception: Node first emits `uncaughtExceptionMonitor`, then calls the capture
 *   callback if one is set, else emits `uncaughtException` or crashes. Our monitor listener asks
 *   the tagger whose callback threw; if it is manhole code, it sets a one-shot capture callback,
 *   which reports the throw to the session. Anything else finds no capture callback of ours and
 *   gets Node's own handling, untouched. Under --unhandled-rejections=strict Node raises a
 *   rejection this way before it emits it: a manhole one is swallowed here and told by the filter.
 * - `close()` of the last manhole leaves both in place while work typed before it may still
 *   throw or reject (with hooks, until they go off; by context, for good once anything ran):
 *   such a throw or rejection is told on the audit log or stderr.
 *
 * Callbacks that manhole code hands to timers, queueMicrotask and process.nextTick are wrapped
 * as well (see session-globals.ts), which also covers an app that set its own capture callback.
 */
import { setImmediate } from "node:timers";
import { ABORTS_ON_UNCAUGHT, rejectionMode } from "./node-flags.js";
import { rejectionFilter } from "./rejection-filter.js";
import type { Reporter, Tagger } from "./tagging.js";
import { contextFramesAvailable, contextTagger } from "./tagging-by-context.js";
import { hookTagger } from "./tagging-by-hooks.js";

export type { Reporter } from "./tagging.js";

let formatError: (err: unknown) => string = String;
let users = 0;
/** Whether manhole code has run in this process (by context, containment then stays for good). */
let ran = false;

/** Tells a session of a throw (`Uncaught ...`) or a rejection (`Uncaught (in promise) ...`) of its code. */
function tell(r: Reporter, err: unknown, what = "Uncaught"): void {
  try {
    r(`${what} ${formatError(err)}\n`);
  } catch {
    // nowhere to report: the throw is still ours, and goes no further
  }
}

const tagger: Tagger =
  contextFramesAvailable() && !ABORTS_ON_UNCAUGHT
    ? contextTagger()
    : hookTagger({ opened: attachRejections, closed: detachRejectionsSoon, threw: tell });

const filter = rejectionFilter(
  tagger.rejecter,
  (r, reason) => tell(r, reason, "Uncaught (in promise)"),
  rejectionMode() === "warn",
  tagger.asAgent,
);

/** Under --unhandled-rejections=strict Node raises a rejection as an exception before it emits it. */
const RAISES_FIRST = rejectionMode() === "strict";

// ---------------------------------------------------------------------------------------------
// Uncaught exceptions in manhole callbacks

function onMonitor(_err: unknown, origin: string): void {
  if (process.hasUncaughtExceptionCaptureCallback()) return;
  if (origin === "unhandledRejection") {
    // A rejection raised before it is emitted: a manhole one is swallowed here, and the filter,
    // which Node calls next with the promise, tells it to its session.
    if (!RAISES_FIRST || !filter.active || !tagger.rejecting()) return;
    process.setUncaughtExceptionCaptureCallback(() => process.setUncaughtExceptionCaptureCallback(null));
    return;
  }
  const r = tagger.thrower();
  if (!r) return;
  // Node calls the capture callback right after its monitor listeners, instead of crashing.
  process.setUncaughtExceptionCaptureCallback((err) => {
    process.setUncaughtExceptionCaptureCallback(null);
    tell(r, err);
  });
}

let monitoring = false;

function monitor(on: boolean): void {
  if (on === monitoring) return;
  monitoring = on;
  if (on) process.on("uncaughtExceptionMonitor", onMonitor);
  else process.off("uncaughtExceptionMonitor", onMonitor);
}

// ---------------------------------------------------------------------------------------------
// Unhandled rejections

let detachScheduled = false;

/** Manhole work may make rejections from now on: they must not reach the app. */
function attachRejections(): void {
  if (users > 0 || (ran && tagger.live())) filter.on();
}

/**
 * Manhole work can make no more rejections: turn the filter off once this tick's rejections
 * have been emitted (Node emits them before any immediate runs), so a promise that manhole code
 * rejected just now is still taken out. The last manhole closed, the monitor goes with it.
 */
function detachRejectionsSoon(): void {
  if (detachScheduled) return;
  detachScheduled = true;
  tagger.asAgent(() =>
    setImmediate(() => {
      detachScheduled = false;
      if (tagger.live()) return;
      filter.off();
      if (users === 0) monitor(false);
    }).unref(),
  );
}

// ---------------------------------------------------------------------------------------------
// Entry points

/** Runs `fn` as manhole code of the session that `report` writes to. */
export function runAsManholeCode<T>(report: Reporter, fn: () => T): T {
  ran = true;
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

/**
 * Installs the process-wide uncaught-exception monitor once; `close()` of the last manhole takes
 * it and the rejection filter away, once manhole work can no longer throw or reject.
 */
export function installContainment(format: (err: unknown) => string): { close(): void } {
  formatError = format;
  // Node makes these streams on first use: made by manhole code (say, a stream's destroy path
  // that logs), they would be the manhole's for the life of the process. Made now, they are the app's.
  void process.stdout;
  void process.stderr;
  users++;
  monitor(true);
  if (tagger.design === "hooks" && tagger.live()) filter.on();
  let closed = false;
  return {
    close() {
      if (closed) return;
      closed = true;
      if (--users > 0) return;
      // Work typed before the close may still throw or reject: by context, nothing tells when
      // it is over; with hooks, they say so by going off.
      if (ran && tagger.design === "context") return;
      // By context, `live()` is always true: with nothing ever evaluated there is nothing to wait for.
      if (tagger.design === "hooks" && tagger.live()) detachRejectionsSoon();
      else {
        filter.off();
        monitor(false);
      }
    },
  };
}

/** Which way this process tells manhole code apart, and what keeps hooks on (for diagnostics and tests). */
export function pendingWork(): { design: Tagger["design"]; hooksOn: boolean; switchedOn: number; promises: number; resources: number } {
  return { design: tagger.design, ...tagger.pending() };
}

/** After a terminated evaluation: its frames never unwound, so forget what they pushed. */
export function resetRunning(): void {
  tagger.reset();
}
