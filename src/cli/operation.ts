/**
 * `manhole <op> <pid|socket> [args] [--json]`: one subcommand per agent operation, made from
 * its declaration (the one `describe` gives): its help, its arguments, and `--all` fan-out.
 */
import fs from "node:fs";
import readline from "node:readline/promises";
import { operationDeclarations } from "../agent/index.js";
import type { CommandInfo, Confirmation } from "../protocol/structured.js";
import type { CpuProfile } from "../shared/cpu-profile.js";
import { formatDuration } from "../shared/duration.js";
import { runtimeDir } from "../shared/runtime-dir.js";
import { formatBytes } from "../shared/units.js";
import { UsageError } from "./args.js";
import { ArtifactReceiver, type ReceivedArtifact } from "./artifact-file.js";
import type { CliCommand } from "./cli-command.js";
import { ManholeClient, type TcpEndpoint } from "./client.js";
import { discover, selectApp } from "./discovery.js";
import { parseTimeout, resolveEndpoint } from "./endpoint.js";
import { CliError, EXIT } from "./errors.js";
import { flameGraphHtml, flameGraphSvg } from "./flame-graph.js";
import {
  FLEET_OPTIONS_HELP,
  FLEET_VALUED,
  type FleetTarget,
  fleetTargets,
  Limiter,
  normalizeFleetArgv,
  parseParallel,
  parseTargetTimeout,
} from "./fleet.js";
import { fanOut, type JsonlProcesses } from "./fleet-fanout.js";
import { isRemote } from "./remote.js";
import { table } from "./table.js";
import { TCP_FLAGS, TCP_OPTIONS_HELP, TCP_VALUED } from "./target.js";

type ArgInfo = CommandInfo["args"][number];

/** The CLI's own options; an argument of the operation with one of these names is written name=value. */
const CLI_VALUED = ["timeout", "signal", "app", ...TCP_VALUED, ...FLEET_VALUED] as const;
const CLI_FLAGS = ["json", "jsonl", "all", "help", ...TCP_FLAGS] as const;

/** Options of the CLI's own for one operation: done on the operator's side with what it received. */
interface LocalOption {
  name: string;
  help: string;
  run(artifacts: ReceivedArtifact[], value: string): string;
}

const LOCAL_OPTIONS: Record<string, LocalOption[]> = {
  profile: [
    {
      name: "flame",
      help: "also write a flame graph of the profile to <file>: self-contained HTML (hover, click to zoom, search; no network needed), or a static SVG when <file> ends in .svg",
      run(artifacts, file) {
        const cpu = artifacts.find((a) => a.name.endsWith(".cpuprofile"));
        if (!cpu) return "no .cpuprofile received: no flame graph";
        const profile = JSON.parse(fs.readFileSync(cpu.path, "utf8")) as CpuProfile;
        const title = `CPU profile ${cpu.name}`;
        const page = file.toLowerCase().endsWith(".svg") ? flameGraphSvg(profile, { title }) : flameGraphHtml(profile, { title });
        fs.writeFileSync(file, page, { mode: 0o600 });
        return `flame graph: ${file}`;
      },
    },
  ],
};

/** The CLI's own valued options for `op`: -o/--output for an operation that produces a file, and its local options. */
function localValued(op: CommandInfo): string[] {
  return [...(op.artifact ? ["output"] : []), ...(LOCAL_OPTIONS[op.name] ?? []).map((o) => o.name)];
}

function defaultText(a: ArgInfo): string {
  if (a.default === undefined) return "required";
  if (a.type === "duration" && typeof a.default === "number") return `default ${formatDuration(a.default, { compact: true })}`;
  if (a.type === "string" && a.default === "") return "default none";
  return `default ${String(a.default)}`;
}

function isTaken(a: ArgInfo, op?: CommandInfo): boolean {
  return (
    (CLI_FLAGS as readonly string[]).includes(a.name) ||
    (CLI_VALUED as readonly string[]).includes(a.name) ||
    (op !== undefined && localValued(op).includes(a.name))
  );
}

function argUsage(a: ArgInfo, op?: CommandInfo): string {
  const taken = isTaken(a, op);
  if (taken) return a.type === "boolean" ? `[${a.name}=yes]` : `[${a.name}=<${a.type}>]`;
  if (a.type === "boolean") return `[--${a.name}]`;
  return a.default === undefined ? `<${a.name}>` : `[${a.name}]`;
}

export function operationHelp(op: CommandInfo): string {
  const usage = op.args.map((a) => argUsage(a, op)).join(" ");
  const rows = op.args.map((a) => {
    const taken = isTaken(a, op);
    const note = taken ? `\n      (--${a.name} is the CLI's own option here: write ${a.name}=...)` : "";
    const kind =
      a.type === "boolean"
        ? taken
          ? `${a.name}=yes / ${a.name}=no`
          : `--${a.name} / --no-${a.name}`
        : `${argUsage(a, op)}, ${taken ? `${a.name}=<${a.type}>` : `--${a.name} <${a.type}>`}`;
    const type = a.choices ? `${a.choices.join(" | ")}` : a.type;
    return `  ${kind}\n      ${a.help} (${type}, ${defaultText(a)})${note}`;
  });
  return `Usage: manhole ${op.name} [options] <pid|socket|host:port>${usage ? ` ${usage}` : ""}
       manhole ${op.name} [options] --all${usage ? ` ${usage}` : ""}

${op.help}.
The same as .${op.name} in a session; runs ${op.runsOn === "socket" ? "in the manhole's worker" : op.runsOn === "main" ? "on the app's main thread (it waits while the event loop is blocked)" : "on the app's main thread, and answers from the manhole's side while the event loop is blocked"}${op.observeSafe ? "" : "; refused by an observe-only manhole"}.
${rows.length ? `\nArguments (positional in this order, or --name value, or name=value):\n${rows.join("\n")}\n` : ""}
Options:
${
  op.artifact
    ? `  -o, --output <file>  where to write ${op.artifact} on this side (default: the name the
                    agent suggests, in the current directory); it streams through the
                    connection, checked by its sha256 (output=<path> writes it on the app's side instead)
`
    : ""
}${(LOCAL_OPTIONS[op.name] ?? [])
  .map(
    (o) => `  --${o.name} <file>  ${o.help}
`,
  )
  .join("")}  --json            print the operation's JSON value (see docs/protocol.md)
                    (with --all: an array of {pid, app, ok, json, text})
  --all             every live manhole (see manhole ls): one row per process,
                    <pid> <app> <first line of the answer>, at most --parallel
                    (default 8) at a time${
                      op.artifact
                        ? ""
                        : `; with --ssh, --kube or --docker, every process of
                    every target (one transport per target), rows <host>/<pid>`
                    }
  --jsonl           with --all: JSON lines as the processes answer: first
                    {"processes": [{pid, app, state}]}, then {pid, app, ok, json, text}
                    per process (and {pid, event, data, text} for what it streams)
  --app <name>      with --all: only those of this app (package name or label; * matches anything)
  --timeout <ms>    give up after <ms>; exit 7
  --signal <SIG>    send SIG to the pid first and wait for its socket to appear
${TCP_OPTIONS_HELP}${
  op.artifact
    ? ""
    : `
With --all:
${FLEET_OPTIONS_HELP}`
}
  -h, --help        show this help

Ctrl-C asks the manhole to stop the operation and prints what it answers (exit 130);
a second Ctrl-C leaves at once. What an operation streams while it runs (.watch's calls)
is printed as it arrives: a line each, or with --json a JSON line {event, data} each,
before the final JSON value.

Exit codes: 0 ok, 1 the operation failed, 2 usage, 3 no such process, 4 no manhole there,
5 permission denied, 6 protocol version mismatch, 7 timeout, 130 interrupted (Ctrl-C).
`;
}

interface Split {
  cli: { positionals: string[]; options: Record<string, string>; flags: Set<string> };
  /** The operation's own arguments, as text for the agent to parse (its declaration decides). */
  opArgs: string[];
}

/** Separates the CLI's options and the target from the operation's arguments. */
function split(op: CommandInfo, argv: readonly string[]): Split {
  const cli: Split["cli"] = { positionals: [], options: {}, flags: new Set() };
  const opArgs: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    const m = /^--(no-)?([A-Za-z][\w-]*)(=.*)?$/.exec(word);
    const valued = [...CLI_VALUED, ...localValued(op)];
    if (word === "-h") {
      cli.flags.add("help");
    } else if (word === "-o" && op.artifact) {
      const value = argv[++i];
      if (value === undefined) throw new UsageError("option -o needs a file");
      cli.options.output = value;
    } else if (m && !m[1] && valued.includes(m[2])) {
      const value = m[3] !== undefined ? m[3].slice(1) : argv[++i];
      if (value === undefined) throw new UsageError(`option --${m[2]} needs a value`);
      cli.options[m[2]] = value;
    } else if (m && !m[1] && !m[3] && (CLI_FLAGS as readonly string[]).includes(m[2])) {
      cli.flags.add(m[2]);
    } else if (m) {
      const spec = op.args.find((a) => a.name === m[2]);
      if (!spec) throw new UsageError(`unknown option --${m[2]} (see manhole ${op.name} --help)`);
      opArgs.push(word);
      if (spec.type !== "boolean" && m[3] === undefined && !m[1]) {
        const value = argv[++i];
        if (value === undefined) throw new UsageError(`option --${m[2]} needs a value`);
        opArgs.push(value);
      }
    } else if (/^[A-Za-z][\w-]*=/.test(word)) {
      opArgs.push(word);
    } else {
      cli.positionals.push(word);
    }
  }
  return { cli, opArgs };
}

interface Answer {
  pid: number;
  ok: boolean;
  text: string;
  json?: unknown;
  /** Ctrl-C asked the agent to stop the operation (withInterrupt). */
  interrupted?: boolean;
  confirm?: Confirmation;
  artifacts: ReceivedArtifact[];
}

/** Connects, runs the operation, closes; within `timeoutMs` when given. */
export async function runOperation(
  socket: string,
  name: string,
  args: string,
  {
    timeoutMs,
    tcp,
    onOutput,
    onEvent,
    output,
  }: {
    timeoutMs?: number;
    tcp?: TcpEndpoint;
    onOutput?: (text: string) => void;
    /** What the operation streams as it runs (a watched call, a channel message). */
    onEvent?: (event: { event: string; text: string; data: unknown }) => void;
    /** Where the CLI writes the operation's artifacts (-o). */
    output?: string;
  } = {},
): Promise<Answer> {
  const client = await ManholeClient.connect(socket, { timeoutMs: timeoutMs ?? 5000, tcp });
  let timer: NodeJS.Timeout | undefined;
  let interrupted = false;
  const receiver = new ArtifactReceiver(output, onOutput);
  // Connected: the transport of a remote target has asked for whatever it needed on the terminal.
  const stopKeys = isRemote(socket) && ctrlCHook ? ctrlCAsKey(ctrlCHook) : () => {};
  try {
    interruptHook = () => {
      interrupted = true;
      void client.interrupt().catch(() => {});
    };
    discardHook = () => receiver.discard();
    const answer = client.command(name, args, onOutput, onEvent, (frame) => receiver.handle(frame));
    const r =
      timeoutMs === undefined
        ? await answer
        : await Promise.race([
            answer,
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new CliError(EXIT.timeout, `${socket}: timed out after ${timeoutMs} ms`)), timeoutMs);
            }),
          ]);
    if (receiver.failure) return { pid: client.info.pid, ok: false, text: receiver.failure, artifacts: receiver.received, interrupted };
    return {
      pid: client.info.pid,
      ok: r.ok,
      text: r.text,
      artifacts: receiver.received,
      interrupted,
      ...(r.json === undefined ? {} : { json: r.json }),
      ...(r.confirm ? { confirm: r.confirm } : {}),
    };
  } catch (err) {
    client.interrupt().catch(() => {});
    throw err;
  } finally {
    stopKeys();
    interruptHook = undefined;
    discardHook = undefined;
    receiver.discard();
    clearTimeout(timer);
    client.close();
    setTimeout(() => client.destroy(), 200).unref();
  }
}

const firstLine = (text: string) => text.split("\n", 1)[0];

type AllFormat = "table" | "json" | "jsonl";

async function runAll(
  op: CommandInfo,
  args: string,
  format: AllFormat,
  { timeoutMs, app, parallel }: { timeoutMs?: number; app?: string; parallel: number },
): Promise<number> {
  const found = await discover({ dir: runtimeDir() });
  const live = selectApp(found.live, app);
  if (live.length === 0)
    throw new CliError(EXIT.noManhole, `no live manholes in ${found.dir}${app === undefined ? "" : ` for --app ${app}`}`);
  const line = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
  if (format === "jsonl") line({ processes: live.map((e) => ({ pid: e.pid, app: e.app, state: e.state })) } satisfies JsonlProcesses);
  type Row = { pid: number; app: string; ok: boolean; json: unknown; text: string };
  const limiter = new Limiter(parallel);
  const rows: Row[] = await Promise.all(
    live.map(async (entry): Promise<Row> => {
      let row: Row;
      try {
        // Streamed events as they come, each prefixed with its process (a JSON line {pid, event, data} with --json).
        const onEvent = (e: { event: string; text: string; data: unknown }) =>
          format === "table"
            ? process.stdout.write(`${entry.pid}  ${e.text}\n`)
            : line({ pid: entry.pid, event: e.event, data: e.data, ...(format === "jsonl" ? { text: e.text } : {}) });
        const answer = await limiter.run(() => runOperation(entry.socket, op.name, args, { timeoutMs, onEvent }));
        row = { pid: entry.pid, app: entry.app, ok: answer.ok, json: answer.json ?? null, text: answer.text };
      } catch (err) {
        row = {
          pid: entry.pid,
          app: entry.app,
          ok: false,
          json: null,
          text: `manhole: ${err instanceof Error ? err.message : String(err)}`,
        };
      }
      if (format === "jsonl") line(row);
      return row;
    }),
  );
  if (format === "json") process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else if (format === "table") process.stdout.write(`${table(rows.map((r) => [String(r.pid), r.app, firstLine(r.text)]))}\n`);
  return rows.every((r) => r.ok) ? EXIT.ok : EXIT.failure;
}

/** `<op> --all` over a fleet: `manhole <op> --all --jsonl` on each target, rows tagged <target>/<pid>. */
async function runAllFleet(
  op: CommandInfo,
  words: string[],
  fleet: FleetTarget[],
  json: boolean,
  { timeoutMs, app, parallel, targetTimeoutMs }: { timeoutMs?: number; app?: string; parallel: number; targetTimeoutMs: number },
): Promise<number> {
  const rows = await fanOut(fleet, op.name, words, {
    timeoutMs,
    app,
    parallel,
    targetTimeoutMs,
    onEvent: (t, e) =>
      process.stdout.write(
        json
          ? `${JSON.stringify({ tag: `${t.tag}/${e.pid}`, pid: e.pid, event: e.event, data: e.data })}\n`
          : `${t.tag}/${e.pid}  ${e.text}\n`,
      ),
  });
  const out = rows.map((r) => ({
    target: r.target,
    tag: r.tag,
    pid: r.pid,
    app: r.app,
    ok: r.row?.ok === true,
    json: r.row?.json ?? null,
    text: r.row ? String(r.row.text ?? "") : `manhole: ${r.error?.message}`,
    ...(r.error ? { error: { name: "CliError", message: r.error.message, exitCode: r.error.exitCode } } : {}),
  }));
  if (json) process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  else process.stdout.write(`${table(out.map((r) => [r.tag, r.app, firstLine(r.text)]))}\n`);
  return out.every((r) => r.ok) ? EXIT.ok : EXIT.failure;
}

function commandFor(op: CommandInfo): CliCommand {
  return {
    name: op.name,
    summary: `.${op.name}: ${op.help.charAt(0).toLowerCase()}${op.help.slice(1)}`,
    help: operationHelp(op),
    async run(argv) {
      const { cli, opArgs } = split(op, normalizeFleetArgv(argv));
      const json = cli.flags.has("json");
      const all = cli.flags.has("all");
      const timeoutMs = parseTimeout(cli);
      const [target, ...rest] = all ? [undefined, ...cli.positionals] : cli.positionals;
      const words = [...(rest as string[]), ...opArgs];
      const args = words.join(" ");
      if (cli.flags.has("jsonl") && !all)
        throw new UsageError("--jsonl is for --all (one JSON line per process); use --json for one process");
      const format: AllFormat = cli.flags.has("jsonl") ? "jsonl" : json ? "json" : "table";
      if (all) {
        if (cli.options.signal) throw new UsageError("--signal needs one pid; it cannot be combined with --all");
        const parallel = parseParallel(cli);
        const fleet = await fleetTargets(cli);
        if (fleet) {
          if (op.artifact)
            throw new UsageError(`${op.name} streams a file: name one process (ssh://host/<pid> -o <file>), not --all over a fleet`);
          if (format === "jsonl")
            throw new UsageError("--jsonl is for this machine's manholes (what a fleet's far side prints); use --json");
          return runAllFleet(op, words, fleet, json, {
            timeoutMs,
            app: cli.options.app,
            parallel,
            targetTimeoutMs: parseTargetTimeout(cli),
          });
        }
        return runAll(op, args, format, { timeoutMs, app: cli.options.app, parallel });
      }
      const fleetOnly = FLEET_VALUED.find((o) => cli.options[o] !== undefined);
      if (fleetOnly)
        throw new UsageError(`--${fleetOnly === "selector" ? "kube -l" : fleetOnly} is for --all (see manhole ${op.name} --help)`);
      if (cli.options.app !== undefined) throw new UsageError(`--app selects among --all (see manhole ${op.name} --help)`);
      if (target === undefined) throw new UsageError(`${op.name} needs a <pid|socket> (or --all; see manhole ${op.name} --help)`);
      const { socket, tcp } = await resolveEndpoint(target, cli, timeoutMs ?? 5000);
      const run = (text: string) =>
        runOperation(socket, op.name, text, {
          timeoutMs,
          tcp,
          output: cli.options.output,
          onOutput: json ? undefined : (out) => process.stderr.write(out),
          // Events as they come: a line of text each, or with --json a JSON line each ({event, data}).
          onEvent: (e) => process.stdout.write(json ? `${JSON.stringify({ event: e.event, data: e.data })}\n` : `${e.text}\n`),
        });
      // Ctrl-C stops the operation (a profile then delivers what it sampled); a second one leaves at once.
      const answer = await withInterrupt(() => run(args));
      if (answer.ok && answer.confirm) {
        const { confirm } = answer;
        if (!(await confirmed(answer.text, confirm))) return EXIT.failure;
        return finish(await withInterrupt(() => run(`${args} --${confirm.arg}`)), op, cli.options, json);
      }
      return finish(answer, op, cli.options, json);
    },
  };
}

/**
 * Runs `fn` with SIGINT caught: the first Ctrl-C is passed on as the protocol's interrupt
 * (the connection stays, so what the operation still sends arrives), the second exits.
 */
async function withInterrupt<T>(fn: () => Promise<T>): Promise<T> {
  let count = 0;
  const onSigint = () => {
    count++;
    if (count > 1) {
      discardHook?.();
      process.exit(130);
    }
    process.stderr.write("(interrupting: the operation ends and delivers what it has; Ctrl-C again to leave at once)\n");
    interruptHook?.();
  };
  process.on("SIGINT", onSigint);
  ctrlCHook = onSigint;
  try {
    return await fn();
  } finally {
    ctrlCHook = undefined;
    process.off("SIGINT", onSigint);
  }
}

/** Set by withInterrupt: what a Ctrl-C does (as a signal or, for a remote target, a key). */
let ctrlCHook: (() => void) | undefined;

/**
 * Ctrl-C read as a key while an operation on a remote target runs in a terminal. The terminal
 * sends its SIGINT to the whole foreground process group, so the transport (ssh, kubectl,
 * docker: our children) would die of it, and the connection with it, before the interrupt we
 * send through that connection could stop the operation and bring back what it has (a profile's
 * samples). So, once connected, the terminal is put in raw mode (no signals from keys) and a
 * Ctrl-C byte on stdin is handled as SIGINT is; the mode is restored when the operation ends,
 * and at exit. Other keys are dropped, as a terminal's echo of them would be noise. Returns the
 * function that restores it; a no-op unless stdin is a terminal.
 */
function ctrlCAsKey(onCtrlC: () => void): () => void {
  const stdin = process.stdin;
  if (!stdin.isTTY) return () => {};
  const onData = (data: Buffer) => {
    for (const byte of data) if (byte === 0x03) onCtrlC();
  };
  const restore = () => {
    stdin.off("data", onData);
    stdin.setRawMode(false);
    stdin.pause();
  };
  stdin.setRawMode(true);
  stdin.on("data", onData);
  stdin.resume();
  process.once("exit", restore);
  return () => {
    process.off("exit", restore);
    restore();
  };
}

/** Set by runOperation while a request runs: sends its interrupt; removes a file half received. */
let interruptHook: (() => void) | undefined;
let discardHook: (() => void) | undefined;

/** Asks on a terminal; refuses (with how to go ahead) otherwise. */
async function confirmed(text: string, confirm: Confirmation): Promise<boolean> {
  process.stderr.write(`${text}\n`);
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    process.stderr.write(`not confirmed (no terminal to ask on): pass --${confirm.arg} to go ahead\n`);
    return false;
  }
  const rl = readline.createInterface({ input: process.stdin, output: process.stderr });
  try {
    const reply = await rl.question(`${confirm.question} [y/N] `);
    return /^y(es)?$/i.test(reply.trim());
  } finally {
    rl.close();
  }
}

function finish(answer: Answer, op: CommandInfo, options: Record<string, string>, json: boolean): number {
  if (!answer.ok) {
    process.stderr.write(`${answer.text}\n`);
    return EXIT.failure;
  }
  const lines = [json ? JSON.stringify(answer.json ?? null) : answer.text];
  for (const a of answer.artifacts) if (!json) lines.push(`wrote ${a.path} (${formatBytes(a.size)}, sha256 ${a.sha256})`);
  for (const local of LOCAL_OPTIONS[op.name] ?? []) {
    const value = options[local.name];
    if (value !== undefined) {
      const said = local.run(answer.artifacts, value);
      if (!json) lines.push(said);
    }
  }
  process.stdout.write(`${lines.join("\n")}\n`);
  // Ctrl-C ended it: what it had is printed (and written), and the exit code says it was cut short.
  return answer.interrupted ? EXIT.interrupted : EXIT.ok;
}

/** A subcommand for every operation that is not about the session itself. */
export function operationCommands(): CliCommand[] {
  return operationDeclarations()
    .filter((op) => !op.sessionOnly)
    .map(commandFor);
}
