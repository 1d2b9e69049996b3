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
  "Interrupted: the event loop is blocked by other code (see .stack) and this input had not started; it will not run";

/** Why an evaluation that was asked to stop is still there, after `stopped` (interruptedText). */
export const STILL_RUNNING = {
  "not-ours": "the event loop is blocked by other code, not by this evaluation (see .stack); the evaluation keeps waiting",
  unsafe:
    "the main thread is held by an async continuation of manhole code that has no loop to stop at; it cannot be stopped safely (see .stack)",
  "not-js":
    "the main thread is blocked outside JavaScript (native code such as execSync or Atomics.wait) and cannot be stopped from here; the evaluation keeps running",
} as const;

/** What a refused human-mode input prints (observe-only). */
export const REFUSED_TEXT = "Refused: this manhole is observe-only (evaluation is disabled)";

/** The structured error's message for the same (its name is PROTOCOL_ERRORS.observeOnly). */
export const REFUSED_MESSAGE = "this manhole is observe-only (evaluation is disabled)";
