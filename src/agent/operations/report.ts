import { formatDuration } from "../../shared/duration.js";
import { formatBytes } from "../../shared/units.js";
import type { Operation } from "./types.js";

/** The parts of Node's diagnostic report this summary reads (the whole report is passed on as is). */
interface Report {
  header: {
    nodejsVersion: string;
    componentVersions: Record<string, string>;
    processId: number;
    threadId?: number;
    arch: string;
    platform: string;
    commandLine?: string[];
  };
  javascriptStack?: { message?: string; stack?: string[] };
  javascriptHeap?: { totalMemory: number; usedMemory: number; memoryLimit: number };
  nativeStack?: { pc: string; symbol: string }[];
  resourceUsage?: {
    rss?: string | number;
    maxRss?: number;
    userCpuSeconds: number;
    kernelCpuSeconds: number;
    cpuConsumptionPercent: number;
  };
  libuv?: { type: string; is_active: boolean; is_referenced: boolean }[];
  environmentVariables?: Record<string, string>;
  [section: string]: unknown;
}

/**
 * Node's diagnostic report of the main thread, with the environment's values replaced unless
 * asked for. Self-contained (globals only): while the loop is blocked it runs through the
 * inspector on the main thread itself, so the native stack is the main thread's.
 */
function takeReport(input: unknown): { report: Report; uptimeMs: number } {
  const { env } = (input ?? {}) as { env?: boolean };
  const settings = process.report as { excludeNetwork?: boolean };
  const excluded = settings.excludeNetwork;
  // No reverse DNS of every socket's peer (Node 20.13+; elsewhere the property does nothing).
  if (excluded !== undefined) settings.excludeNetwork = true;
  let report: Report;
  try {
    report = process.report.getReport() as unknown as Report;
  } finally {
    if (excluded !== undefined) settings.excludeNetwork = excluded;
  }
  // The report of each worker thread (the manhole's own among them) carries its environment too.
  const redact = (r: { environmentVariables?: Record<string, string>; workers?: unknown[] }) => {
    if (r.environmentVariables)
      r.environmentVariables = Object.fromEntries(Object.keys(r.environmentVariables).map((name) => [name, "[redacted]"]));
    for (const w of r.workers ?? []) redact(w as typeof r);
  };
  if (!env) redact(report);
  return { report, uptimeMs: Math.round(process.uptime() * 1000) };
}

export interface ReportSummary {
  node: string;
  v8: string | null;
  uv: string | null;
  pid: number;
  platform: string;
  arch: string;
  uptimeMs: number;
  cpu: { userSeconds: number; systemSeconds: number; percent: number } | null;
  memory: { rss: number | null; maxRss: number | null; heapUsed: number | null; heapTotal: number | null; heapLimit: number | null };
  libuv: { total: number; active: number; referenced: number; byType: Record<string, number> };
  environment: { variables: number; redacted: boolean };
  /** The main thread's native and JavaScript stacks, when its loop is blocked (the report then ran on it through the inspector). */
  nativeStack: string[] | null;
  javascriptStack: string[] | null;
}

function summarise(report: Report, uptimeMs: number, redacted: boolean, blocked: boolean): ReportSummary {
  const byType: Record<string, number> = {};
  for (const h of report.libuv ?? []) byType[h.type] = (byType[h.type] ?? 0) + 1;
  const ru = report.resourceUsage;
  const rss = ru?.rss === undefined ? null : Number(ru.rss);
  return {
    node: report.header.nodejsVersion,
    v8: report.header.componentVersions?.v8 ?? null,
    uv: report.header.componentVersions?.uv ?? null,
    pid: report.header.processId,
    platform: report.header.platform,
    arch: report.header.arch,
    uptimeMs,
    cpu: ru ? { userSeconds: ru.userCpuSeconds, systemSeconds: ru.kernelCpuSeconds, percent: ru.cpuConsumptionPercent } : null,
    memory: {
      rss,
      maxRss: ru?.maxRss ?? null,
      heapUsed: report.javascriptHeap?.usedMemory ?? null,
      heapTotal: report.javascriptHeap?.totalMemory ?? null,
      heapLimit: report.javascriptHeap?.memoryLimit ?? null,
    },
    libuv: {
      total: report.libuv?.length ?? 0,
      active: (report.libuv ?? []).filter((h) => h.is_active).length,
      referenced: (report.libuv ?? []).filter((h) => h.is_referenced).length,
      byType,
    },
    environment: { variables: Object.keys(report.environmentVariables ?? {}).length, redacted },
    nativeStack: blocked ? (report.nativeStack ?? []).map((f) => `${f.pc} ${f.symbol.trim()}`) : null,
    javascriptStack: blocked ? (report.javascriptStack?.stack ?? []).map((line) => line.trim()) : null,
  };
}

function text(s: ReportSummary, blockedMs: number | undefined): string {
  const types = Object.entries(s.libuv.byType)
    .sort((a, b) => b[1] - a[1])
    .map(([t, n]) => `${t} ${n}`)
    .join(", ");
  const lines = [
    `node ${s.node} (v8 ${s.v8 ?? "?"}, uv ${s.uv ?? "?"}), pid ${s.pid} on ${s.platform}-${s.arch}, up ${formatDuration(s.uptimeMs)}`,
    s.cpu
      ? `cpu: user ${s.cpu.userSeconds.toFixed(2)} s, system ${s.cpu.systemSeconds.toFixed(2)} s (${s.cpu.percent.toFixed(1)}% of one core since start)`
      : "cpu: ?",
    `memory: rss ${formatBytes(s.memory.rss)} (max ${formatBytes(s.memory.maxRss)}), heap ${formatBytes(s.memory.heapUsed)} used of ${formatBytes(s.memory.heapTotal)} (limit ${formatBytes(s.memory.heapLimit)})`,
    `libuv: ${s.libuv.total} handles (${types || "none"}), ${s.libuv.active} active, ${s.libuv.referenced} referenced`,
    `environment: ${s.environment.variables} variables${s.environment.redacted ? ", values redacted (--env includes them)" : ", values included"}`,
  ];
  if (blockedMs !== undefined) {
    lines.push(
      `the event loop is blocked for ${formatDuration(blockedMs)}: the report ran on the main thread through the inspector; its native stack:`,
    );
    for (const frame of (s.nativeStack ?? []).slice(0, 24)) lines.push(`  ${frame}`);
    if (s.javascriptStack?.length) lines.push("and its JavaScript stack:", ...s.javascriptStack.slice(0, 24).map((f) => `  ${f}`));
  }
  lines.push("(the whole report: .report --json)");
  return lines.join("\n");
}

export const report: Operation = {
  name: "report",
  help: "Node's diagnostic report, summarised: versions, uptime, CPU, memory, libuv handles; environment values redacted unless --env",
  args: [{ name: "env", type: "boolean", help: "include the environment's values (otherwise only the names)", default: false }],
  runsOn: "main-or-socket",
  observeSafe: true,
  heavy: false,
  main: takeReport,
  async run(ctx) {
    const env = ctx.args.env === true;
    if (env && ctx.observeOnly) return { text: ".report: --env is refused in observe-only mode (environment values are secrets)" };
    const { report: whole, uptimeMs } = (await ctx.callMain({ env })) as { report: Report; uptimeMs: number };
    const loop = ctx.loopState();
    const summary = summarise(whole, uptimeMs, !env, loop?.blocked === true);
    return { text: text(summary, loop?.blocked ? loop.sinceMs : undefined), json: { summary, report: whole } };
  },
};
