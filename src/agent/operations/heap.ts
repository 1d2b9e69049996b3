import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { formatDuration } from "../../shared/duration.js";
import { runtimeDir } from "../../shared/runtime-dir.js";
import { formatBytes } from "../../shared/units.js";
import { savedText, stamp, unlessAborted, waitOrAbort, withTimeout } from "./profile.js";
import type { Operation, OperationContext, OperationResult, OwnInspector } from "./types.js";

/**
 * What a heap snapshot costs, measured on Node 20 and 24 (from the worker, through
 * connectToMainThread): the app is frozen 2.3-5 s for a 50 MB heap and 19-31 s for 200 MB, and
 * needs about 6-7 times the heap in extra memory while it runs. The upper figure allows for a busy machine (a 123 MB heap took 22-29 s on 2 shared CPUs).
 */
const EXTRA_MEMORY_PER_HEAP_BYTE = 7;
const FREEZE_S_PER_MB = { low: 0.045, high: 0.25 };
/** The file is about this many times the heap used (measured: 1.2-2.5). */
const FILE_PER_HEAP_BYTE = 2.5;
const ANSWER_MS = 30_000;
const MB = 1024 * 1024;

export interface HeapEstimate {
  heapUsed: number;
  heapTotal: number;
  /** Extra memory the snapshot needs while it is taken. */
  extraMemory: number;
  freezeSeconds: { low: number; high: number };
  fileSize: number;
  /** What the system has: memory available (the lower of the machine's and the cgroup's), disk free where the file goes. */
  memoryAvailable: number | null;
  cgroupLimit: number | null;
  diskFree: number | null;
  diskPath: string;
  /** Why it looks too big, if it does. */
  problems: string[];
}

function readNumber(file: string): number | null {
  try {
    const text = fs.readFileSync(file, "utf8").trim();
    const n = Number(text);
    return text === "max" || !Number.isFinite(n) ? null : n;
  } catch {
    return null;
  }
}

/**
 * The memory limit of the process's cgroup and its use (v2, else v1's memory controller), or nulls
 * outside a limited cgroup. A limit holds for everything below it, so the lowest one between the
 * process's own cgroup and the root counts. Inside a container the cgroup namespace shows its
 * own cgroup as the root; on a host (or a v1 set-up without a namespace), the path in
 * /proc/self/cgroup leads to it.
 */
function cgroupMemory(): { limit: number | null; used: number | null } {
  let lines: string[];
  try {
    lines = fs.readFileSync("/proc/self/cgroup", "utf8").split("\n");
  } catch {
    return { limit: null, used: null };
  }
  const v2 = lines.find((l) => l.startsWith("0::"));
  const v1 = lines.map((l) => /^\d+:([^:]*):(.*)$/.exec(l)).find((m) => m?.[1]?.split(",").includes("memory"));
  const found =
    (v2 === undefined ? undefined : lowestLimit("/sys/fs/cgroup", v2.slice(3), "memory.max", "memory.current")) ??
    (v1 ? lowestLimit("/sys/fs/cgroup/memory", v1[2] ?? "/", "memory.limit_in_bytes", "memory.usage_in_bytes") : undefined);
  return found ?? { limit: null, used: null };
}

/** The lowest limit from `root/rel` up to `root`, and the use where it is set; undefined when none is. */
function lowestLimit(root: string, rel: string, limitFile: string, usageFile: string): { limit: number; used: number | null } | undefined {
  let best: { limit: number; used: number | null } | undefined;
  for (let dir = path.join(root, rel); ; dir = path.dirname(dir)) {
    const limit = readNumber(path.join(dir, limitFile));
    // v1 says "no limit" with a huge number, v2 with "max" (null here).
    if (limit !== null && limit < 2 ** 60 && (!best || limit < best.limit)) best = { limit, used: readNumber(path.join(dir, usageFile)) };
    if (dir === root || !dir.startsWith(root)) return best;
  }
}

function memoryAvailable(): number {
  try {
    const m = /^MemAvailable:\s+(\d+) kB/m.exec(fs.readFileSync("/proc/meminfo", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return os.freemem();
}

function diskFree(dir: string): number | null {
  try {
    const st = fs.statfsSync(dir);
    return st.bavail * st.bsize;
  } catch {
    return null;
  }
}

export function estimate(heapUsed: number, heapTotal: number, dir: string): HeapEstimate {
  const cg = cgroupMemory();
  const machine = memoryAvailable();
  const cgroupRoom = cg.limit !== null ? cg.limit - (cg.used ?? 0) : null;
  const available = cgroupRoom !== null ? Math.min(machine, cgroupRoom) : machine;
  const free = diskFree(dir);
  const e: HeapEstimate = {
    heapUsed,
    heapTotal,
    extraMemory: Math.round(heapUsed * EXTRA_MEMORY_PER_HEAP_BYTE),
    freezeSeconds: {
      low: Math.max(0.1, (heapUsed / MB) * FREEZE_S_PER_MB.low),
      high: Math.max(0.5, (heapUsed / MB) * FREEZE_S_PER_MB.high),
    },
    fileSize: Math.round(heapUsed * FILE_PER_HEAP_BYTE),
    memoryAvailable: available,
    cgroupLimit: cg.limit,
    diskFree: free,
    diskPath: dir,
    problems: [],
  };
  if (e.extraMemory > available)
    e.problems.push(
      `it needs about ${formatBytes(e.extraMemory)} more memory, and only ${formatBytes(available)} is available${cgroupRoom !== null && cgroupRoom <= machine ? ` (the cgroup's limit is ${formatBytes(cg.limit)})` : ""}: the app could be killed for it`,
    );
  if (free !== null && e.fileSize > free)
    e.problems.push(`the file may take about ${formatBytes(e.fileSize)}, and ${dir} has only ${formatBytes(free)} free`);
  return e;
}

const secs = (s: number) => (s < 10 ? s.toFixed(1) : String(Math.round(s)));

function estimateText(e: HeapEstimate): string {
  return `a heap snapshot of ${formatBytes(e.heapUsed)} used heap freezes the app for its whole duration (about ${secs(e.freezeSeconds.low)}-${secs(e.freezeSeconds.high)} s here) and needs about ${formatBytes(e.extraMemory)} more memory while it runs (${formatBytes(e.memoryAvailable)} available); the file will be about ${formatBytes(e.fileSize)} (${formatBytes(e.diskFree)} free in ${e.diskPath})`;
}

async function heapUsage(inspector: OwnInspector, signal: AbortSignal): Promise<{ usedSize: number; totalSize: number }> {
  return unlessAborted(
    withTimeout(inspector.post<{ usedSize: number; totalSize: number }>("Runtime.getHeapUsage"), ANSWER_MS, "Runtime.getHeapUsage"),
    signal,
    "reading the heap's size",
  );
}

async function snapshot(ctx: OperationContext): Promise<OperationResult> {
  const inspector = ctx.openInspector();
  const output = ctx.args.output as string;
  const dir = output ? path.dirname(path.resolve(output)) : runtimeDir();
  const usage = await heapUsage(inspector, ctx.signal);
  const e = estimate(usage.usedSize, usage.totalSize, dir);
  if (e.problems.length && ctx.args.force !== true) {
    return {
      text: `.heap: refused: ${e.problems.join("; ")}.\n(${estimateText(e)}; --force takes it anyway)`,
      json: { taken: false, refused: e.problems, estimate: e },
    };
  }
  if (ctx.args.yes !== true) {
    return {
      text: `${estimateText(e)}.${e.problems.length ? ` Forced past: ${e.problems.join("; ")}.` : ""}\nNot taken yet: confirm with .heap --yes${ctx.args.force === true ? " --force" : ""}`,
      json: { taken: false, estimate: e },
      confirm: { question: "Take the heap snapshot now, freezing the app?", arg: "yes" },
    };
  }
  ctx.write(
    `${estimateText(e)}.\ntaking the snapshot: the app is frozen until it is done (Ctrl-C now discards it, but cannot shorten the freeze)\n`,
  );
  let frozenMs = 0;
  const info = await ctx.artifact(
    { name: `heap-${process.pid}-${stamp()}.heapsnapshot`, mediaType: "application/json", output, signal: ctx.signal },
    async (sink) => {
      let shownBuild = -1;
      let shownBytes = 0;
      inspector.on("HeapProfiler.reportHeapSnapshotProgress", (p) => {
        const { done, total, finished } = p as { done: number; total: number; finished?: boolean };
        const tenth = finished ? 10 : Math.floor((done / (total || 1)) * 10);
        if (tenth > shownBuild) {
          shownBuild = tenth;
          ctx.write(`building the snapshot: ${tenth * 10}%\n`);
        }
      });
      inspector.on("HeapProfiler.addHeapSnapshotChunk", (p) => {
        sink.write((p as { chunk: string }).chunk);
        if (sink.bytes - shownBytes >= 32 * MB) {
          shownBytes = sink.bytes;
          ctx.write(`writing the snapshot: ${formatBytes(sink.bytes)}\n`);
        }
      });
      const began = performance.now();
      try {
        // Progress events run JavaScript while V8 walks the heap: on the snapshot's own thread
        // (threaded: false) that crashes the process (measured: SIGSEGV on Node 20), so only the worker asks for them.
        await inspector.post("HeapProfiler.takeHeapSnapshot", { reportProgress: ctx.threaded, captureNumericValue: false });
      } finally {
        frozenMs = performance.now() - began;
        await inspector.post("HeapProfiler.disable").catch(() => {});
      }
    },
  );
  const text = `heap snapshot: ${formatBytes(usage.usedSize)} heap used; the app was frozen for ${formatDuration(frozenMs)}.\n${savedText(info)}; load it in Chrome DevTools (Memory)`;
  return { text, json: { taken: true, frozenMs: Math.round(frozenMs), estimate: e, artifact: info } };
}

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  selfSize: number;
  id: number;
  children: SamplingNode[];
}

export interface Allocator {
  name: string;
  location: string;
  bytes: number;
  share: number;
}

/** Sampled allocation per function (its own, not its callees'), largest first. */
export function topAllocators(head: SamplingNode, top = 15): { total: number; allocators: Allocator[] } {
  const by = new Map<string, Allocator>();
  let total = 0;
  const stack = [head];
  while (stack.length) {
    const n = stack.pop() as SamplingNode;
    stack.push(...n.children);
    if (!n.selfSize) continue;
    total += n.selfSize;
    const cf = n.callFrame;
    const file = cf.url.startsWith("file://") ? decodeURIComponent(cf.url.slice(7)) : cf.url;
    const location = file ? `${file}:${cf.lineNumber + 1}:${cf.columnNumber + 1}` : "";
    const name = cf.functionName || "(anonymous)";
    const key = `${name} ${location}`;
    const a = by.get(key) ?? { name, location, bytes: 0, share: 0 };
    a.bytes += n.selfSize;
    by.set(key, a);
  }
  const allocators = [...by.values()].sort((a, b) => b.bytes - a.bytes).slice(0, top);
  for (const a of allocators) a.share = total ? a.bytes / total : 0;
  return { total, allocators };
}

async function sample(ctx: OperationContext): Promise<OperationResult> {
  const ms = ctx.args.seconds as number;
  const interval = ctx.args.interval as number;
  if (!(ms > 0 && ms <= 3_600_000)) return { text: ".heap --sample: seconds must be more than 0 and at most 1 hour" };
  if (!(Number.isInteger(interval) && interval >= 128))
    return { text: ".heap --sample: interval must be a whole number of bytes, at least 128" };
  const inspector = ctx.openInspector();
  let profile: { head: SamplingNode };
  let sampledMs: number;
  try {
    await unlessAborted(inspector.post("HeapProfiler.enable"), ctx.signal, "starting the sampling");
    await unlessAborted(
      inspector.post("HeapProfiler.startSampling", {
        samplingInterval: interval,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      }),
      ctx.signal,
      "starting the sampling",
    );
    const began = performance.now();
    ctx.write(
      `sampling the main thread's allocations for ${formatDuration(ms)}, one sample per ${formatBytes(interval)} on average (cheap: no freeze). Ctrl-C stops early and keeps what was sampled.\n`,
    );
    await waitOrAbort(ms, ctx.signal);
    sampledMs = performance.now() - began;
    profile = (
      await withTimeout(inspector.post<{ profile: { head: SamplingNode } }>("HeapProfiler.stopSampling"), ANSWER_MS, "stopSampling")
    ).profile;
  } finally {
    await withTimeout(inspector.post("HeapProfiler.disable"), ANSWER_MS, "HeapProfiler.disable").catch(() => {});
  }
  const { total, allocators } = topAllocators(profile.head);
  const info = await ctx.artifact(
    { name: `heap-${process.pid}-${stamp()}.heapprofile`, mediaType: "application/json", output: ctx.args.output as string },
    (sink) => sink.write(JSON.stringify(profile)),
  );
  const lines = [
    `sampled allocations over ${formatDuration(sampledMs)}${ctx.signal.aborted ? " (stopped early)" : ""}: ${formatBytes(total)} sampled; top ${allocators.length} allocating functions (self):`,
    ...allocators.map(
      (a) =>
        `  ${formatBytes(a.bytes).padStart(10)} ${`${(a.share * 100).toFixed(1)}%`.padStart(6)}  ${a.name}${a.location ? ` (${a.location})` : ""}`,
    ),
    `${savedText(info)}; load it in Chrome DevTools (Memory)`,
  ];
  return {
    text: lines.join("\n"),
    json: { sampledMs: Math.round(sampledMs), totalBytes: total, allocators, artifact: info, stoppedEarly: ctx.signal.aborted },
  };
}

/**
 * A heap snapshot of the main thread (it freezes the app: estimated, refused when the machine
 * looks too small unless --force, confirmed first unless --yes), or with --sample a sampling heap
 * profile (cheap, no freeze) and its top allocators.
 */
export const heap: Operation = {
  name: "heap",
  help: "A heap snapshot of the main thread (.heapsnapshot for Chrome DevTools; freezes the app: estimated and confirmed first), or --sample: a sampling heap profile and its top allocators",
  args: [
    { name: "sample", type: "boolean", help: "a sampling heap profile over <seconds> instead (cheap, no freeze)", default: false },
    { name: "seconds", type: "duration", unit: "s", help: "with --sample: how long to sample (a bare number is seconds)", default: 10_000 },
    { name: "yes", type: "boolean", help: "take the snapshot without asking first", default: false },
    { name: "force", type: "boolean", help: "take it even when memory or disk looks too small", default: false },
    { name: "interval", type: "number", help: "with --sample: mean bytes between samples", default: 32_768 },
    {
      name: "output",
      type: "string",
      help: "where to write the file on the app's side (human mode; default the runtime directory)",
      default: "",
    },
  ],
  runsOn: "socket",
  // A snapshot holds every value in the heap, secrets included.
  observeSafe: false,
  heavy: true,
  artifact: "a .heapsnapshot (or with --sample a .heapprofile) for Chrome DevTools",
  run(ctx) {
    return ctx.args.sample === true ? sample(ctx) : snapshot(ctx);
  },
};
