import { frameText } from "../../protocol/outcome.js";
import { formatDuration } from "../../shared/duration.js";
import { formatBytes } from "../../shared/units.js";
import type { Operation, WorkerInfo } from "./types.js";

export const NOT_THREADED_TEXT =
  "Worker threads are reached through the manhole's own worker thread, and this manhole runs with threaded: false: start it with threaded: true (the default) to list them or evaluate in one.";

function pad(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]))).join("  "));
}

function stateText(w: WorkerInfo): string {
  if (w.state === "blocked" || w.state === "running") return w.frame ? `${w.state} in ${frameText(w.frame)}` : w.state;
  return w.state;
}

export function workersText(workers: WorkerInfo[], current: number | undefined): string {
  if (workers.length === 0) return "No worker threads (besides the manhole's own).";
  const rows = [["THREAD", "NAME", "UPTIME", "HEAP", "FILE", "STATE"]];
  for (const w of workers) {
    rows.push([
      `${w.threadId}${w.threadId === current ? "*" : ""}`,
      w.name || "-",
      w.uptimeMs === null ? "?" : formatDuration(w.uptimeMs),
      w.heapUsed === null ? "?" : formatBytes(w.heapUsed),
      w.file,
      stateText(w) + (w.sessions ? ` (${w.sessions} session${w.sessions === 1 ? "" : "s"} in it)` : ""),
    ]);
  }
  const lines = pad(rows);
  lines.push(
    current === undefined
      ? ".worker <thread> evaluates in one (.worker main comes back); the manhole's own worker is not listed."
      : `* this session is in worker ${current} (.worker main goes back); the manhole's own worker is not listed.`,
  );
  return lines.join("\n");
}

export const workers: Operation = {
  name: "workers",
  help: "The app's worker threads: thread id, name, uptime, heap, file and state (idle, running, blocked in fn); works while the loop is blocked",
  args: [],
  runsOn: "socket",
  observeSafe: true,
  heavy: false,
  async run(ctx) {
    if (!ctx.workers) return { text: NOT_THREADED_TEXT };
    const list = await ctx.workers.list();
    return { text: workersText(list, ctx.worker), json: { workers: list, current: ctx.worker ?? null } };
  },
};
