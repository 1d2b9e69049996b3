/**
 * Tagging by async context, where Node keeps it in V8's continuation data (AsyncContextFrame:
 * Node 24 and later by default, Node 22 with --experimental-async-context-frame). Manhole code
 * runs inside `AsyncLocalStorage.run(session)`; Node carries that context to every callback
 * and promise reaction of what it starts, and runs the `uncaughtExceptionMonitor` and
 * `unhandledRejection` listeners in the context of the callback that threw or of the code that
 * rejected. No hook is ever set: the app's promises keep V8's fast paths (a promise hook, once
 * set, takes them away for the life of the isolate), and nothing is switched on or off.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Reporter, Tagger } from "./tagging.js";

/**
 * Whether AsyncLocalStorage rides on AsyncContextFrame here. The hook-based one, which would set
 * a promise hook for good at its first `run`, has its propagation method on its prototype.
 */
export function contextFramesAvailable(): boolean {
  return !("_propagate" in AsyncLocalStorage.prototype);
}

export function contextTagger(): Tagger {
  const store = new AsyncLocalStorage<Reporter>();
  const tagged = new WeakMap<object, Reporter>();
  return {
    design: "context",
    run: (report, fn) => store.run(report, fn),
    asAgent: (fn) => store.exit(fn),
    tagPromise: (promise, report) => void tagged.set(promise, report),
    thrower: () => store.getStore(),
    rejecter: (promise) => tagged.get(promise) ?? store.getStore(),
    // Node raises and emits a rejection in the context of the code that rejected the promise.
    rejecting: () => store.getStore(),
    // Manhole work leaves no trace to count: its rejections may come at any time.
    live: () => true,
    // A terminated evaluation skipped run()'s restore; Node restores the frame as the callback
    // that ran it returns to C++.
    reset: () => undefined,
    pending: () => ({ hooksOn: false, switchedOn: 0, promises: 0, resources: 0 }),
  };
}
