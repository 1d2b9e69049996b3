/**
 * `.watch <expr>`: wraps the function `<expr>` names and reports each call (arguments, the
 * value returned or thrown, the time it took; for a promise, until it settles) until the
 * watch ends: after --count calls, after --seconds, on Ctrl-C, or when the session or the
 * manhole closes. `.watch --channel <name>` reports a diagnostics_channel's messages the same way.
 *
 * The main half installs the wrapper and streams each call to the socket side as an event
 * (MainContext.event), then answers with a summary when the watch ends. The wrapper is a Proxy
 * of the original, so `this`, `length`, `name`, own properties, the prototype, `new` and
 * `new.target` stay the original's. A returned promise is observed without a handler of ours
 * (a settled promise hook, and util.inspect to read its result), so it is not marked handled:
 * an unhandled rejection stays the app's, exactly as without the watch.
 */
import diagnosticsChannel from "node:diagnostics_channel";
import { performance } from "node:perf_hooks";
import util from "node:util";
import v8 from "node:v8";
import { formatMs } from "../../shared/units.js";
import { errorInfo } from "../main-thread/format.js";
import { ArgError } from "./args.js";
import type { Operation, OperationContext } from "./types.js";
import { parseWatchTarget, WatchTargetError } from "./watch-target.js";

/**
 * Above 0 while the manhole's own code reports a call or a message: a watched function it calls
 * meanwhile (a watch of Array.prototype.push, of util.inspect) passes straight through, so that
 * reporting never recurses into itself.
 */
let quiet = 0;

/** Watches running at once: per session, and in the whole process (every session together). */
export const MAX_WATCHES_PER_SESSION = 4;
export const MAX_WATCHES_PER_PROCESS = 16;
const MAX_COUNT = 10_000;
const MAX_SECONDS = 3600;
/** One call's text is cut beyond this many characters. */
const MAX_LINE_CHARS = 4000;

const INSPECT: util.InspectOptions = {
  depth: 2,
  showProxy: true, // no proxy trap runs while printing
  getters: false,
  maxArrayLength: 20,
  maxStringLength: 200,
  breakLength: Number.POSITIVE_INFINITY,
  compact: 3,
  colors: false,
};

/** What util.inspect prints for a short plain string, without its cost (a reported call is mostly its arguments). */
const PLAIN_STRING = /^[\x20-\x26\x28-\x5b\x5d-\x7e]{0,200}$/;

function show(value: unknown, options: util.InspectOptions = INSPECT): string {
  switch (typeof value) {
    case "number":
      return Object.is(value, -0) ? "-0" : String(value);
    case "boolean":
    case "undefined":
      return String(value);
    case "string":
      if (PLAIN_STRING.test(value)) return `'${value}'`;
      break;
    case "object":
      if (value === null) return "null";
  }
  try {
    return util.inspect(value, options);
  } catch (err) {
    return `[uninspectable: ${err instanceof Error ? err.message : "?"}]`;
  }
}

const THIS_INSPECT: util.InspectOptions = { ...INSPECT, depth: 0, maxArrayLength: 5, maxStringLength: 50 };

function cut(text: string, max = MAX_LINE_CHARS): string {
  return text.length <= max ? text : `${text.slice(0, max)}… [${text.length - max} more characters]`;
}

type Input = { expr?: string; channel?: string; count: number; seconds: number };

export type Outcome = "returned" | "threw" | "resolved" | "rejected";

export interface WatchStart {
  kind: "start";
  watch: number;
  target: string;
  /** For a function: its name, length, and what kind it is; for a channel, its name. */
  function?: { name: string; length: number; kind: "function" | "async function" | "class" | "generator" | "async generator" };
  /** The property is the owner's own, or inherited (the wrapper then shadows it on the owner). */
  property?: "own" | "inherited";
  channel?: string;
  count: number;
  seconds: number;
}

export interface WatchCall {
  kind: "call";
  watch: number;
  /** The call's number, in the order the calls started (1..count). */
  n: number;
  /** When it started, in ms since the watch began. */
  atMs: number;
  constructed: boolean;
  args: string[];
  this: string;
  outcome: Outcome;
  /** The value returned, resolved, or thrown (inspected). */
  value: string;
  error?: { name: string; message: string; stack?: string };
  /** Until it returned, threw, or (a promise) settled. */
  durationMs: number;
  async: boolean;
}

export interface WatchMessage {
  kind: "message";
  watch: number;
  n: number;
  atMs: number;
  channel: string;
  message: string;
}

export type WatchEvent = WatchStart | WatchCall | WatchMessage;

export type EndReason = "count" | "seconds" | "interrupted" | "session-closed" | "manhole-closed";

export interface WatchSummary {
  watch: number;
  target: string;
  reason: EndReason;
  /** Calls (or messages) seen. */
  calls: number;
  /** Promises still pending when the watch ended (they are not reported later). */
  pending: { n: number; args: string[]; sinceMs: number }[];
  /** What became of the property: the original is back, or it could not be (see `note`). */
  restored: "restored" | "restored-inside" | "pass-through" | "unsubscribed";
  note: string;
  durationMs: number;
}

/** One running watch, on the main thread. */
interface Watch {
  id: number;
  session: number;
  end(reason: EndReason): void;
}

/** The proxies of this manhole's watches: their mutable inner function (nested watches unlink through it). */
interface Wrapped {
  inner: (...args: unknown[]) => unknown;
  active: boolean;
}

interface Kept {
  next: number;
  watches: Map<number, Watch>;
  wrapped: WeakMap<object, Wrapped>;
}

/**
 * Promises returned by watched calls, until they settle. The hook is on only while one is
 * pending: a promise hook costs every promise of the app something.
 */
const settling = new Map<Promise<unknown>, (settledAt: number) => void>();
let stopHook: (() => void) | undefined;

function onSettled(promise: Promise<unknown>): void {
  const done = settling.get(promise);
  if (!done) return;
  settling.delete(promise);
  const at = performance.now();
  // The hook runs before the promise's state changes. It is read at the next immediate, once
  // Node has dealt with an unhandled rejection: reading a rejection's error formats its stack,
  // and a crash that follows would then name Node's line instead of the app's.
  setImmediate(() => {
    try {
      done(at);
    } catch {
      // reporting is best effort; the app's promise goes on
    }
  });
  if (settling.size === 0) unhook();
}

function awaitSettled(promise: Promise<unknown>, done: (settledAt: number) => void): void {
  settling.set(promise, done);
  if (stopHook) return;
  const stop = v8.promiseHooks.onSettled((p: Promise<unknown>) => {
    try {
      onSettled(p);
    } catch {
      // never a throw inside V8's promise machinery
    }
  });
  stopHook = () => stop();
}

function forgetSettling(promise: Promise<unknown>): void {
  settling.delete(promise);
  if (settling.size === 0) unhook();
}

function unhook(): void {
  const stop = stopHook;
  stopHook = undefined;
  try {
    stop?.();
  } catch {
    // already stopped
  }
}

/** Printed `[Symbol(async_id_symbol)]: 7` (Node 26: without the brackets). */
const ASYNC_IDS = /,?\s*\[?Symbol\((?:async_id_symbol|trigger_async_id_symbol)\)\]?: \d+/g;

/** A settled promise's state and result, read as util.inspect shows them (no handler attached). */
export function settledState(promise: Promise<unknown>): { outcome: "resolved" | "rejected" | "pending"; value: string } {
  // async_hooks (the test runner's, ours before Node 24) puts two id symbols on promises: not the app's.
  const text = show(promise, { ...INSPECT, depth: (INSPECT.depth as number) + 1 }).replace(ASYNC_IDS, "");
  const m = /^[^{]*\{\s*([\s\S]*?)\s*\}$/.exec(text);
  if (!m) return { outcome: "resolved", value: text };
  let body = m[1];
  if (body === "<pending>") return { outcome: "pending", value: "" };
  const rejected = body.startsWith("<rejected> ");
  if (rejected) body = body.slice("<rejected> ".length);
  return { outcome: rejected ? "rejected" : "resolved", value: body.replace(/\n {2}/g, "\n") };
}

function functionKind(fn: (...args: unknown[]) => unknown): NonNullable<WatchStart["function"]>["kind"] {
  if (util.types.isAsyncFunction(fn)) return util.types.isGeneratorFunction(fn) ? "async generator" : "async function";
  if (util.types.isGeneratorFunction(fn)) return "generator";
  try {
    if (/^class\b/.test(Function.prototype.toString.call(fn))) return "class";
  } catch {
    // a proxy of a revoked function, say
  }
  return "function";
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  const t = typeof value;
  return t === "object" ? "an object" : t === "undefined" ? "undefined" : `a ${t}`;
}

function evaluateOrExplain(evaluate: (code: string) => unknown, code: string): unknown {
  try {
    return evaluate(code);
  } catch (err) {
    const info = errorInfo(err);
    throw new WatchTargetError(`${code}: ${info ? `${info.name}: ${info.message}` : show(err)}`);
  }
}

/** A channel message in one line: well-known objects (requests, responses) by what identifies them. */
export function briefMessage(message: unknown): string {
  if (typeof message !== "object" || message === null) return cut(show(message));
  const parts: string[] = [];
  let keys: string[];
  try {
    keys = Object.keys(message);
  } catch {
    return cut(show(message));
  }
  for (const key of keys.slice(0, 12)) {
    const d = Object.getOwnPropertyDescriptor(message, key);
    parts.push(`${key}: ${d && "value" in d ? briefValue(d.value) : "[Getter]"}`);
  }
  if (keys.length > 12) parts.push(`... ${keys.length - 12} more`);
  return cut(`{ ${parts.join(", ")} }`);
}

const IDENTIFYING = ["method", "origin", "host", "url", "path", "statusCode"] as const;

function briefValue(value: unknown): string {
  if (typeof value !== "object" || value === null) return show(value);
  const fields: string[] = [];
  for (const key of IDENTIFYING) {
    const d = Object.getOwnPropertyDescriptor(value, key);
    if (d && "value" in d && (typeof d.value === "string" || typeof d.value === "number")) fields.push(String(d.value));
  }
  let name = "Object";
  try {
    name = (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name || "Object";
  } catch {
    // an exotic prototype
  }
  if (fields.length > 0) return `${name} ${fields.join(" ")}`;
  let size = 0;
  try {
    size = Reflect.ownKeys(value).length;
  } catch {
    // a revoked proxy
  }
  // A big object (a socket, a server) in full would drown the line: its class says what it is.
  return size > 6 ? `${name} {…}` : show(value, { ...INSPECT, depth: 0 });
}

function checkBounds(kept: Kept, session: number): void {
  const mine = [...kept.watches.values()].filter((w) => w.session === session).length;
  if (mine >= MAX_WATCHES_PER_SESSION) {
    throw new WatchTargetError(`this session already runs ${mine} watches (at most ${MAX_WATCHES_PER_SESSION} per session)`);
  }
  if (kept.watches.size >= MAX_WATCHES_PER_PROCESS) {
    throw new WatchTargetError(`${kept.watches.size} watches already run in this process (at most ${MAX_WATCHES_PER_PROCESS})`);
  }
}

/** The main-thread half: install, report, remove. Resolves with the summary when the watch ends. */
function watchMain(
  raw: unknown,
  ctx: { session: number; kept?: unknown; signal?: AbortSignal; event?(data: unknown): void; evaluate?(code: string): unknown },
): unknown {
  const input = raw as Input;
  const kept = ctx.kept as Kept | undefined;
  const { signal, event, evaluate } = ctx;
  if (!kept || !signal || !event || !evaluate) throw new Error("watch needs the main thread's event loop");
  if (signal.aborted) throw new Error("interrupted");
  checkBounds(kept, ctx.session);
  return input.channel
    ? watchChannel(input, kept, ctx.session, signal, event)
    : watchFunction(input, kept, ctx.session, signal, event, evaluate);
}

function reasonOf(signal: AbortSignal): EndReason {
  const r = signal.reason as unknown;
  return r === "session-closed" || r === "manhole-closed" ? r : "interrupted";
}

/** The common frame of a watch: its bounds, its end, its registration. */
function runWatch(
  kept: Kept,
  session: number,
  signal: AbortSignal,
  seconds: number,
  body: (
    id: number,
    began: number,
    finish: (reason: EndReason) => void,
  ) => { stop(reason: EndReason): Omit<WatchSummary, "reason" | "durationMs" | "watch"> },
): Promise<WatchSummary> {
  const id = kept.next++;
  const began = performance.now();
  return new Promise<WatchSummary>((resolve, reject) => {
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => finish(reasonOf(signal));
    const finish = (reason: EndReason) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      kept.watches.delete(id);
      try {
        const s = stopper.stop(reason);
        resolve({ watch: id, reason, durationMs: performance.now() - began, ...s });
      } catch (err) {
        reject(err);
      }
    };
    let stopper: ReturnType<typeof body>;
    try {
      stopper = body(id, began, finish);
    } catch (err) {
      done = true;
      reject(err);
      return;
    }
    kept.watches.set(id, { id, session, end: finish });
    timer = setTimeout(() => finish("seconds"), seconds * 1000);
    timer.unref();
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function watchChannel(
  input: Input,
  kept: Kept,
  session: number,
  signal: AbortSignal,
  event: (data: unknown) => void,
): Promise<WatchSummary> {
  const name = String(input.channel);
  return runWatch(kept, session, signal, input.seconds, (id, began, finish) => {
    let n = 0;
    const onMessage = (message: unknown) => {
      // A subscriber's throw would be rethrown to the app on the next tick: nothing escapes here.
      quiet++;
      try {
        if (n >= input.count) return;
        n++;
        event({
          kind: "message",
          watch: id,
          n,
          atMs: performance.now() - began,
          channel: name,
          message: briefMessage(message),
        } satisfies WatchMessage);
        if (n >= input.count) finish("count");
      } catch {
        // reporting is best effort
      } finally {
        quiet--;
      }
    };
    diagnosticsChannel.subscribe(name, onMessage);
    event({ kind: "start", watch: id, target: name, channel: name, count: input.count, seconds: input.seconds } satisfies WatchStart);
    return {
      stop: () => {
        diagnosticsChannel.unsubscribe(name, onMessage);
        return { target: name, calls: n, pending: [], restored: "unsubscribed", note: `unsubscribed from ${name}` };
      },
    };
  });
}

interface Place {
  owner: object;
  key: PropertyKey;
  original: (...args: unknown[]) => unknown;
  /** The owner's own property (its descriptor, to put back), or inherited (the wrapper shadows it). */
  own: PropertyDescriptor | undefined;
}

/** Finds the function `expr` names, in the session's scope, or says plainly why not. */
function locate(expr: string, evaluate: (code: string) => unknown): Place {
  const target = parseWatchTarget(expr);
  let owner: unknown;
  let key: PropertyKey;
  let ownerText: string;
  if (target.kind === "global") {
    if (!(target.name in globalThis)) {
      throw new WatchTargetError(
        `${target.name} is not a global: name the function through the object that holds it (owner.${target.name}); a session's own names and local variables cannot be watched`,
      );
    }
    owner = globalThis;
    key = target.name;
    ownerText = "globalThis";
  } else {
    ownerText = target.ownerCode;
    owner = evaluateOrExplain(evaluate, target.ownerCode);
    if ("name" in target.key) key = target.key.name;
    else {
      const k = evaluateOrExplain(evaluate, target.key.code);
      if (typeof k !== "string" && typeof k !== "symbol" && typeof k !== "number") {
        throw new WatchTargetError(`${target.key.code} is ${typeName(k)}, not a property key`);
      }
      key = k;
    }
  }
  if (owner === null || owner === undefined) throw new WatchTargetError(`${ownerText} is ${owner === null ? "null" : "undefined"}`);
  if (typeof owner !== "object" && typeof owner !== "function") {
    throw new WatchTargetError(`${ownerText} is ${typeName(owner)}, not an object: its methods cannot be replaced`);
  }
  const label = expr.trim();
  let holder: object | null = owner;
  let found: PropertyDescriptor | undefined;
  while (holder !== null && !found) {
    found = Reflect.getOwnPropertyDescriptor(holder, key);
    if (!found) holder = Reflect.getPrototypeOf(holder);
  }
  if (!found) throw new WatchTargetError(`${label} is undefined (${ownerText} has no property ${String(key)})`);
  if (!("value" in found))
    throw new WatchTargetError(`${label} is an accessor property (a getter): only a function held in a property can be watched`);
  if (typeof found.value !== "function") throw new WatchTargetError(`${label} is ${typeName(found.value)}, not a function`);
  return { owner, key, original: found.value as Place["original"], own: holder === owner ? found : undefined };
}

function watchFunction(
  input: Input,
  kept: Kept,
  session: number,
  signal: AbortSignal,
  event: (data: unknown) => void,
  evaluate: (code: string) => unknown,
): Promise<WatchSummary> {
  const label = String(input.expr).trim();
  const place = locate(label, evaluate);
  return runWatch(kept, session, signal, input.seconds, (id, began, finish) => {
    const { owner, key, original } = place;
    const state: Wrapped = { inner: original, active: true };
    let started = 0;
    let installed = true;
    const pending = new Map<number, { promise: Promise<unknown>; args: string[]; at: number }>();

    const send = (data: WatchCall) => {
      try {
        event(data);
      } catch {
        // the socket side is gone: the watch ends by its own bounds
      }
    };
    const maybeDone = () => {
      if (!installed && pending.size === 0) finish("count");
    };

    const observe = (thisArg: unknown, args: unknown[], newTarget: unknown): unknown => {
      const n = ++started;
      if (n >= input.count) uninstall(); // the next call is the original's
      // One record per call, filled in as it goes (no copies: a reported call should cost little).
      let base: WatchCall | undefined;
      quiet++;
      try {
        const shown: string[] = [];
        for (const a of args) shown.push(cut(show(a), 1000));
        base = {
          kind: "call",
          watch: id,
          n,
          atMs: 0,
          constructed: newTarget !== undefined,
          args: shown,
          // The owner itself (a method call) is said in one word: printing it for every call costs.
          this: newTarget !== undefined ? "" : thisArg === owner ? "(the owner)" : cut(show(thisArg, THIS_INSPECT), 200),
          outcome: "returned",
          value: "",
          durationMs: 0,
          async: false,
        };
      } catch {
        // formatting is best effort; the call goes on
      } finally {
        quiet--;
      }
      const t0 = performance.now();
      if (base) base.atMs = t0 - began;
      let value: unknown;
      try {
        value =
          newTarget === undefined
            ? Reflect.apply(state.inner, thisArg, args)
            : Reflect.construct(state.inner, args, newTarget === proxy ? state.inner : (newTarget as (...a: unknown[]) => unknown));
      } catch (err) {
        quiet++;
        try {
          const info = errorInfo(err);
          if (base) {
            base.durationMs = performance.now() - t0;
            base.outcome = "threw";
            base.value = info ? `${info.name}: ${info.message}` : cut(show(err));
            if (info) base.error = info;
            send(base);
          }
          maybeDone();
        } catch {
          // reporting is best effort
        } finally {
          quiet--;
        }
        throw err;
      }
      const t1 = performance.now();
      quiet++;
      try {
        if (base && util.types.isPromise(value)) {
          const promise = value as Promise<unknown>;
          const call = base;
          const report = (at: number) => {
            quiet++;
            try {
              pending.delete(n);
              const s = settledState(promise);
              call.outcome = s.outcome === "rejected" ? "rejected" : "resolved";
              call.value = cut(s.value);
              call.durationMs = at - t0;
              call.async = true;
              send(call);
              maybeDone();
            } finally {
              quiet--;
            }
          };
          const now = settledState(promise);
          if (now.outcome === "pending") {
            pending.set(n, { promise, args: base.args, at: t0 });
            awaitSettled(promise, report);
          } else report(t1);
        } else {
          if (base) {
            base.durationMs = t1 - t0;
            base.value = cut(show(value));
            send(base);
          }
          maybeDone();
        }
      } catch {
        // reporting is best effort
      } finally {
        quiet--;
      }
      return value;
    };

    const handler: ProxyHandler<(...args: unknown[]) => unknown> = {
      apply(_target, thisArg, args) {
        if (!state.active || quiet > 0) return Reflect.apply(state.inner, thisArg, args);
        return observe(thisArg, args, undefined);
      },
      construct(_target, args, newTarget) {
        const nt = newTarget === proxy ? state.inner : newTarget;
        if (!state.active || quiet > 0) return Reflect.construct(state.inner, args, nt) as object;
        return observe(undefined, args, newTarget) as object;
      },
    };
    const proxy = new Proxy(original, handler);
    kept.wrapped.set(proxy, state);

    const ok = place.own
      ? Reflect.defineProperty(owner, key, { value: proxy })
      : Reflect.defineProperty(owner, key, { value: proxy, writable: true, enumerable: false, configurable: true });
    if (!ok) {
      kept.wrapped.delete(proxy);
      throw new WatchTargetError(`${label} cannot be replaced (a read-only property, or a frozen or sealed object, or a module namespace)`);
    }

    let outcome: WatchSummary["restored"] = "restored";
    let note = `${label} restored`;
    /** Puts the original back, or says why it cannot, and makes the wrapper a pass-through. */
    function uninstall(): void {
      if (!installed) return;
      installed = false;
      state.active = false;
      try {
        const now = Reflect.getOwnPropertyDescriptor(owner, key);
        if (now && "value" in now && now.value === proxy) {
          const back = place.own ? Reflect.defineProperty(owner, key, { value: state.inner }) : Reflect.deleteProperty(owner, key);
          if (back) return;
          outcome = "pass-through";
          note = `${label} could not be put back (the property refused it); the wrapper stays as a pass-through`;
          return;
        }
        // Later watches of ours wrap this one: unlink this one from inside the chain.
        let outer = now && "value" in now && typeof now.value === "function" ? kept.wrapped.get(now.value as object) : undefined;
        for (let hops = 0; outer && outer.inner !== proxy && hops < MAX_WATCHES_PER_PROCESS; hops++) outer = kept.wrapped.get(outer.inner);
        if (outer && outer.inner === proxy) {
          outer.inner = state.inner;
          outcome = "restored-inside";
          note = `${label} restored inside the later watch that wraps it`;
          return;
        }
        outcome = "pass-through";
        note = `${label} could not be restored: other code replaced it meanwhile (it now holds ${cut(show(now && "value" in now ? now.value : undefined, { ...INSPECT, depth: 0 }), 200)}); the watch's wrapper stays wherever it is referenced, as a pass-through to the original`;
      } catch (err) {
        outcome = "pass-through";
        note = `${label} could not be restored (${err instanceof Error ? err.message : "?"}); the wrapper stays as a pass-through`;
      }
    }

    event({
      kind: "start",
      watch: id,
      target: label,
      function: { name: typeof original.name === "string" ? original.name : "", length: original.length, kind: functionKind(original) },
      property: place.own ? "own" : "inherited",
      count: input.count,
      seconds: input.seconds,
    } satisfies WatchStart);

    return {
      stop: () => {
        uninstall();
        const now = performance.now();
        const left = [...pending.entries()].map(([n, p]) => ({ n, args: p.args, sinceMs: now - p.at }));
        for (const p of pending.values()) forgetSettling(p.promise);
        pending.clear();
        return { target: label, calls: started, pending: left, restored: outcome, note };
      },
    };
  });
}

// ---- the socket side: text for people ----

function callText(c: WatchCall, target: string): string {
  const call = `${c.constructed ? "new " : ""}${target}(${c.args.join(", ")})`;
  const how = c.outcome === "threw" ? " threw " : c.outcome === "rejected" ? " rejected " : " → ";
  const value = c.outcome === "threw" || c.outcome === "rejected" ? firstLine(c.value) : c.value;
  const when = c.async ? `${c.outcome === "resolved" ? "resolved after" : "after"} ${formatMs(c.durationMs)}` : formatMs(c.durationMs);
  return cut(`#${c.n} +${(c.atMs / 1000).toFixed(3)}s ${call}${how}${value}  (${when})`);
}

function firstLine(text: string): string {
  const nl = text.indexOf("\n");
  return nl < 0 ? text : text.slice(0, nl);
}

function startText(s: WatchStart): string {
  const unit = s.channel ? (s.count === 1 ? "message" : "messages") : s.count === 1 ? "call" : "calls";
  const bounds = `${s.count} ${unit} or ${s.seconds} s, whichever comes first; Ctrl-C stops`;
  if (s.channel) return `watching diagnostics_channel ${s.channel} for ${bounds}`;
  const f = s.function;
  const what = f ? `${f.kind} ${f.name || "(anonymous)"}, ${f.length} parameter${f.length === 1 ? "" : "s"}` : "";
  const inherited = s.property === "inherited" ? "; inherited, so wrapped on this object only" : "";
  return `watching ${s.target} (${what}${inherited}) for ${bounds}`;
}

const REASONS: Record<EndReason, string> = {
  count: "the --count limit",
  seconds: "the --seconds limit",
  interrupted: "interrupted",
  "session-closed": "the session closed",
  "manhole-closed": "the manhole closed",
};

function endText(s: WatchSummary): string {
  const what = s.restored === "unsubscribed" ? (s.calls === 1 ? "message" : "messages") : s.calls === 1 ? "call" : "calls";
  const lines = [`watch of ${s.target} ended (${REASONS[s.reason]}) after ${s.calls} ${what} in ${formatMs(s.durationMs)}; ${s.note}`];
  for (const p of s.pending) lines.push(`  #${p.n} ${s.target}(${p.args.join(", ")}) still pending after ${formatMs(p.sinceMs)}`);
  return lines.join("\n");
}

async function run(ctx: OperationContext) {
  const expr = String(ctx.args.expr ?? "").trim();
  const channel = String(ctx.args.channel ?? "").trim();
  const count = ctx.args.count as number;
  const seconds = ctx.args.seconds as number;
  if (!expr && !channel) throw new ArgError("name a function (.watch db.query) or a channel (.watch --channel http.server.request.start)");
  if (expr && channel) throw new ArgError("a function or --channel, not both");
  if (!Number.isInteger(count) || count < 1 || count > MAX_COUNT)
    throw new ArgError(`--count must be a whole number from 1 to ${MAX_COUNT}`);
  if (!(seconds > 0 && seconds <= MAX_SECONDS)) throw new ArgError(`--seconds must be more than 0 and at most ${MAX_SECONDS}`);
  let target = expr || channel;
  const onEvent = (data: unknown) => {
    const e = data as WatchEvent;
    if (e.kind === "start") {
      target = e.target;
      ctx.event("watch.start", startText(e), e);
    } else if (e.kind === "call") ctx.event("watch.call", callText(e, target), e);
    else ctx.event("watch.message", cut(`#${e.n} +${(e.atMs / 1000).toFixed(3)}s ${e.channel} ${e.message}`), e);
  };
  const summary = (await ctx.callMain({ expr: expr || undefined, channel: channel || undefined, count, seconds } satisfies Input, {
    onEvent,
  })) as WatchSummary;
  return { text: endText(summary), json: summary };
}

export const watch: Operation = {
  name: "watch",
  help: "Report each call of a function (.watch db.query: arguments, result or throw, duration) or each message of a diagnostics_channel (--channel), for --count calls or --seconds",
  args: [
    {
      name: "expr",
      type: "string",
      help: "the function, as owner.property in the session's scope (db.query, Foo.prototype.bar); one word",
      default: "",
    },
    { name: "count", type: "number", help: "stop after this many calls (or messages)", default: 10 },
    { name: "seconds", type: "number", help: "stop after this many seconds", default: 60 },
    {
      name: "channel",
      type: "string",
      help: "watch this diagnostics_channel instead (http.server.request.start, undici:request:create, ...)",
      default: "",
    },
  ],
  runsOn: "main",
  observeSafe: false,
  heavy: false,
  keep: {
    create: (): Kept => ({ next: 1, watches: new Map(), wrapped: new WeakMap() }),
    dispose: (kept) => {
      for (const w of [...(kept as Kept).watches.values()]) w.end("manhole-closed");
    },
  },
  main: watchMain,
  run,
};
