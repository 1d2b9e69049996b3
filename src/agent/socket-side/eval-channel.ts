/**
 * The socket side's handle on the evaluator: sends requests, routes output and results back
 * to the sessions that asked, and (in threaded mode) lets a watchdog give up on or terminate
 * an evaluation that runs too long.
 */

import type { Outcome } from "../../protocol/outcome.js";
import type { CallResult, FromEvaluator, ToEvaluator } from "../../protocol/relay.js";
import type { Auditor } from "../audit.js";

/** What every session on a channel must respect; set by whoever owns the sockets. */
export interface SessionPolicy {
  /** Evaluation and completion are refused; diagnostics still work (observe-only.ts). */
  observeOnly: boolean;
  /** Where sessions record what they do (audit.ts), if anywhere. */
  audit: Auditor | undefined;
}

export interface SessionSink {
  /** Output printed by manhole code; `requestId` is 0 between evaluations. */
  output(text: string, requestId: number): void;
  /** The main thread's loop turned after this session's output: that burst is over. */
  outputSettled?(): void;
}

const MAX_INPUTS = 500;
/** How long an aborted streaming call waits for its main half's own answer (how it ended). */
const STREAM_ABORT_GRACE_MS = 1000;
const MAX_INPUT_CHARS = 8 * 1024 * 1024;

interface Pending {
  session: number;
  resolve(outcome: Outcome): void;
}

export class EvalChannel {
  private nextId = 1;
  private readonly sinks = new Map<number, SessionSink>();
  private readonly pending = new Map<number, Pending>();
  private readonly calls = new Map<number, { done(r: CallResult): void; onEvent?: (data: unknown) => void }>();
  private readonly completing = new Map<number, (r: { items: string[]; prefix: string }) => void>();
  /** Recent inputs by id, newest last, so that a stack can show their frames where the user typed them. */
  private readonly inputs = new Map<number, string>();
  private inputChars = 0;

  constructor(
    private readonly send: (message: ToEvaluator) => void,
    readonly policy: SessionPolicy = { observeOnly: false, audit: undefined },
  ) {}

  open(session: number, sink: SessionSink): void {
    this.sinks.set(session, sink);
    this.send({ type: "session-open", session });
  }

  close(session: number): void {
    this.sinks.delete(session);
    this.send({ type: "session-close", session });
  }

  /** Starts an evaluation; `id` names it for interrupt and abandon. */
  evaluate(session: number, code: string, structured = false): { id: number; done: Promise<Outcome> } {
    const id = this.nextId++;
    const done = new Promise<Outcome>((resolve) => this.pending.set(id, { session, resolve }));
    this.remember(id, code);
    this.send({ type: "eval", id, session, code, structured });
    return { id, done };
  }

  /** The input of evaluation `id` (the code of its REPL<id> script), if it is among the recent ones. */
  inputOf(id: number): string | undefined {
    return this.inputs.get(id);
  }

  private remember(id: number, code: string): void {
    this.inputs.set(id, code);
    this.inputChars += code.length;
    // A function typed long ago can still be on the stack: keep many inputs, within a bound.
    while (this.inputs.size > MAX_INPUTS || (this.inputChars > MAX_INPUT_CHARS && this.inputs.size > 1)) {
      const [oldest, text] = this.inputs.entries().next().value as [number, string];
      this.inputs.delete(oldest);
      this.inputChars -= text.length;
    }
  }

  /** Completions for `text` from the session's scope on the main thread. */
  complete(session: number, text: string): Promise<{ items: string[]; prefix: string }> {
    const id = this.nextId++;
    const done = new Promise<{ items: string[]; prefix: string }>((resolve) => this.completing.set(id, resolve));
    this.send({ type: "complete", id, session, text });
    return done;
  }

  /**
   * Runs operation `op`'s main-thread half; rejects with what it threw, or when `signal` aborts
   * first. The abort reaches the half too (`call-abort`: its MainContext.signal). With `onEvent`
   * the call streams: the half's events arrive there, and an abort waits up to a second for the
   * half's own answer before it rejects.
   */
  call(session: number, op: string, input: unknown, signal?: AbortSignal, onEvent?: (data: unknown) => void): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      let grace: NodeJS.Timeout | undefined;
      const onAbort = () => {
        this.send({ type: "call-abort", id });
        if (!onEvent) {
          this.calls.delete(id);
          reject(new Error("interrupted"));
          return;
        }
        grace = setTimeout(() => {
          this.calls.delete(id);
          reject(new Error("interrupted"));
        }, STREAM_ABORT_GRACE_MS);
        grace.unref();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.calls.set(id, {
        onEvent,
        done: (r) => {
          clearTimeout(grace);
          signal?.removeEventListener("abort", onAbort);
          if (r.ok) resolve(r.value);
          else reject(Object.assign(new Error(r.error?.message ?? "failed"), { name: r.error?.name ?? "Error" }));
        },
      });
      this.send({ type: "call", id, session, op, input });
    });
  }

  /** Tells the main thread the interrupt is handled (delivered only once its loop turns again). */
  interruptDone(): void {
    this.send({ type: "interrupt-done" });
  }

  isRunning(id: number): boolean {
    return this.pending.has(id);
  }

  /** The session that asked for evaluation `id`, while it runs. */
  sessionOf(id: number): number | undefined {
    return this.pending.get(id)?.session;
  }

  /** Ends evaluation `id` now with `outcome`; the evaluator forgets it and a late result is dropped. */
  abandon(id: number, outcome: Outcome): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    this.send({ type: "eval-abandoned", id });
    p.resolve(outcome);
  }

  receive(message: FromEvaluator): void {
    if (message.type === "output") {
      this.sinks.get(message.session)?.output(message.text, message.id);
      return;
    }
    if (message.type === "output-settled") {
      this.sinks.get(message.session)?.outputSettled?.();
      return;
    }
    if (message.type === "call-result") {
      this.calls.get(message.id)?.done(message);
      this.calls.delete(message.id);
      return;
    }
    if (message.type === "call-event") {
      const onEvent = this.calls.get(message.id)?.onEvent;
      if (!onEvent) return;
      for (const data of message.events) {
        try {
          onEvent(data);
        } catch {
          // a fault in reporting one event must not reach the sender (the app's own call, inline)
        }
      }
      return;
    }
    if (message.type === "completions") {
      this.completing.get(message.id)?.({ items: message.items, prefix: message.prefix });
      this.completing.delete(message.id);
      return;
    }
    const p = this.pending.get(message.id);
    if (!p) return;
    this.pending.delete(message.id);
    p.resolve({ kind: message.kind, text: message.text, json: message.json, error: message.error });
  }
}

export type { Outcome } from "../../protocol/outcome.js";
