/**
 * Takes the rejections of manhole promises out of the events Node gives the app: while it is on,
 * `process.emit` is wrapped so that `unhandledRejection` for a manhole promise is reported to its
 * session and answered "handled" (Node then does nothing more: no warning, no exit code, no
 * crash), and `rejectionHandled` for one reported so is answered "handled" too. Every other
 * event, and every rejection of the app's, goes to Node's own `emit` untouched: the app's
 * listeners (even `once` ones) and Node's --unhandled-rejections mode see exactly what they
 * would without a manhole, with the same promise and the same rejection id, and
 * `process.listenerCount("unhandledRejection")` stays the app's own. Under
 * --unhandled-rejections=warn, where Node warns of every rejection whether heard or not, the two
 * warnings it then emits of a manhole rejection are dropped too.
 *
 * Node looks `process.emit` up each time it emits these events, so an own property of `process`
 * takes effect at once, and removing it restores the inherited one. Should something wrap
 * `process.emit` after us (signal-exit does), ours stays in its chain, passing everything
 * through until it is turned on again.
 */
import type { Reporter } from "./tagging.js";

export interface RejectionFilter {
  on(): void;
  off(): void;
  readonly active: boolean;
}

type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;

/**
 * `ownerOf(promise)` says whose a rejected promise is (undefined: the app's); `report` tells that
 * session of its rejection.
 */
export function rejectionFilter(
  ownerOf: (promise: object) => Reporter | undefined,
  report: (to: Reporter, reason: unknown) => void,
  warnsAlways: boolean,
): RejectionFilter {
  /** Manhole promises told as unhandled: a later handler of theirs is no news for the app. */
  const reported = new WeakSet<object>();
  let active = false;
  /** Ours is in `process.emit`'s chain (as the property itself, or below someone else's wrapper). */
  let installed = false;
  let ownBefore: PropertyDescriptor | undefined;
  let next: Emit = process.emit as Emit;
  /**
   * Warnings still to come of manhole rejections (--unhandled-rejections=warn): Node emits two
   * per rejection right after `unhandledRejection`, each at the next tick, in order.
   */
  let warningsToDrop = 0;

  // Every event of the process comes through here (IPC messages too): `arguments` passed on
  // as it is, no array made per call.
  const filtered = function emit(this: unknown, event: string | symbol, first?: unknown, second?: unknown): boolean {
    if (active) {
      if (event === "unhandledRejection") {
        const to = typeof second === "object" && second !== null ? ownerOf(second) : undefined;
        if (to) {
          reported.add(second as object);
          report(to, first);
          if (warnsAlways) warningsToDrop += 2;
          return true;
        }
      } else if (event === "rejectionHandled") {
        if (typeof first === "object" && first !== null && reported.has(first)) return true;
      }
    }
    if (event === "warning" && warningsToDrop > 0 && (first as Error | undefined)?.name === "UnhandledPromiseRejectionWarning") {
      warningsToDrop--;
      return true;
    }
    // biome-ignore lint/complexity/noArguments: forwards every argument without copying them
    return Reflect.apply(next, this, arguments) as boolean;
  };

  return {
    on() {
      active = true;
      if (installed) return;
      ownBefore = Object.getOwnPropertyDescriptor(process, "emit");
      next = process.emit as Emit;
      Object.defineProperty(process, "emit", { value: filtered, writable: true, configurable: true, enumerable: false });
      installed = true;
    },
    off() {
      active = false;
      if (!installed || process.emit !== (filtered as unknown)) return; // wrapped since: stays, passive
      if (ownBefore) Object.defineProperty(process, "emit", ownBefore);
      else delete (process as { emit?: unknown }).emit;
      installed = false;
    },
    get active() {
      return active;
    },
  };
}
