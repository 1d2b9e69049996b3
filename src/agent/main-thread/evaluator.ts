/**
 * Main-thread evaluation: each complete input runs in the app's own realm, inside a session
 * scope, with its output and errors routed to that session. Knows nothing of sockets; it
 * receives ToEvaluator messages and answers with FromEvaluator messages.
 */
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { types } from "node:util";
import vm from "node:vm";
import { awaitAbandoned, interruptedText, type OutcomeKind } from "../../protocol/outcome.js";
import type { CallRequest, EvalRequest, FromEvaluator, ToEvaluator } from "../../protocol/relay.js";
import type { ErrorInfo } from "../../protocol/structured.js";
import { awaitTermination, CELL, INTERRUPT, takeCancelled } from "../boundary/shared-memory.js";
import { operation, operationNames } from "../operations/registry.js";
import type { Operation, SessionPrefs } from "../operations/types.js";
import { complete } from "./completion.js";
import { asAgentCode, resetRunning, runAsManholeCode, tagPromise } from "./containment.js";
import { errorInfo, formatThrown, formatValue, rememberPositions, toJson } from "./format.js";
import { InterruptSignal, isInterruptSignal } from "./interrupt-signal.js";
import { parsesAsJavaScript, type Rewritten, rewrite } from "./rewrite.js";
import { constantMarker, createScope, declare, readPath } from "./scope.js";
import { createSessionGlobals } from "./session-globals.js";
import { looksTyped, stripperState, stripTypes } from "./typescript.js";

export interface EvaluatorOptions {
  namespace: Record<string, unknown>;
  shared: boolean;
  maxOutputBytes: number;
  /** Interrupt synchronous code after this many ms with vm's watchdog; 0 when a worker watches instead. */
  syncTimeout: number;
  /** Give the prompt back after this many ms of awaiting; 0 when a worker decides instead. */
  asyncTimeout: number;
  /** The evaluation timeout, for messages. */
  timeout: number;
  /** Threaded mode: the cells shared with the worker (supervisor.ts CELL), the interrupt flag among them. */
  interruptCells?: Int32Array;
  emit(message: FromEvaluator): void;
}

interface SessionState {
  id: number;
  own: Record<string, unknown>;
  constants: Set<string>;
  markConstant: (...names: string[]) => void;
  /** The check manhole code of this session runs at every loop iteration and function call. */
  tick: () => void;
  /** `process.nextTick` in this session's code: the callback's throw is reported to the session. */
  nextTick: (fn: (...args: unknown[]) => void, ...args: unknown[]) => void;
  builtins: Record<string, unknown>;
  scope: object;
  prefs: SessionPrefs;
  /** Request being evaluated, or 0. */
  current: number;
  budget: number;
  cut: boolean;
  /** An output-settled message is due at the loop's next turn. */
  settling: boolean;
  write(text: string): void;
  /** Where a throw or rejection of this session's code goes: the session, or stderr once it has closed. */
  report(text: string): void;
}

export interface InFlight {
  session: number;
  code: string;
  /** ISO time it started. */
  time: string;
  /** performance.now() when it started. */
  started: number;
}

/** An input made ready to run: rewritten, and how its positions map back to what was typed. */
interface Prepared {
  rewritten: Rewritten;
  position: (line: number, column: number) => [number, number];
  /** Its TypeScript types were stripped first. */
  typescript: boolean;
}

/** The hint for TypeScript input when no stripper is here. */
const NO_STRIPPER_HINT =
  "(this looks like TypeScript: stripping types needs Node 22.13+ (module.stripTypeScriptTypes) or the package amaro installed beside manhole)";

type Runner = (
  scope: object,
  code: string,
  importHelper: (specifier: unknown, options?: unknown) => Promise<unknown>,
  tick: () => void,
  markConstant: (...names: string[]) => void,
  nextTick: SessionState["nextTick"],
) => unknown;

let runner: Runner | undefined;
/**
 * threaded:false runs code through a script so that vm's timeout applies. The script calls
 * `slot.fn`, one hidden global property for the process's life whose value changes: defining
 * and deleting a global for each evaluation would cost more than the evaluation itself.
 */
let timed: { script: vm.Script; slot: { fn: (() => unknown) | undefined } } | undefined;

function getRunner(): Runner {
  runner ??= vm.runInThisContext(
    "(function (__mh_scope, __mh_code, __mh_import, __mh_tick, __mh_const, __mh_nextTick) { with (__mh_scope) { return eval(__mh_code) } })",
    {
      filename: "manhole-runner",
    },
  ) as Runner;
  return runner;
}

/** import() for manhole code: relative specifiers resolve against the app's working directory. */
function importHelper(specifier: unknown, options?: unknown): Promise<unknown> {
  let spec = specifier;
  if (typeof spec === "string" && (spec.startsWith("./") || spec.startsWith("../"))) {
    spec = pathToFileURL(path.resolve(process.cwd(), spec)).href;
  }
  return options === undefined ? import(spec as string) : import(spec as string, options as ImportCallOptions);
}

const encoder = new TextEncoder();
/** How long an evaluation's end waits for a termination the worker is sending it (it lands within milliseconds). */
const TERMINATION_WAIT_MS = 2000;

export class Evaluator {
  private readonly sessions = new Map<number, SessionState>();
  private readonly sharedOwn: Record<string, unknown> = Object.create(null);
  private readonly sharedConstants = new Set<string>();

  /** Operation calls whose main-thread half still runs: aborted by call-abort, their session's close, or close(). */
  private readonly calls = new Map<number, { session: number; abort: AbortController }>();

  /** What operations keep on this thread between calls (Operation.keep), by operation name. */
  private readonly kept = new Map<string, { state: unknown; op: Operation }>();

  /** How an evaluation starts and how its code is called: fixed by the serving mode, once, here. */
  private readonly evaluate: (req: EvalRequest) => void;
  private readonly call: (s: SessionState, code: string) => unknown;
  /** Messages to the socket side go out as the agent's own code: nothing they start is manhole work. */
  private readonly emit: (message: FromEvaluator) => void;

  constructor(private readonly options: EvaluatorOptions) {
    const cells = options.interruptCells;
    this.evaluate = cells ? (req) => this.evaluateShared(req, cells) : (req) => this.run(req);
    this.call = options.syncTimeout > 0 ? (s, code) => this.callTimed(s, code) : (s, code) => this.callDirect(s, code);
    this.emit = (message) => asAgentCode(() => options.emit(message));
  }

  private keptFor(op: Operation): unknown {
    if (!op.keep) return undefined;
    let k = this.kept.get(op.name);
    if (!k) {
      k = { state: op.keep.create(), op };
      this.kept.set(op.name, k);
    }
    return k.state;
  }

  /** The manhole closes: operations let go of what they kept (subscriptions, histograms). */
  close(): void {
    for (const { abort } of this.calls.values()) abort.abort("manhole-closed");
    this.calls.clear();
    for (const { state, op } of this.kept.values()) {
      try {
        op.keep?.dispose?.(state);
      } catch {
        // disposing is best effort; the manhole closes anyway
      }
    }
    this.kept.clear();
  }

  /**
   * Without a worker, nobody can raise the interrupt flag while manhole code holds the thread:
   * the checks compare the clock with the earliest deadline of the running evaluations instead.
   */
  private readonly deadlines = new Map<number, number>();
  /** Evaluations not yet answered, for the audit log when the process exits during one. */
  private readonly running = new Map<number, InFlight>();

  /** Evaluations under way right now (e.g. the one calling process.exit()). */
  inFlight(): InFlight[] {
    return [...this.running.values()];
  }
  private earliest = Number.POSITIVE_INFINITY;

  /** The check at the top of every loop and function body of the manhole code of `session`. */
  private tickFor(session: number): () => void {
    return () => {
      const cells = this.options.interruptCells;
      if (cells) {
        const reason = Atomics.load(cells, CELL.flag);
        if (reason === INTERRUPT.none) return;
        const scope = Atomics.load(cells, CELL.scope);
        if (scope === 0 || scope === session) {
          Atomics.store(cells, CELL.stopped, 1);
          throw new InterruptSignal(reason);
        }
      } else if (this.earliest !== Number.POSITIVE_INFINITY && performance.now() > this.earliest) {
        throw new InterruptSignal(INTERRUPT.timeout);
      }
    };
  }

  private setDeadline(id: number, at: number | undefined): void {
    if (at === undefined) this.deadlines.delete(id);
    else this.deadlines.set(id, at);
    this.earliest = Math.min(Number.POSITIVE_INFINITY, ...this.deadlines.values());
  }

  /** `Uncaught ...`, or the plain interrupt message for an evaluation we stopped. */
  private failure(err: unknown): string {
    if (isInterruptSignal(err)) return interruptedText(err.reason === INTERRUPT.timeout, this.options.timeout);
    return `Uncaught ${formatThrown(err)}`;
  }

  /** How an evaluation that threw `err` ended. */
  private failureKind(err: unknown): OutcomeKind {
    if (!isInterruptSignal(err)) return "error";
    return err.reason === INTERRUPT.timeout ? "timeout" : "interrupted";
  }

  /** Handles one message. Never throws: a fault of ours must not become the app's uncaught exception. */
  handle(message: ToEvaluator): void {
    try {
      this.dispatch(message);
    } catch (err) {
      if (message.type !== "eval") return;
      let why = "unknown";
      try {
        why = String(err);
      } catch {
        // unprintable
      }
      const s = this.sessions.get(message.session);
      if (s) this.finish(s, message.id, "error", `manhole internal error: ${why}`);
    }
  }

  private dispatch(message: ToEvaluator): void {
    switch (message.type) {
      case "session-open":
        this.session(message.session);
        break;
      case "session-close":
        this.sessions.delete(message.session);
        for (const [id, c] of this.calls) {
          if (c.session !== message.session) continue;
          this.calls.delete(id);
          c.abort.abort("session-closed");
        }
        break;
      case "eval":
        this.evaluate(message);
        break;
      case "complete": {
        const s = this.session(message.session);
        const scope = { own: s.own, builtins: s.builtins, namespace: this.options.namespace };
        const { items, prefix } = complete(message.text, scope, operationNames());
        this.emit({ type: "completions", id: message.id, session: message.session, items, prefix });
        break;
      }
      case "call":
        this.callOperation(message);
        break;
      case "call-abort": {
        const c = this.calls.get(message.id);
        this.calls.delete(message.id);
        c?.abort.abort("interrupted");
        break;
      }
      case "interrupt-done":
        if (this.options.interruptCells) Atomics.store(this.options.interruptCells, CELL.flag, INTERRUPT.none);
        break;
      case "eval-abandoned":
        this.running.delete(message.id);
        // A terminated evaluation never unwound its bookkeeping: nothing of ours runs now.
        resetRunning();
        if (this.options.interruptCells) {
          Atomics.compareExchange(this.options.interruptCells, CELL.sync, message.id, 0);
          Atomics.compareExchange(this.options.interruptCells, CELL.terminating, message.id, 0);
        }
        this.setDeadline(message.id, undefined);
        for (const s of this.sessions.values()) if (s.current === message.id) s.current = 0;
        break;
    }
  }

  /** An operation's main-thread half: its value (awaited when a promise) or what it threw, never the app's problem. */
  private callOperation(req: CallRequest): void {
    // Events are sent once the synchronous burst that made them is over (a loop of watched calls is one message).
    let queued: unknown[] | undefined;
    const flush = () => {
      const events = queued;
      queued = undefined;
      if (events && this.calls.has(req.id)) this.emit({ type: "call-event", id: req.id, session: req.session, events });
    };
    const event = (data: unknown) => {
      if (!this.calls.has(req.id)) return;
      if (!queued) {
        queued = [];
        queueMicrotask(() => {
          try {
            flush();
          } catch {
            // not cloneable: those events are lost, the call goes on
          }
        });
      }
      queued.push(data);
    };
    const answer = (r: { ok: true; value: unknown } | { ok: false; error: unknown }) => {
      try {
        flush();
      } catch {
        // as above
      }
      this.calls.delete(req.id);
      const base = { type: "call-result" as const, id: req.id, session: req.session };
      if (r.ok) {
        try {
          this.emit({ ...base, ok: true, value: r.value });
          return;
        } catch (err) {
          r = { ok: false, error: err }; // not cloneable
        }
      }
      this.emit({ ...base, ok: false, error: errorInfo(r.error) });
    };
    const op = operation(req.op);
    const half = op?.main;
    if (!op || !half) {
      answer({ ok: false, error: new Error(`no main-thread half for .${req.op}`) });
      return;
    }
    const abort = new AbortController();
    this.calls.set(req.id, { session: req.session, abort });
    const evaluate = (code: string) => this.evaluateExpression(req.session, code);
    let value: unknown;
    try {
      value = half.call(op, req.input, {
        session: req.session,
        kept: this.keptFor(op),
        signal: abort.signal,
        event,
        evaluate,
        prefs: this.session(req.session).prefs,
      });
    } catch (err) {
      answer({ ok: false, error: err });
      return;
    }
    if (types.isPromise(value))
      value.then(
        (v) => answer({ ok: true, value: v }),
        (err: unknown) => answer({ ok: false, error: err }),
      );
    else answer({ ok: true, value });
  }

  /** MainContext.evaluate: an expression in the session's scope, run as its input would be (no top-level await). */
  private evaluateExpression(session: number, code: string): unknown {
    const s = this.sessions.get(session);
    if (!s) throw new Error("the session has closed");
    const found = readPath(code, { own: s.own, builtins: s.builtins, namespace: this.options.namespace });
    if (found) return found.value;
    const rewritten = rewrite(code);
    if (rewritten.awaited) throw new SyntaxError("await is not allowed here");
    return runAsManholeCode(s.report, () => this.call(s, rewritten.code));
  }

  private session(id: number): SessionState {
    let s = this.sessions.get(id);
    if (s) return s;
    const own = this.options.shared ? this.sharedOwn : (Object.create(null) as Record<string, unknown>);
    const constants = this.options.shared ? this.sharedConstants : new Set<string>();
    const state: SessionState = {
      id,
      own,
      constants,
      markConstant: constantMarker(constants),
      tick: this.tickFor(id),
      nextTick: () => {},
      builtins: {},
      scope: {},
      prefs: { typescript: true },
      current: 0,
      budget: this.options.maxOutputBytes,
      cut: false,
      settling: false,
      write: (text) => this.output(state, text),
      report: (text) => this.report(state, text),
    };
    const globals = createSessionGlobals(state.write, state.report);
    state.builtins = globals.builtins;
    state.nextTick = globals.nextTick;
    state.scope = createScope({ own, constants, builtins: state.builtins, namespace: this.options.namespace });
    this.sessions.set(id, state);
    s = state;
    return s;
  }

  /** An error of the session's code: to the session while it is open, else one line on the app's stderr. */
  private report(s: SessionState, text: string): void {
    if (this.sessions.has(s.id)) {
      this.output(s, text);
      return;
    }
    try {
      const body = text.replace(/\n$/, "").replace(/\n/g, "\n  ");
      fs.writeSync(2, `manhole: session ${s.id} (closed): ${body}\n`);
    } catch {
      // stderr is gone: nothing left to tell
    }
  }

  /** Sends output within the session's byte budget; past it, one note and then silence. */
  private output(s: SessionState, text: string): void {
    if (!this.sessions.has(s.id) || text === "") return;
    if (s.cut) return;
    const bytes = encoder.encode(text).length;
    if (bytes <= s.budget) {
      s.budget -= bytes;
      this.emit({ type: "output", session: s.id, id: s.current, text });
      this.settleSoon(s);
      return;
    }
    const kept = Buffer.from(text)
      .subarray(0, s.budget)
      .toString("utf8")
      .replace(/\uFFFD$/, "");
    s.budget = 0;
    s.cut = true;
    const note = `\n[output cut: over maxOutputBytes (${this.options.maxOutputBytes} bytes)]\n`;
    this.emit({ type: "output", session: s.id, id: s.current, text: kept + note });
    this.settleSoon(s);
  }

  /**
   * Tells the session when this burst of output is over: an immediate runs after everything the
   * current macrotask, its microtasks and Node's rejection handling print (not a guess by time).
   */
  private settleSoon(s: SessionState): void {
    if (s.settling) return;
    s.settling = true;
    asAgentCode(() =>
      setImmediate(() => {
        s.settling = false;
        if (this.sessions.has(s.id)) this.emit({ type: "output-settled", session: s.id });
      }).unref(),
    );
  }

  private finish(s: SessionState, id: number, kind: OutcomeKind, text: string, extra: { json?: string; error?: ErrorInfo } = {}): void {
    this.running.delete(id);
    this.setDeadline(id, undefined);
    if (s.current !== id) return; // abandoned meanwhile
    s.current = 0;
    let out = text;
    if (s.cut) out = kind === "ok" ? "" : text.slice(0, 2000);
    else if (encoder.encode(text).length > s.budget) {
      out = `${Buffer.from(text)
        .subarray(0, s.budget)
        .toString("utf8")
        .replace(/\uFFFD$/, "")}\n[output cut: over maxOutputBytes (${this.options.maxOutputBytes} bytes)]`;
      s.cut = true;
    }
    this.emit({ type: "result", id, session: s.id, kind, text: out, ...extra });
    // What manhole code prints from now until the next input gets a fresh budget.
    s.budget = this.options.maxOutputBytes;
    s.cut = false;
  }

  private callDirect(s: SessionState, code: string): unknown {
    return getRunner()(s.scope, code, importHelper, s.tick, s.markConstant, s.nextTick);
  }

  /** `threaded: false`: vm's timeout stops synchronous code, since no other thread can. */
  private callTimed(s: SessionState, code: string): unknown {
    const run = getRunner();
    if (!timed) {
      // Another copy of manhole in the process (two versions in node_modules) shares the slot.
      const key = Symbol.for("manhole.call");
      const g = globalThis as unknown as Record<symbol, { fn: (() => unknown) | undefined } | undefined>;
      let slot = g[key];
      if (!slot) {
        slot = { fn: undefined };
        Object.defineProperty(globalThis, key, { value: slot });
      }
      timed = { script: new vm.Script(`globalThis[Symbol.for("manhole.call")].fn()`, { filename: "manhole-timed" }), slot };
    }
    const { script, slot } = timed;
    const outer = slot.fn;
    slot.fn = () => run(s.scope, code, importHelper, s.tick, s.markConstant, s.nextTick);
    try {
      return script.runInThisContext({ timeout: this.options.syncTimeout, displayErrors: false });
    } finally {
      slot.fn = outer;
    }
  }

  /** Threaded mode: the evaluation's place in the shared cells around its run. */
  private evaluateShared(req: EvalRequest, cells: Int32Array): void {
    // `sync` before `started`: a worker that sees this evaluation started also sees it running.
    Atomics.store(cells, CELL.sync, req.id);
    Atomics.store(cells, CELL.started, req.id);
    // Read after `started` is written (the worker writes `target`, then reads `started`), so an
    // interrupt sent before this evaluation got here is seen by one side or the other. Any other
    // raised flag is over: this message reached us, so the event loop has turned since.
    const targeted = Atomics.load(cells, CELL.target) === req.id;
    if (targeted) {
      Atomics.store(cells, CELL.scope, req.session);
      // Raised with a value of its own, unless the worker has raised the flag meanwhile.
      Atomics.compareExchange(cells, CELL.flag, INTERRUPT.none, INTERRUPT.target);
    } else Atomics.store(cells, CELL.flag, INTERRUPT.none);
    try {
      if (takeCancelled(cells, req.id)) this.cancel(req);
      else this.run(req);
    } finally {
      Atomics.store(cells, CELL.sync, 0);
      awaitTermination(cells, req.id, TERMINATION_WAIT_MS);
      // Raised for this evaluation's start alone: lowered only if it is still our own value. A
      // flag the worker raised while the synchronous part ran (it may have seen it running and
      // gone straight to stopping it) is the worker's to lower, so that an async continuation
      // (`await 0; while (true) {}`) still stops at its first check.
      if (targeted) Atomics.compareExchange(cells, CELL.flag, INTERRUPT.target, INTERRUPT.none);
    }
  }

  /** The session was told it would not run (the loop was blocked when it was interrupted): skip it. */
  private cancel(req: EvalRequest): void {
    const s = this.session(req.session);
    s.current = req.id;
    const signal = new InterruptSignal(INTERRUPT.request);
    this.finish(s, req.id, "cancelled", this.failure(signal), this.thrown(req, signal));
  }

  private run(req: EvalRequest): void {
    const s = this.session(req.session);
    s.current = req.id;
    this.running.set(req.id, { session: req.session, code: req.code, time: new Date().toISOString(), started: performance.now() });
    if (!this.options.interruptCells) this.setDeadline(req.id, performance.now() + this.options.timeout);
    s.budget = this.options.maxOutputBytes;
    s.cut = false;
    const prepared = this.prepare(s, req.code);
    if ("error" in prepared) {
      this.rememberError(s, prepared.error);
      this.finish(s, req.id, "error", this.failure(prepared.error), this.thrown(req, prepared.error));
      return;
    }
    this.execute(s, req, prepared);
  }

  /** TypeScript input is on for this session and some stripper is here. */
  private typescriptOn(s: SessionState): boolean {
    return s.prefs.typescript && stripperState().strip !== undefined;
  }

  /** JavaScript first; only an input that is not JavaScript goes to the TypeScript stripper. */
  private prepare(s: SessionState, source: string): Prepared | { error: Error } {
    const js = rewrite(source);
    const asJs = { rewritten: js, position: js.position, typescript: false };
    if (js.syntax !== "error" || !this.typescriptOn(s)) return asJs;
    return this.asTypeScript(source) ?? asJs;
  }

  /** The input with its types stripped; undefined when it is not TypeScript either (JavaScript's error then stands). */
  private asTypeScript(source: string): Prepared | { error: Error } | undefined {
    const stripped = stripTypes(source);
    if (!stripped.ok) {
      if (stripped.invalid) return undefined;
      const error = new SyntaxError(stripped.message);
      error.stack = `SyntaxError: ${stripped.message}`;
      return { error };
    }
    const rewritten = rewrite(stripped.code);
    if (rewritten.syntax === "error") return undefined;
    const map = stripped.position;
    const position = map ? (line: number, column: number) => map(...rewritten.position(line, column)) : rewritten.position;
    return { rewritten, position, typescript: true };
  }

  /** Did `err` come from compiling `code`, which is not JavaScript (no part of it ran)? */
  private notJavaScript(err: unknown, prepared: Prepared, code: string): boolean {
    if (prepared.typescript || prepared.rewritten.syntax === "ok") return false;
    try {
      if (!(err instanceof SyntaxError)) return false;
    } catch {
      return false; // a hostile thrown value is the input's own
    }
    return prepared.rewritten.syntax === "error" || !parsesAsJavaScript(code);
  }

  private execute(s: SessionState, req: EvalRequest, prepared: Prepared): void {
    const { rewritten } = prepared;
    declare({ own: s.own, builtins: s.builtins, namespace: this.options.namespace }, s.constants, rewritten);
    rememberPositions(req.id, prepared.position);
    const code = `${rewritten.code}\n//# sourceURL=REPL${req.id}`;
    let value: unknown;
    try {
      value = runAsManholeCode(s.report, () => this.call(s, code));
    } catch (thrown) {
      let err = thrown;
      const e = err as { code?: string } | null;
      let timedOut = false;
      try {
        timedOut = !!e && e.code === "ERR_SCRIPT_EXECUTION_TIMEOUT";
      } catch {
        // a hostile thrown value (revoked proxy, throwing getter) is not our timeout
      }
      let hint = "";
      if (!timedOut && this.notJavaScript(err, prepared, req.code)) {
        // The fast path skipped the parse: this input's syntax error is where TypeScript is found.
        if (prepared.rewritten.syntax === "skipped" && this.typescriptOn(s)) {
          const again = this.asTypeScript(req.code);
          if (again && !("error" in again)) {
            this.execute(s, req, again);
            return;
          }
          if (again) err = again.error;
        } else if (stripperState().strip === undefined && looksTyped(req.code)) hint = `\n${NO_STRIPPER_HINT}`;
      }
      if (!timedOut) this.rememberError(s, err);
      this.finish(
        s,
        req.id,
        timedOut ? "timeout" : this.failureKind(err),
        timedOut ? interruptedText(true, this.options.timeout) : this.failure(err) + hint,
        this.thrown(req, err),
      );
      return;
    }
    if (!rewritten.awaited) {
      if (types.isPromise(value)) {
        tagPromise(value, s.report);
        value.then(undefined, (err: unknown) => s.report(`Uncaught (in promise) ${formatThrown(err)}\n`));
      }
      this.remember(s, value);
      this.finish(s, req.id, "ok", formatValue(value), this.returned(req, value));
      return;
    }
    const promise = value as Promise<unknown>;
    tagPromise(promise, s.report);
    let timer: NodeJS.Timeout | undefined;
    if (this.options.asyncTimeout > 0) {
      timer = setTimeout(() => {
        this.finish(s, req.id, "timeout", awaitAbandoned("timeout", this.options.asyncTimeout));
      }, this.options.asyncTimeout);
      timer.unref();
    }
    promise.then(
      (v) => {
        clearTimeout(timer);
        this.remember(s, v);
        this.finish(s, req.id, "ok", formatValue(v), this.returned(req, v));
      },
      (err: unknown) => {
        clearTimeout(timer);
        this.rememberError(s, err);
        this.finish(s, req.id, this.failureKind(err), this.failure(err), this.thrown(req, err));
      },
    );
  }

  /** Structured requests get the value as JSON too. */
  private returned(req: EvalRequest, value: unknown): { json?: string } {
    return req.structured ? { json: toJson(value, this.options.maxOutputBytes) } : {};
  }

  /** Structured requests get the error's parts too. */
  private thrown(req: EvalRequest, err: unknown): { error?: ErrorInfo } {
    if (!req.structured) return {};
    if (isInterruptSignal(err)) {
      return {
        error: {
          name: "Interrupted",
          message:
            interruptedText(err.reason === INTERRUPT.timeout, this.options.timeout).replace(/^Interrupted(: )?/, "") || "interrupted",
        },
      };
    }
    return { error: errorInfo(err) };
  }

  /** `_` holds the last result, as in Node's REPL. */
  private remember(s: SessionState, value: unknown): void {
    s.builtins._ = value;
  }

  /** `_error` holds the last error an input threw, as in Node's REPL (not the manhole's own interrupts). */
  private rememberError(s: SessionState, err: unknown): void {
    if (this.failureKind(err) === "error") s.builtins._error = err;
  }
}
