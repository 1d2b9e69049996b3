/**
 * What the socket side can do about the main thread beyond asking it to evaluate: watch an
 * evaluation's time, interrupt it, show the main thread's stack, tell whether its event loop
 * is blocked. Threaded mode implements it with a worker-side inspector session
 * (watchdog.ts); `threaded: false` gets the limited version below.
 */
import type { EvalChannel } from "./eval-channel.js";

/** What a session is told when it stops waiting for an awaited promise (the promise itself goes on). */
export function awaitAbandoned(why: "timeout" | "interrupt", timeoutMs: number): string {
  const what = why === "timeout" ? `Timed out after ${timeoutMs} ms while awaiting` : "Interrupted while awaiting";
  return `${what}: the prompt is back; the promise keeps running`;
}

/** Values of the shared interrupt flag. */
export const INTERRUPT = { none: 0, timeout: 1, request: 2 } as const;

/**
 * Threaded mode: the Int32 cells the worker and the main thread share (INTERRUPT_CELLS of them).
 * - `flag`: raised by the worker (or, for `target`, by the main thread), checked by manhole code.
 * - `scope`: the session whose manhole code the raised flag stops, or 0 for any session's.
 * - `started`: the id of the last evaluation the main thread took; it takes them in id order.
 * - `sync`: the id of the evaluation whose synchronous part runs now, else 0.
 * - `target`: an evaluation to interrupt as soon as it starts (the interrupt came first).
 * - `cancel` and the CANCEL_SLOTS - 1 cells after it: evaluations not to run at all (their
 *   sessions were told so while the loop was blocked); a slot holding an id at or below
 *   `started` is free again.
 */
export const CELL = { flag: 0, started: 1, sync: 2, target: 3, scope: 4, cancel: 5 } as const;
export const CANCEL_SLOTS = 8;
export const INTERRUPT_CELLS = CELL.cancel + CANCEL_SLOTS;

/** Main thread: is evaluation `id` cancelled? Frees its slot if so. */
export function takeCancelled(cells: Int32Array, id: number): boolean {
  for (let i = CELL.cancel; i < CELL.cancel + CANCEL_SLOTS; i++) {
    if (Atomics.compareExchange(cells, i, id, 0) === id) return true;
  }
  return false;
}

/**
 * Worker: marks evaluation `id` (not started yet) cancelled. False when every slot holds an
 * evaluation still to come, or when `id` started meanwhile: then it may run. The slot is
 * written before `started` is read (the main thread writes `started`, then reads the slots).
 */
export function markCancelled(cells: Int32Array, id: number): boolean {
  const started = Atomics.load(cells, CELL.started);
  for (let i = CELL.cancel; i < CELL.cancel + CANCEL_SLOTS; i++) {
    const held = Atomics.load(cells, i);
    if (held !== 0 && held > started) continue;
    if (Atomics.compareExchange(cells, i, held, id) !== held) continue;
    if (Atomics.load(cells, CELL.started) < id) return true;
    Atomics.compareExchange(cells, i, id, 0);
    return false;
  }
  return false;
}

/** What a session is told when its evaluation was stopped. */
export function interruptedText(reason: number, timeoutMs: number): string {
  return reason === INTERRUPT.timeout ? `Interrupted: the evaluation ran longer than ${timeoutMs} ms (timeout)` : "Interrupted";
}

const signals = new WeakSet<object>();

/** Is `value` an InterruptSignal? Safe on anything, revoked proxies included (no trap runs). */
export function isInterruptSignal(value: unknown): value is InterruptSignal {
  return typeof value === "object" && value !== null && signals.has(value);
}

/** Thrown into manhole code by its loop and function checks once an interrupt is requested. */
export class InterruptSignal extends Error {
  declare readonly reason: number;
  constructor(reason: number) {
    super("evaluation stopped by the manhole");
    // Not enumerable, so that it prints as just "Interrupted: evaluation stopped by the manhole".
    Object.defineProperty(this, "reason", { value: reason });
    signals.add(this);
    this.stack = `Interrupted: ${this.message}`;
  }
}
Object.defineProperty(InterruptSignal.prototype, "name", { value: "Interrupted" });

export interface LoopState {
  blocked: boolean;
  /** Milliseconds since the event loop last turned. */
  sinceMs: number;
}

export interface Supervisor {
  /** An evaluation started; returns the function that says it ended. */
  watch(id: number): () => void;
  /** The client asked to stop evaluation `id` (0: none runs; stop runaway manhole code if any). Returns a note to print. */
  interrupt(id: number, session: number): Promise<string | undefined>;
  /** The main thread's JavaScript stack, ready to print. */
  stack(): Promise<string>;
  /** undefined when the socket side shares the main thread and so cannot tell. */
  loopState(): LoopState | undefined;
  close(): void;
}

/** `threaded: false`: the evaluator times itself out; a blocked loop blocks us too. */
export class InlineSupervisor implements Supervisor {
  constructor(
    private readonly channel: EvalChannel,
    private readonly timeoutMs: number,
  ) {}

  watch(): () => void {
    return () => {};
  }

  async interrupt(id: number, _session: number): Promise<string | undefined> {
    // Only an awaiting evaluation can be interrupted here: synchronous code holds this thread.
    if (id) this.channel.abandon(id, { ok: false, text: awaitAbandoned("interrupt", this.timeoutMs) });
    return undefined;
  }

  async stack(): Promise<string> {
    return "The main thread's stack is only available in threaded mode (threaded: false is set).";
  }

  loopState(): LoopState | undefined {
    return undefined;
  }

  close(): void {}
}
