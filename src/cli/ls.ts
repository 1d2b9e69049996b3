/** `manhole ls`: every live manhole in the runtime directory; stale entries are removed. */
import type { DescriptorTcp } from "../shared/descriptor.js";
import { formatDuration } from "../shared/duration.js";
import { runtimeDir } from "../shared/runtime-dir.js";
import { parseArgs, UsageError } from "./args.js";
import type { CliCommand } from "./cli-command.js";
import { endpointLabel } from "./client.js";
import { colorEnabled, palette } from "./colors.js";
import { discover, type ManholeEntry, selectApp, stateText } from "./discovery.js";
import { EXIT } from "./errors.js";
import {
  asCliError,
  FLEET_OPTIONS_HELP,
  FLEET_VALUED,
  type FleetTarget,
  fleetTargets,
  Limiter,
  listTarget,
  normalizeFleetArgv,
  parseParallel,
  parseTargetTimeout,
  type RemoteProcess,
} from "./fleet.js";
import { nestTree, processTree, roleText } from "./process-tree.js";
import { table } from "./table.js";

export const lsHelp = `Usage: manhole ls [--tree] [--app <name>] [--json] [--timeout <ms>]
       manhole ls [options] <ssh://[user@]host[:port]/ | kube://[ns/]pod[/container]/ | docker://container/>...
       manhole ls [options] --ssh <h1,h2,...> | --kube <pods> | --kube -l <selector> | --docker <containers>

Lists every live manhole in the runtime directory ($MANHOLE_DIR, else
$XDG_RUNTIME_DIR/manhole, else <tmpdir>/manhole-<uid>): pid, uptime, Node version,
app (package name@version, else its command line), state, TCP and socket.
The TCP column appears only when some manhole also listens on TCP: its host:port
(as manhole exec and connect take it; "(tls)" after it means connect with --tls),
"-" for the others.

A ROLE column appears when some process is a cluster worker ("worker <id>", its
cluster.worker.id), a cluster's primary ("primary") or a child forked with an IPC
channel ("forked"). With --tree, each process is drawn under its parent (when the
parent has a manhole too): a primary over its workers, a parent over its children.

State is "responsive", "blocked <N> ms" (threaded manholes tell how long the event
loop has been blocked), or "unresponsive" (no answer within the timeout).

Stale entries are removed: descriptors (and their sockets) of dead processes, of
processes whose pid was reused by another process, and of sockets nobody listens on.

Remote targets and fleets: with targets or --ssh/--kube/--docker, lists the manholes
there instead, by running "manhole ls --json" on each target through its transport
($MANHOLE_SSH, $MANHOLE_KUBECTL, $MANHOLE_DOCKER; see manhole connect --help), several
targets at once. Each row is tagged <host>/<pid> (or <pod>/<pid>, <container>/<pid>);
a target that fails is one line on stderr ("manhole: <target>: <why>"), the others are
listed, and the exit code is 1 (with one target: that target's own exit code).

Options:
  --tree           parents above their children, indented
  --app <name>     only the processes of this app: its package name, or its whole
                   label (name@version, or the script and arguments); * matches anything
  --json           print a JSON array of objects instead of a table
                   (with "tcp": {"host", "port"} for a manhole that listens on TCP,
                   and "tls": true in it when that listener uses TLS; remote ones have
                   "target": the URL that reaches the process, and "tag"; a target that
                   failed is {"target", "tag", "error": {"message", "exitCode"}};
                   "role": {"kind": "cluster-worker", "id"} or {"kind": "forked"} or null;
                   with --tree, each object has "children": the same objects)
  --timeout <ms>   how long to wait for each manhole's hello (default 1000)
${FLEET_OPTIONS_HELP}
  -h, --help       show this help

Exit codes: 0 ok, 1 some target failed, 2 usage, and with one remote target its own:
5 permission denied (ssh authentication), 7 timeout, 8 unreachable or no manhole installed.
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
    role: e.descriptor.role ?? null,
    ...(e.reason ? { reason: e.reason } : {}),
  };
}

/** Lists every target of `fleet`; rows tagged with their target. */
async function lsFleet(
  fleet: FleetTarget[],
  json: boolean,
  helloTimeoutMs: number,
  parallel: number,
  targetTimeoutMs: number,
): Promise<number> {
  const limiter = new Limiter(parallel);
  const lists = await Promise.all(
    fleet.map(async (t) => {
      try {
        return { t, procs: await limiter.run(() => listTarget(t, { helloTimeoutMs, timeoutMs: targetTimeoutMs + helloTimeoutMs })) };
      } catch (err) {
        return { t, error: asCliError(err) };
      }
    }),
  );
  const procs: RemoteProcess[] = lists.flatMap((l) => l.procs ?? []);
  const failures = lists.flatMap((l) => (l.error ? [{ t: l.t, error: l.error }] : []));
  if (fleet.length === 1 && failures.length === 1) throw failures[0].error;
  if (json) {
    const out = [
      ...procs.map((p) => ({ target: p.url, tag: p.tag, ...p.entry })),
      ...failures.map((f) => ({ target: f.t.url, tag: f.t.tag, error: { message: f.error.message, exitCode: f.error.exitCode } })),
    ];
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else if (procs.length > 0) {
    const cell = (v: unknown): string => (v === null || v === undefined ? "-" : String(v));
    const rows = [
      ["TARGET", "UPTIME", "NODE", "APP", "STATE", "SOCKET"],
      ...procs.map((p) => {
        const e = p.entry;
        const uptime = typeof e.uptimeMs === "number" ? formatDuration(e.uptimeMs, { compact: true }) : "-";
        const state = e.state === "blocked" ? stateText({ state: "blocked", blockedMs: Number(e.blockedMs ?? 0) }) : cell(e.state);
        return [p.tag, uptime, cell(e.node), truncate(cell(e.app), 40), state, cell(e.socket)];
      }),
    ];
    process.stdout.write(`${table(rows)}\n`);
  } else if (failures.length === 0 && process.stderr.isTTY) {
    process.stderr.write(`no manholes on ${fleet.map((t) => t.url).join(", ")}\n`);
  }
  if (!json) for (const f of failures) process.stderr.write(`manhole: ${f.error.message}\n`);
  return failures.length > 0 ? EXIT.failure : EXIT.ok;
}

export async function ls(argv: string[]): Promise<number> {
  const args = parseArgs(normalizeFleetArgv(argv), ["timeout", "app", ...FLEET_VALUED]);
  const unknown = [...args.flags].find((f) => f !== "json" && f !== "tree");
  if (unknown) throw new UsageError(`unknown option --${unknown} (see manhole ls --help)`);
  const timeout = args.options.timeout === undefined ? 1000 : Number(args.options.timeout);
  if (!Number.isInteger(timeout) || timeout <= 0) throw new UsageError("--timeout needs a positive number of milliseconds");
  const fleet = await fleetTargets(args, args.positionals);
  if (fleet) {
    if (args.flags.has("tree") || args.options.app !== undefined) throw new UsageError("--tree and --app are for this machine's manholes");
    return lsFleet(fleet, args.flags.has("json"), timeout, parseParallel(args), parseTargetTimeout(args));
  }
  if (args.options.parallel !== undefined || args.options["target-timeout"] !== undefined) {
    throw new UsageError("--parallel and --target-timeout are for remote targets");
  }

  const found = await discover({ dir: runtimeDir(), helloTimeoutMs: timeout });
  const live = selectApp(found.live, args.options.app);
  const tree = args.flags.has("tree");
  const rowsOf = tree ? processTree(live) : live.map((entry) => ({ entry, depth: 0, prefix: "" }));
  if (args.flags.has("json")) {
    const out = tree ? nestTree(rowsOf, entryJson) : live.map(entryJson);
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  }
  if (live.length === 0) {
    if (process.stderr.isTTY)
      process.stderr.write(`no manholes in ${runtimeDir()}${args.options.app === undefined ? "" : ` for --app ${args.options.app}`}\n`);
    return 0;
  }
  // A TCP column only when something listens on TCP, a ROLE column only with clusters or forks.
  const withTcp = live.some((e) => tcpOf(e) !== undefined);
  const roles = live.map((e) => roleText(e, found.live));
  const withRole = roles.some((r) => r !== "");
  const tcpCell = (e: ManholeEntry): string[] => {
    if (!withTcp) return [];
    const tcp = tcpOf(e);
    if (!tcp) return ["-"];
    return [tcp.tls ? `${endpointLabel(tcp)} (tls)` : endpointLabel(tcp)];
  };
  const ordered = rowsOf.map((r) => ({ ...r, role: roles[live.indexOf(r.entry)] }));
  const rows = [
    ["PID", ...(withRole ? ["ROLE"] : []), "UPTIME", "NODE", "APP", "STATE", ...(withTcp ? ["TCP"] : []), "SOCKET"],
    ...ordered.map(({ entry: e, prefix, role }) => [
      `${prefix}${e.pid}`,
      ...(withRole ? [role || "-"] : []),
      formatDuration(e.uptimeMs, { compact: true }),
      e.node,
      truncate(e.app, 40),
      stateText(e),
      ...tcpCell(e),
      e.socket,
    ]),
  ];
  const STATE = withRole ? 5 : 4;
  const c = palette(true);
  const colour = (padded: string, row: number, col: number): string => {
    if (row === 0) return c.bold(padded);
    if (col !== STATE) return padded;
    const state = ordered[row - 1].entry.state;
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
