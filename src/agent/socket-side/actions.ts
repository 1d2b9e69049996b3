/**
 * The one action path: evaluate, run an operation, complete, interrupt — each audited, checked
 * against observe-only and supervised here, once, for human and structured mode alike. The
 * modes only turn lines into these calls and outcomes into bytes.
 */
import { type BlockedAt, blockedText, type Outcome, type OutcomeKind } from "../../protocol/outcome.js";
import { formatDuration } from "../../shared/duration.js";
import { evalOutcome, type SessionAudit } from "../audit.js";
import { ArgError, argsFromObject, parseArgs } from "../operations/args.js";
import { OPERATIONS, operation } from "../operations/registry.js";
import {
  type ArgValues,
  MainBlocked,
  type Operation,
  type OperationContext,
  type OperationResult,
  type OwnInspector,
  type WorkerInfo,
} from "../operations/types.js";
import { type ArtifactFrameBody, makeArtifact } from "./artifacts.js";
import type { EvalChannel } from "./eval-channel.js";
import { openInspector } from "./own-inspector.js";
import type { Supervisor } from "./supervisor.js";
import type { WorkerEvaluation } from "./worker-threads.js";

const NOT_THREADED =
  "worker threads are reached through the manhole's own worker thread: this manhole runs with threaded: false (start it with threaded: true, the default)";

/** One heavy operation at a time in this process, whichever session asks: which, and since when. */
let heavyRunning: { name: string; since: number } | undefined;

/** How often a call to the main thread looks whether its loop is blocked. */
const BLOCKED_POLL_MS = 100;
/** How long the inspector may take to answer while the loop is blocked; longer means native code. */
const INSPECTOR_ANSWER_MS = 1000;

/** `--json` after any dot-command prints its JSON value instead of its text (unless it declares its own json argument). */
const JSON_FLAG = /(^|\s)--json(?=\s|$)/;

/** The source of an operation's self-contained `main` as an expression (a method shorthand is wrapped). */
function mainExpression(op: Operation): string {
  const source = String(op.main);
  return /^(async\s*)?(function\b|\(|[\w$]+\s*=>)/.test(source) ? source : `({${source}}).main`;
}

export interface ActionHost {
  session: number;
  channel: EvalChannel;
  supervisor: Supervisor;
  audit: SessionAudit;
  threaded: boolean;
  /** Human mode: drop a half-typed input (`.break`). */
  clearInput(): void;
  /** An evaluation or operation of this session ended (the idle limit counts from then). */
  settled?(): void;
  /** The worker thread this session was in has exited: the session is back on the main thread (say so). */
  workerExited?(threadId: number, text: string): void;
  /** The main thread this session paused was resumed without its asking (the pause's idle limit). */
  pauseEnded?(text: string): void;
}

/** Said to a session while its input waits: it waits for a blocked loop (once, at once), or a later note. */
export type WaitNotice = { kind: "blocked"; at: BlockedAt; text: string } | { kind: "note"; text: string };

/** What an interrupt did to the evaluation it was for. */
export type InterruptResult = "interrupted" | "cancelled" | "finished" | "not-stopped";

export interface OperationOutcome {
  kind: OutcomeKind | "unknown" | "busy" | "bad-args";
  text: string;
  json?: unknown;
  /** The operation asked to end the session (`.exit`). */
  leave: boolean;
  /** The operation dropped the half-typed input (`.break`). */
  clearedInput?: boolean;
  /** The operation moved the session to another thread (`.worker`): its thread id, or null for the main thread. */
  worker?: number | null;
  /** The operation that ran, when the name was known. */
  op?: Operation;
  /** It did nothing yet: the client is to confirm (OperationResult.confirm). */
  confirm?: OperationResult["confirm"];
}

export class Actions {
  /** The evaluation of this session that runs now (0: none), and its end. */
  private running = 0;
  private runningDone: Promise<Outcome> | undefined;
  /** `.wait`: an input that waits for a blocked loop is kept past the timeout instead of cancelled. */
  keepWaiting = false;
  private opAbort: AbortController | undefined;
  /** Every operation of this session under way (a structured client may run several at once). */
  private readonly opAborts = new Set<AbortController>();
  /** The session is gone (abandon): artifacts under way are given up. */
  private readonly gone = new AbortController();
  /** The worker thread this session evaluates in (`.worker`), undefined: the main thread. */
  private target: number | undefined;
  private stopWatchingExit: (() => void) | undefined;
  /** The evaluation of this session that runs in a worker now, with its id (negative, apart from the main thread's). */
  private workerRun: { id: number; evaluation: WorkerEvaluation; notify?: (notice: WaitNotice) => void } | undefined;
  private workerRunIds = 0;

  constructor(private readonly host: ActionHost) {}

  /** The worker thread this session is in (its thread id), or undefined for the main thread. */
  get worker(): number | undefined {
    return this.target;
  }

  get observeOnly(): boolean {
    return this.host.channel.policy.observeOnly;
  }

  /** Is an evaluation of this session running (started, not yet answered)? */
  get evaluating(): boolean {
    return this.running !== 0 || this.workerRun !== undefined;
  }

  /** Does this session hold the main thread paused (.pause)? Its inputs are then evaluated in the selected frame. */
  get paused(): boolean {
    return this.host.supervisor.pausedBy?.() === this.host.session;
  }

  /** Is an operation of this session running? */
  get operating(): boolean {
    return this.opAbort !== undefined && !this.opAbort.signal.aborted;
  }

  /** Evaluates one complete input. `started` learns its id as soon as it has one. */
  async evaluate(
    code: string,
    structured: boolean,
    started?: (id: number) => void,
    notify?: (notice: WaitNotice) => void,
    /** This input only: a worker thread's id, or "main" (default: where the session is). */
    where?: number | "main",
  ): Promise<Outcome> {
    const { audit, channel, supervisor, session } = this.host;
    const audited = audit.begin("eval", code);
    if (this.observeOnly) {
      audited("refused");
      return { kind: "refused", text: "" };
    }
    if (supervisor.evaluateInFrame && this.paused && where !== "main" && (where ?? this.target) === undefined) {
      const outcome = await supervisor
        .evaluateInFrame(session, code)
        .catch((err: unknown): Outcome => ({ kind: "error", text: `Uncaught ${err instanceof Error ? err.message : String(err)}` }));
      this.host.settled?.();
      audited(evalOutcome(outcome));
      return outcome;
    }
    const worker = where === "main" ? undefined : (where ?? this.target);
    if (worker !== undefined) {
      const outcome = await this.evaluateInWorker(worker, code, where !== undefined && where !== this.target, started, notify);
      audited(evalOutcome(outcome));
      return outcome;
    }
    const { id, done } = channel.evaluate(session, code, structured);
    this.running = id;
    this.runningDone = done;
    started?.(id);
    const stopWatching = supervisor.watch(id, {
      blocked: (at) => notify?.({ kind: "blocked", at, text: blockedText(at, formatDuration(at.blockedMs)) }),
      note: (text) => notify?.({ kind: "note", text }),
      keepWaiting: () => this.keepWaiting,
    });
    const outcome = await done;
    stopWatching();
    this.running = 0;
    this.host.settled?.();
    this.runningDone = undefined;
    audited(evalOutcome(outcome));
    return outcome;
  }

  /** An input evaluated in a worker thread; `visit`: the session is not in that worker, it goes in for this input alone. */
  private async evaluateInWorker(
    threadId: number,
    code: string,
    visit: boolean,
    started?: (id: number) => void,
    notify?: (notice: WaitNotice) => void,
  ): Promise<Outcome> {
    const workers = this.host.supervisor.workers;
    if (!workers) return { kind: "error", text: `manhole: ${NOT_THREADED}` };
    if (visit) {
      try {
        await workers.enter(threadId);
      } catch (err) {
        return { kind: "error", text: `manhole: ${err instanceof Error ? err.message : String(err)}` };
      }
    }
    try {
      const id = -++this.workerRunIds;
      // What the input prints in the worker comes to the session too (it still goes to the app's stdout).
      const evaluation = workers.evaluate(threadId, code, undefined, (text) => notify?.({ kind: "note", text }));
      this.workerRun = { id, evaluation, ...(notify ? { notify } : {}) };
      started?.(id);
      return await evaluation.done;
    } finally {
      this.workerRun = undefined;
      if (visit) workers.leave(threadId);
      this.host.settled?.();
    }
  }

  /** `.worker`: moves the session into a worker thread, or back to the main thread (undefined). */
  private async enterWorker(threadId: number | undefined): Promise<WorkerInfo | undefined> {
    const workers = this.host.supervisor.workers;
    if (!workers) throw new Error(NOT_THREADED);
    if (threadId === this.target) return threadId === undefined ? undefined : (await workers.list()).find((w) => w.threadId === threadId);
    let info: WorkerInfo | undefined;
    if (threadId !== undefined) info = await workers.enter(threadId);
    const before = this.target;
    this.target = threadId;
    if (before !== undefined) workers.leave(before);
    if (threadId !== undefined && !this.stopWatchingExit) {
      this.stopWatchingExit = workers.onExit((exited) => {
        if (exited !== this.target) return;
        this.target = undefined;
        workers.leave(exited);
        this.host.workerExited?.(exited, `manhole: worker ${exited} has exited; this session is back on the main thread`);
      });
    }
    return info;
  }

  async complete(text: string): Promise<{ items: string[]; prefix: string } | undefined> {
    if (this.observeOnly) return undefined;
    // The main thread's scope means nothing in a worker: there, only dot-commands complete.
    if (this.target !== undefined) {
      if (!/^\s*\.[\w-]*$/.test(text)) return { items: [], prefix: "" };
    }
    return this.host.channel.complete(this.host.session, text);
  }

  /**
   * Stops what this session runs: its operation, else its evaluation (0 or `evaluation`: the
   * running one). Resolves to what happened, and a note to print, if any.
   */
  async interrupt(
    evaluation?: number,
  ): Promise<{ stopped: "operation" | "evaluation" | "nothing"; note?: string; result?: InterruptResult }> {
    if (this.opAbort && !this.opAbort.signal.aborted) {
      this.opAbort.abort();
      return { stopped: "operation" };
    }
    const inWorker = this.workerRun;
    if (inWorker && (evaluation === undefined || evaluation === 0 || evaluation === inWorker.id)) {
      const note = await inWorker.evaluation.interrupt();
      if (note) {
        inWorker.notify?.({ kind: "note", text: note });
        return { stopped: "evaluation", note, result: "not-stopped" };
      }
      const outcome = await inWorker.evaluation.done;
      return {
        stopped: "evaluation",
        result: outcome.goesOn ? "not-stopped" : outcome.kind === "ok" || outcome.kind === "error" ? "finished" : "interrupted",
      };
    }
    const id = evaluation ?? this.running;
    if (id && id === this.running) {
      const done = this.runningDone;
      await this.host.supervisor.interrupt(id, this.host.session);
      // Every path of the supervisor's interrupt has ended the evaluation for its session by now
      // (its own result, or abandoned with a note): what it ended with says what the interrupt did.
      const outcome = await done;
      const result: InterruptResult | undefined = !outcome
        ? undefined
        : outcome.goesOn
          ? "not-stopped"
          : outcome.kind === "cancelled"
            ? "cancelled"
            : outcome.kind === "interrupted" || outcome.kind === "timeout"
              ? "interrupted"
              : "finished";
      return { stopped: "evaluation", ...(result ? { result } : {}) };
    }
    // Nothing of this session runs, but the loop may be held by an earlier input's async tail.
    const note = await this.host.supervisor.interrupt(0, this.host.session);
    return { stopped: "nothing", note };
  }

  /** Is `name` recognised in the middle of a multi-line input? */
  isMidInput(name: string): boolean {
    return operation(name)?.midInput === true;
  }

  /** Is `name` an operation that answers at once, even while this session's input runs? */
  isImmediate(name: string): boolean {
    const op = operation(name);
    return !!op?.immediate && (!this.observeOnly || op.observeSafe);
  }

  /**
   * Runs operation `name` with its arguments as typed (human) or as an object (structured).
   * `write` streams its text, `event` its observations (OperationContext.event); `stream` (structured mode)
   * takes its artifacts as frames; without it they are written on the app's side.
   */
  async operate(
    name: string,
    args: string | Record<string, unknown>,
    write: (text: string) => void,
    event: (kind: string, text: string, data: unknown) => void = (_kind, text) => write(`${text}\n`),
    stream?: (frame: ArtifactFrameBody) => Promise<void>,
  ): Promise<OperationOutcome> {
    const rawArgs = typeof args === "string" ? args : JSON.stringify(args);
    const audited = this.host.audit.begin("command", typeof args === "string" && args ? `.${name} ${args}` : `.${name}`);
    const op = operation(name);
    if (!op) {
      audited("error");
      return { kind: "unknown", text: `Unknown command: .${name} (type .help for the list)`, leave: false };
    }
    if (this.observeOnly && !op.observeSafe) {
      audited("refused");
      return { kind: "refused", text: "", leave: false, op };
    }
    let asJson = false;
    if (typeof args === "string" && JSON_FLAG.test(args) && !op.args.some((a) => a.name === "json")) {
      asJson = true;
      args = args.replace(JSON_FLAG, " ").trim();
    }
    let values: ArgValues;
    try {
      values = typeof args === "string" ? parseArgs(op.args, args) : argsFromObject(op.args, args);
    } catch (err) {
      audited("error");
      if (!(err instanceof ArgError)) throw err;
      return { kind: "bad-args", text: `.${name}: ${err.message}`, leave: false, op };
    }
    if (op.artifact && this.observeOnly && typeof values.output === "string" && values.output !== "") {
      // It would write a file wherever the app's user can (over the app's own code, say).
      audited("refused");
      return {
        kind: "bad-args",
        text: `.${name}: output= is refused in observe-only mode (the file goes to the runtime directory, or streams to the client)`,
        leave: false,
        op,
      };
    }
    if (op.heavy) {
      if (heavyRunning !== undefined) {
        audited("error");
        const runs = `.${heavyRunning.name} has been running for ${formatDuration(Date.now() - heavyRunning.since)}`;
        return { kind: "busy", text: `.${name}: ${runs} (one heavy operation at a time; try again when it ends)`, leave: false, op };
      }
      heavyRunning = { name: op.name, since: Date.now() };
    }
    let leave = false;
    let clearedInput = false;
    const wasIn = this.target;
    const abort = new AbortController();
    this.opAbort = abort;
    this.opAborts.add(abort);
    const inspectors: OwnInspector[] = [];
    const ctx = this.context(op, values, rawArgs, abort.signal, write, event, stream, inspectors, {
      leave: () => {
        leave = true;
      },
      clearInput: () => {
        clearedInput = true;
        this.host.clearInput();
      },
    });
    try {
      let result: OperationResult | undefined;
      try {
        result = await op.run(ctx);
      } catch (err) {
        if (!(err instanceof MainBlocked && op.whileBlocked) || abort.signal.aborted) throw err;
        result = await op.whileBlocked(ctx, err);
      }
      const kind: OutcomeKind = abort.signal.aborted ? "interrupted" : "ok";
      audited(kind === "ok" ? "ok" : "interrupted");
      const text = asJson && result?.json !== undefined ? JSON.stringify(result.json, null, 2) : result?.text;
      const moved = this.target !== wasIn ? { worker: this.target ?? null } : {};
      return {
        kind,
        text: text ?? (kind === "interrupted" ? "Interrupted" : ""),
        json: result?.json,
        leave,
        clearedInput,
        op,
        ...(result?.confirm ? { confirm: result.confirm } : {}),
        ...moved,
      };
    } catch (err) {
      const interrupted = abort.signal.aborted;
      audited(interrupted ? "interrupted" : "error");
      // Arguments that fit the declaration's types but not the operation (checked by its run).
      if (err instanceof ArgError && !interrupted) return { kind: "bad-args", text: `.${name}: ${err.message}`, leave, op };
      const why = err instanceof Error ? err.message : String(err);
      return { kind: interrupted ? "interrupted" : "error", text: interrupted ? "Interrupted" : `.${name} failed: ${why}`, leave, op };
    } finally {
      for (const inspector of inspectors) inspector.disconnect();
      if (this.opAbort === abort) this.opAbort = undefined;
      this.opAborts.delete(abort);
      if (op.heavy) heavyRunning = undefined;
      this.host.settled?.();
    }
  }

  /**
   * The session is gone: whatever it runs is of no use to anyone. An evaluation that holds the
   * event loop is stopped as a Ctrl-C would; one that awaits is left to end (and be audited).
   */
  abandon(): void {
    this.gone.abort();
    for (const abort of this.opAborts) abort.abort();
    this.stopWatchingExit?.();
    this.stopWatchingExit = undefined;
    if (this.target !== undefined) {
      this.host.supervisor.workers?.leave(this.target);
      this.target = undefined;
    }
    // A pause nobody is left to resume would hold the app for good.
    if (this.paused) void this.host.supervisor.resumePaused?.(this.host.session, "the session closed").catch(() => {});
    if (this.running && this.host.supervisor.loopState()?.blocked) {
      void this.host.supervisor.interrupt(this.running, this.host.session).catch(() => {});
    }
  }

  /** ctx.callMain(): the relay, watched for a blocked loop (see OperationContext.callMain). */
  private callMain(
    op: Operation,
    input: unknown,
    signal: AbortSignal,
    write: (text: string) => void,
    onEvent?: (data: unknown) => void,
  ): Promise<unknown> {
    const { channel, supervisor, session } = this.host;
    const fallback = op.runsOn === "main-or-socket";
    const now = supervisor.loopState();
    if (fallback && now?.blocked) return this.answerWhileBlocked(op, input, now.sinceMs);
    const relay = new AbortController();
    const onAbort = () => relay.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    return new Promise((resolve, reject) => {
      let noted = false;
      // A streaming half that has sent an event has started: the blocked loop is no longer something it waits for.
      const streamed = onEvent
        ? (data: unknown) => {
            noted = true;
            onEvent(data);
          }
        : undefined;
      const watch =
        now === undefined
          ? undefined
          : setInterval(() => {
              const loop = supervisor.loopState();
              if (!loop?.blocked) return;
              if (fallback) {
                clearInterval(watch);
                relay.abort();
                this.answerWhileBlocked(op, input, loop.sinceMs).then(resolve, reject);
              } else if (!noted) {
                noted = true;
                write(
                  `(waiting for the main thread: its event loop is blocked for ${formatDuration(loop.sinceMs)}; Ctrl-C stops waiting)\n`,
                );
              }
            }, BLOCKED_POLL_MS);
      channel
        .call(session, op.name, input, relay.signal, streamed)
        .then(resolve, (err: unknown) => {
          // Given up on for the blocked loop's answer: that answer settles the promise instead.
          if (signal.aborted || !relay.signal.aborted) reject(err);
        })
        .finally(() => {
          clearInterval(watch);
          signal.removeEventListener("abort", onAbort);
        });
    });
  }

  /** A "main-or-socket" call while the loop is blocked: MainBlocked for `whileBlocked`, else `main` through the inspector. */
  private async answerWhileBlocked(op: Operation, input: unknown, sinceMs: number): Promise<unknown> {
    const { supervisor } = this.host;
    if (op.whileBlocked || !op.main || !supervisor.withInspector) throw new MainBlocked(sinceMs);
    const expression = `(${mainExpression(op)})(${JSON.stringify(input ?? null)})`;
    return supervisor.withInspector(async (inspector) => {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), INSPECTOR_ANSWER_MS);
      });
      type Evaluated = { result?: { value?: unknown }; exceptionDetails?: { text?: string; exception?: { description?: string } } };
      const reply = await Promise.race([
        inspector.post<Evaluated>("Runtime.evaluate", { expression, returnByValue: true, silent: true, includeCommandLineAPI: true }),
        late,
      ]).finally(() => clearTimeout(timer));
      if (reply === "late") {
        throw new Error(
          `the main thread's event loop is blocked for ${formatDuration(supervisor.loopState()?.sinceMs ?? sinceMs)}, outside JavaScript (native code): it cannot answer until that returns`,
        );
      }
      if (reply.exceptionDetails) throw new Error(reply.exceptionDetails.exception?.description ?? reply.exceptionDetails.text ?? "failed");
      return reply.result?.value;
    });
  }

  private context(
    op: Operation,
    args: ArgValues,
    rawArgs: string,
    signal: AbortSignal,
    write: (text: string) => void,
    event: (kind: string, text: string, data: unknown) => void,
    stream: ((frame: ArtifactFrameBody) => Promise<void>) | undefined,
    inspectors: OwnInspector[],
    effects: { leave(): void; clearInput(): void },
  ): OperationContext {
    const { supervisor, session, threaded } = this.host;
    const workers = supervisor.workers;
    const inWorker = this.target;
    return {
      args,
      rawArgs,
      session,
      signal,
      write,
      event,
      stack: () => (inWorker !== undefined && workers ? workers.stack(inWorker) : supervisor.stack()),
      loopState: () => supervisor.loopState(),
      threaded,
      callMain: (input, options) => this.callMain(op, input, signal, write, options?.onEvent),
      ...(supervisor.withInspector ? { withInspector: supervisor.withInspector.bind(supervisor) } : {}),
      openInspector: () => {
        const inspector = openInspector(threaded);
        inspectors.push(inspector);
        return inspector;
      },
      artifact: (meta, produce) => makeArtifact(meta, produce, { stream, gone: this.gone.signal, write }),
      ...(workers ? { workers } : {}),
      worker: inWorker,
      enterWorker: (threadId) => this.enterWorker(threadId),
      ...(supervisor.pause && supervisor.selectFrame && supervisor.resumePaused
        ? {
            pause: {
              pause: (options) =>
                supervisor.pause?.(session, (text) => this.host.pauseEnded?.(text), options, signal) ??
                Promise.reject(new Error("no pause")),
              select: (to) => supervisor.selectFrame?.(session, to) ?? Promise.reject(new Error("no pause")),
              resume: () => supervisor.resumePaused?.(session) ?? Promise.reject(new Error("no pause")),
            },
          }
        : {}),
      operations: OPERATIONS,
      observeOnly: this.observeOnly,
      clearInput: effects.clearInput,
      keepWaiting: (on) => {
        this.keepWaiting = on;
      },
      leave: effects.leave,
    };
  }
}
