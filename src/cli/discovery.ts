/**
 * Discovery: the live manholes in the runtime directory, from their `<pid>.json` descriptors.
 * Each is checked (pid alive, same process as the one that wrote it, socket answering a hello);
 * stale entries — dead pid, pid reused by another process, socket nobody listens on — are removed,
 * with the socket and the TCP token file beside it.
 */
import fs from "node:fs";
import path from "node:path";
import { appLabel } from "../shared/app-label.js";
import { type Descriptor, processStartTicks, readDescriptors } from "../shared/descriptor.js";
import { formatDuration } from "../shared/duration.js";
import { runtimeDir } from "../shared/runtime-dir.js";
import { probeSocket } from "../shared/socket-probe.js";
import { tokenPathFor } from "../shared/token-file.js";
import { ManholeClient } from "./client.js";
import { CliError, EXIT } from "./errors.js";
import { matchesApp } from "./process-tree.js";
import { processExists } from "./target.js";

export type ManholeState = "responsive" | "blocked" | "unresponsive" | "denied" | "incompatible";

export interface ManholeEntry {
  pid: number;
  /** What to show for the app: `name@version` from its package.json, else its command line. */
  app: string;
  node: string;
  socket: string;
  /** The descriptor file it was found by. */
  descriptorFile: string;
  descriptor: Descriptor;
  /** From the hello when it answered, else from the descriptor's start time. */
  uptimeMs: number | null;
  state: ManholeState;
  /** How long the event loop has been blocked (state "blocked"). */
  blockedMs?: number;
  /** Why it is unresponsive/denied/incompatible. */
  reason?: string;
}

export interface DiscoveryResult {
  dir: string;
  live: ManholeEntry[];
  /** Files removed as stale. */
  removed: string[];
}

export interface DiscoveryOptions {
  dir?: string;
  /** How long to wait for each hello before calling the manhole unresponsive. Default 1000 ms. */
  helloTimeoutMs?: number;
  /** Remove stale descriptors and sockets (default true). */
  clean?: boolean;
}

/** `--app NAME`: the entries of that app (all of them without a name). */
export function selectApp<T extends ManholeEntry>(entries: T[], app: string | undefined): T[] {
  return app === undefined ? entries : entries.filter((e) => matchesApp(e, app));
}

/** The app's label as its banner shows it (one function for both: shared/app-label.ts). */
export function appName(d: Pick<Descriptor, "app" | "argv">): string {
  return appLabel(d.app, d.argv);
}

function isDescriptor(value: unknown): value is Descriptor {
  const d = value as Descriptor;
  return typeof d === "object" && d !== null && Number.isInteger(d.pid) && d.pid > 0 && typeof d.socket === "string" && d.socket !== "";
}

/** Why the descriptor's process is gone, or undefined when it is (as far as we can tell) alive. */
function deadReason(d: Descriptor): string | undefined {
  if (!processExists(d.pid)) return "dead";
  if (typeof d.startTicks === "number") {
    const now = processStartTicks(d.pid);
    if (now !== null && now !== d.startTicks) return "pid reused";
  }
  return undefined;
}

/** Resolves true when nothing listens on `socket` (connection refused, or no such file). */
export async function nobodyListens(socket: string, timeoutMs = 1000): Promise<boolean> {
  return (await probeSocket(socket, timeoutMs)) === "dead";
}

function unlink(file: string, removed: string[]): void {
  try {
    fs.unlinkSync(file);
    removed.push(file);
  } catch {
    // already gone, or not ours to remove
  }
}

/**
 * Removes a socket file only when it is a socket nobody listens on (never another process's
 * live socket), and then the TCP token file beside it, which nothing can use any more.
 */
async function removeDeadSocket(socket: string, removed: string[]): Promise<void> {
  try {
    if (!fs.lstatSync(socket).isSocket()) return removeToken(socket, removed);
  } catch {
    return removeToken(socket, removed);
  }
  if (await nobodyListens(socket)) {
    unlink(socket, removed);
    removeToken(socket, removed);
  }
}

/** The token file of a socket that is gone (a regular file only). */
function removeToken(socket: string, removed: string[]): void {
  const token = tokenPathFor(socket);
  try {
    if (!fs.lstatSync(token).isFile()) return;
  } catch {
    return;
  }
  unlink(token, removed);
}

async function probe(file: string, d: Descriptor, timeoutMs: number, clean: boolean, removed: string[]): Promise<ManholeEntry | null> {
  const base = { pid: d.pid, app: appName(d), node: String(d.node ?? "?"), socket: d.socket, descriptorFile: file, descriptor: d };
  const started = Date.parse(d.startTime);
  const uptimeFromDescriptor = Number.isFinite(started) ? Math.max(0, Date.now() - started) : null;
  if (deadReason(d)) {
    if (clean) {
      unlink(file, removed);
      await removeDeadSocket(d.socket, removed);
    }
    return null;
  }
  try {
    const client = await ManholeClient.connect(d.socket, { timeoutMs });
    const info = client.info;
    client.destroy();
    const entry: ManholeEntry = { ...base, node: info.node, uptimeMs: info.uptimeMs, state: "responsive" };
    if (info.loop?.blocked) {
      entry.state = "blocked";
      entry.blockedMs = info.loop.sinceMs;
    }
    return entry;
  } catch (err) {
    const cli = err instanceof CliError ? err : new CliError(EXIT.failure, String(err));
    if (cli.exitCode === EXIT.noManhole) {
      // The process lives but nothing listens on its socket (e.g. closed without cleanup).
      if (clean) {
        unlink(file, removed);
        await removeDeadSocket(d.socket, removed);
      }
      return null;
    }
    const state: ManholeState =
      cli.exitCode === EXIT.permission ? "denied" : cli.exitCode === EXIT.protocol ? "incompatible" : "unresponsive";
    return { ...base, uptimeMs: uptimeFromDescriptor, state, reason: cli.message };
  }
}

/** Every live manhole in `dir` (default: the runtime directory), sorted by pid. */
export async function discover({
  dir = runtimeDir(),
  helloTimeoutMs = 1000,
  clean = true,
}: DiscoveryOptions = {}): Promise<DiscoveryResult> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { dir, live: [], removed };
    if ((err as NodeJS.ErrnoException).code === "EACCES") throw new CliError(EXIT.permission, `${dir}: permission denied`);
    throw err;
  }
  const described = new Set<string>();
  const probes: Promise<ManholeEntry | null>[] = [];
  for (const { file, data: d } of readDescriptors(dir, names)) {
    if (!isDescriptor(d)) continue;
    described.add(path.resolve(d.socket));
    probes.push(probe(file, d, helloTimeoutMs, clean, removed));
  }
  // Sockets and token files of dead processes left without a descriptor.
  if (clean) {
    const seen = new Set<string>();
    for (const name of names) {
      const m = /^(\d+)\.(?:sock|token)$/.exec(name);
      if (!m) continue;
      const socket = path.join(dir, `${m[1]}.sock`);
      if (seen.has(socket) || described.has(socket) || processExists(Number(m[1]))) continue;
      seen.add(socket);
      probes.push(removeDeadSocket(socket, removed).then(() => null));
    }
  }
  const live = (await Promise.all(probes)).filter((e): e is ManholeEntry => e !== null);
  live.sort((a, b) => a.pid - b.pid || a.socket.localeCompare(b.socket));
  return { dir, live, removed };
}

/** The state column: `responsive`, `blocked 1200 ms`, `unresponsive`, ... */
export function stateText(e: Pick<ManholeEntry, "state" | "blockedMs">): string {
  return e.state === "blocked" ? `blocked ${formatDuration(e.blockedMs ?? 0, { compact: true })}` : e.state;
}
