/**
 * How the worker knows whether the main thread's event loop turns: the main thread stamps
 * the time into shared memory on every turn of a short unref'd timer; the worker reads it.
 */
import type { LoopState } from "./supervisor.js";

const BEAT_MS = 50;
/** A loop that has not turned for this long is reported as blocked. */
export const BLOCKED_AFTER_MS = 250;

export function startHeartbeat(): { buffer: SharedArrayBuffer; stop(): void } {
  const buffer = new SharedArrayBuffer(8);
  const cell = new BigInt64Array(buffer);
  const beat = () => Atomics.store(cell, 0, BigInt(Date.now()));
  beat();
  const timer = setInterval(beat, BEAT_MS);
  timer.unref();
  return { buffer, stop: () => clearInterval(timer) };
}

/** When the event loop last turned (ms since the epoch). */
export function lastBeat(buffer: SharedArrayBuffer): number {
  return Number(Atomics.load(new BigInt64Array(buffer), 0));
}

export function readLoopState(buffer: SharedArrayBuffer): LoopState {
  const last = lastBeat(buffer);
  const sinceMs = Math.max(0, Date.now() - last);
  return { blocked: sinceMs > BLOCKED_AFTER_MS, sinceMs };
}
