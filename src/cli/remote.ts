/**
 * Remote targets: `ssh://[user@]host[:port]/<pid|path>`, `kube://[namespace/]pod[/container]/<pid|path>`,
 * `docker://container/<pid|path>`. Nothing of ours listens on any network: the CLI starts the
 * transport command (MANHOLE_SSH, MANHOLE_KUBECTL, MANHOLE_DOCKER: templates, default ssh,
 * kubectl, docker) with the remote manhole command (MANHOLE_REMOTE; by default `manhole`, else
 * the app's node_modules/.bin/manhole, else `npx --no-install manhole`) and talks through its
 * stdin/stdout: `manhole bridge <pid|path>` for a session, `manhole ls --json` for a listing.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { PassThrough, type Readable, type Writable } from "node:stream";
import { UsageError } from "./args.js";
import { CliError, EXIT } from "./errors.js";

export type RemoteKind = "ssh" | "kube" | "docker";

/** Where a remote manhole lives: a host, a pod (and container), or a container. */
export type RemoteLocation =
  | { kind: "ssh"; host: string; user?: string; port?: number }
  | { kind: "kube"; pod: string; namespace?: string; container?: string }
  | { kind: "docker"; container: string };

export interface RemoteSpec {
  location: RemoteLocation;
  /** The pid or socket path on the far side, as typed there; "" when none was given (ls). */
  target: string;
  /** `?signal=SIG`: the remote bridge sends it first (a manhole started with activateOn). */
  signal?: string;
}

const NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const HOST = /^(?:[A-Za-z0-9_][A-Za-z0-9_.-]*|\[[0-9A-Fa-f:.]+\])$/;

/** Does `spec` name a remote target (by its scheme)? */
export function isRemote(spec: string): boolean {
  return /^(?:ssh|kube|docker):\/\//.test(spec);
}

function bad(spec: string, why: string): UsageError {
  return new UsageError(`${spec}: ${why}`);
}

/** `[user@]host[:port]` → an ssh location (the form of --ssh and of an ssh:// authority). */
export function parseSshHost(text: string, spec = text): RemoteLocation & { kind: "ssh" } {
  const m = /^(?:([^@/\s]+)@)?([^@/\s]+?)(?::(\d{1,5}))?$/.exec(text);
  if (!m || !HOST.test(m[2])) throw bad(spec, "expected [user@]host[:port]");
  if (m[1] !== undefined && !NAME.test(m[1])) throw bad(spec, `"${m[1]}" is not a user name`);
  const port = m[3] === undefined ? undefined : Number(m[3]);
  if (port !== undefined && (port < 1 || port > 65535)) throw bad(spec, `port ${m[3]} is out of range`);
  const host = m[2].startsWith("[") ? m[2].slice(1, -1) : m[2];
  return { kind: "ssh", host, ...(m[1] ? { user: m[1] } : {}), ...(port ? { port } : {}) };
}

/** `[namespace/]pod[/container]` → a kube location (the form of --kube). */
export function parseKubePod(text: string, spec = text): RemoteLocation & { kind: "kube" } {
  const parts = text.split("/");
  if (parts.length > 3 || parts.some((p) => !NAME.test(p))) throw bad(spec, "expected [namespace/]pod[/container]");
  if (parts.length === 1) return { kind: "kube", pod: parts[0] };
  return { kind: "kube", namespace: parts[0], pod: parts[1], ...(parts[2] ? { container: parts[2] } : {}) };
}

/** `container` → a docker location (the form of --docker). */
export function parseDockerContainer(text: string, spec = text): RemoteLocation & { kind: "docker" } {
  if (!NAME.test(text)) throw bad(spec, "expected a container name or id");
  return { kind: "docker", container: text };
}

/**
 * `ssh://root@db1:2222/4242`, `ssh://db1//run/app.sock` (a path on the far side starts with a
 * second slash), `kube://shop/web-7f9c/app/1`, `docker://web/1`; `ssh://db1/` or `ssh://db1`
 * names no process (for ls). Undefined when `spec` has none of these schemes.
 */
export function parseRemote(spec: string): RemoteSpec | undefined {
  const m = /^(ssh|kube|docker):\/\/([^?]*)(?:\?(.*))?$/.exec(spec);
  if (!m) {
    if (isRemote(spec)) throw bad(spec, "not a remote target");
    return undefined;
  }
  const kind = m[1] as RemoteKind;
  const rest = m[2];
  let where: string;
  let target: string;
  const double = rest.indexOf("//");
  if (double >= 0) {
    where = rest.slice(0, double);
    target = rest.slice(double + 1);
  } else if (kind === "kube") {
    // The last segment is the pid (or empty) once there is more than the pod.
    const parts = rest.split("/");
    if (parts.length === 1) {
      where = rest;
      target = "";
    } else {
      target = parts.pop() as string;
      where = parts.join("/");
    }
  } else {
    const slash = rest.indexOf("/");
    where = slash < 0 ? rest : rest.slice(0, slash);
    target = slash < 0 ? "" : rest.slice(slash + 1);
  }
  if (where === "") throw bad(spec, `no ${kind === "ssh" ? "host" : kind === "kube" ? "pod" : "container"}`);
  const location =
    kind === "ssh" ? parseSshHost(where, spec) : kind === "kube" ? parseKubePod(where, spec) : parseDockerContainer(where, spec);
  if (/[\0\n]/.test(target)) throw bad(spec, "a target cannot hold a NUL or a newline");
  let signal: string | undefined;
  if (m[3] !== undefined) {
    const q = /^signal=([A-Za-z0-9]+)$/.exec(m[3]);
    if (!q) throw bad(spec, `unknown query "${m[3]}" (only ?signal=SIG)`);
    signal = q[1];
  }
  return { location, target, ...(signal ? { signal } : {}) };
}

/** The location part of a URL: `ssh://root@db1:2222`, `kube://shop/web-1/app`, `docker://web`. */
export function locationUrl(l: RemoteLocation): string {
  if (l.kind === "ssh") {
    const host = l.host.includes(":") ? `[${l.host}]` : l.host;
    return `ssh://${l.user ? `${l.user}@` : ""}${host}${l.port ? `:${l.port}` : ""}`;
  }
  if (l.kind === "kube") return `kube://${[l.namespace, l.pod, l.container].filter(Boolean).join("/")}`;
  return `docker://${l.container}`;
}

/** The URL of `target` (a pid or path) at `l`, as the CLI takes it back. */
export function remoteUrl(l: RemoteLocation, target: string | number, signal?: string): string {
  return `${locationUrl(l)}/${target}${signal ? `?signal=${signal}` : ""}`;
}

/** What rows are tagged with: the host (and port), the pod, the container. */
export function locationTag(l: RemoteLocation): string {
  if (l.kind === "ssh") return l.port ? `${l.host}:${l.port}` : l.host;
  if (l.kind === "kube") return l.pod;
  return l.container;
}

/** Splits a template such as `ssh -J bastion -o "ProxyCommand=x y"` into words (quotes and backslashes as a shell does). */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === "\\" && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += ch;
    } else if (ch === "'" || ch === '"') {
      quote = ch;
      word ??= "";
    } else if (ch === "\\" && i + 1 < text.length) {
      word = (word ?? "") + text[++i];
    } else if (/\s/.test(ch)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? "") + ch;
    }
  }
  if (quote) throw new UsageError(`unbalanced ${quote} in "${text}"`);
  if (word !== undefined) words.push(word);
  return words;
}

/** Quotes a word for a POSIX shell (ssh runs the remote command through the login shell). */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

const TOOL_ENV: Record<RemoteKind, { env: string; fallback: string }> = {
  ssh: { env: "MANHOLE_SSH", fallback: "ssh" },
  kube: { env: "MANHOLE_KUBECTL", fallback: "kubectl" },
  docker: { env: "MANHOLE_DOCKER", fallback: "docker" },
};

/** The transport's template words (`$MANHOLE_SSH`, ...), or the tool's own name. */
export function transportTemplate(kind: RemoteKind): string[] {
  const { env, fallback } = TOOL_ENV[kind];
  const words = splitWords(process.env[env] ?? "");
  return words.length > 0 ? words : [fallback];
}

/** Exit code of the default remote command when no manhole is found there. */
const NOT_INSTALLED = 127;

/**
 * The default remote command (POSIX sh): `manhole` on PATH, else the nearest
 * node_modules/.bin/manhole above the working directory (what `npx --no-install` would run, without
 * starting npm), else `npx --no-install manhole` if that finds one; else exit 127 with a line.
 */
const FIND_MANHOLE = [
  'if command -v manhole >/dev/null 2>&1; then exec manhole "$@"; fi',
  'd=$PWD; while :; do if [ -x "$d/node_modules/.bin/manhole" ]; then exec "$d/node_modules/.bin/manhole" "$@"; fi; [ "$d" = / ] && break; [ -z "$d" ] && break; d=$(dirname "$d"); done',
  'if command -v npx >/dev/null 2>&1 && npx --no-install manhole --version >/dev/null 2>&1; then exec npx --no-install manhole "$@"; fi',
  `echo "manhole-remote: manhole is not installed here" >&2; exit ${NOT_INSTALLED}`,
].join("\n");

/** The command to run on the far side, as argv words: `$MANHOLE_REMOTE ...args`, or the search above. */
function remoteWords(args: string[]): string[] {
  const custom = splitWords(process.env.MANHOLE_REMOTE ?? "");
  return custom.length > 0 ? [...custom, ...args] : ["sh", "-c", FIND_MANHOLE, "manhole", ...args];
}

/** The whole argv that runs `manhole ...args` at `l`: the transport template, its options, the remote command. */
export function transportArgv(l: RemoteLocation, args: string[]): string[] {
  const template = transportTemplate(l.kind);
  if (l.kind === "ssh") {
    // ssh hands the remote command to the login shell as one line. MANHOLE_REMOTE is a shell
    // command line there (so `cd /srv/app && npx --no-install manhole` works).
    const custom = (process.env.MANHOLE_REMOTE ?? "").trim();
    const line = custom !== "" ? [custom, ...args.map(shellQuote)].join(" ") : remoteWords(args).map(shellQuote).join(" ");
    const dest = `${l.user ? `${l.user}@` : ""}${l.host}`;
    return [...template, ...(l.port ? ["-p", String(l.port)] : []), "--", dest, line];
  }
  if (l.kind === "kube") {
    return [
      ...template,
      "exec",
      "-i",
      ...(l.namespace ? ["-n", l.namespace] : []),
      l.pod,
      ...(l.container ? ["-c", l.container] : []),
      "--",
      ...remoteWords(args),
    ];
  }
  return [...template, "exec", "-i", l.container, ...remoteWords(args)];
}

function lastLines(stderr: string): string {
  const lines = stderr
    .split("\n")
    .map((s) => s.trim())
    .filter((s) => s !== "" && !/^Warning: Permanently added/.test(s) && !/^Defaulted container/.test(s));
  return lines.slice(-2).join("; ");
}

/**
 * What went wrong, from how the transport ended: one line with its exit code. `label` is the
 * target as the user named it.
 */
export function transportFailure(
  l: RemoteLocation,
  label: string,
  exit: { code: number | null; signal: NodeJS.Signals | null; spawnError?: NodeJS.ErrnoException },
  stderr: string,
): CliError {
  const tool = transportTemplate(l.kind)[0];
  const envName = TOOL_ENV[l.kind].env;
  if (exit.spawnError) {
    if (exit.spawnError.code === "ENOENT") {
      return new CliError(EXIT.transport, `${label}: ${tool} not found (install it, or set ${envName} to the command to use)`);
    }
    return new CliError(EXIT.transport, `${label}: cannot run ${tool}: ${exit.spawnError.message}`);
  }
  // The remote manhole said what is wrong (`manhole: no such process: 4242`), with its exit code.
  const own = /^manhole: (.*)$/m.exec(stderr);
  if (own && exit.code !== null && exit.code >= 1 && exit.code <= EXIT.transport) return new CliError(exit.code, `${label}: ${own[1]}`);
  const where = l.kind === "ssh" ? l.host : l.kind === "kube" ? `pod ${l.pod}` : `container ${l.container}`;
  if (exit.code === NOT_INSTALLED || /manhole-remote: manhole is not installed/.test(stderr)) {
    return new CliError(
      EXIT.transport,
      `${label}: manhole is not installed on ${where} (install it there: npm install manhole in the app, or npm install -g manhole; or set MANHOLE_REMOTE to the command that runs it)`,
    );
  }
  if (exit.code === 126)
    return new CliError(EXIT.transport, `${label}: the remote manhole command cannot run on ${where}: ${lastLines(stderr)}`);
  const detail = lastLines(stderr);
  if (l.kind === "ssh" && exit.code === 255) {
    if (/Permission denied|Too many authentication failures|Authentication failed/i.test(stderr)) {
      return new CliError(EXIT.permission, `${label}: ssh authentication failed for ${l.user ? `${l.user}@` : ""}${l.host} (${detail})`);
    }
    if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/.test(stderr)) {
      return new CliError(EXIT.permission, `${label}: ssh host key verification failed for ${l.host} (${detail})`);
    }
    if (
      /Connection refused|No route to host|Could not resolve hostname|timed out|Network is unreachable|Connection closed|Connection reset/i.test(
        stderr,
      )
    ) {
      return new CliError(EXIT.transport, `${label}: host unreachable: ${detail}`);
    }
    return new CliError(EXIT.transport, `${label}: ssh failed: ${detail || "exit code 255"}`);
  }
  if (l.kind === "kube" && /NotFound|not found/.test(stderr)) {
    const what = /container/i.test(detail) && !/pods? "/.test(detail) ? "container not found" : "pod not found";
    return new CliError(EXIT.transport, `${label}: ${what}: ${detail}`);
  }
  if (l.kind === "docker" && /No such container|is not running/i.test(stderr)) {
    return new CliError(EXIT.transport, `${label}: container not found or not running: ${detail}`);
  }
  const how = exit.signal ? `killed by ${exit.signal}` : `exit code ${exit.code}`;
  return new CliError(EXIT.transport, `${label}: ${tool} failed (${how})${detail ? `: ${detail}` : ""}`);
}

/** Most of the transport's stderr kept for an error message. */
const STDERR_CAP = 64 * 1024;

/** A running transport: its stdout (what the far side says) and stdin (what we send), and how it ended. */
export interface Transport {
  readable: Readable;
  writable: Writable;
  /** Resolves when the process has ended and its stdio closed: undefined for exit 0, else the error. */
  ended: Promise<CliError | undefined>;
  kill(): void;
}

/**
 * Starts `manhole ...args` at `l` through its transport. Its stdout and stdin are plain pipes
 * (never buffered beyond the streams' high-water marks: a reader that pauses makes the transport
 * stop reading, and so the far side stop sending); its stderr is kept for the error message.
 */
export function startTransport(l: RemoteLocation, args: string[], label: string): Transport {
  return startCommand(l, transportArgv(l, args), label);
}

/** Starts `argv` (a transport command: ssh ..., kubectl ...) with its failures read as `l`'s. */
export function startCommand(l: RemoteLocation, argv: string[], label: string): Transport {
  let child: ChildProcessWithoutNullStreams | undefined;
  let spawnError: NodeJS.ErrnoException | undefined;
  let stderr = "";
  let resolveEnded!: (e: CliError | undefined) => void;
  const ended = new Promise<CliError | undefined>((resolve) => {
    resolveEnded = resolve;
  });
  try {
    child = spawn(argv[0], argv.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
  } catch (err) {
    spawnError = err as NodeJS.ErrnoException;
  }
  if (!child) {
    const nothing = new PassThrough();
    nothing.end();
    resolveEnded(transportFailure(l, label, { code: null, signal: null, spawnError }, ""));
    return { readable: nothing, writable: new PassThrough(), ended, kill() {} };
  }
  const proc = child;
  proc.stderr.setEncoding("utf8").on("data", (d: string) => {
    if (stderr.length < STDERR_CAP) stderr += d;
  });
  proc.stdin.on("error", () => {}); // EPIPE when the transport died: its exit says why
  proc.on("error", (err: NodeJS.ErrnoException) => {
    spawnError = err;
  });
  proc.on("close", (code, signal) => {
    resolveEnded(code === 0 && !spawnError ? undefined : transportFailure(l, label, { code, signal, spawnError }, stderr));
  });
  return {
    readable: proc.stdout,
    writable: proc.stdin,
    ended,
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
    },
  };
}

/**
 * Runs `manhole ...args` at `l` (or the transport command `argv` itself) to completion and resolves with its stdout (e.g. `ls --json`);
 * rejects with the transport's error, or a timeout (exit 7) after `timeoutMs`.
 */
export function runRemote(
  l: RemoteLocation,
  args: string[],
  { label, timeoutMs, argv }: { label: string; timeoutMs: number; argv?: string[] },
): Promise<string> {
  const t = startCommand(l, argv ?? transportArgv(l, args), label);
  let out = "";
  t.readable.setEncoding("utf8");
  t.readable.on("data", (d: string) => {
    out += d;
  });
  t.writable.end();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      t.kill();
      reject(new CliError(EXIT.timeout, `${label}: no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    t.ended.then((err) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(out);
    });
  });
}
