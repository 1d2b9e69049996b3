import type { IntervalHistogram } from "node:perf_hooks";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { formatDuration } from "../../shared/duration.js";
import { formatMs } from "../../shared/units.js";
import { MainBlocked, type Operation, type OperationContext, type OperationResult } from "./types.js";

/** The histogram samples the loop every RESOLUTION_MS; what it records beyond that is delay. */
const RESOLUTION_MS = 10;
/** A window's histogram is disabled by itself this long after the window, if its stop never arrives. */
const STOP_GRACE_MS = 5000;

type Start = { start: number };
type Stop = { stop: number };
type Started = { id: number; histogram: IntervalHistogram };
type Measure = { histogram: IntervalHistogram; elu: ReturnType<typeof performance.eventLoopUtilization>; expire: NodeJS.Timeout };
type Kept = { next: number; open: Map<number, Measure> };

export interface LoopReport {
  windowMs: number;
  samples: number;
  /** Delay beyond the sampling interval, in ms; null when nothing was sampled (the loop never turned). */
  delayMs: { p50: number; p99: number; max: number; mean: number } | null;
  /** Share of the window the loop spent running rather than idle (0..1); null when it could not be read. */
  utilization: number | null;
  /** The loop is blocked right now: for how long, and the main thread's stack (when asked for). */
  blocked: { sinceMs: number; stack: string | null } | null;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      reject(new Error("interrupted"));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", done);
      resolve();
    }, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

const ns = (v: number) => Math.max(0, v / 1e6 - RESOLUTION_MS);

function text(r: LoopReport): string {
  const head = r.delayMs
    ? `event loop over ${formatDuration(r.windowMs)}: delay p50 ${formatMs(r.delayMs.p50)}, p99 ${formatMs(r.delayMs.p99)}, max ${formatMs(r.delayMs.max)}; utilisation ${r.utilization === null ? "?" : `${Math.round(r.utilization * 100)}%`}`
    : r.blocked
      ? `event loop BLOCKED for ${formatDuration(r.blocked.sinceMs)}`
      : `event loop over ${formatDuration(r.windowMs)}: no samples`;
  const lines = [head];
  if (r.delayMs) lines.push(`(${r.samples} samples of the loop every ${RESOLUTION_MS} ms; delay is what a timer waited beyond that)`);
  if (r.blocked && r.delayMs) lines.push(`the event loop is blocked right now, for ${formatDuration(r.blocked.sinceMs)}`);
  if (r.blocked?.stack) lines.push(r.blocked.stack);
  return lines.join("\n");
}

async function blockedNow(ctx: OperationContext, sinceMs: number): Promise<LoopReport["blocked"]> {
  return { sinceMs, stack: ctx.args.stack ? await ctx.stack() : null };
}

/**
 * Event-loop delay and utilisation over a window. The main half opens a histogram
 * (monitorEventLoopDelay) for the window and hands it to the socket side, where it stays live:
 * the socket side reads it at the window's end even if the loop is blocked by then. The
 * utilisation is the main thread's own (performance.eventLoopUtilization), read by the stop.
 */
export const loop: Operation = {
  name: "loop",
  help: "Event-loop delay p50/p99/max and utilisation over a window; while blocked, for how long and the main thread's stack",
  args: [
    { name: "window", type: "duration", unit: "s", help: "how long to measure (a bare number is seconds)", default: 5000 },
    { name: "stack", type: "boolean", help: "show the main thread's stack when the loop is blocked", default: true },
  ],
  runsOn: "main-or-socket",
  observeSafe: true,
  heavy: false,
  keep: {
    create: (): Kept => ({ next: 1, open: new Map() }),
    dispose: (kept) => {
      for (const m of (kept as Kept).open.values()) {
        m.histogram.disable();
        clearTimeout(m.expire);
      }
    },
  },
  main(input, ctx) {
    const kept = ctx.kept as Kept;
    if ("start" in (input as Start)) {
      const id = kept.next++;
      const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
      histogram.enable();
      const expire = setTimeout(() => stopMeasure(kept, id), (input as Start).start + STOP_GRACE_MS);
      expire.unref();
      kept.open.set(id, { histogram, elu: performance.eventLoopUtilization(), expire });
      return { id, histogram } satisfies Started;
    }
    return { utilization: stopMeasure(kept, (input as Stop).stop) };
  },
  async run(ctx): Promise<OperationResult> {
    const windowMs = Math.min(ctx.args.window as number, 600_000);
    const { id, histogram } = (await ctx.callMain({ start: windowMs } satisfies Start)) as Started;
    const began = performance.now();
    try {
      await sleep(windowMs, ctx.signal);
    } catch (err) {
      void ctx.callMain({ stop: id } satisfies Stop).catch(() => {});
      throw err;
    }
    const samples = histogram.count;
    const delayMs =
      samples > 0
        ? { p50: ns(histogram.percentile(50)), p99: ns(histogram.percentile(99)), max: ns(histogram.max), mean: ns(histogram.mean) }
        : null;
    let utilization: number | null = null;
    let blocked: LoopReport["blocked"] = null;
    try {
      utilization = ((await ctx.callMain({ stop: id } satisfies Stop)) as { utilization: number | null }).utilization;
    } catch (err) {
      if (!(err instanceof MainBlocked)) throw err;
      blocked = await blockedNow(ctx, err.sinceMs); // the histogram stops by itself later
    }
    const report: LoopReport = { windowMs: Math.round(performance.now() - began), samples, delayMs, utilization, blocked };
    return { text: text(report), json: report };
  },
  async whileBlocked(ctx, blocked) {
    const report: LoopReport = {
      windowMs: 0,
      samples: 0,
      delayMs: null,
      utilization: null,
      blocked: await blockedNow(ctx, blocked.sinceMs),
    };
    return { text: text(report), json: report };
  },
};

function stopMeasure(kept: Kept, id: number): number | null {
  const m = kept.open.get(id);
  if (!m) return null;
  kept.open.delete(id);
  m.histogram.disable();
  clearTimeout(m.expire);
  return performance.eventLoopUtilization(m.elu).utilization;
}
