/** `manhole exec <pid|path> <code>` and `manhole exec --all <code>`: evaluate code in live processes. */
import { runtimeDir } from "../shared/runtime-dir.js";
import { parseArgs, UsageError } from "./args.js";
import type { CliCommand } from "./cli-command.js";
import { type EvalOutcome, ManholeClient, type TcpEndpoint } from "./client.js";
import { discover, type ManholeEntry, selectApp } from "./discovery.js";
import { parseTimeout, REMOTE_OPTIONS_HELP, resolveEndpoint } from "./endpoint.js";
import { CliError, EXIT } from "./errors.js";
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
import { table } from "./table.js";
import { TCP_FLAGS, TCP_OPTIONS_HELP, TCP_VALUED } from "./target.js";

export const execHelp = `Usage: manhole exec [options] <pid|socket> <code>
       manhole exec [options] <host:port> <code>
       manhole exec [options] <ssh://[user@]host[:port]/pid | kube://[ns/]pod[/container]/pid | docker://c/pid> <code>
       manhole exec [options] --all <code>
       manhole exec [options] --all --ssh <h1,h2,...> | --kube -l <selector> | ... <code>

Evaluates <code> in the process (as typed in a session) and prints the output it
streamed, then the result; exit 0. When the code throws, the error goes to stderr
and the exit code is 1. <code> "-" reads the code from stdin.

With --all, runs the code in every live manhole of the runtime directory, at most
--parallel (default 8) at a time, and prints one row per process: <pid> <app>
<first line of the result>; the exit code is 1 if any failed, 4 if there is no
live manhole.

With --all and --ssh, --kube or --docker, does the same on every process of every
target: one transport (one ssh login, one kubectl exec) per target, at most
--parallel targets at a time, runs "manhole exec --all --jsonl" there, which reaches
that target's processes at most --parallel at a time; rows are <host>/<pid>
(<pod>/<pid>, <container>/<pid>); a target that cannot be reached is one row of its
own; the exit code is 1 if any process or target failed.
Remote targets need manhole installed on the far side (see manhole connect --help).

Options:
  --json            print JSON: {pid, app, ok, value, text, error?, output}
                    (with --all: an array of them, formatted alike)
  --jsonl           with --all: JSON lines as the processes answer: first
                    {"processes": [{pid, app, state}]}, then one object (as --json's)
                    per process, in the order they answer
  --timeout <ms>    give up after <ms> (connecting and evaluating); exit 7
  --signal <SIG>    send SIG to the pid first and wait for its socket to appear
                    (for apps started with startManhole({ activateOn: SIG }));
                    SIGUSR1 is refused (it opens Node's inspector)
  --worker <id>     evaluate in the app's worker thread <id> (its threadId; see
                    manhole workers <pid>) instead of the main thread; not with --all
  --all             every live manhole (see manhole ls)
  --app <name>      with --all: only those of this app (package name or label; * matches
                    anything), also on a fleet's targets
  --parallel <n>    with --all: at most n processes at a time (default 8)
  --pause           while the process's event loop is blocked in JavaScript: stop
                    its main thread at the next statement it runs, evaluate <code>
                    in the top frame (its locals in scope), resume it, print the
                    result; exit 1 if it was not stopped (the loop turns, it is
                    in native code, or it reached no statement within 1 s)
${TCP_OPTIONS_HELP}
${REMOTE_OPTIONS_HELP}
With --all:
${FLEET_OPTIONS_HELP}
  -h, --help        show this help

Examples:
  manhole exec 4242 'process.memoryUsage().rss'
  echo 'app.cache.size' | manhole exec 4242 -
  manhole exec --signal SIGUSR2 4242 'app.config'
  manhole exec --all --json 'process.uptime()'
  manhole exec ssh://deploy@db1/4242 'process.memoryUsage().rss'
  manhole exec --all --ssh web1,web2,web3 'process.memoryUsage().rss'
  manhole exec --all --kube -l app=shop -n prod --parallel 16 'app.queue.length'
  manhole exec --pause 4242 'job.limit = 0'

Exit codes: 0 ok, 1 the code threw, 2 usage, 3 no such process, 4 no manhole there,
5 permission denied, 6 protocol version mismatch, 7 timeout, 8 remote target unreachable.
`;

export interface ExecResult {
  pid: number;
  /** The app's label, from the hello. */
  app: string;
  outcome: EvalOutcome;
  output: string;
}

function timeoutError(what: string, ms: number): CliError {
  return new CliError(EXIT.timeout, `${what}: timed out after ${ms} ms`);
}

/** Connects, evaluates, closes; everything within `timeoutMs` when given. */
export async function execOn(
  socket: string,
  code: string,
  {
    timeoutMs,
    onOutput,
    tcp,
    worker,
    pause,
  }: { timeoutMs?: number; onOutput?: (text: string) => void; tcp?: TcpEndpoint; worker?: number; pause?: boolean } = {},
): Promise<ExecResult> {
  const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
  let client: ManholeClient;
  try {
    client = await ManholeClient.connect(socket, { timeoutMs: timeoutMs ?? 5000, tcp });
    // A person at a terminal is told at once that the input waits for a blocked loop; scripts get only the result.
    if (process.stderr.isTTY) client.onBlocked = (text) => process.stderr.write(`manhole: ${text}\n`);
  } catch (err) {
    if (timeoutMs !== undefined && err instanceof CliError && err.exitCode === EXIT.timeout) throw timeoutError(socket, timeoutMs);
    throw err;
  }
  let output = "";
  const run = (): Promise<EvalOutcome> =>
    client.eval(
      code,
      (text) => {
        output += text;
        onOutput?.(text);
      },
      worker,
    );
  const evaluation = pause ? pausedEval(client, run) : run();
  let timer: NodeJS.Timeout | undefined;
  try {
    const outcome =
      deadline === undefined
        ? await evaluation
        : await Promise.race([
            evaluation,
            new Promise<never>((_, reject) => {
              timer = setTimeout(() => reject(timeoutError(socket, timeoutMs as number)), Math.max(0, deadline - Date.now()));
            }),
          ]);
    client.close();
    return { pid: client.info.pid, app: client.info.app, outcome, output };
  } catch (err) {
    // Ask the agent to stop the evaluation, then hang up.
    client.interrupt().catch(() => {});
    client.close();
    setTimeout(() => client.destroy(), 200);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/** Pauses the main thread, runs `run` (evaluated in the top frame), resumes: a refused pause is the outcome. */
async function pausedEval(client: ManholeClient, run: () => Promise<EvalOutcome>): Promise<EvalOutcome> {
  const paused = await client.command("pause");
  if (!paused.ok || (paused.json as { paused?: boolean } | undefined)?.paused !== true) return { ok: false, text: paused.text };
  try {
    return await run();
  } finally {
    await client.command("resume");
  }
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (d: string) => {
      text += d;
    });
    process.stdin.on("end", () => resolve(text));
    process.stdin.on("error", reject);
  });
}

/** One result as --json prints it, alone or in --all's array: {pid, app, ok, value, text, error?, output}. */
function resultJson(r: ExecResult): Record<string, unknown> {
  return {
    pid: r.pid,
    app: r.app,
    ok: r.outcome.ok,
    value: r.outcome.json === undefined ? null : r.outcome.json,
    text: r.outcome.text,
    ...(r.outcome.error ? { error: r.outcome.error } : {}),
    output: r.output,
  };
}

function firstLine(text: string): string {
  const line = text.split("\n", 1)[0];
  return text.includes("\n") ? `${line} …` : line;
}

/** A row of --all for a process that could not be reached or asked. */
function failedRow(pid: number | null, app: string, message: string | undefined, exitCode?: number): Record<string, unknown> {
  return {
    pid,
    app,
    ok: false,
    value: null,
    text: message,
    error: { name: "CliError", message, ...(exitCode === undefined ? {} : { exitCode }) },
    output: "",
  };
}

async function execAll(
  code: string,
  format: "table" | "json" | "jsonl",
  { timeoutMs, app, parallel }: { timeoutMs?: number; app?: string; parallel: number },
): Promise<number> {
  const found = await discover({ dir: runtimeDir() });
  const live = selectApp(found.live, app);
  if (live.length === 0)
    throw new CliError(EXIT.noManhole, `no live manholes in ${found.dir}${app === undefined ? "" : ` for --app ${app}`}`);
  type Row = { entry: ManholeEntry; result?: ExecResult; error?: string };
  const rowJson = (r: Row) => (r.result ? resultJson(r.result) : failedRow(r.entry.pid, r.entry.app, r.error));
  if (format === "jsonl") {
    const head: JsonlProcesses = { processes: live.map((e) => ({ pid: e.pid, app: e.app, state: e.state })) };
    process.stdout.write(`${JSON.stringify(head)}\n`);
  }
  const limiter = new Limiter(parallel);
  const rows: Row[] = await Promise.all(
    live.map(async (entry): Promise<Row> => {
      let row: Row;
      if (entry.state !== "responsive" && entry.state !== "blocked") row = { entry, error: entry.reason ?? entry.state };
      else {
        try {
          row = { entry, result: await limiter.run(() => execOn(entry.socket, code, { timeoutMs })) };
        } catch (err) {
          row = { entry, error: err instanceof Error ? err.message : String(err) };
        }
      }
      if (format === "jsonl") process.stdout.write(`${JSON.stringify(rowJson(row))}\n`);
      return row;
    }),
  );
  const failed = rows.some((r) => r.error !== undefined || !r.result?.outcome.ok);
  if (format === "json") {
    process.stdout.write(`${JSON.stringify(rows.map(rowJson), null, 2)}\n`);
  } else if (format === "table") {
    const cells = rows.map((r) => [String(r.entry.pid), r.entry.app, firstLine(r.result ? r.result.outcome.text : `manhole: ${r.error}`)]);
    process.stdout.write(`${table(cells)}\n`);
  }
  return failed ? EXIT.failure : EXIT.ok;
}

async function execAllFleet(
  fleet: FleetTarget[],
  code: string,
  format: "table" | "json",
  { timeoutMs, app, parallel, targetTimeoutMs }: { timeoutMs?: number; app?: string; parallel: number; targetTimeoutMs: number },
): Promise<number> {
  const rows = await fanOut(fleet, "exec", ["-"], { stdin: code, timeoutMs, app, parallel, targetTimeoutMs });
  const failed = rows.some((r) => r.error !== undefined || r.row?.ok !== true);
  const json = rows.map((r) => ({
    target: r.target,
    tag: r.tag,
    ...(r.row ?? failedRow(r.pid, r.app, r.error?.message, r.error?.exitCode)),
    app: r.app,
  }));
  if (format === "json") process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else {
    const cells = rows.map((r) => [r.tag, r.app, firstLine(r.row ? String(r.row.text ?? "") : `manhole: ${r.error?.message}`)]);
    process.stdout.write(`${table(cells)}\n`);
  }
  return failed ? EXIT.failure : EXIT.ok;
}

export async function exec(argv: string[]): Promise<number> {
  const args = parseArgs(normalizeFleetArgv(argv), ["timeout", "signal", "app", "worker", ...TCP_VALUED, ...FLEET_VALUED]);
  const unknown = [...args.flags].find(
    (f) => f !== "json" && f !== "jsonl" && f !== "all" && f !== "pause" && !(TCP_FLAGS as readonly string[]).includes(f),
  );
  if (unknown) throw new UsageError(`unknown option --${unknown} (see manhole exec --help)`);
  const json = args.flags.has("json");
  const all = args.flags.has("all");
  if (args.flags.has("jsonl") && !all) throw new UsageError("--jsonl is for --all (one JSON line per process); use --json for one process");
  const format = args.flags.has("jsonl") ? "jsonl" : json ? "json" : "table";
  const timeoutMs = parseTimeout(args);
  const signal = args.options.signal;

  const [first, ...rest] = args.positionals;
  const target = all ? undefined : first;
  const codeArgs = all ? args.positionals : rest;
  if (!all && target === undefined) throw new UsageError("exec needs a <pid|socket> and the <code> (see manhole exec --help)");
  if (codeArgs.length === 0) throw new UsageError("exec needs the <code> to evaluate (or - to read it from stdin)");
  if (all && signal) throw new UsageError("--signal needs one pid; it cannot be combined with --all");
  const workerText = args.options.worker;
  if (workerText !== undefined && !/^\d+$/.test(workerText))
    throw new UsageError(`--worker takes a thread id (a number, see manhole workers <pid>), not "${workerText}"`);
  if (all && workerText !== undefined) throw new UsageError("--worker names a thread of one process; it cannot be combined with --all");
  const worker = workerText === undefined ? undefined : Number(workerText);
  const pause = args.flags.has("pause");
  if (all && pause) throw new UsageError("--pause needs one pid; it cannot be combined with --all");
  if (pause && worker !== undefined) throw new UsageError("--pause pauses the main thread; it cannot be combined with --worker");
  const code = codeArgs.length === 1 && codeArgs[0] === "-" ? await readStdin() : codeArgs.join(" ");

  if (!all && args.options.app !== undefined) throw new UsageError("--app selects among --all (see manhole exec --help)");
  if (all) {
    const fleet = await fleetTargets(args);
    if (fleet) {
      if (format === "jsonl") throw new UsageError("--jsonl is for this machine's manholes (what a fleet's far side prints); use --json");
      return execAllFleet(fleet, code, format, {
        timeoutMs,
        app: args.options.app,
        parallel: parseParallel(args),
        targetTimeoutMs: parseTargetTimeout(args),
      });
    }
    return execAll(code, format, { timeoutMs, app: args.options.app, parallel: parseParallel(args) });
  }
  const fleetOnly = ["selector", "namespace", "parallel", "target-timeout"].find((o) => args.options[o] !== undefined);
  if (fleetOnly) throw new UsageError(`--${fleetOnly === "selector" ? "kube -l" : fleetOnly} is for --all (see manhole exec --help)`);

  const { socket, tcp } = await resolveEndpoint(target as string, args, timeoutMs ?? 5000);
  const result = await execOn(socket, code, {
    timeoutMs,
    tcp,
    worker,
    pause,
    onOutput: json ? undefined : (text) => process.stdout.write(text),
  });
  if (json) {
    process.stdout.write(`${JSON.stringify(resultJson(result), null, 2)}\n`);
  } else if (result.outcome.ok) {
    process.stdout.write(`${result.outcome.text}\n`);
  } else {
    process.stderr.write(`${result.outcome.text}\n`);
  }
  return result.outcome.ok ? EXIT.ok : EXIT.failure;
}

export const execCommand: CliCommand = {
  name: "exec",
  summary: "evaluate code in a process (or --all of them) and print the result",
  help: execHelp,
  run: exec,
};
