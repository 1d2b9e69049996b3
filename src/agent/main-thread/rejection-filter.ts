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
 * warnings it then emits of a manhole rejection are dropped too, and the app's kept.
 *
 * Node looks `process.emit` up each time it emits these events, so an own property of `process`
 * takes effect at once, and removing it restores the inherited one. Should something wrap
 * `process.emit` after us (signal-exit does), ours stays in its chain, passing everything
 * through until it is turned on again. Once a manhole rejection has been told, ours stays in the
 * chain (passive) for good, since the app may handle that promise at any later time.
 */
import type { Reporter } from "./tagging.js";

export interface RejectionFilter {
  on(): void;
  off(): void;
  readonly active: boolean;
}

type Emit = (this: unknown, event: string | symbol, ...args: unknown[]) => boolean;

/** How Node's second warning of a pair begins (lib/internal/process/promises.js). */
const SECOND_WARNING = "Unhandled promise rejection. This error originated";
const MAX_PAIRS = 1024;

/**
 * The text Node's first warning shows of an error-like reason (an own `stack`), which it reads
 * next anyway; undefined for other reasons, whose text Node makes by means we cannot call.
 */
function stackOf(reason: unknown): string | undefined {
  try {
    if (typeof reason === "object" && reason !== null && Object.hasOwn(reason, "stack")) {
      const stack = (reason as { stack: unknown }).stack;
      // Node shows a stack that is not a string by a means of its own: match by order alone.
      if (typeof stack === "string") return stack;
    }
  } catch {
    // a hostile reason: match by order alone
  }
  return undefined;
}

/**
 * `ownerOf(promise)` says whose a rejected promise is (undefined: the app's); `report` tells that
 * session of its rejection; `asAgent` runs the filter's own scheduling outside any session's work.
 */
export function rejectionFilter(
  ownerOf: (promise: object) => Reporter | undefined,
  report: (to: Reporter, reason: unknown) => void,
  warnsAlways: boolean,
  asAgent: <T>(fn: () => T) => T,
): RejectionFilter {
  /** Manhole promises told as unhandled: a later handler of theirs is no news for the app. */
  const reported = new WeakSet<object>();
  /** Some were: the app may handle one of them at any later time, so ours stays in the chain. */
  let reportedAny = false;
  let active = false;
  /** Ours is in `process.emit`'s chain (as the property itself, or below someone else's wrapper). */
  let installed = false;
  let ownBefore: PropertyDescriptor | undefined;
  let next: Emit = process.emit as Emit;
  /**
   * --unhandled-rejections=warn: right after each `unhandledRejection` Node queues two warnings
   * for the next tick, the reason's stack (or text), then "Unhandled promise rejection. ...
   * (rejection id: N)"; a drain's pairs come in the order of its events. So each event, the
   * app's too, queues whose it was; a manhole one also the stack its first warning must show.
   */
  const pairs: { ours: boolean; stack?: string }[] = [];
  /** The second warning of a manhole rejection's pair is next. */
  let dropSecond = false;
  /** A drain's pairs are forgotten once its warnings are due (an event whose warnings never came). */
  let forgetting = false;
  function forgetSoon(): void {
    if (forgetting) return;
    forgetting = true;
    // Node emits the warnings on the next ticks of the same drain, always before an immediate.
    asAgent(() =>
      setImmediate(() => {
        forgetting = false;
        pairs.length = 0;
        dropSecond = false;
      }).unref(),
    );
  }

  /** Whether this warning is one of the pair that a manhole rejection makes Node emit. */
  function ownWarning(warning: unknown): boolean {
    if (!(warning instanceof Error) || warning.name !== "UnhandledPromiseRejectionWarning") return false;
    if (warning.message.startsWith(SECOND_WARNING)) {
      const drop = dropSecond;
      dropSecond = false;
      return drop;
    }
    const pair = pairs.shift();
    // The stack differs: not the pair expected (an event whose warnings never came), keep it.
    dropSecond = pair?.ours === true && (pair.stack === undefined || pair.stack === warning.message);
    return dropSecond;
  }

  // Every event of the process comes through here (IPC messages too): `arguments` passed on
  // as it is, no array made per call.
  const filtered = function emit(this: unknown, event: string | symbol, first?: unknown, second?: unknown): boolean {
    if (event === "rejectionHandled") {
      // Also once the filter is off: a manhole promise told as unhandled is handled by someone later.
      if (typeof first === "object" && first !== null && reported.has(first)) return true;
    } else if (active) {
      if (event === "unhandledRejection") {
        const to = typeof second === "object" && second !== null ? ownerOf(second) : undefined;
        if (warnsAlways) {
          // Bounded: a drain's warnings come before the next one's events.
          if (pairs.length >= MAX_PAIRS) pairs.shift();
          pairs.push(to ? { ours: true, stack: stackOf(first) } : { ours: false });
          forgetSoon();
        }
        if (to) {
          reported.add(second as object);
          reportedAny = true;
          report(to, first);
          return true;
        }
      }
    }
    if (event === "warning" && (pairs.length > 0 || dropSecond) && ownWarning(first)) return true;
    // biome-ignore lint/complexity/noArguments: forwards every argument without copying them
    return Reflect.apply(next, this, arguments) as boolean;
  };

  return {
    on() {
      active = true;
      // Unwrapped since (`process.emit` is what ours passed on to): not in the chain any more.
      if (installed && process.emit === (next as unknown)) installed = false;
      if (installed) return;
      ownBefore = Object.getOwnPropertyDescriptor(process, "emit");
      next = process.emit as Emit;
      Object.defineProperty(process, "emit", { value: filtered, writable: true, configurable: true, enumerable: false });
      installed = true;
    },
    off() {
      active = false;
      // Wrapped since, or a told rejection may still be handled: stays, passive.
      if (!installed || reportedAny || process.emit !== (filtered as unknown)) return;
      if (ownBefore) Object.defineProperty(process, "emit", ownBefore);
      else delete (process as { emit?: unknown }).emit;
      installed = false;
    },
    get active() {
      return active;
    },
  };
}
