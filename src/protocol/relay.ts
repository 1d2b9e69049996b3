import type { AuditEvent } from "./audit-event.js";
import type { OutcomeKind } from "./outcome.js";
import type { ErrorInfo } from "./structured.js";

/**
 * Messages between the side that owns the sockets (a worker thread, or the main thread itself
 * when `threaded: false`) and the evaluator on the main thread, where the app's objects live.
 * Everything here must survive structured cloning.
 */

/** Ask the main thread to evaluate one complete input for a session. */
export interface EvalRequest {
  type: "eval";
  /** Unique per agent; ties output and result to this request. */
  id: number;
  session: number;
  code: string;
  /** Also produce the value as JSON and the error's parts (structured protocol). */
  structured?: boolean;
}

/** Completions for `text`, the input line up to the cursor. */
export interface CompleteRequest {
  type: "complete";
  id: number;
  session: number;
  text: string;
}

/** Session opened or closed: the evaluator keeps (or drops) that session's scope. */
export interface SessionEvent {
  type: "session-open" | "session-close";
  session: number;
}

/** The socket side terminated a runaway evaluation; the evaluator forgets it. */
export interface EvalAbandoned {
  type: "eval-abandoned";
  id: number;
}

/**
 * The worker raised the shared interrupt flag and has decided what to tell the session. Reaching
 * the main thread means its event loop turns again, so the flag can go down.
 */
export interface InterruptDone {
  type: "interrupt-done";
}

/** Run operation `op`'s main-thread half with `input` (one generic message for every operation). */
export interface CallRequest {
  type: "call";
  id: number;
  session: number;
  op: string;
  input?: unknown;
}

/**
 * Stop call `id`: its main-thread half's `signal` aborts (Ctrl-C, the client left). A streaming
 * half (one that sends events) then ends and answers as usual.
 */
export interface CallAbort {
  type: "call-abort";
  id: number;
}

export type ToEvaluator = EvalRequest | CompleteRequest | SessionEvent | EvalAbandoned | InterruptDone | CallRequest | CallAbort;

/** Text printed by manhole code (console.*) or reported asynchronously for a session. */
export interface OutputMessage {
  type: "output";
  session: number;
  /** The request it belongs to, or 0 when it arrives between evaluations. */
  id: number;
  text: string;
}

/**
 * Sent once the main thread's event loop has turned after output for `session`: everything that
 * turn printed or reported (a timer's logs, its throw, the rejections of its microtasks) has come
 * before it, so a fresh prompt may follow.
 */
export interface OutputSettled {
  type: "output-settled";
  session: number;
}

/** The end of an evaluation. `text` is ready to print (inspected value or `Uncaught ...`). */
export interface EvalResult {
  type: "result";
  id: number;
  session: number;
  kind: OutcomeKind;
  text: string;
  /** Structured requests: the value as JSON text, when it can be serialised. */
  json?: string;
  /** Structured requests: what was thrown, when it looks like an error. */
  error?: ErrorInfo;
}

export interface CompleteResult {
  type: "completions";
  id: number;
  session: number;
  items: string[];
  /** The part of the text the items complete (replace it with an item). */
  prefix: string;
}

/** The main-thread half's answer: its return value, or what it threw. */
export interface CallResult {
  type: "call-result";
  id: number;
  session: number;
  ok: boolean;
  value?: unknown;
  error?: ErrorInfo;
}

/**
 * What the main-thread half of call `id` observed while it runs (before its call-result): the
 * events of one synchronous burst, in order, in one message.
 */
export interface CallEvent {
  type: "call-event";
  id: number;
  session: number;
  events: unknown[];
}

export type FromEvaluator = OutputMessage | OutputSettled | EvalResult | CompleteResult | CallResult | CallEvent;

/** Worker → main, when `audit` is a function: an event for it (functions stay on the main thread). */
export interface AuditMessage {
  type: "audit";
  event: AuditEvent;
}

/** Worker lifecycle, worker → main. */
export type WorkerStatus =
  | {
      type: "ready";
      ino: number;
      tcpPort?: number;
      /** An auto start the worker worked out from the environment: where it listens, for the descriptor. */
      planned?: { dir: string; socketPath: string; app: { name: string; version: string | null } | null };
    }
  | { type: "failed"; name: string; message: string }
  | { type: "closed" }
  /** oneshot: the one session has ended; the main thread closes the manhole. */
  | { type: "oneshot-done" };

/** Main → worker: stop serving. */
export interface WorkerClose {
  type: "close";
}
