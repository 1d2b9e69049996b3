/**
 * What Linux's /proc says of a process `manhole attach` is about to signal: its uid and
 * executable, its environment and Node flags (where its inspector would listen, whether it is
 * open already, whether SIGUSR1 is disabled), and which process owns a listening TCP port.
 */
import fs from "node:fs";
import path from "node:path";

export interface NodeFlags {
  /** `--inspect`, `--inspect-brk`, `--inspect-wait` as given: the inspector opened at start. */
  inspectAtStart?: string;
  /** The inspector's host and port as the flags set them (--inspect-port / --debug-port / --inspect=[host:]port). */
  host?: string;
  port?: number;
  /** `--disable-sigusr1` is set. */
  disableSigusr1: boolean;
}

function readNul(file: string): string[] | undefined {
  try {
    return fs
      .readFileSync(file, "utf8")
      .split("\0")
      .filter((s) => s !== "");
  } catch {
    return undefined;
  }
}

/** The process's uid (the owner of /proc/<pid>), or undefined when there is no /proc. */
export function processUid(pid: number): number | undefined {
  try {
    return fs.statSync(`/proc/${pid}`).uid;
  } catch {
    return undefined;
  }
}

/** The path of its executable, or undefined when it cannot be read. */
export function processExe(pid: number): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return undefined;
  }
}

export function processArgv(pid: number): string[] | undefined {
  return readNul(`/proc/${pid}/cmdline`);
}

/** Its environment as it was at start (/proc/<pid>/environ). */
export function processEnv(pid: number): NodeJS.ProcessEnv | undefined {
  const entries = readNul(`/proc/${pid}/environ`);
  if (!entries) return undefined;
  const env: NodeJS.ProcessEnv = {};
  for (const entry of entries) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** `[host:]port` → its parts. */
function hostPort(value: string): { host?: string; port?: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d+)$/.exec(value);
  if (m) return { ...(m[1] ? { host: m[1] } : {}), port: Number(m[2]) };
  return value === "" ? {} : { host: value };
}

/**
 * Node's inspector flags among `args` (the options before the main script, then NODE_OPTIONS):
 * later ones win, as in Node.
 */
export function parseNodeFlags(execArgs: readonly string[], nodeOptions = ""): NodeFlags {
  const flags: NodeFlags = { disableSigusr1: false };
  const words = [...nodeOptions.split(/\s+/).filter(Boolean), ...execArgs];
  for (let i = 0; i < words.length; i++) {
    const word = words[i];
    const m = /^--(inspect|inspect-brk|inspect-wait|inspect-port|debug-port)(?:=(.*))?$/.exec(word);
    if (word === "--disable-sigusr1") flags.disableSigusr1 = true;
    if (!m) continue;
    const [, name, inline] = m;
    let value = inline;
    if (value === undefined && (name === "inspect-port" || name === "debug-port")) value = words[++i] ?? "";
    if (name !== "inspect-port" && name !== "debug-port") flags.inspectAtStart = word;
    if (value !== undefined) Object.assign(flags, hostPort(value));
  }
  return flags;
}

/** The Node flags of a running process: the options before its main script, and NODE_OPTIONS. */
export function processNodeFlags(pid: number, env: NodeJS.ProcessEnv | undefined): NodeFlags | undefined {
  const argv = processArgv(pid);
  if (!argv) return undefined;
  const execArgs: string[] = [];
  for (const arg of argv.slice(1)) {
    if (!arg.startsWith("-")) break;
    execArgs.push(arg);
  }
  return parseNodeFlags(execArgs, env?.NODE_OPTIONS ?? "");
}

/** Whether `pid` has a handler for SIGUSR1 (Node installs one), and whether it blocks it (--disable-sigusr1). */
export function sigusr1State(pid: number): { caught: boolean; blocked: boolean } | undefined {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const bit = (field: string) => {
      const m = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, "im").exec(status);
      return m ? ((BigInt(`0x${m[1]}`) >> 9n) & 1n) === 1n : false; // SIGUSR1 is 10: bit 9
    };
    return { caught: bit("SigCgt"), blocked: bit("SigBlk") };
  } catch {
    return undefined;
  }
}

/** Every listening TCP socket of the machine (IPv4 and IPv6): its port and inode, from /proc/net. */
function listeningSockets(): { port: number; inode: string }[] {
  const found: { port: number; inode: string }[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = fs.readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== "0A") continue; // 0A: LISTEN
      const local = cols[1];
      found.push({ port: Number.parseInt(local.slice(local.lastIndexOf(":") + 1), 16), inode: cols[9] });
    }
  }
  return found;
}

/** The socket inodes listening on TCP `port` (IPv4 and IPv6, any address). */
function listeningInodes(port: number): Set<string> {
  return new Set(listeningSockets().flatMap((s) => (s.port === port ? [s.inode] : [])));
}

/** The inodes of the sockets `pid` holds open. */
function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return inodes;
  }
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(path.join(`/proc/${pid}/fd`, fd)));
      if (m) inodes.add(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}

function ownsAny(pid: number, inodes: Set<string>): boolean {
  for (const inode of socketInodes(pid)) if (inodes.has(inode)) return true;
  return false;
}

/**
 * Who listens on TCP `port`: "target" when `pid` does, else the pid of another process we can
 * see that does, "unknown" when it cannot be told (no /proc, or a process we cannot look into).
 */
export function portOwner(port: number, pid: number): "target" | number | "unknown" {
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return "unknown";
  if (ownsAny(pid, inodes)) return "target";
  let entries: string[];
  try {
    entries = fs.readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return "unknown";
  }
  for (const entry of entries) {
    if (Number(entry) !== pid && ownsAny(Number(entry), inodes)) return Number(entry);
  }
  return "unknown";
}

/** The TCP ports `pid` listens on (to find an inspector it opened on a port of its own choosing). */
export function listeningPorts(pid: number): number[] {
  const mine = socketInodes(pid);
  return [...new Set(listeningSockets().flatMap((s) => (mine.has(s.inode) ? [s.port] : [])))];
}
