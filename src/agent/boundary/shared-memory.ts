/**
 * Every piece of memory the main thread and the worker share, both halves of each protocol in
 * one file so that each ordering argument can be checked in one place:
 *
 * - the heartbeat: the main thread stamps the time on every turn of a short unref'd timer; the
 *   worker reads "blocked for N ms". Every 50 ms while a session is open (the worker counts
 *   them in `watchers`), every 250 ms otherwise: each wake-up costs the host 0.1-0.2 ms of CPU,
 *   and an idle manhole should cost next to nothing;
 * - the interrupt cells: the flag manhole code checks, and where each evaluation is.
 */

const BEAT_MS = 50;
/** The heartbeat with no session open. */
const IDLE_BEAT_MS = 250;
/** How far past its due time a heartbeat may be before the loop counts as blocked. */
const LATE_MS = 200;
/** Int32 cells after the 8-byte time: the sessions open, and the interval promised by the last beat. */
const WATCHERS = 2;
const INTERVAL = 3;

export function startHeartbeat(): { buffer: SharedArrayBuffer; stop(): void } {
  const buffer = new SharedArrayBuffer(16);
  const time = new BigInt64Array(buffer, 0, 1);
  const cells = new Int32Array(buffer);
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const beat = () => {
    const interval = Atomics.load(cells, WATCHERS) > 0 ? BEAT_MS : IDLE_BEAT_MS;
    Atomics.store(cells, INTERVAL, interval);
    Atomics.store(time, 0, BigInt(Date.now()));
    if (stopped) return;
    timer = setTimeout(beat, interval);
    timer.unref();
  };
  beat();
  return {
    buffer,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

/**
 * The worker: a session is open until the returned function is called; the main thread beats
 * faster from its next beat on (within IDLE_BEAT_MS).
 */
export function attendLoop(buffer: SharedArrayBuffer): () => void {
  const cells = new Int32Array(buffer);
  Atomics.add(cells, WATCHERS, 1);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    Atomics.sub(cells, WATCHERS, 1);
  };
}

/** When the event loop last turned (ms since the epoch). */
export function lastBeat(buffer: SharedArrayBuffer): number {
  return Number(Atomics.load(new BigInt64Array(buffer, 0, 1), 0));
}

/** Blocked: the last beat is more than LATE_MS past the next one it promised (250 ms at 50 ms beats, 450 ms at idle ones). */
export function readLoopState(buffer: SharedArrayBuffer): LoopState {
  const last = lastBeat(buffer);
  const interval = Atomics.load(new Int32Array(buffer), INTERVAL) || BEAT_MS;
  const sinceMs = Math.max(0, Date.now() - last);
  return { blocked: sinceMs > interval + LATE_MS, sinceMs };
}

export interface LoopState {
  blocked: boolean;
  /** Milliseconds since the event loop last turned. */
  sinceMs: number;
}

/** Values of the shared interrupt flag. */
export const INTERRUPT = {
  none: 0,
  timeout: 1,
  request: 2,
  /** Raised by the main thread itself for an evaluation an interrupt reached before it started. */
  target: 3,
} as const;

/**
 * Threaded mode: the Int32 cells the worker and the main thread share (INTERRUPT_CELLS of them).
 * - `flag`: raised by the worker (or, for `target`, by the main thread), checked by manhole code.
 * - `scope`: the session whose manhole code the raised flag stops, or 0 for any session's.
 * - `started`: the id of the last evaluation the main thread took; it takes them in id order.
 * - `sync`: the id of the evaluation whose synchronous part runs now, else 0.
 * - `target`: an evaluation to interrupt as soon as it starts (the interrupt came first).
 * - `terminating`: the evaluation the worker is about to terminate through the inspector; its
 *   synchronous part does not return into other code until that is settled (see claimTermination).
 * - `stopped`: set by the main thread when a check of manhole code throws for the raised flag,
 *   so that the worker says "stopped" only for code that was stopped, not for a loop that
 *   merely turned late.
 * - `cancel` and the CANCEL_SLOTS - 1 cells after it: evaluations not to run at all (their
 *   sessions were told so while the loop was blocked); a slot holding an id at or below
 *   `started` is free again.
 */
export const CELL = { flag: 0, started: 1, sync: 2, target: 3, scope: 4, terminating: 5, stopped: 6, cancel: 7 } as const;
export const CANCEL_SLOTS = 64;
export const INTERRUPT_CELLS = CELL.cancel + CANCEL_SLOTS;

/**
 * Worker, before `Runtime.terminateExecution` for evaluation `id`: true if its synchronous part
 * still runs, and then it cannot return into other code (awaitTermination) until
 * releaseTermination. A termination lands at the main thread's next interrupt check, some time
 * after it is sent: had the input ended meanwhile, it would stop whatever ran next (an app's
 * timer between Node's async-hook bookkeeping steps, which Node 24 then aborts on as a corrupted
 * async hook stack). Sequentially consistent: the worker writes `terminating` then reads `sync`,
 * the main thread writes `sync` then reads `terminating`, so one of them sees the other.
 */
export function claimTermination(cells: Int32Array, id: number): boolean {
  Atomics.store(cells, CELL.terminating, id);
  if (Atomics.load(cells, CELL.sync) === id) return true;
  releaseTermination(cells, id);
  return false;
}

/** Worker: the termination of `id` has landed, or will not be sent: the main thread may go on. */
export function releaseTermination(cells: Int32Array, id: number): void {
  Atomics.compareExchange(cells, CELL.terminating, id, 0);
  Atomics.notify(cells, CELL.terminating);
}

/**
 * Main thread, as evaluation `id`'s synchronous part ends (after `sync` is cleared): waits while
 * the worker is terminating it, so that the termination lands here, still inside the evaluation,
 * and nowhere else. Atomics.wait is woken by the termination as by releaseTermination. At most
 * `maxMs`, should the worker never settle it.
 */
export function awaitTermination(cells: Int32Array, id: number, maxMs: number): void {
  if (Atomics.load(cells, CELL.terminating) !== id) return;
  const until = Date.now() + maxMs;
  while (Atomics.load(cells, CELL.terminating) === id && Date.now() < until) Atomics.wait(cells, CELL.terminating, id, 10);
}

/** Main thread: is evaluation `id` cancelled? Frees its slot if so. */
export function takeCancelled(cells: Int32Array, id: number): boolean {
  for (let i = CELL.cancel; i < CELL.cancel + CANCEL_SLOTS; i++) {
    // A (sequentially consistent) load first: a locked exchange on all 64 slots of every
    // evaluation costs more than the rest of its bookkeeping. The exchange alone decides, as
    // before: a slot the load saw holding `id` that the worker reused since fails it.
    if (Atomics.load(cells, i) === id && Atomics.compareExchange(cells, i, id, 0) === id) return true;
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
