/**
 * What an operation declares about itself, and what it is given to run. One declaration gives
 * the dot-command (`.name args`), the structured request (`{op: "command", name, args}`), its
 * entry in `describe`, completion of its name and its line in `.help`.
 *
 * An operation's own file holds both of its halves: `run` on the socket side (the worker in
 * threaded mode), and optionally `main`, which runs on the main thread in the app's realm and
 * is reached from `run` through `ctx.callMain()` (one generic message over the relay). Nothing
 * here may import socket-side code: the context carries what the socket side offers.
 */
import type { FrameInfo } from "../../protocol/outcome.js";
import type { LoopInfo } from "../../protocol/structured.js";

/**
 * Where the work happens. "main-or-socket": on the main thread, with an answer from the socket
 * side while its loop is blocked: the operation's `whileBlocked`, or else its `main` half run in
 * the main thread's realm through the inspector (which answers while the loop is blocked in
 * JavaScript), so that `main` must then be self-contained (see `Operation.main`).
 */
export type RunsOn = "socket" | "main" | "main-or-socket";

export type ArgType = "string" | "number" | "boolean" | "duration";

export interface ArgSpec {
  name: string;
  type: ArgType;
  help: string;
  /** A duration written as a bare number is in this unit (default "ms"): `.loop 5` is 5 s with "s". */
  unit?: "ms" | "s";
  /** Absent: the argument is required. A boolean is also given as a flag: `--name`, `--no-name`. */
  default?: string | number | boolean;
}

export type ArgValues = Record<string, string | number | boolean | undefined>;

export interface OperationResult {
  /** For people: printed as is (without the prompt). */
  text?: string;
  /** For programs: the structured reply's `json`. */
  json?: unknown;
}

/**
 * `ctx.callMain()` of a "main-or-socket" operation with a `whileBlocked` answer: the main
 * thread's event loop is blocked (before the call, or while it waited). Uncaught, the action
 * path answers with `whileBlocked` instead; `run` may catch it to answer with what it has.
 */
export class MainBlocked extends Error {
  override name = "MainBlocked";
  constructor(readonly sinceMs: number) {
    super(`the main thread's event loop is blocked (for ${sinceMs} ms)`);
  }
}

/** An inspector session on the main thread, held for this operation alone (threaded mode only). */
export interface InspectorAccess {
  post<T = unknown>(method: string, params?: object): Promise<T>;
}

/** One of the app's worker threads, as `.workers` lists it (the manhole's own worker is never listed). */
export interface WorkerInfo {
  /** `require("node:worker_threads").threadId` inside it: what `.worker <id>` takes. */
  threadId: number;
  /** The `name` option it was started with ("" when none). */
  name: string;
  /** Its script: a path for a file, `(eval)` for `new Worker(code, { eval: true })`, else its URL. */
  file: string;
  /**
   * "idle": its event loop waits; "running": JavaScript was on its stack when sampled;
   * "blocked": JavaScript on its stack in two samples 100 ms apart with no idle time between;
   * "unresponsive": no answer from its inspector within 1 s (native code, or just starting).
   */
  state: "idle" | "running" | "blocked" | "unresponsive";
  /** Where it runs (running, blocked): its top frame. */
  frame?: FrameInfo;
  /** Since the worker started (its `performance.now()`); null when it did not answer. */
  uptimeMs: number | null;
  /** Its own V8 heap in use; null when it did not answer. */
  heapUsed: number | null;
  /** Manhole sessions evaluating in it now. */
  sessions: number;
}

/**
 * The app's worker threads, reached through the inspector's worker support (NodeWorker) from the
 * manhole's worker: threaded mode only. Nothing stays attached while no session lists or is in one.
 */
export interface WorkerThreadsAccess {
  list(): Promise<WorkerInfo[]>;
}

export interface OperationContext {
  args: ArgValues;
  /** The text after the name, as typed. */
  rawArgs: string;
  session: number;
  /** Ctrl-C, the structured interrupt, or the client leaving. */
  signal: AbortSignal;
  /** Streams text to the session while the operation runs. */
  write(text: string): void;
  /** The main thread's JavaScript stack, ready to print (works while its loop is blocked). */
  stack(): Promise<string>;
  /** undefined when the socket side shares the main thread and so cannot tell. */
  loopState(): LoopInfo | undefined;
  threaded: boolean;
  /**
   * Runs this operation's `main` half on the main thread with `input` (structured-cloneable both
   * ways). While the main thread's loop is blocked: a "main" operation says once that it waits
   * (through `write`) and keeps waiting until it answers or `signal` aborts; a "main-or-socket"
   * one rejects with MainBlocked when it declares `whileBlocked`, else runs `main` through the
   * inspector (input and value then JSON-like, and `MainContext.kept` absent).
   */
  callMain(input?: unknown): Promise<unknown>;
  /** Runs `fn` with the shared inspector session held exclusively; undefined without a worker. */
  withInspector?<T>(fn: (inspector: InspectorAccess) => Promise<T>): Promise<T>;
  /** The app's worker threads; undefined without a worker of the manhole's own (threaded: false). */
  workers?: WorkerThreadsAccess;
  /** The worker thread this session evaluates in (its thread id), or undefined: the main thread. */
  worker: number | undefined;
  /**
   * Moves this session into worker thread `threadId` (undefined: back to the main thread): its
   * evaluations, `.stack` and prompt then are that thread's. Rejects with a message for people
   * when there is no such worker, or without threaded mode. Reported in the reply (`session.worker`).
   */
  enterWorker(threadId: number | undefined): Promise<WorkerInfo | undefined>;
  /** Every operation, for those that list them. */
  operations: readonly Operation[];
  observeOnly: boolean;
  /** Human mode: drops a half-typed multi-line input. */
  clearInput(): void;
  /** Sets whether this session keeps inputs that wait for a blocked loop past the timeout (`.wait`). */
  keepWaiting(on: boolean): void;
  /** Ends this session (not the app) once the reply is sent. */
  leave(): void;
}

/** What the main-thread half gets besides its input. */
export interface MainContext {
  session: number;
  /**
   * The state this operation keeps on the main thread (its `keep.create()`), one per manhole:
   * created on first use (or when the manhole starts, with `keep.atStart`), disposed when the
   * manhole closes. Absent when `main` runs through the inspector (loop blocked).
   */
  kept?: unknown;
}

/** State an operation keeps on the main thread between calls (a subscription, a baseline). */
export interface KeptState {
  /** Created when the manhole starts rather than on first use (a baseline to compare with). */
  atStart?: boolean;
  create(): unknown;
  dispose?(state: unknown): void;
}

export interface Operation {
  name: string;
  /** One line, for `.help` and `describe`. */
  help: string;
  args: readonly ArgSpec[];
  runsOn: RunsOn;
  /** Runs in observe-only mode: it only looks, or manages the session itself. */
  observeSafe: boolean;
  /** Costs the app noticeably (profiles, snapshots): one heavy operation at a time per process. */
  heavy: boolean;
  /** Leaves the session's own state alone: may answer at once even while its input runs. */
  immediate?: boolean;
  /** Recognised even in the middle of a multi-line input (`.break`, `.exit`). */
  midInput?: boolean;
  /** About the session itself (`.help`, `.exit`, `.break`): no CLI subcommand. */
  sessionOnly?: boolean;
  run(ctx: OperationContext): Promise<OperationResult | undefined> | OperationResult | undefined;
  /**
   * The main-thread half, in the app's realm. Its return value crosses the relay (structured
   * clone). For a "main-or-socket" operation without `whileBlocked` it must be self-contained:
   * written as a function expression that uses only its input and globals (`process`,
   * `performance`), no imports or module names, since its source is what runs through the
   * inspector while the loop is blocked.
   */
  main?(input: unknown, ctx: MainContext): unknown;
  /** "main-or-socket": the socket side's answer while the main thread's loop is blocked. */
  whileBlocked?(ctx: OperationContext, blocked: MainBlocked): Promise<OperationResult | undefined> | OperationResult | undefined;
  /** State `main` keeps between calls (MainContext.kept). */
  keep?: KeptState;
}
