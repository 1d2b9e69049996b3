/**
 * What the socket side can do about the main thread beyond asking it to evaluate: watch an
 * evaluation's time, interrupt it, show the main thread's stack, tell whether its event loop
 * is blocked. Threaded mode implements it with a worker-side inspector session
 * (watchdog.ts); `threaded: false` gets the limited version below.
 */
import { awaitAbandoned, type BlockedAt, type Outcome } from "../../protocol/outcome.js";
import type { LoopState } from "../boundary/shared-memory.js";
import type { InspectorAccess, PauseAnswer, PauseOptions } from "../operations/types.js";
import type { EvalChannel } from "./eval-channel.js";
import type { WorkerThreads } from "./worker-threads.js";

export type { LoopState } from "../boundary/shared-memory.js";

/** What a session's evaluation is told while it waits for a blocked event loop. */
export interface WatchHooks {
  /** The input waits for a blocked loop: said once, at once. */
  blocked(at: BlockedAt): void;
  /** A line for the session while the evaluation goes on (kept waiting at the timeout). */
  note(text: string): void;
  /** Does the session keep a waiting input past the timeout (`.wait`)? */
  keepWaiting(): boolean;
}

export interface Supervisor {
  /** An evaluation was sent; returns the function that says it ended. */
  watch(id: number, hooks?: WatchHooks): () => void;
  /** Threaded mode: where the main thread is while its loop is blocked. */
  where?(): Promise<BlockedAt>;
  /** The client asked to stop evaluation `id` (0: none runs; stop runaway manhole code if any). Returns a note to print. */
  interrupt(id: number, session: number): Promise<string | undefined>;
  /** The main thread's JavaScript stack, ready to print. */
  stack(): Promise<string>;
  /** undefined when the socket side shares the main thread and so cannot tell. */
  loopState(): LoopState | undefined;
  /** Threaded mode: a session is open (the loop is watched closely) until the returned function is called. */
  attend?(): () => void;
  /** Threaded mode: the app's worker threads, through the inspector's worker support. */
  readonly workers?: WorkerThreads;
  /** Threaded mode: runs `fn` with the inspector session on the main thread held exclusively. */
  withInspector?<T>(fn: (inspector: InspectorAccess) => Promise<T>): Promise<T>;
  /**
   * Threaded mode: stops the main thread for `session` (`.pause`) at a statement, never wherever
   * it happens to be. `ended` is told when the pause ends other than by the session's own
   * `.resume` (the idle limit). `signal` ends a `.pause --at` that still waits.
   */
  pause?(session: number, ended: (text: string) => void, options?: PauseOptions, signal?: AbortSignal): Promise<PauseAnswer>;
  /** Selects a frame of the pause `session` holds. */
  selectFrame?(session: number, to: number | "up" | "down"): Promise<PauseAnswer>;
  /** Ends the pause `session` holds (`why`: said in the answer). */
  resumePaused?(session: number, why?: string): Promise<PauseAnswer>;
  /** The session that holds the main thread paused, if any. */
  pausedBy?(): number | undefined;
  /** Evaluates `code` in the selected frame of the pause `session` holds. */
  evaluateInFrame?(session: number, code: string): Promise<Outcome>;
  close(): void;
}

/** `threaded: false`: the evaluator times itself out; a blocked loop blocks us too. */
export class InlineSupervisor implements Supervisor {
  constructor(
    private readonly channel: EvalChannel,
    private readonly timeoutMs: number,
  ) {}

  watch(): () => void {
    return () => {};
  }

  async interrupt(id: number, _session: number): Promise<string | undefined> {
    // Only an awaiting evaluation can be interrupted here: synchronous code holds this thread.
    if (id) this.channel.abandon(id, { kind: "interrupted", text: awaitAbandoned("interrupt", this.timeoutMs) });
    return undefined;
  }

  async stack(): Promise<string> {
    return "The main thread's stack is only available in threaded mode (threaded: false is set).";
  }

  loopState(): LoopState | undefined {
    return undefined;
  }

  close(): void {}
}
