/**
 * The `<pid>.json` file beside a socket in the runtime directory: what `manhole ls` reads to
 * list live manholes and to tell a live process from a dead one whose pid was reused.
 */
import fs from "node:fs";
import path from "node:path";
import { PROTOCOL_VERSION } from "../protocol/version.js";
import type { AppPackage } from "./app-label.js";

export interface Descriptor {
  pid: number;
  ppid: number;
  /** ISO time the process started. */
  startTime: string;
  /** Linux: field 22 of /proc/<pid>/stat (clock ticks after boot), to detect pid reuse. */
  startTicks: number | null;
  argv: string[];
  cwd: string;
  node: string;
  app: { name: string; version: string | null } | null;
  socket: string;
  protocol: number;
  threaded: boolean;
  /** The TCP listener, when the tcp option is given (its token is in `<socket without .sock>.token`). */
  tcp?: DescriptorTcp;
  /** How the process was started by its parent (`ppid`), when Node says: absent for any other. */
  role?: ProcessRole;
}

/** A `node:cluster` worker (with its `cluster.worker.id`), or a child forked with an IPC channel. */
export type ProcessRole = { kind: "cluster-worker"; id: number } | { kind: "forked" };

/** This process's role, as Node itself knows it (`node:cluster`; `process.send` from `fork`). */
export function processRole(): ProcessRole | undefined {
  // A cluster worker always has an IPC channel; a process without one never loads node:cluster
  // here (a few ms at start). Node's own bootstrap decides (and then deletes NODE_UNIQUE_ID).
  if (typeof process.send !== "function") return undefined;
  const { worker } = require("node:cluster") as import("node:cluster").Cluster;
  if (worker) return { kind: "cluster-worker", id: worker.id };
  return { kind: "forked" };
}

/** Where a manhole also listens on TCP; `tls` when that listener serves TLS. */
export interface DescriptorTcp {
  host: string;
  port: number;
  tls?: true;
}

export type { AppPackage } from "./app-label.js";

/** Start time of `pid` in clock ticks after boot, from /proc (null elsewhere). */
export function processStartTicks(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may contain spaces: count from after it.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(rest[19]);
  } catch {
    return null;
  }
}

/**
 * The nearest package.json above the app's entry script (its real path: an app started through
 * a `node_modules/.bin` link or `npx` is the linked package, not the project holding the link),
 * or above the working directory, if it names a package.
 */
export function findAppPackage(argv: readonly string[] = process.argv): AppPackage | null {
  let dir = process.cwd();
  if (argv[1]) {
    let script = path.resolve(argv[1]);
    try {
      script = fs.realpathSync(script);
    } catch {
      // not a file (node -e, a missing script): as given
    }
    dir = path.dirname(script);
  }
  for (;;) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name?: unknown; version?: unknown };
      if (typeof pkg.name === "string") return { name: pkg.name, version: typeof pkg.version === "string" ? pkg.version : null };
    } catch {
      // no package.json here, or not JSON
    }
    const up = path.dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

export function buildDescriptor(socket: string, app: AppPackage | null, threaded: boolean, tcp?: DescriptorTcp): Descriptor {
  const role = processRole();
  return {
    pid: process.pid,
    ppid: process.ppid,
    startTime: new Date(Date.now() - process.uptime() * 1000).toISOString(),
    startTicks: processStartTicks(process.pid),
    argv: process.argv,
    cwd: process.cwd(),
    node: process.version,
    app,
    socket,
    protocol: PROTOCOL_VERSION,
    threaded,
    ...(tcp ? { tcp } : {}),
    ...(role ? { role } : {}),
  };
}

/** Writes the descriptor atomically (temp file + rename), 0600. */
export function writeDescriptor(file: string, descriptor: Descriptor): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(descriptor, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** The descriptor files this process's manholes hold now. */
const claimed = new Set<string>();

/**
 * A descriptor path for a new manhole of this process: `<dir>/<pid>.json` unless another of its
 * manholes holds that one (whatever their sockets' paths), else `<dir>/<pid>-<n>.json` from 2 on.
 * Give it back with releaseDescriptorPath when that manhole closes.
 */
export function claimDescriptorPath(dir: string): string {
  for (let n = 1; ; n++) {
    const file = path.join(dir, n === 1 ? `${process.pid}.json` : `${process.pid}-${n}.json`);
    if (claimed.has(file)) continue;
    claimed.add(file);
    return file;
  }
}

export function releaseDescriptorPath(file: string): void {
  claimed.delete(file);
}

/**
 * The descriptors in `dir` (`<pid>.json`, `<pid>-<n>.json`) with their files; unreadable ones are skipped.
 * `names` is a listing of `dir` the caller already has (discovery also needs it for orphaned sockets);
 * without it `dir` is listed here, which throws if `dir` cannot be read.
 */
export function readDescriptors(
  dir: string,
  names: readonly string[] = fs.readdirSync(dir),
): { file: string; data: Partial<Descriptor> }[] {
  const out: { file: string; data: Partial<Descriptor> }[] = [];
  for (const name of names) {
    if (!/^\d+(-\d+)?\.json$/.test(name)) continue;
    const file = path.join(dir, name);
    try {
      const data: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
      if (data && typeof data === "object") out.push({ file, data: data as Partial<Descriptor> });
    } catch {
      // unreadable or half-written: skip it
    }
  }
  return out;
}
