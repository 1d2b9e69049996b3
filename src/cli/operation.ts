/**
 * `manhole <op> <pid|socket> [args] [--json]`: one subcommand per agent operation, made from
 * its declaration (the one `describe` gives): its help, its arguments, and `--all` fan-out.
 */
import { operationDeclarations } from "../agent/index.js";
import type { CommandInfo } from "../protocol/structured.js";
import { formatDuration } from "../shared/duration.js";
import { runtimeDir } from "../shared/runtime-dir.js";
import { UsageError } from "./args.js";
import type { CliCommand } from "./cli-command.js";
import { ManholeClient, type TcpEndpoint } from "./client.js";
import { discover, selectApp } from "./discovery.js";
import { parseTimeout, resolveEndpoint } from "./endpoint.js";
import { CliError, EXIT } from "./errors.js";
import { table } from "./table.js";
import { TCP_FLAGS, TCP_OPTIONS_HELP, TCP_VALUED } from "./target.js";

type ArgInfo = CommandInfo["args"][number];

/** The CLI's own options; an argument of the operation with one of these names is written name=value. */
const CLI_VALUED = ["timeout", "signal", "app", ...TCP_VALUED] as const;
const CLI_FLAGS = ["json", "all", "help", ...TCP_FLAGS] as const;

function defaultText(a: ArgInfo): string {
  if (a.default === undefined) return "required";
  if (a.type === "duration" && typeof a.default === "number") return `default ${formatDuration(a.default, { compact: true })}`;
  if (a.type === "string" && a.default === "") return "default none";
  return `default ${String(a.default)}`;
}

function argUsage(a: ArgInfo): string {
  const taken = (CLI_FLAGS as readonly string[]).includes(a.name) || (CLI_VALUED as readonly string[]).includes(a.name);
  if (taken) return a.type === "boolean" ? `[${a.name}=yes]` : `[${a.name}=<${a.type}>]`;
  if (a.type === "boolean") return `[--${a.name}]`;
  return a.default === undefined ? `<${a.name}>` : `[${a.name}]`;
}

export function operationHelp(op: CommandInfo): string {
  const usage = op.args.map(argUsage).join(" ");
  const rows = op.args.map((a) => {
    const taken = (CLI_FLAGS as readonly string[]).includes(a.name) || (CLI_VALUED as readonly string[]).includes(a.name);
    const note = taken ? `\n      (--${a.name} is the CLI's own option here: write ${a.name}=...)` : "";
    const kind =
      a.type === "boolean"
        ? taken
          ? `${a.name}=yes / ${a.name}=no`
          : `--${a.name} / --no-${a.name}`
        : `${argUsage(a)}, ${taken ? `${a.name}=<${a.type}>` : `--${a.name} <${a.type}>`}`;
    const type = a.choices ? `${a.choices.join(" | ")}` : a.type;
    return `  ${kind}\n      ${a.help} (${type}, ${defaultText(a)})${note}`;
  });
  return `Usage: manhole ${op.name} [options] <pid|socket|host:port>${usage ? ` ${usage}` : ""}
       manhole ${op.name} [options] --all${usage ? ` ${usage}` : ""}

${op.help}.
The same as .${op.name} in a session; runs ${op.runsOn === "socket" ? "in the manhole's worker" : op.runsOn === "main" ? "on the app's main thread (it waits while the event loop is blocked)" : "on the app's main thread, and answers from the manhole's side while the event loop is blocked"}${op.observeSafe ? "" : "; refused by an observe-only manhole"}.
${rows.length ? `\nArguments (positional in this order, or --name value, or name=value):\n${rows.join("\n")}\n` : ""}
Options:
  --json            print the operation's JSON value (see docs/protocol.md)
                    (with --all: an array of {pid, app, ok, json, text})
  --all             every live manhole (see manhole ls): one row per process,
                    <pid> <app> <first line of the answer>
  --app <name>      with --all: only those of this app (package name or label; * matches anything)
  --timeout <ms>    give up after <ms>; exit 7
  --signal <SIG>    send SIG to the pid first and wait for its socket to appear
${TCP_OPTIONS_HELP}
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
    if (word === "-h") {
      cli.flags.add("help");
    } else if (m && !m[1] && (CLI_VALUED as readonly string[]).includes(m[2])) {
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
  /** Ctrl-C asked the agent to stop the operation (interruptOnSigint). */
  interrupted?: boolean;
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
    interruptOnSigint,
  }: {
    timeoutMs?: number;
    tcp?: TcpEndpoint;
    onOutput?: (text: string) => void;
    /** What the operation streams as it runs (a watched call, a channel message). */
    onEvent?: (event: { event: string; text: string; data: unknown }) => void;
    /** The first Ctrl-C asks the agent to stop the operation (its answer still comes); a second one leaves at once. */
    interruptOnSigint?: boolean;
  } = {},
): Promise<Answer> {
  const client = await ManholeClient.connect(socket, { timeoutMs: timeoutMs ?? 5000, tcp });
  let timer: NodeJS.Timeout | undefined;
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    client.interrupt().catch(() => {});
  };
  if (interruptOnSigint) process.on("SIGINT", onSigint);
  try {
    const answer = client.command(name, args, onOutput, onEvent);
    const r =
      timeoutMs === undefined
        ? await answer
        : await Promise.race([
            answer,
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(new CliError(EXIT.timeout, `${socket}: timed out after ${timeoutMs} ms`)), timeoutMs);
            }),
          ]);
    return { pid: client.info.pid, ok: r.ok, text: r.text, ...(r.json === undefined ? {} : { json: r.json }), interrupted };
  } catch (err) {
    client.interrupt().catch(() => {});
    throw err;
  } finally {
    if (interruptOnSigint) process.removeListener("SIGINT", onSigint);
    clearTimeout(timer);
    client.close();
    setTimeout(() => client.destroy(), 200).unref();
  }
}

const firstLine = (text: string) => text.split("\n", 1)[0];

async function runAll(
  op: CommandInfo,
  args: string,
  json: boolean,
  timeoutMs: number | undefined,
  app: string | undefined,
): Promise<number> {
  const found = await discover({ dir: runtimeDir() });
  const live = selectApp(found.live, app);
  if (live.length === 0)
    throw new CliError(EXIT.noManhole, `no live manholes in ${found.dir}${app === undefined ? "" : ` for --app ${app}`}`);
  const rows = await Promise.all(
    live.map(async (entry) => {
      try {
        // Streamed events as they come, each prefixed with its process (a JSON line {pid, event, data} with --json).
        const onEvent = (e: { event: string; text: string; data: unknown }) =>
          process.stdout.write(
            json ? `${JSON.stringify({ pid: entry.pid, event: e.event, data: e.data })}\n` : `${entry.pid}  ${e.text}\n`,
          );
        return { entry, answer: await runOperation(entry.socket, op.name, args, { timeoutMs, onEvent }) };
      } catch (err) {
        return { entry, error: err instanceof Error ? err.message : String(err) };
      }
    }),
  );
  if (json) {
    const out = rows.map((r) =>
      r.answer
        ? { pid: r.entry.pid, app: r.entry.app, ok: r.answer.ok, json: r.answer.json ?? null, text: r.answer.text }
        : { pid: r.entry.pid, app: r.entry.app, ok: false, json: null, text: `manhole: ${r.error}` },
    );
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } else {
    const cells = rows.map((r) => [String(r.entry.pid), r.entry.app, r.answer ? firstLine(r.answer.text) : `manhole: ${r.error}`]);
    process.stdout.write(`${table(cells)}\n`);
  }
  return rows.every((r) => r.answer?.ok) ? EXIT.ok : EXIT.failure;
}

function commandFor(op: CommandInfo): CliCommand {
  return {
    name: op.name,
    summary: `.${op.name}: ${op.help.charAt(0).toLowerCase()}${op.help.slice(1)}`,
    help: operationHelp(op),
    async run(argv) {
      const { cli, opArgs } = split(op, argv);
      const json = cli.flags.has("json");
      const all = cli.flags.has("all");
      const timeoutMs = parseTimeout(cli);
      const [target, ...rest] = all ? [undefined, ...cli.positionals] : cli.positionals;
      const args = [...rest, ...opArgs].join(" ");
      if (all) {
        if (cli.options.signal) throw new UsageError("--signal needs one pid; it cannot be combined with --all");
        return runAll(op, args, json, timeoutMs, cli.options.app);
      }
      if (cli.options.app !== undefined) throw new UsageError(`--app selects among --all (see manhole ${op.name} --help)`);
      if (target === undefined) throw new UsageError(`${op.name} needs a <pid|socket> (or --all; see manhole ${op.name} --help)`);
      const { socket, tcp } = await resolveEndpoint(target, cli, timeoutMs ?? 5000);
      const answer = await runOperation(socket, op.name, args, {
        timeoutMs,
        tcp,
        onOutput: json ? undefined : (text) => process.stderr.write(text),
        // Events as they come: a line of text each, or with --json a JSON line each ({event, data}).
        onEvent: (e) => process.stdout.write(json ? `${JSON.stringify({ event: e.event, data: e.data })}\n` : `${e.text}\n`),
        interruptOnSigint: true,
      });
      if (!answer.ok) {
        process.stderr.write(`${answer.text}\n`);
        return EXIT.failure;
      }
      process.stdout.write(json ? `${JSON.stringify(answer.json ?? null)}\n` : `${answer.text}\n`);
      return answer.interrupted ? EXIT.interrupted : EXIT.ok;
    },
  };
}

/** A subcommand for every operation that is not about the session itself. */
export function operationCommands(): CliCommand[] {
  return operationDeclarations()
    .filter((op) => !op.sessionOnly)
    .map(commandFor);
}
