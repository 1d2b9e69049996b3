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
