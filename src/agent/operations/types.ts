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
import type { Confirmation, LoopInfo } from "../../protocol/structured.js";

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
  /** A string argument that takes only these words (case-insensitive; given back as listed), besides its default. */
  choices?: readonly string[];
  /** Absent: the argument is required. A boolean is also given as a flag: `--name`, `--no-name`. */
  default?: string | number | boolean;
}

export type ArgValues = Record<string, string | number | boolean | undefined>;

export interface OperationResult {
  /** For people: printed as is (without the prompt). */
  text?: string;
  /** For programs: the structured reply's `json`. */
  json?: unknown;
  /** Nothing was done yet: the client is to confirm and repeat the request with `confirm.arg` set. */
  confirm?: Confirmation;
}

/** What an artifact is, for its client: see ArtifactFrame in protocol/structured.ts. */
export interface ArtifactMeta {
  /** A file name without directory, e.g. `profile-4242-20261201T144700Z.cpuprofile`. */
  name: string;
  mediaType: string;
  /**
   * Human mode (and a structured request that gives it): where on the app's side to write it
   * instead of the runtime directory. Ignored when empty.
   */
  output?: string;
  /** Also gives the artifact up when this aborts (by default only the client leaving does). */
  signal?: AbortSignal;
}

/** Where `produce` writes an artifact: a private (0600) temp file in the runtime directory. */
export interface ArtifactSink {
  readonly path: string;
  /** Appends synchronously (chunks that arrive while the main thread is frozen must not pile up in memory). */
  write(chunk: string | Uint8Array): void;
  /** Bytes written so far. */
  readonly bytes: number;
}

export interface ArtifactInfo {
  name: string;
  mediaType: string;
  size: number;
  sha256: string;
  /** Written on the app's side (human mode): where. Absent when streamed to the client. */
  path?: string;
}

/** The client left, or the artifact's own signal aborted: the artifact is gone (no file left behind). */
export class ArtifactCancelled extends Error {
  override name = "ArtifactCancelled";
}

/** An inspector session of the operation's own on the main thread; disconnected when the operation ends. */
export interface OwnInspector extends InspectorAccess {
  on(event: string, listener: (params: unknown) => void): void;
  disconnect(): void;
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

/** What a pause operation answers: `ok` false when nothing was paused, selected or resumed (the text says why). */
export interface PauseAnswer {
  ok: boolean;
  text: string;
  json?: unknown;
}

/** `.pause --at file:line --seconds N`. */
export interface PauseOptions {
  /** A line to stop at (1-based) of a loaded script: its path, or the end of its path (`server.js`). */
  at?: { file: string; line: number };
  /** With `at`: how long to wait for that line to run (default 30). */
  seconds?: number;
}

/**
 * The main thread held paused for this session (`.pause`): the inspector, from the worker. While
 * it is held, the session's inputs are evaluated in the selected frame.
 */
export interface PauseControl {
  /**
   * Stops the blocked main thread at the next statement its top frame runs (never wherever it
   * happens to be), and selects that frame. With `at` (`file:line`): a one-shot breakpoint
   * there instead, waited for up to `seconds` (or until the operation's signal aborts).
   */
  pause(options?: PauseOptions): Promise<PauseAnswer>;
  /** Selects frame `to` (0: the top), or the one above or below the selected one, and shows its locals. */
  select(to: number | "up" | "down"): Promise<PauseAnswer>;
  /** Lets the main thread go on. */
  resume(): Promise<PauseAnswer>;
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
  /**
   * Streams one observation (a watched call, a channel message) while the operation runs: human
   * mode prints `text` (a line), structured mode sends `{op: "event", id, event: kind, text, data}`.
   */
  event(kind: string, text: string, data: unknown): void;
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
   *
   * With `onEvent` the call streams: what `main` passes to `MainContext.event` arrives there, in
   * order, while `main` still runs (it answers when it is done). The "waiting" line is then only
   * written until the first event (the half has started). When `signal` aborts, `main`'s own
   * signal aborts too and its answer is still awaited for up to a second (so it can say how it
   * ended), then the call rejects.
   */
  callMain(input?: unknown, options?: { onEvent?: (data: unknown) => void }): Promise<unknown>;
  /** Runs `fn` with the shared inspector session held exclusively; undefined without a worker. */
  withInspector?<T>(fn: (inspector: InspectorAccess) => Promise<T>): Promise<T>;
  /**
   * A new inspector session on the main thread for this operation alone (Profiler,
   * HeapProfiler), so that a long profile holds nothing that `.stack` or an interrupt needs.
   * Its domains are the operation's to disable; the session is disconnected when it ends.
   */
  openInspector(): OwnInspector;
  /**
   * Makes an artifact and delivers it: `produce` writes it to a 0600 temp file in the runtime
   * directory (so that chunks arriving while the main thread is frozen never pile up in memory),
   * then it is streamed from that file to a structured client as artifact frames at the pace
   * the client reads, or (human mode, or `meta.output`) moved to its place on the app's side
   * and its path and size said. The temp file is gone on every path; rejects with
   * ArtifactCancelled when the client leaves (or `meta.signal` aborts) first.
   */
  artifact(meta: ArtifactMeta, produce: (sink: ArtifactSink) => Promise<void> | void): Promise<ArtifactInfo>;
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
  /** Threaded mode: pausing the main thread for this session (`.pause`, `.frame`, `.resume`). */
  pause?: PauseControl;
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

/**
 * What a session sets for itself on the main thread (`.ts on|off`): the evaluator reads it at
 * each input; it lives and dies with the session.
 */
export interface SessionPrefs {
  /** Strip TypeScript types from inputs that are not JavaScript (when a stripper is available). */
  typescript: boolean;
}

/** What the main-thread half gets besides its input. */
export interface MainContext {
  session: number;
  /** The session's own preferences, to read or change. Absent when `main` runs through the inspector (loop blocked). */
  prefs?: SessionPrefs;
  /**
   * Aborts when the socket side gives up on this call (Ctrl-C, the structured interrupt, the
   * client leaving), when the session closes and when the manhole closes. Absent through the inspector.
   */
  signal?: AbortSignal;
  /** Sends `data` (structured-cloneable) to the call's `onEvent` on the socket side at once. Absent through the inspector. */
  event?(data: unknown): void;
  /**
   * Evaluates `code` (an expression, no top-level await) in the session's scope, as its own input
   * would run, and returns the value; throws what it throws. Absent through the inspector.
   */
  evaluate?(code: string): unknown;
  /**
   * The state this operation keeps on the main thread (its `keep.create()`), one per manhole:
   * created on first use, disposed when the
   * manhole closes. Absent when `main` runs through the inspector (loop blocked).
   */
  kept?: unknown;
}

/** State an operation keeps on the main thread between calls (a subscription, a baseline). */
export interface KeptState {
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
  /** May throw ArgError (args.ts) for arguments its declaration cannot express: answered as bad arguments. */
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
  /** It produces a file through `ctx.artifact` (e.g. "a .cpuprofile"): the CLI then takes -o <file>. */
  artifact?: string;
}
