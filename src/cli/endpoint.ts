/**
 * The one way every subcommand turns its <pid|socket|host:port|remote URL> and options into
 * something to connect to: a TCP address (with its token), a pid woken with --signal, a pid, a
 * path, or a remote target (ssh://, kube://, docker://, or --ssh/--kube/--docker and a pid),
 * which ManholeClient.connect reaches through its transport.
 */
import type { ParsedArgs } from "./args.js";
import { UsageError } from "./args.js";
import { endpointLabel, type TcpEndpoint } from "./client.js";
import { parseDockerContainer, parseKubePod, parseRemote, parseSshHost, type RemoteLocation, remoteUrl } from "./remote.js";
import { parseSignal, waitForSocket } from "./signal.js";
import { resolveTarget, tcpTarget } from "./target.js";

export interface Endpoint {
  /** The socket path, `host:port` for TCP, or the remote URL (`ssh://db1/4242`). */
  socket: string;
  tcp?: TcpEndpoint;
}

/** The options that name where a remote target is: `--ssh [user@]host[:port]`, `--kube [ns/]pod[/container]`, `--docker <container>`. */
export const REMOTE_VALUED = ["ssh", "kube", "docker"] as const;
/** Their lines in `--help`, shared by connect and exec. */
export const REMOTE_OPTIONS_HELP = `  --ssh [user@]host[:port]      the pid (or path) is on that host: through ssh
  --kube [ns/]pod[/container]   ... in that pod: through kubectl exec
  --docker <container>          ... in that container: through docker exec`;

/** `--timeout <ms>`: undefined when absent; a usage error unless a positive integer. */
export function parseTimeout(args: ParsedArgs): number | undefined {
  if (args.options.timeout === undefined) return undefined;
  const ms = Number(args.options.timeout);
  if (!Number.isInteger(ms) || ms <= 0) throw new UsageError("--timeout needs a positive number of milliseconds");
  return ms;
}

/** The one location of `--ssh`, `--kube` or `--docker`, if one is given (a list is for fleets: fleet.ts). */
export function remoteOption(args: ParsedArgs): RemoteLocation | undefined {
  const given = REMOTE_VALUED.filter((k) => args.options[k] !== undefined);
  if (given.length === 0) return undefined;
  if (given.length > 1) throw new UsageError(`--${given[0]} and --${given[1]} cannot be combined`);
  const kind = given[0];
  const value = args.options[kind];
  if (value.includes(",") || value === "") {
    throw new UsageError(
      `--${kind} ${value}: one process is on one ${kind === "ssh" ? "host" : kind === "kube" ? "pod" : "container"} (a list is a fleet: ls, exec --all)`,
    );
  }
  return kind === "ssh" ? parseSshHost(value) : kind === "kube" ? parseKubePod(value) : parseDockerContainer(value);
}

function hasTcpOptions(args: ParsedArgs): boolean {
  return args.options.token !== undefined || args.options.ca !== undefined || args.flags.has("tls") || args.flags.has("insecure");
}

/** A remote URL for `spec` (a URL itself, or a pid/path with --ssh/--kube/--docker); undefined for a local target. */
function remoteEndpoint(spec: string, args: ParsedArgs): string | undefined {
  const location = remoteOption(args);
  const parsed = parseRemote(spec);
  if (!location && !parsed) return undefined;
  if (location && parsed) throw new UsageError(`${spec} is already remote: drop --${location.kind}`);
  if (hasTcpOptions(args)) throw new UsageError("--token, --tls, --insecure and --ca are for host:port, not remote targets");
  const signal = args.options.signal === undefined ? parsed?.signal : parseSignal(args.options.signal);
  const where = location ?? (parsed as NonNullable<typeof parsed>).location;
  const target = location ? spec : (parsed as NonNullable<typeof parsed>).target;
  if (target === "") throw new UsageError(`${spec}: name a pid or socket path on the far side (e.g. ${remoteUrl(where, 4242)})`);
  if (signal && !/^\d+$/.test(target)) throw new UsageError("--signal needs a pid, not a socket path");
  return remoteUrl(where, target, signal);
}

/** Resolves `spec` with the TCP options and --signal of `args`; waits for a signalled pid's socket up to `timeoutMs`. */
export async function resolveEndpoint(spec: string, args: ParsedArgs, timeoutMs: number): Promise<Endpoint> {
  const remote = remoteEndpoint(spec, args);
  if (remote) return { socket: remote };
  const signal = args.options.signal === undefined ? undefined : parseSignal(args.options.signal);
  const tcp = tcpTarget(spec, args.options, args.flags);
  if (tcp) {
    if (signal) throw new UsageError("--signal needs a pid, not host:port");
    return { socket: endpointLabel(tcp), tcp };
  }
  if (signal) {
    if (!/^\d+$/.test(spec)) throw new UsageError("--signal needs a pid, not a socket path");
    return { socket: await waitForSocket(Number(spec), signal, timeoutMs) };
  }
  return { socket: resolveTarget(spec).socket };
}
