/**
 * `manhole attach <pid>`: a manhole in a running Node.js process that never loaded manhole.
 * SIGUSR1 makes Node open its inspector on 127.0.0.1 (port 9229, or the target's
 * --inspect-port); through it the CLI checks it reached the right pid, loads the agent from its
 * own installation into the target's main thread (agent/attach-entry.ts), closes the inspector
 * again, and connects to the new manhole. `--detach` closes that manhole the same way.
 * Every check that can be made from outside (/proc) is made before the signal; the port is open
 * only between the signal and the close, and the CLI prints how long that was.
 */
import fs from "node:fs";
import path from "node:path";
import { attachErrorPathFor, takeAttachError } from "../shared/attach-error.js";
import { runtimeDir } from "../shared/runtime-dir.js";
import { probeSocket } from "../shared/socket-probe.js";
import { type ParsedArgs, parseArgs, UsageError } from "./args.js";
import type { CliCommand } from "./cli-command.js";
import { connect } from "./connect.js";
import { CliError, EXIT } from "./errors.js";
import {
  INSPECTOR_HOST,
  InspectorSession,
  inspectorTarget,
  loadWebSocket,
  portOpen,
  waitForInspector,
  waitForPortClosed,
} from "./inspector-client.js";
import {
  listeningPorts,
  type NodeFlags,
  portOwner,
  processEnv,
  processExe,
  processNodeFlags,
  processUid,
  sigusr1State,
} from "./proc-info.js";
import { processExists, socketForPid } from "./target.js";

export const attachHelp = `Usage: manhole attach [options] <pid>
       manhole attach --detach <pid>

Opens a manhole in a running Node.js process that never loaded manhole, then connects
to it (as manhole connect does). Node offers one way in from outside: SIGUSR1 opens its
inspector on 127.0.0.1:9229 (or the port of the process's --inspect-port). attach:

  1. checks, before sending anything, that the process is a Node.js process of our
     user, in our network namespace and filesystem (not in a container: run attach
     there), has no manhole yet (if it has one, attach just connects), handles SIGUSR1
     (not started with --disable-sigusr1), that its inspector is not open already, and
     that nothing else listens on the inspector's port;
  2. sends SIGUSR1 and waits for the inspector to answer (if it opened on another
     port, e.g. the app changed process.debugPort, attach closes it and says where);
  3. connects to it, checks it is the inspector of <pid> (process.pid), and loads the
     agent from this manhole installation into the process's main thread (ES-module
     and CommonJS apps alike) with the options below;
  4. closes the inspector again (process._debugEnd()) and waits until the port is free;
  5. waits for the manhole's socket, and connects (or prints its path: --no-connect).

Each step is printed on stderr with its time since the signal, and how long the
inspector's port was open: while it is, any local user can connect to it and run code
in the process (see docs/security.md). Typically well under a second in all.

--detach removes a manhole that attach opened (its sessions are told, its worker
stops, its socket and descriptor files go away), through the inspector again; the app
runs on. A manhole the app started itself is not removed.

Options (of the manhole, as for startManhole):
  --path <socket>       socket path (default <runtime dir of the process>/<pid>.sock)
  --no-threaded         serve from the main thread (default: from a worker thread)
  --timeout <ms>        how long an evaluation may run (default 5000)
  --idle-timeout <ms>   close sessions idle this long (default 30 min; 0: never)
  --observe-only        refuse evaluation; diagnostics only
  --audit <file>        audit log (JSON lines, 0600)
  --shared              one scope for all sessions
Options (of attach):
  --inspect-port <n>    where the process's inspector opens (default: its own
                        --inspect-port, else 9229)
  --reuse-inspector     its inspector is open already (--inspect, a debugger): use
                        it and leave it open as found (default: refuse)
  --wait <ms>           how long each step may take (default 3000); exit 7
  --no-connect          print the socket path on stdout instead of connecting
  --detach              remove the manhole attach opened in <pid>
  -h, --help            show this help

A blocked event loop: the agent loads and the inspector closes all the same (the
inspector interrupts running JavaScript), but the manhole starts on the loop's next
turn; attach times out saying so, and the manhole listens once the loop turns.

Exit codes: 0 ok, 1 refused or failed (the reason is printed), 2 usage, 3 no such
process, 4 no manhole to detach, 5 another user's process, 7 a step timed out.
`;

const VALUED = ["path", "timeout", "idle-timeout", "audit", "inspect-port", "wait"] as const;
const FLAGS = ["no-threaded", "threaded", "observe-only", "shared", "reuse-inspector", "no-connect", "detach"] as const;
const AGENT_ENTRY = path.join(__dirname, "..", "agent", "attach-entry.js");

function positive(args: ParsedArgs, name: string, zeroOk = false): number | undefined {
  const text = args.options[name];
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || (!zeroOk && n === 0))
    throw new UsageError(`--${name} needs a ${zeroOk ? "non-negative" : "positive"} integer`);
  return n;
}

/** The startManhole options the command line gives. */
function agentOptions(args: ParsedArgs): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  if (args.options.path !== undefined) options.path = path.resolve(args.options.path);
  if (args.flags.has("no-threaded")) options.threaded = false;
  const timeout = positive(args, "timeout");
  if (timeout !== undefined) options.timeout = timeout;
  const idle = positive(args, "idle-timeout", true);
  if (idle !== undefined) options.idleTimeout = idle;
  if (args.flags.has("observe-only")) options.observeOnly = true;
  if (args.options.audit !== undefined) options.audit = path.resolve(args.options.audit);
  if (args.flags.has("shared")) options.shared = true;
  return options;
}

/** The step lines on stderr: `manhole: attach <pid>: <ms since the signal>  <what>`. */
class Steps {
  private t0: number | undefined;
  constructor(
    private readonly label: string,
    private readonly out: NodeJS.WritableStream = process.stderr,
  ) {}
  start(): void {
    this.t0 = performance.now();
  }
  since(): number {
    return this.t0 === undefined ? 0 : performance.now() - this.t0;
  }
  say(text: string): void {
    const time = this.t0 === undefined ? "" : `${this.since().toFixed(1).padStart(7)} ms  `;
    this.out.write(`manhole: ${this.label}: ${time}${text}\n`);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Plan {
  pid: number;
  port: number;
  /** The inspector is open already on `port` (with --reuse-inspector): no signal, left open. */
  reuse: boolean;
  /** Runtime directories where its manhole's socket may be (its own, then ours). */
  dirs: string[];
}

function liveSocketOf(pid: number, dirs: readonly string[]): Promise<string | undefined> {
  return (async () => {
    for (const dir of dirs) {
      const socket = socketForPid(pid, dir);
      if (socket && (await probeSocket(socket)) === "live") return socket;
    }
    return undefined;
  })();
}

function isLoopbackHost(host: string | undefined): boolean {
  return host === undefined || host === "127.0.0.1" || host === "localhost" || host === "::1";
}

/** Everything that can be checked before the signal; refuses with the reason. */
async function plan(pid: number, args: ParsedArgs, steps: Steps, detaching: boolean): Promise<Plan & { existing?: string }> {
  if (!processExists(pid)) throw new CliError(EXIT.noProcess, `no such process: ${pid}`);
  const uid = processUid(pid);
  const ours = process.geteuid?.();
  if (uid !== undefined && ours !== undefined && uid !== ours) {
    throw new CliError(
      EXIT.permission,
      `process ${pid} runs as uid ${uid}, not as uid ${ours}: attach as its user (e.g. sudo -u '#${uid}' manhole attach ${pid}); not signalled`,
    );
  }
  const exe = processExe(pid);
  if (exe !== undefined && !/node/i.test(path.basename(exe)) && exe !== process.execPath) {
    throw new CliError(EXIT.failure, `process ${pid} is not a Node.js process (${exe}); not signalled`);
  }
  const elsewhere = otherNamespace(pid);
  if (elsewhere) throw new CliError(EXIT.failure, `process ${pid} ${elsewhere}; not signalled`);
  const env = processEnv(pid);
  const dirs = [...new Set([...(env ? [runtimeDir(env)] : []), runtimeDir()])];
  const existing = await liveSocketOf(pid, dirs);
  if (existing && !detaching) return { pid, port: 0, reuse: false, dirs, existing };
  if (!existing && detaching) throw new CliError(EXIT.noManhole, `process ${pid} has no manhole (nothing in ${dirs.join(" or ")})`);

  const flags: NodeFlags = processNodeFlags(pid, env) ?? { disableSigusr1: false };
  const sig = sigusr1State(pid);
  if (flags.disableSigusr1 || (sig && !sig.caught && sig.blocked)) {
    throw new CliError(
      EXIT.failure,
      `process ${pid} was started with --disable-sigusr1: its inspector cannot be opened from outside, so nothing can be attached (start it with --import manhole/auto instead); not signalled`,
    );
  }
  if (sig && !sig.caught) {
    throw new CliError(
      EXIT.failure,
      `process ${pid} has no SIGUSR1 handler, as every Node.js process with an inspector has (${exe ?? "unknown executable"}); not signalled: SIGUSR1 would end it`,
    );
  }
  const given = args.options["inspect-port"];
  let port = flags.port ?? 9229;
  if (given !== undefined) {
    port = Number(given);
    if (!/^\d+$/.test(given) || port < 1 || port > 65535) throw new UsageError("--inspect-port needs a port number from 1 to 65535");
  }
  if (!isLoopbackHost(flags.host)) {
    throw new CliError(
      EXIT.failure,
      `process ${pid} would open its inspector on ${flags.host}:${port} (its --inspect-port), reachable from the network; not signalled`,
    );
  }
  const reuseAllowed = args.flags.has("reuse-inspector");
  const taken = port !== 0 && (await portOpen(port));
  if (taken) {
    const owner = portOwner(port, pid);
    if (owner !== "target") {
      throw new CliError(
        EXIT.failure,
        `${INSPECTOR_HOST}:${port} is taken by ${owner === "unknown" ? "another process" : `process ${owner}`}, so process ${pid}'s inspector could not listen there; not signalled (free the port, or start the app with --inspect-port=<another>)`,
      );
    }
    if (!reuseAllowed) {
      throw new CliError(
        EXIT.failure,
        `process ${pid}'s inspector is open already on ${INSPECTOR_HOST}:${port}${flags.inspectAtStart ? ` (${flags.inspectAtStart})` : " (a debugger or the app opened it)"}; not touched: --reuse-inspector uses it and leaves it open`,
      );
    }
    steps.say(`its inspector is open already on ${INSPECTOR_HOST}:${port}: reusing it (it stays open)`);
    return { pid, port, reuse: true, dirs };
  }
  if (flags.inspectAtStart) {
    // Open from the start, on a port of its own (e.g. --inspect=0): look for it among its listening ports.
    const open = reuseAllowed ? await findInspector(pid) : undefined;
    if (open === undefined) {
      throw new CliError(
        EXIT.failure,
        `process ${pid} has its inspector open already (${flags.inspectAtStart})${reuseAllowed ? ", but it was not found on any of its loopback ports" : "; not touched: --reuse-inspector uses it and leaves it open"}`,
      );
    }
    steps.say(`its inspector is open already on ${INSPECTOR_HOST}:${open} (${flags.inspectAtStart}): reusing it (it stays open)`);
    return { pid, port: open, reuse: true, dirs };
  }
  if (port === 0) {
    throw new CliError(
      EXIT.failure,
      `process ${pid} would open its inspector on a random port (--inspect-port=0): give it a fixed one; not signalled`,
    );
  }
  steps.say(
    `checked: a Node.js process (${exe ?? "executable unknown"}) of uid ${uid ?? "unknown"}, handling SIGUSR1, without a manhole; ${INSPECTOR_HOST}:${port} is free${given === undefined && flags.port !== undefined ? " (its --inspect-port)" : ""}`,
  );
  return { pid, port, reuse: false, dirs };
}

/**
 * Why the process cannot be reached from here though /proc shows it (it runs in a container):
 * another network namespace (its 127.0.0.1 is not ours: its inspector would open and stay
 * open out of reach), or a filesystem where this installation's agent is not.
 */
function otherNamespace(pid: number): string | undefined {
  const ns = (who: string, kind: string) => {
    try {
      return fs.readlinkSync(`/proc/${who}/ns/${kind}`);
    } catch {
      return undefined;
    }
  };
  const theirs = ns(String(pid), "net");
  if (theirs !== undefined && theirs !== ns("self", "net")) {
    return "is in another network namespace (a container?), where 127.0.0.1 is not ours: run manhole attach inside it (e.g. docker exec <container> npx manhole attach <pid there>)";
  }
  const root = `/proc/${pid}/root`;
  try {
    if (fs.realpathSync(root) !== "/" && !fs.existsSync(path.join(root, AGENT_ENTRY))) {
      return `does not see this manhole installation (${AGENT_ENTRY}) in its filesystem (a container?): run manhole attach inside it`;
    }
  } catch {
    // no access to its root: the load itself will tell
  }
  return undefined;
}

async function findInspector(pid: number): Promise<number | undefined> {
  for (const port of listeningPorts(pid)) {
    if (await inspectorTarget(port, 300)) return port;
  }
  return undefined;
}

/**
 * Opens the inspector (unless reused), evaluates `expression` (it answers `{ wrongPid }` when it
 * finds itself in another process), closes the inspector; resolves to the answer.
 */
async function throughInspector(p: Plan, expression: string, waitMs: number, steps: Steps): Promise<Record<string, unknown>> {
  loadWebSocket();
  const before = p.reuse ? [] : listeningPorts(p.pid); // to tell an inspector the signal opened elsewhere
  steps.start();
  const deadline = () => Date.now() + waitMs;
  if (!p.reuse) {
    try {
      process.kill(p.pid, "SIGUSR1");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ESRCH") throw new CliError(EXIT.noProcess, `no such process: ${p.pid}`);
      if (code === "EPERM") throw new CliError(EXIT.permission, `cannot send SIGUSR1 to process ${p.pid}: permission denied`);
      throw err;
    }
    steps.say(`sent SIGUSR1 to ${p.pid}`);
  }
  const target = await waitForInspector(p.port, deadline(), () => processExists(p.pid));
  if (!target) {
    if (!processExists(p.pid)) throw new CliError(EXIT.noProcess, `process ${p.pid} exited after SIGUSR1`);
    const elsewhere = await closeStrayInspector(p.pid, before, waitMs);
    throw new CliError(
      EXIT.timeout,
      `no inspector answered on ${INSPECTOR_HOST}:${p.port} within ${waitMs} ms of SIGUSR1${elsewhere ?? `: process ${p.pid} may run with --disable-sigusr1, have its inspector on another port, or have its main thread stuck`}`,
    );
  }
  steps.say(`inspector listening on ${INSPECTOR_HOST}:${p.port}`);
  let session: InspectorSession | undefined;
  let answer: Record<string, unknown> | undefined;
  let failure: unknown;
  let foreign = false;
  try {
    session = await InspectorSession.open(target.webSocketDebuggerUrl, waitMs);
    steps.say("connected to the inspector");
    answer = (await session.evaluate(expression, waitMs)) as Record<string, unknown>;
    if (typeof answer?.wrongPid === "number") {
      foreign = true;
      throw new CliError(
        EXIT.failure,
        `the inspector on ${INSPECTOR_HOST}:${p.port} is process ${answer.wrongPid}'s, not ${p.pid}'s: left alone, nothing loaded`,
      );
    }
    steps.say(`it is process ${p.pid}'s; ran the agent's ${expression.includes(".detach(") ? "detach" : "attach"} (${AGENT_ENTRY})`);
  } catch (err) {
    failure = err;
  }
  if (!p.reuse && !foreign) {
    // Evaluated in the target's main thread: its inspector stops listening and drops this session.
    session?.post("Runtime.evaluate", { expression: CLOSE_INSPECTOR, includeCommandLineAPI: true });
    const closed = await waitForPortClosed(p.port, deadline());
    if (closed) steps.say(`closed the inspector: ${INSPECTOR_HOST}:${p.port} was open for at most ${steps.since().toFixed(1)} ms`);
    else process.stderr.write(`manhole: WARNING: the inspector of process ${p.pid} still listens on ${INSPECTOR_HOST}:${p.port}\n`);
  } else if (p.reuse) {
    steps.say(`left its inspector open on ${INSPECTOR_HOST}:${p.port}, as it was`);
  }
  session?.close();
  if (failure !== undefined) {
    if (failure instanceof CliError) throw failure;
    throw new CliError(
      EXIT.failure,
      `could not load the agent into process ${p.pid}: ${failure instanceof Error ? failure.message : String(failure)}`,
    );
  }
  return answer ?? {};
}

/**
 * After SIGUSR1 opened no inspector where expected: one the signal opened on another port
 * (the app set process.debugPort, a wrong --inspect-port) is found among the process's new
 * listening ports, checked to be its own, and closed. Says what it found, or undefined.
 */
async function closeStrayInspector(pid: number, before: readonly number[], waitMs: number): Promise<string | undefined> {
  for (const port of listeningPorts(pid).filter((q) => !before.includes(q))) {
    const target = await inspectorTarget(port, 300);
    if (!target) continue;
    let session: InspectorSession | undefined;
    try {
      session = await InspectorSession.open(target.webSocketDebuggerUrl, waitMs);
      if ((await session.evaluate("process.pid", waitMs)) !== pid) continue;
      session.post("Runtime.evaluate", { expression: CLOSE_INSPECTOR, includeCommandLineAPI: true });
      const closed = await waitForPortClosed(port, Date.now() + waitMs);
      return closed
        ? `; it opened on ${INSPECTOR_HOST}:${port} instead (its process.debugPort): closed it again, nothing loaded (try --inspect-port ${port})`
        : `; it opened on ${INSPECTOR_HOST}:${port} instead, and could not be closed: it still listens there`;
    } catch {
      // not one we can use: look on
    } finally {
      session?.close();
    }
  }
  // Open before the signal (inspector.open() in the app, a debugger): said, not touched.
  for (const port of before) {
    if (await inspectorTarget(port, 300)) {
      return `; its inspector was open already, on ${INSPECTOR_HOST}:${port} (the app or a debugger opened it): not touched (--reuse-inspector --inspect-port ${port} uses it)`;
    }
  }
  return undefined;
}

/** Stops the target's inspector: evaluated in its main thread, which drops the session too. */
const CLOSE_INSPECTOR = "typeof process._debugEnd === 'function' ? process._debugEnd() : require('node:inspector').close()";

/** The expression evaluated in the target: checks its pid, finds a require (ESM apps too), calls the entry. */
function expressionFor(pid: number, call: string): string {
  const entry = JSON.stringify(AGENT_ENTRY);
  return `(() => {
  if (process.pid !== ${pid}) return { wrongPid: process.pid };
  const load = typeof require === "function" ? require
    : process.getBuiltinModule?.("node:module").createRequire(${entry})
    ?? (process.mainModule && ((id) => process.mainModule.require(id)));
  if (typeof load !== "function") throw new Error("found no require() in the process");
  return load(${entry}).${call};
})()`;
}

async function waitForListening(pid: number, socket: string, waitMs: number, steps: Steps): Promise<void> {
  const deadline = Date.now() + waitMs;
  const errorFile = attachErrorPathFor(socket);
  for (;;) {
    if ((await probeSocket(socket, 500)) === "live") return;
    const error = takeAttachError(errorFile);
    if (error !== undefined) throw new CliError(EXIT.failure, `the manhole did not start in process ${pid}: ${error}`);
    if (!processExists(pid)) throw new CliError(EXIT.noProcess, `process ${pid} exited`);
    if (Date.now() >= deadline) {
      throw new CliError(
        EXIT.timeout,
        `the agent is loaded in process ${pid}, but its manhole did not listen on ${socket} within ${steps.since().toFixed(0)} ms of the signal: it starts on the next turn of the event loop, so the loop may be blocked (it will listen once the loop turns: manhole attach ${pid} then connects; --detach removes it); any error is on the app's stderr`,
      );
    }
    await sleep(3);
  }
}

async function waitForRemoval(socket: string, pid: number, dirs: readonly string[], waitMs: number): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const descriptor = dirs.some((dir) => socketForPid(pid, dir) !== undefined);
    if (!fs.existsSync(socket) && !descriptor) return true;
    if (Date.now() >= deadline || !processExists(pid)) return false;
    await sleep(3);
  }
}

export async function attach(argv: string[]): Promise<number> {
  const args = parseArgs(argv, VALUED);
  const unknown = [...args.flags].find((f) => !(FLAGS as readonly string[]).includes(f));
  if (unknown) throw new UsageError(`unknown option --${unknown} (see manhole attach --help)`);
  if (args.positionals.length !== 1 || !/^\d+$/.test(args.positionals[0])) {
    throw new UsageError("attach needs one <pid> (see manhole attach --help)");
  }
  const pid = Number(args.positionals[0]);
  if (pid === process.pid) throw new UsageError("attach: that is this process");
  const detaching = args.flags.has("detach");
  const detachOnly = ["wait", "inspect-port", "detach", "reuse-inspector"];
  if (detaching && [...Object.keys(args.options), ...args.flags].some((k) => !detachOnly.includes(k))) {
    throw new UsageError("--detach takes only --wait, --inspect-port and --reuse-inspector");
  }
  const options = agentOptions(args);
  const waitMs = positive(args, "wait") ?? 3000;
  const steps = new Steps(`attach ${pid}`);

  const p = await plan(pid, args, steps, detaching);
  if (p.existing) {
    steps.say(`it has a manhole already (${p.existing}): no inspector opened${args.flags.has("no-connect") ? "" : "; connecting"}`);
    return finish(p.existing, args);
  }

  if (detaching) {
    const answer = await throughInspector(p, expressionFor(pid, "detach()"), waitMs, steps);
    if (answer.attached !== true) {
      throw new CliError(EXIT.failure, `process ${pid}'s manhole was not opened by manhole attach (the app started it): not removed`);
    }
    const socket = String(answer.path);
    if (!(await waitForRemoval(socket, pid, p.dirs, waitMs))) {
      throw new CliError(EXIT.timeout, `process ${pid}'s manhole was told to close, but ${socket} is still there after ${waitMs} ms`);
    }
    steps.say(`removed: the manhole is closed, ${socket} and its descriptor are gone`);
    return EXIT.ok;
  }

  const answer = await throughInspector(p, expressionFor(pid, `attach(${JSON.stringify(options)})`), waitMs, steps);
  const socket = String(answer.path);
  if (answer.already === true) steps.say("an earlier attach's manhole is still starting there");
  await waitForListening(pid, socket, waitMs, steps);
  steps.say(`manhole listening on ${socket} (node ${String(answer.node)})`);
  return finish(socket, args);
}

function finish(socket: string, args: ParsedArgs): Promise<number> | number {
  if (args.flags.has("no-connect")) {
    process.stdout.write(`${socket}\n`);
    return EXIT.ok;
  }
  return connect([socket]);
}

export const attachCommand: CliCommand = {
  name: "attach",
  summary: "a manhole in a running process that never loaded one (via its inspector)",
  help: attachHelp,
  run: attach,
};
