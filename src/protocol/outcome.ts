/**
 * How an evaluation or an operation ended, and the human texts for the manhole's own stops:
 * one place for what the session prints, the structured error carries and the audit records.
 */
/** What was thrown, in parts (structured replies). */
export interface ErrorInfo {
  name: string;
  message: string;
  stack?: string;
}

/**
 * - ok: it returned (an operation: it did its work)
 * - error: the code threw or rejected (`Uncaught ...`), or the operation failed
 * - interrupted: it started and was stopped (Ctrl-C, the structured interrupt)
 * - timeout: it ran past the timeout and was stopped, or its prompt was given back
 * - cancelled: it never started, and never will (the session was told so)
 * - refused: not allowed here (observe-only)
 */
export type OutcomeKind = "ok" | "error" | "interrupted" | "timeout" | "cancelled" | "refused";

/** The end of an evaluation, as the socket side hands it to a session. */
export interface Outcome {
  kind: OutcomeKind;
  /** Ready to print: the inspected value, `Uncaught ...`, or one of the texts below. */
  text: string;
  /** Structured requests: the value as JSON text, when it can be serialised. */
  json?: string;
  /** Structured requests: what was thrown, when it looks like an error. */
  error?: ErrorInfo;
  /** The session stopped waiting, but the code was not stopped: it goes on (see the text). */
  goesOn?: true;
}

/** What a session is told when it stops waiting for an awaited promise (the promise itself goes on). */
export function awaitAbandoned(why: "timeout" | "interrupt", timeoutMs: number): string {
  const what = why === "timeout" ? `Timed out after ${timeoutMs} ms while awaiting` : "Interrupted while awaiting";
  return `${what}: the prompt is back; the promise keeps running`;
}

/** What a session is told when its evaluation was stopped. */
export function interruptedText(timedOut: boolean, timeoutMs: number): string {
  return timedOut ? `Interrupted: the evaluation ran longer than ${timeoutMs} ms (timeout)` : "Interrupted";
}

/** An interrupted input that other code kept from starting; it is skipped when its turn comes. */
export const NOT_STARTED_TEXT =
  "Cancelled: the event loop is blocked by other code (see .stack) and this input had not started; it will not run";

/** A frame of the main thread, as a blocked notice or a paused session shows it. */
export interface FrameInfo {
  function: string;
  /** A path for files, `REPL<id>` for an input, or the script's URL. */
  file: string;
  line: number;
  column: number;
}

/** Where the main thread is while its event loop is blocked, as the inspector observed it. */
export interface BlockedAt {
  blockedMs: number;
  /**
   * "js": it answered the inspector and runs JavaScript (`.pause` can stop it at its next statement);
   * "native": it did not answer a cheap inspector request: it is outside JavaScript;
   * "waiting": in Atomics.wait (it answers the inspector; it reaches no statement until the wait returns).
   */
  state: "js" | "native" | "waiting";
  /** The top frame that is not the manhole's own, when it could be read. */
  frame?: FrameInfo;
  /** Nothing but the probe was on the main thread's stack: its loop has just turned after all. */
  idle?: true;
  /** The main thread is stopped by this session's `.pause` (`frame`: where). */
  pausedBy?: number;
}

/** `fn (file:line)`. */
export function frameText(f: FrameInfo): string {
  return `${f.function || "<anonymous>"} (${f.file}:${f.line})`;
}

/** What an input that waits for a blocked event loop is told at once. */
export function blockedText(b: BlockedAt, durationText: string): string {
  const head = `The event loop has been blocked for ${durationText}`;
  const where = b.frame ? `, in ${frameText(b.frame)}` : "";
  if (b.state === "native") {
    return `${head}, outside JavaScript (native code: execSync, a synchronous file or network call, a native addon): it cannot be paused or stopped from here. This input runs when the loop turns — Ctrl-C cancels it; .stack says more.`;
  }
  if (b.pausedBy !== undefined) {
    return `${head}: session ${b.pausedBy} has paused the main thread (.pause)${where}. This input runs when that session resumes it — Ctrl-C cancels it; .stack shows where it is.`;
  }
  if (b.state === "waiting") {
    return `${head}, in Atomics.wait called from ${b.frame ? frameText(b.frame) : "<unknown>"}: the thread waits to be notified. This input runs when the loop turns — Ctrl-C cancels it; .stack shows where it is (.pause cannot stop it until the wait returns).`;
  }
  return `${head}${where}. This input runs when the loop turns — Ctrl-C cancels it; .pause evaluates inside the blocked thread now; .stack shows where it is.`;
}

/** At the timeout, an input that never started: cancelled, or (with .wait) kept waiting. */
export function waitedText(kept: boolean, timeoutMs: number): string {
  return kept
    ? `Still waiting after ${timeoutMs} ms (timeout): the event loop is still blocked; this input stays queued (.wait is on) and runs when it turns — Ctrl-C cancels it.`
    : `Cancelled: this input waited ${timeoutMs} ms (timeout) for the event loop, which other code keeps blocked; it will not run (.wait keeps inputs waiting instead).`;
}

/** Why an evaluation that was asked to stop is still there, after `stopped` (interruptedText). */
export const STILL_RUNNING = {
  "not-ours": "the event loop is blocked by other code, not by this evaluation (see .stack); the evaluation keeps waiting",
  unsafe:
    "the main thread is held by an async continuation of manhole code that has no loop to stop at; it cannot be stopped safely (see .stack)",
  "not-js":
    "the main thread is blocked outside JavaScript (native code such as execSync or a synchronous file operation) and cannot be stopped from here; the evaluation keeps running",
  unseen: "the main thread runs JavaScript but did not pause in time to be sampled (see .stack); the evaluation keeps running",
} as const;

/** What a refused human-mode input prints (observe-only). */
export const REFUSED_TEXT = "Refused: this manhole is observe-only (evaluation is disabled)";

/** The structured error's message for the same (its name is PROTOCOL_ERRORS.observeOnly). */
export const REFUSED_MESSAGE = "this manhole is observe-only (evaluation is disabled)";
