/**
 * What a user names on the command line (a pid, or a socket path) → the socket to connect to,
 * with the CLI's errors for a process that does not exist or has no manhole.
 */
import fs from "node:fs";
import path from "node:path";
import { readDescriptors } from "../shared/descriptor.js";
import { runtimeDir } from "../shared/runtime-dir.js";
import { tokenPathFor } from "../shared/token-file.js";
import { CliError, EXIT } from "./errors.js";
import { appSignals } from "./proc-signals.js";

export interface Target {
  socket: string;
  pid?: number;
}

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The descriptors of the runtime dir, or none when it cannot be read. */
function descriptors(dir: string): ReturnType<typeof readDescriptors> {
  try {
    return readDescriptors(dir);
  } catch {
    return [];
  }
}

/** A pid's manhole socket: `<runtime dir>/<pid>.sock`, or the socket named in one of its descriptors. */
export function socketForPid(pid: number, dir = runtimeDir()): string | undefined {
  const direct = path.join(dir, `${pid}.sock`);
  if (fs.existsSync(direct)) return direct;
  const found = descriptors(dir).find(({ data }) => data.pid === pid && typeof data.socket === "string");
  return found?.data.socket;
}

/** A hint at --signal when the process catches a signal Node does not (as an app with activateOn does). */
export function signalHint(pid: number): string {
  const [signal] = appSignals(pid);
  return signal === undefined ? "" : `; it handles ${signal}: if it opens its manhole on that signal (activateOn), add --signal ${signal}`;
}

/** `4242` or `/path/to.sock` (anything with a slash, or an existing file, is a path). */
export function resolveTarget(spec: string): Target {
  if (/^\d+$/.test(spec) && !fs.existsSync(spec)) {
    const pid = Number(spec);
    const socket = socketForPid(pid);
    if (socket) return { socket, pid };
    if (!processExists(pid)) throw new CliError(EXIT.noProcess, `no such process: ${pid}`);
    throw new CliError(EXIT.noManhole, `process ${pid} has no manhole (nothing in ${runtimeDir()})${signalHint(pid)}`);
  }
  return { socket: path.resolve(spec) };
}

/** `host:port` or `[v6]:port` → where to connect over TCP; undefined for anything else. */
export function parseHostPort(spec: string): { host: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(spec) ?? /^([A-Za-z0-9.-]+):(\d{1,5})$/.exec(spec);
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1], port };
}

/** The token of a local manhole listening on TCP `port`: from the token file beside its socket. */
export function tokenForPort(port: number, dir = runtimeDir()): string | undefined {
  for (const { data } of descriptors(dir)) {
    if (typeof data.socket !== "string" || data.tcp?.port !== port) continue;
    try {
      return fs.readFileSync(tokenPathFor(data.socket), "utf8").trim();
    } catch {
      // no token file there: try the next
    }
  }
  return undefined;
}

/** The TCP options shared by connect and exec. */
export const TCP_VALUED = ["token", "ca"] as const;
export const TCP_FLAGS = ["tls", "insecure"] as const;
/** Their lines in `--help`, shared by connect and exec. */
export const TCP_OPTIONS_HELP = `  --token <t>       the token of a TCP manhole (host:port); default $MANHOLE_TOKEN,
                    or the token file of the local manhole listening on that port
  --tls             connect to host:port with TLS (verifying its certificate)
  --insecure        TLS without verifying the certificate (self-signed certs)
  --ca <file>       TLS, trusting the CA certificate(s) in <file> (PEM)`;

/**
 * `host:port` with --token / MANHOLE_TOKEN / the local token file, and --tls, --insecure,
 * --ca → a TCP endpoint; undefined when `spec` is not `host:port`.
 */
export function tcpTarget(
  spec: string,
  options: Record<string, string>,
  flags: ReadonlySet<string>,
): { host: string; port: number; token: string; tls?: { insecure: boolean; ca?: string } } | undefined {
  const where = parseHostPort(spec);
  if (!where) return undefined;
  const token = options.token ?? (process.env.MANHOLE_TOKEN || undefined) ?? tokenForPort(where.port);
  if (token === undefined || token === "") {
    throw new CliError(EXIT.permission, `${spec}: no token (give --token, set MANHOLE_TOKEN, or run where its token file is)`);
  }
  const useTls = flags.has("tls") || flags.has("insecure") || options.ca !== undefined;
  return {
    ...where,
    token,
    ...(useTls ? { tls: { insecure: flags.has("insecure"), ...(options.ca ? { ca: options.ca } : {}) } } : {}),
  };
}
