/**
 * `exec --all` and `<op> --all` over a fleet: one transport per target, which runs the same
 * subcommand with `--all --jsonl` on the far side, so that the far side's own fan-out reaches
 * that target's processes (one ssh login per host, not one per process). The far side streams
 * a line naming its processes, then a line per process as it answers (and its events), so
 * that a target that runs out of time keeps the rows it had sent.
 */
import { CliError, EXIT } from "./errors.js";
import { asCliError, type FleetTarget, Limiter } from "./fleet.js";
import { remoteUrl, startTransport } from "./remote.js";

/** The first line of `--all --jsonl`: the processes it is about to reach, in its order. */
export interface JsonlProcesses {
  processes: { pid: number; app: string; state: string }[];
}

/** A line of `--all --jsonl` for something a process streamed while it ran (a watched call). */
export interface JsonlEvent {
  pid: number;
  event: string;
  data: unknown;
  text: string;
}

/** One process of the fleet: the row its target sent, or why there is none. */
export interface FanOutRow {
  fleet: FleetTarget;
  /** The URL that reaches the process (`ssh://root@db1/4242`), or the target's for a target that failed. */
  target: string;
  /** `db1/4242`, or `db1` for a target that failed. */
  tag: string;
  pid: number | null;
  app: string;
  /** The far side's row for the process (its `--json` object). */
  row?: Record<string, unknown> & { ok?: boolean; text?: string };
  error?: CliError;
}

export interface FanOutOptions {
  /** Written to the far side's stdin (exec's code, read there as `-`). */
  stdin?: string;
  parallel: number;
  targetTimeoutMs: number;
  /** The far side's --timeout (each process's). */
  timeoutMs?: number;
  /** The far side's --app. */
  app?: string;
  onEvent?: (t: FleetTarget, e: JsonlEvent) => void;
}

async function runTarget(t: FleetTarget, args: string[], o: FanOutOptions): Promise<FanOutRow[]> {
  const transport = startTransport(t.location, args, t.url);
  transport.writable.end(o.stdin ?? "");
  let listed: JsonlProcesses["processes"] | undefined;
  const rows = new Map<number, NonNullable<FanOutRow["row"]>>();
  let pending = "";
  const take = (line: string) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return; // not ours (a login banner, say)
    }
    if (typeof value !== "object" || value === null) return;
    const v = value as Record<string, unknown>;
    if (Array.isArray(v.processes)) listed = (v as unknown as JsonlProcesses).processes.filter((p) => Number.isInteger(p?.pid));
    else if (typeof v.event === "string" && Number.isInteger(v.pid)) o.onEvent?.(t, v as unknown as JsonlEvent);
    else if (Number.isInteger(v.pid)) rows.set(v.pid as number, v as NonNullable<FanOutRow["row"]>);
  };
  transport.readable.setEncoding("utf8");
  transport.readable.on("data", (d: string) => {
    pending += d;
    let nl = pending.indexOf("\n");
    while (nl >= 0) {
      take(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
      nl = pending.indexOf("\n");
    }
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    transport.kill();
  }, o.targetTimeoutMs);
  const ended = await transport.ended;
  clearTimeout(timer);
  if (pending.trim() !== "") take(pending);
  const timeout = new CliError(EXIT.timeout, `${t.url}: timed out (--target-timeout ${o.targetTimeoutMs} ms)`);
  if (!listed) {
    if (timedOut) return [{ fleet: t, target: t.url, tag: t.tag, pid: null, app: "-", error: timeout }];
    // A target with no live manhole has no rows (as an empty listing has none).
    if (ended?.exitCode === EXIT.noManhole) return [];
    const error = ended ?? new CliError(EXIT.transport, `${t.url}: the far side's manhole printed no rows (is it an old manhole?)`);
    return [{ fleet: t, target: t.url, tag: t.tag, pid: null, app: "-", error }];
  }
  return listed.map((p) => {
    const row = rows.get(p.pid);
    const base = { fleet: t, target: remoteUrl(t.location, p.pid), tag: `${t.tag}/${p.pid}`, pid: p.pid, app: String(p.app ?? "?") };
    if (row) return { ...base, row };
    // Sent no row: the target ran out of time, or its transport ended first.
    const error = timedOut
      ? new CliError(EXIT.timeout, `${base.tag}: timed out (--target-timeout ${o.targetTimeoutMs} ms)`)
      : new CliError(ended?.exitCode ?? EXIT.transport, `${base.tag}: no answer (${ended?.message ?? "the far side ended first"})`);
    return { ...base, error };
  });
}

/**
 * `manhole <command> --all --jsonl ... <words>` on every target of the fleet, at most
 * `parallel` transports at a time: every process's row, in the fleet's order. A fleet of one
 * target that failed throws its error; a fleet without a live process throws "no live manholes".
 */
export async function fanOut(fleet: FleetTarget[], command: string, words: string[], o: FanOutOptions): Promise<FanOutRow[]> {
  const args = [
    command,
    "--all",
    "--jsonl",
    "--parallel",
    String(o.parallel),
    ...(o.timeoutMs === undefined ? [] : ["--timeout", String(o.timeoutMs)]),
    ...(o.app === undefined ? [] : ["--app", o.app]),
    ...words,
  ];
  const limiter = new Limiter(o.parallel);
  const perTarget = await Promise.all(
    fleet.map((t) =>
      limiter
        .run(() => runTarget(t, args, o))
        .catch((err: unknown): FanOutRow[] => [{ fleet: t, target: t.url, tag: t.tag, pid: null, app: "-", error: asCliError(err) }]),
    ),
  );
  const rows = perTarget.flat();
  if (fleet.length === 1 && rows.length === 1 && rows[0].pid === null && rows[0].error) throw rows[0].error;
  if (rows.length === 0) {
    const where = fleet.map((t) => t.url).join(", ");
    throw new CliError(EXIT.noManhole, `no live manholes on ${where}${o.app === undefined ? "" : ` for --app ${o.app}`}`);
  }
  return rows;
}
