/**
 * `manhole top <pid|socket>`: a live dashboard of one process over one structured session,
 * refreshed every second from its operations (.loop over the second, .mem, .handles counts,
 * .requests), each with a sparkline of the last minute; `--once --json` prints one sample.
 */
import { formatDuration } from "../shared/duration.js";
import { formatBytes, formatMs } from "../shared/units.js";
import { parseArgs, UsageError } from "./args.js";
import type { CliCommand } from "./cli-command.js";
import { ManholeClient } from "./client.js";
import { colorEnabled, palette } from "./colors.js";
import { parseTimeout, resolveEndpoint } from "./endpoint.js";
import { CliError, EXIT } from "./errors.js";
import { TCP_FLAGS, TCP_OPTIONS_HELP, TCP_VALUED } from "./target.js";

export const topHelp = `Usage: manhole top [options] <pid|socket|host:port>

A live dashboard of the process, refreshed every second until q or Ctrl-C:
event-loop utilisation and delay, heap used, RSS, in-flight requests and handle
counts by kind, each with a sparkline of the last minute. A blocked event loop
is shown in red, with for how long. It uses one session; on an idle app it
costs the main thread about 1% of a core (loop-delay samples every 10 ms, the
session's heartbeat every 50 ms, the samples' own work; bench/diagnostics.js).

Options:
  --once            print one sample and exit (the loop is measured over 1 s)
  --json            with --once: print the sample as JSON:
                    {pid, app, node, uptimeMs, loop, mem, handles, requests}
  --timeout <ms>    give up connecting after <ms>; exit 7
  --signal <SIG>    send SIG to the pid first and wait for its socket to appear
${TCP_OPTIONS_HELP}
  -h, --help        show this help
`;

/** How long `.requests` may take before top stops waiting (it needs the main thread). */
const REQUESTS_WAIT_MS = 300;
const HISTORY = 60;
const BARS = "▁▂▃▄▅▆▇█";

export interface Sample {
  pid: number;
  app: string;
  node: string;
  /** When the sample was taken (ms since the epoch). */
  at: number;
  loop: { utilization: number | null; p99Ms: number | null; maxMs: number | null; blocked: boolean; blockedMs: number };
  mem: { rss: number; heapUsed: number; heapTotal: number; heapLimit: number } | null;
  /** Active resources by type name (process.getActiveResourcesInfo()). */
  handles: Record<string, number> | null;
  /** In flight; null when unknown (the main thread did not answer in time). */
  requests: number | null;
}

type LoopJson = {
  delayMs: { p99: number; max: number } | null;
  utilization: number | null;
  blocked: { sinceMs: number } | null;
};

/** One sample: the loop over the next second, memory, handle counts, requests in flight. */
export async function sampleOnce(client: ManholeClient, app: string, last: Sample | undefined): Promise<Sample> {
  const loop = await client.command("loop", { window: 1000, stack: false });
  if (!loop.ok) throw new CliError(EXIT.failure, loop.text);
  const l = loop.json as LoopJson;
  const mem = await client.command("mem");
  const handles = await client.command("handles", { limit: 0 });
  let requests: number | null = last?.requests ?? null;
  if (!l.blocked) {
    const asked = client.command("requests", { limit: 0 });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), REQUESTS_WAIT_MS);
    });
    const r = await Promise.race([asked, late]);
    clearTimeout(timer);
    if (r === undefined) {
      await client.interrupt().catch(() => {});
      await asked.catch(() => {});
    } else if (r.ok) {
      requests = (r.json as { more: number }).more;
    }
  }
  const m = mem.ok ? (mem.json as Sample["mem"] & object) : null;
  return {
    pid: client.info.pid,
    app,
    node: client.info.node,
    at: Date.now(),
    loop: {
      utilization: l.utilization,
      p99Ms: l.delayMs?.p99 ?? null,
      maxMs: l.delayMs?.max ?? null,
      blocked: l.blocked !== null,
      blockedMs: l.blocked?.sinceMs ?? 0,
    },
    mem: m ? { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, heapLimit: m.heapLimit } : null,
    handles: handles.ok ? (handles.json as { counts: Record<string, number> }).counts : null,
    requests,
  };
}

/**
 * ▁▂▃…█ for the values (null: a gap), scaled from 0 (or, with `fromMin`, their minimum, for
 * sizes that only drift) to their maximum (or `ceiling`).
 */
export function sparkline(
  values: (number | null)[],
  width: number,
  { ceiling, fromMin = false }: { ceiling?: number; fromMin?: boolean } = {},
): string {
  const shown = values.slice(-width);
  const known = shown.filter((v): v is number => v !== null);
  const max = ceiling ?? Math.max(0, ...known);
  const min = fromMin && known.length ? Math.min(...known) : 0;
  const range = max - min;
  return shown
    .map((v) =>
      v === null ? " " : BARS[range <= 0 ? 0 : Math.min(BARS.length - 1, Math.floor(((v - min) / range) * (BARS.length - 1) + 0.5))],
    )
    .join("")
    .padStart(width, " ");
}

function frame(history: Sample[], columns: number, color: boolean): string {
  const p = palette(color);
  const s = history[history.length - 1];
  const width = Math.max(10, Math.min(HISTORY, columns - 40));
  const series = <T>(f: (x: Sample) => T | null) => history.map(f);
  const row = (label: string, value: string, spark: string, extra = "") =>
    `${label.padEnd(12)} ${value.padEnd(14)} ${p.cyan(spark)} ${extra}`;
  const lines = [p.bold(`manhole top  pid ${s.pid}  ${s.app}  node ${s.node}`) + p.dim("   (q quits)"), ""];
  if (s.loop.blocked) lines.push(p.red(p.bold(`EVENT LOOP BLOCKED for ${formatDuration(s.loop.blockedMs)}`)), "");
  const util = s.loop.utilization === null ? "?" : `${Math.round(s.loop.utilization * 100)}%`;
  lines.push(
    row(
      "loop util",
      s.loop.blocked ? p.red("blocked") : util,
      sparkline(
        series((x) => (x.loop.blocked ? 1 : x.loop.utilization)),
        width,
        { ceiling: 1 },
      ),
    ),
  );
  lines.push(
    row(
      "loop delay",
      s.loop.blocked ? p.red(formatDuration(s.loop.blockedMs)) : `p99 ${formatMs(s.loop.p99Ms)}`,
      sparkline(
        series((x) => (x.loop.blocked ? x.loop.blockedMs : x.loop.maxMs)),
        width,
      ),
      s.loop.maxMs === null ? "" : p.dim(`max ${formatMs(s.loop.maxMs)}`),
    ),
  );
  lines.push(
    row(
      "heap used",
      formatBytes(s.mem?.heapUsed),
      sparkline(
        series((x) => x.mem?.heapUsed ?? null),
        width,
      ),
      p.dim(`of ${formatBytes(s.mem?.heapTotal)} (limit ${formatBytes(s.mem?.heapLimit)})`),
    ),
  );
  lines.push(
    row(
      "rss",
      formatBytes(s.mem?.rss),
      sparkline(
        series((x) => x.mem?.rss ?? null),
        width,
      ),
    ),
  );
  lines.push(
    row(
      "requests",
      s.requests === null ? "?" : `${s.requests} in flight`,
      sparkline(
        series((x) => x.requests),
        width,
      ),
    ),
  );
  const handles = Object.entries(s.handles ?? {}).sort((a, b) => b[1] - a[1]);
  const total = handles.reduce((a, [, n]) => a + n, 0);
  lines.push(
    row(
      "handles",
      String(total),
      sparkline(
        series((x) => (x.handles ? Object.values(x.handles).reduce((a, n) => a + n, 0) : null)),
        width,
      ),
    ),
  );
  for (const [type, n] of handles.slice(0, 8)) lines.push(`  ${type.padEnd(18)} ${n}`);
  return lines.join("\n");
}

export async function top(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["timeout", "signal", ...TCP_VALUED]);
  const unknown = [...args.flags].find((f) => !["once", "json", ...TCP_FLAGS].includes(f));
  if (unknown) throw new UsageError(`unknown option --${unknown} (see manhole top --help)`);
  const [target, ...extra] = args.positionals;
  if (target === undefined || extra.length) throw new UsageError("top needs one <pid|socket> (see manhole top --help)");
  const once = args.flags.has("once");
  const json = args.flags.has("json");
  if (json && !once) throw new UsageError("--json needs --once (the dashboard is for a terminal)");
  const timeoutMs = parseTimeout(args) ?? 5000;
  const { socket, tcp } = await resolveEndpoint(target, args, timeoutMs);
  const client = await ManholeClient.connect(socket, { timeoutMs, tcp });
  const app = client.info.app;
  if (once) {
    try {
      const s = await sampleOnce(client, app, undefined);
      process.stdout.write(
        json ? `${JSON.stringify(s)}\n` : `${frame([s], process.stdout.columns ?? 100, colorEnabled(process.stdout))}\n`,
      );
      return EXIT.ok;
    } finally {
      client.close();
    }
  }
  return dashboard(client, app);
}

/** The full-screen loop: alternate screen, hidden cursor, raw keys; all restored on the way out. */
function dashboard(client: ManholeClient, app: string): Promise<number> {
  const out = process.stdout;
  const stdin = process.stdin;
  const history: Sample[] = [];
  let stopped = false;
  let code: number = EXIT.ok;
  return new Promise((resolve) => {
    const restore = () => {
      out.write("\x1b[?25h\x1b[?1049l");
      if (stdin.isTTY) stdin.setRawMode(false);
      stdin.pause();
    };
    const stop = (exit: number, message?: string) => {
      if (stopped) return;
      stopped = true;
      code = exit;
      restore();
      process.off("SIGTERM", onSignal);
      process.off("exit", restore);
      client.close();
      setTimeout(() => client.destroy(), 200).unref();
      if (message) process.stderr.write(`manhole: ${message}\n`);
      resolve(code);
    };
    const onSignal = () => stop(EXIT.ok);
    out.write("\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J");
    process.on("exit", restore);
    process.once("SIGTERM", onSignal);
    if (stdin.isTTY) stdin.setRawMode(true);
    stdin.resume();
    stdin.on("data", (d: Buffer) => {
      const key = d.toString("utf8");
      if (key === "q" || key === "Q" || key.includes("\x03") || key.includes("\x04")) stop(EXIT.ok);
    });
    client.onClose = () => stop(EXIT.failure, `${client.path}: the connection closed`);
    const draw = () => out.write(`\x1b[H\x1b[2J${frame(history, out.columns ?? 100, colorEnabled(out))}\n`);
    (async () => {
      let last: Sample | undefined;
      while (!stopped) {
        const began = Date.now();
        const s = await sampleOnce(client, app, last);
        if (stopped) break;
        last = s;
        history.push(s);
        if (history.length > HISTORY) history.shift();
        draw();
        // A blocked loop answers at once: keep to one frame a second.
        const rest = 1000 - (Date.now() - began);
        if (rest > 0) await new Promise((r) => setTimeout(r, rest));
      }
    })().catch((err: unknown) => stop(EXIT.failure, err instanceof Error ? err.message : String(err)));
  });
}

export const topCommand: CliCommand = {
  name: "top",
  summary: "a live dashboard of a process: event loop, memory, requests, handles",
  help: topHelp,
  run: top,
};
