import { formatDuration } from "../../shared/duration.js";
import { formatBytes } from "../../shared/units.js";
import { type StartBaseline, startBaseline } from "../main-thread/start-baseline.js";
import type { Operation } from "./types.js";

interface Sample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  heapLimit: number;
  external: number;
  arrayBuffers: number;
  spaces: { name: string; size: number; used: number; available: number }[];
  /** When the figures were read (ms since the epoch). */
  at: number;
  /** The figures when the manhole started (relay only: absent through the inspector). */
  baseline?: Baseline;
}

type Baseline = StartBaseline;

/**
 * Memory of the process, as the app's main thread sees it: process.memoryUsage() and V8's heap
 * statistics. Self-contained (globals only), so that it also runs through the inspector while
 * the loop is blocked.
 */
function readMemory(_input: unknown, ctx?: { kept?: unknown }): Sample {
  const builtin = (name: string) => (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.(name) ?? require(name);
  const v8 = builtin("node:v8") as typeof import("node:v8");
  const usage = process.memoryUsage();
  return {
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    heapTotal: usage.heapTotal,
    heapLimit: v8.getHeapStatistics().heap_size_limit,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    spaces: v8.getHeapSpaceStatistics().map((s) => ({
      name: s.space_name,
      size: s.space_size,
      used: s.space_used_size,
      available: s.space_available_size,
    })),
    at: Date.now(),
    ...(ctx?.kept ? { baseline: ctx.kept as Baseline } : {}),
  };
}

export const mem: Operation = {
  name: "mem",
  help: "Memory: RSS, heap used/total/limit, external, array buffers, heap spaces, growth since the manhole started",
  args: [],
  runsOn: "main-or-socket",
  observeSafe: true,
  heavy: false,
  keep: { create: startBaseline },
  main: readMemory,
  async run(ctx) {
    const m = (await ctx.callMain()) as Sample;
    const loop = ctx.loopState();
    const base = m.baseline;
    const growth = base
      ? {
          sinceMs: m.at - base.at,
          rss: m.rss - base.rss,
          heapUsed: m.heapUsed - base.heapUsed,
          heapTotal: m.heapTotal - base.heapTotal,
          external: m.external - base.external,
          arrayBuffers: m.arrayBuffers - base.arrayBuffers,
        }
      : null;
    const lines = [
      `rss ${formatBytes(m.rss)}, heap ${formatBytes(m.heapUsed)} used of ${formatBytes(m.heapTotal)} (limit ${formatBytes(m.heapLimit)}), external ${formatBytes(m.external)}, array buffers ${formatBytes(m.arrayBuffers)}`,
      growth
        ? `growth since the manhole started ${formatDuration(growth.sinceMs)} ago: rss ${formatBytes(growth.rss, { sign: true })}, heap used ${formatBytes(growth.heapUsed, { sign: true })}, external ${formatBytes(growth.external, { sign: true })}`
        : "growth since the manhole started: not known while the event loop is blocked",
      "heap spaces:",
      ...tableOf(m.spaces),
    ];
    if (loop?.blocked) lines.push(`(the event loop is blocked for ${formatDuration(loop.sinceMs)}: read through the inspector)`);
    const { baseline: _b, at: _at, ...figures } = m;
    return { text: lines.join("\n"), json: { ...figures, growth, loop: loop ?? null } };
  },
};

function tableOf(spaces: Sample["spaces"]): string[] {
  const width = Math.max(...spaces.map((s) => s.name.length));
  return spaces.map((s) => `  ${s.name.padEnd(width)}  ${formatBytes(s.used).padStart(10)} used of ${formatBytes(s.size).padStart(10)}`);
}
