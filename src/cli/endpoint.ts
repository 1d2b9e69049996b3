/**
 * The one way every subcommand turns its <pid|socket|host:port> and options into something to
 * connect to: a TCP address (with its token), a pid woken with --signal, a pid, or a path.
 */
import type { ParsedArgs } from "./args.js";
import { UsageError } from "./args.js";
import { endpointLabel, type TcpEndpoint } from "./client.js";
import { parseSignal, waitForSocket } from "./signal.js";
import { resolveTarget, tcpTarget } from "./target.js";

export interface Endpoint {
  /** The socket path, or `host:port` for TCP. */
  socket: string;
  tcp?: TcpEndpoint;
}

/** `--timeout <ms>`: undefined when absent; a usage error unless a positive integer. */
export function parseTimeout(args: ParsedArgs): number | undefined {
  if (args.options.timeout === undefined) return undefined;
  const ms = Number(args.options.timeout);
  if (!Number.isInteger(ms) || ms <= 0) throw new UsageError("--timeout needs a positive number of milliseconds");
  return ms;
}

/** Resolves `spec` with the TCP options and --signal of `args`; waits for a signalled pid's socket up to `timeoutMs`. */
export async function resolveEndpoint(spec: string, args: ParsedArgs, timeoutMs: number): Promise<Endpoint> {
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
