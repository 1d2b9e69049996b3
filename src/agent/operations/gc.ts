import v8 from "node:v8";
import vm from "node:vm";
import { isMainThread } from "node:worker_threads";
import { formatBytes, formatMs } from "../../shared/units.js";
import type { Operation } from "./types.js";

type Collect = () => void;

interface GcResult {
  /** How the collection was reached: the app's global gc (--expose-gc), or one exposed at run time. */
  how: "global" | "exposed";
  durationMs: number;
  before: { heapUsed: number; heapTotal: number; rss: number };
  after: { heapUsed: number; heapTotal: number; rss: number };
}

let exposed: Collect | undefined;

/**
 * A full collection: the app's global `gc` if it runs with --expose-gc, else one exposed now
 * (V8's --expose-gc flag set at run time gives the next new context a `gc`; the app's own
 * global is left alone). Null when neither works.
 */
function collector(): { gc: Collect; how: GcResult["how"] } | undefined {
  const global = (globalThis as { gc?: unknown }).gc;
  if (typeof global === "function") return { gc: global as Collect, how: "global" };
  if (!exposed) {
    try {
      v8.setFlagsFromString("--expose-gc");
      const fn = vm.runInNewContext("typeof gc === 'function' ? gc : undefined") as unknown;
      if (typeof fn === "function") exposed = fn as Collect;
    } catch {
      // not allowed here
    }
  }
  return exposed ? { gc: exposed, how: "exposed" } : undefined;
}

/** A full collection of the calling thread's heap (the manhole's worker, where `run` runs in threaded mode). */
function ownCollection(): { before: GcResult["before"]; after: GcResult["after"] } | undefined {
  const c = collector();
  if (!c) return undefined;
  const before = figures();
  c.gc();
  return { before, after: figures() };
}

const figures = () => {
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, heapTotal: m.heapTotal, rss: m.rss };
};

export const gc: Operation = {
  name: "gc",
  help: "Run a full garbage collection now: heap before and after, and how long it held the main thread",
  args: [],
  runsOn: "main",
  observeSafe: false,
  heavy: true,
  main(): GcResult | { unavailable: string } {
    const c = collector();
    if (!c) return { unavailable: "this runtime refuses to expose gc at run time: start node with --expose-gc" };
    const before = figures();
    const started = performance.now();
    c.gc();
    const durationMs = performance.now() - started;
    return { how: c.how, durationMs, before, after: figures() };
  },
  async run(ctx) {
    const r = (await ctx.callMain()) as GcResult | { unavailable: string };
    if ("unavailable" in r) return { text: `.gc: ${r.unavailable}`, json: { collected: false, reason: r.unavailable } };
    const freed = r.before.heapUsed - r.after.heapUsed;
    const lines = [
      `full collection in ${formatMs(r.durationMs)}: heap used ${formatBytes(r.before.heapUsed)} → ${formatBytes(r.after.heapUsed)} (${formatBytes(-freed, { sign: true })}), heap total ${formatBytes(r.before.heapTotal)} → ${formatBytes(r.after.heapTotal)}, rss ${formatBytes(r.before.rss)} → ${formatBytes(r.after.rss)}`,
      r.how === "exposed"
        ? "(gc exposed at run time through V8's --expose-gc flag; the app's globals are unchanged)"
        : "(the app's global gc: node runs with --expose-gc)",
    ];
    // Threaded: the manhole's own worker thread is a heap of its own (sessions, buffers): collected
    // too, so that what the manhole holds can be told from what it has only not given back yet.
    const own = isMainThread ? undefined : ownCollection();
    if (own)
      lines.push(
        `the manhole's own worker thread: heap used ${formatBytes(own.before.heapUsed)} → ${formatBytes(own.after.heapUsed)}, heap total ${formatBytes(own.before.heapTotal)} → ${formatBytes(own.after.heapTotal)}`,
      );
    return {
      text: lines.join("\n"),
      json: {
        collected: true,
        how: r.how,
        durationMs: r.durationMs,
        before: r.before,
        after: r.after,
        ...(own ? { manholeWorker: own } : {}),
      },
    };
  },
};
