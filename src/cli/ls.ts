/** `manhole ls`: every live manhole in the runtime directory; stale entries are removed. */
import type { DescriptorTcp } from "../shared/descriptor.js";
import { formatDuration } from "../shared/duration.js";
import { runtimeDir } from "../shared/runtime-dir.js";
import { parseArgs, UsageError } from "./args.js";
import type { CliCommand } from "./cli-command.js";
import { endpointLabel } from "./client.js";
import { colorEnabled, palette } from "./colors.js";
import { discover, type ManholeEntry, stateText } from "./discovery.js";
import { table } from "./table.js";

export const lsHelp = `Usage: manhole ls [--json] [--timeout <ms>]

Lists every live manhole in the runtime directory ($MANHOLE_DIR, else
$XDG_RUNTIME_DIR/manhole, else <tmpdir>/manhole-<uid>): pid, uptime, Node version,
app (package name@version, else its command line), state, TCP and socket.
The TCP column appears only when some manhole also listens on TCP: its host:port
(as manhole exec and connect take it; "(tls)" after it means connect with --tls),
"-" for the others.

State is "responsive", "blocked <N> ms" (threaded manholes tell how long the event
loop has been blocked), or "unresponsive" (no answer within the timeout).

Stale entries are removed: descriptors (and their sockets) of dead processes, of
processes whose pid was reused by another process, and of sockets nobody listens on.

Options:
  --json           print a JSON array of objects instead of a table
                   (with "tcp": {"host", "port"} for a manhole that listens on TCP,
                   and "tls": true in it when that listener uses TLS)
  --timeout <ms>   how long to wait for each manhole's hello (default 1000)
  -h, --help       show this help
`;

/** Aligned columns separated by two spaces; the last column is not padded. */
function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The TCP listener recorded in the descriptor, if any (and well-formed). */
function tcpOf(e: ManholeEntry): DescriptorTcp | undefined {
  const tcp = e.descriptor.tcp;
  if (!tcp || typeof tcp.host !== "string" || !Number.isInteger(tcp.port)) return undefined;
  return { host: tcp.host, port: tcp.port, ...(tcp.tls === true ? { tls: true as const } : {}) };
}

export function entryJson(e: ManholeEntry): Record<string, unknown> {
  const tcp = tcpOf(e);
  return {
    pid: e.pid,
    ppid: e.descriptor.ppid ?? null,
    uptimeMs: e.uptimeMs === null ? null : Math.round(e.uptimeMs),
    node: e.node,
    app: e.app,
    argv: e.descriptor.argv ?? [],
    cwd: e.descriptor.cwd ?? null,
    socket: e.socket,
    ...(tcp ? { tcp } : {}),
    state: e.state,
    blockedMs: e.blockedMs === undefined ? null : Math.round(e.blockedMs),
    threaded: e.descriptor.threaded ?? null,
    protocol: e.descriptor.protocol ?? null,
    descriptor: e.descriptorFile,
    ...(e.reason ? { reason: e.reason } : {}),
  };
}

export async function ls(argv: string[]): Promise<number> {
  const args = parseArgs(argv, ["timeout"]);
  if (args.positionals.length > 0) throw new UsageError(`ls takes no arguments (got "${args.positionals[0]}")`);
  const unknown = [...args.flags].find((f) => f !== "json");
  if (unknown) throw new UsageError(`unknown option --${unknown} (see manhole ls --help)`);
  const timeout = args.options.timeout === undefined ? 1000 : Number(args.options.timeout);
  if (!Number.isInteger(timeout) || timeout <= 0) throw new UsageError("--timeout needs a positive number of milliseconds");

  const { live } = await discover({ dir: runtimeDir(), helloTimeoutMs: timeout });
  if (args.flags.has("json")) {
    process.stdout.write(`${JSON.stringify(live.map(entryJson), null, 2)}\n`);
    return 0;
  }
  if (live.length === 0) {
    if (process.stderr.isTTY) process.stderr.write(`no manholes in ${runtimeDir()}\n`);
    return 0;
  }
  // A TCP column only when something listens on TCP: most machines have none.
  const withTcp = live.some((e) => tcpOf(e) !== undefined);
  const tcpCell = (e: ManholeEntry): string[] => {
    if (!withTcp) return [];
    const tcp = tcpOf(e);
    if (!tcp) return ["-"];
    return [tcp.tls ? `${endpointLabel(tcp)} (tls)` : endpointLabel(tcp)];
  };
  const rows = [
    ["PID", "UPTIME", "NODE", "APP", "STATE", ...(withTcp ? ["TCP"] : []), "SOCKET"],
    ...live.map((e) => [
      String(e.pid),
      formatDuration(e.uptimeMs, { compact: true }),
      e.node,
      truncate(e.app, 40),
      stateText(e),
      ...tcpCell(e),
      e.socket,
    ]),
  ];
  const STATE = 4;
  const c = palette(true);
  const colour = (padded: string, row: number, col: number): string => {
    if (row === 0) return c.bold(padded);
    if (col !== STATE) return padded;
    const state = live[row - 1].state;
    return state === "responsive" ? c.green(padded) : state === "blocked" ? c.yellow(padded) : c.red(padded);
  };
  process.stdout.write(`${table(rows, colorEnabled(process.stdout) ? colour : undefined)}\n`);
  return 0;
}

export const lsCommand: CliCommand = {
  name: "ls",
  summary: "list the live manholes (removes stale entries)",
  help: lsHelp,
  run: ls,
};
