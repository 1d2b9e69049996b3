/** The exception that manhole code's loop and function checks throw once an interrupt is requested. */

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
