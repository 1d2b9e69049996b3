/**
 * Tagging by hooks, where Node has no async context of its own to carry (Node 20 and 22), and
 * under --abort-on-uncaught-exception: what manhole code starts is tagged with the session to
 * report to, promises by a V8 promise hook and every other async resource, whatever Node API
 * made it, by an async_hooks `init` hook. A resource or promise made while manhole code runs,
 * or while the callback of a tagged resource runs, is tagged in turn. Both hooks are on only
 * while manhole code runs or something tagged is pending (a promise not yet settled, a resource
 * not yet destroyed); the rest of the time the app runs with no hook at all.
 *
 * The resource hook has no before/after callbacks (they would add a frame to the app's stacks,
 * and cost), except under --abort-on-uncaught-exception, where V8 aborts at the throw, before
 * any listener: there the capture callback is set for as long as a tagged callback runs
 * (before/after hooks), which tells V8 not to abort.
 */
import { createHook, executionAsyncId, executionAsyncResource } from "node:async_hooks";
import { setImmediate, setTimeout } from "node:timers";
import v8 from "node:v8";
import { ABORTS_ON_UNCAUGHT, rejectionMode } from "./node-flags.js";
import type { Reporter, Tagger } from "./tagging.js";

export interface HookEvents {
  /** The hooks came on: manhole work may make rejections from now on. */
  opened(): void;
  /** The hooks went off. */
  closed(): void;
  /** Under --abort-on-uncaught-exception: a tagged callback threw. */
  threw(report: Reporter, err: unknown): void;
}

/**
 * Resources made once per process, for whoever comes next, when first needed: the one that manhole
 * code happened to be first to need is no more the manhole's than the app's.
 */
const SHARED = new Set(["PROMISE", "DNSCHANNEL", "TTYWRAP", "SIGNALWRAP"]);

/**
 * How long the hooks stay on after manhole work ends, in a burst of inputs. Switching them on
 * and off costs about as much as evaluating `1` (each is a promise-hook update in V8 and
 * async_hooks' own), so a burst (a script, a client's round trips: the hooks came on again
 * within this long of going off) pays for one switch, not one per input. A lone input turns
 * them off as soon as it is over: while on, they slow every promise of the app, and an
 * await-heavy server evaluated in once a second lost 14% of its throughput to 10 ms of them.
 */
const LINGER_MS = 10;

/**
 * Hook callbacks, and Node 24's trackPromises: false (the promise hook tags promises; earlier
 * Nodes ignore the option and track promises too, which costs only while the hooks are on).
 * Under --unhandled-rejections=strict promises are tracked: Node raises a rejection with the
 * promise as the current resource only if it has an async id.
 */
type HookOptions = Parameters<typeof createHook>[0] & { trackPromises?: boolean };
const TRACK_PROMISES = rejectionMode() === "strict";
const hook = (options: HookOptions) => createHook({ ...options, trackPromises: TRACK_PROMISES } as HookOptions);

export function hookTagger(events: HookEvents): Tagger {
  /** Promises made by manhole code, and where their rejections go. */
  const tagged = new WeakMap<object, Reporter>();
  /**
   * Who runs now, innermost last: a session's reporter for manhole code (or a tagged callback),
   * null for code known not to be manhole code (the app's promise continuations, our own plumbing).
   */
  const running: (Reporter | null)[] = [];
  /** Tagged async resources not yet destroyed, by async id. */
  const resources = new Map<number, Reporter>();
  /** Tagged promises not yet settled. */
  const unsettled = new WeakSet<object>();
  let pendingPromises = 0;

  /** A tagged promise or resource collected without settling or being destroyed is pending no more. */
  const collected = new FinalizationRegistry<number | undefined>((asyncId) => {
    if (asyncId === undefined) pendingPromises--;
    else resources.delete(asyncId);
    closeSoon();
  });

  const current = (): Reporter | null | undefined => running[running.length - 1];
  /** Whose code runs now: the innermost manhole code, else the tagged resource whose callback this is. */
  const owner = (): Reporter | null | undefined => (running.length > 0 ? current() : resources.get(executionAsyncId()));

  // Under --abort-on-uncaught-exception: the async ids of the tagged callbacks running now.
  const callbacks: number[] = [];
  let ownCapture = false;
  const releaseCapture = () => {
    if (!ownCapture) return;
    ownCapture = false;
    process.setUncaughtExceptionCaptureCallback(null);
  };
  const callbackHook = hook({
    before(asyncId) {
      const r = resources.get(asyncId);
      if (!r) return;
      callbacks.push(asyncId);
      if (callbacks.length === 1 && !process.hasUncaughtExceptionCaptureCallback()) {
        process.setUncaughtExceptionCaptureCallback((err) => events.threw(r, err));
        ownCapture = true;
      }
    },
    after(asyncId) {
      const at = callbacks.lastIndexOf(asyncId);
      if (at < 0) return;
      callbacks.length = at; // above it: callbacks that threw (Node emits their `after` first)
      if (at === 0) releaseCapture();
    },
  });

  const resourceHook = hook({
    init(asyncId, type, triggerAsyncId, resource) {
      if (SHARED.has(type)) return; // promises: the promise hook tags those
      const r = running.length > 0 ? current() : (resources.get(executionAsyncId()) ?? resources.get(triggerAsyncId));
      if (!r) return;
      resources.set(asyncId, r);
      collected.register(resource, asyncId, resource);
    },
    destroy(asyncId) {
      if (resources.delete(asyncId)) closeSoon();
    },
  });

  let stopPromiseHook: (() => void) | undefined;
  let withCallbackHook = false;

  const promiseHooks = (): (() => void) => <() => void>v8.promiseHooks.createHook({
      init(promise, parent) {
        const r = owner() ?? (parent ? tagged.get(parent) : undefined);
        if (!r) return;
        tagged.set(promise, r);
        unsettled.add(promise);
        pendingPromises++;
        collected.register(promise, undefined, promise);
      },
      settled(promise) {
        if (!unsettled.delete(promise)) {
          // A promise of the app's that manhole work settles (typed code calling an app's
          // reject): its rejection, should nobody handle it, is the manhole's doing.
          const r = owner();
          if (r) tagged.set(promise, r);
          return;
        }
        pendingPromises--;
        collected.unregister(promise);
        closeSoon();
      },
      before(promise) {
        running.push(tagged.get(promise) ?? null);
      },
      after() {
        running.pop();
      },
    });

  /** When the hooks last went off, and whether they came on again soon after (a burst of inputs). */
  let closedAt = Number.NEGATIVE_INFINITY;
  let burst = false;
  /** How many times the hooks have come on (each costs the app V8's promise fast paths for good the first time). */
  let switchedOn = 0;

  /** Turns the hooks on: manhole code is about to run. */
  function open(): void {
    events.opened();
    if (stopPromiseHook) return;
    burst = performance.now() - closedAt < LINGER_MS;
    switchedOn++;
    stopPromiseHook = promiseHooks();
    resourceHook.enable();
    withCallbackHook = ABORTS_ON_UNCAUGHT;
    if (withCallbackHook) callbackHook.enable();
  }

  const idle = () => running.length === 0 && pendingPromises === 0 && resources.size === 0;

  /** Turns the hooks off when nothing of the manhole's runs or is pending. Never from inside a hook. */
  function closeIfIdle(): void {
    if (!stopPromiseHook || !idle()) return;
    stopPromiseHook();
    stopPromiseHook = undefined;
    closedAt = performance.now();
    resourceHook.disable();
    if (withCallbackHook) callbackHook.disable();
    events.closed();
  }

  let linger: NodeJS.Timeout | undefined;

  /** Manhole code has returned: the hooks go off once it has stayed idle for LINGER_MS. */
  function closeLater(): void {
    if (!stopPromiseHook) return;
    // Under --abort-on-uncaught-exception the callback hook puts Node's trampoline into the app's
    // own abort reports while it is on: never longer than manhole work needs it.
    if (withCallbackHook || !burst) {
      closeIfIdle();
      return;
    }
    if (linger) linger.refresh();
    else linger = asAgent(() => setTimeout(closeIfIdle, LINGER_MS).unref());
  }

  let closeScheduled = false;
  /** From a hook: look again once the current callback is over. */
  function closeSoon(): void {
    if (closeScheduled || !stopPromiseHook || pendingPromises > 0 || resources.size > 0) return;
    closeScheduled = true;
    asAgent(() =>
      setImmediate(() => {
        closeScheduled = false;
        closeLater();
      }).unref(),
    );
  }

  function asAgent<T>(fn: () => T): T {
    running.push(null);
    try {
      return fn();
    } finally {
      running.pop();
    }
  }

  return {
    design: "hooks",
    run(report, fn) {
      open();
      running.push(report);
      try {
        return fn();
      } finally {
        running.pop();
        if (running.length === 0) closeLater();
      }
    },
    asAgent,
    tagPromise: (promise, report) => void tagged.set(promise, report),
    thrower: () => resources.get(executionAsyncId()),
    rejecter: (promise) => tagged.get(promise),
    // Node raises a rejection with the promise as the current resource, if it has an async id.
    rejecting: () => tagged.get(executionAsyncResource()),
    live: () => stopPromiseHook !== undefined,
    reset() {
      running.length = 0;
      callbacks.length = 0;
      releaseCapture();
      closeIfIdle();
    },
    pending: () => ({ hooksOn: stopPromiseHook !== undefined, switchedOn, promises: pendingPromises, resources: resources.size }),
  };
}
