/**
 * Main-thread evaluation: each complete input runs in the app's own realm, inside a session
 * scope, with its output and errors routed to that session. Knows nothing of sockets; it
 * receives ToEvaluator messages and answers with FromEvaluator messages.
 */
import path from "node:path";
import { pathToFileURL } from "node:url";
import { types } from "node:util";
import vm from "node:vm";
import type { EvalRequest, FromEvaluator, ToEvaluator } from "../protocol/relay.js";
import { resetRunning, runAsManholeCode, tagPromise } from "./containment.js";
import { formatThrown, inspect } from "./format.js";
import { rewrite } from "./rewrite.js";
import { createScope, declare } from "./scope.js";
import { createSessionGlobals } from "./session-globals.js";
import { awaitAbandoned } from "./supervisor.js";

export interface EvaluatorOptions {
  namespace: Record<string, unknown>;
  shared: boolean;
  maxOutputBytes: number;
  /** Interrupt synchronous code after this many ms with vm's watchdog; 0 when a worker watches instead. */
  syncTimeout: number;
  /** Give the prompt back after this many ms of awaiting; 0 when a worker decides instead. */
  asyncTimeout: number;
  emit(message: FromEvaluator): void;
}

interface SessionState {
  id: number;
  own: Record<string, unknown>;
  builtins: Record<string, unknown>;
  scope: object;
  /** Request being evaluated, or 0. */
  current: number;
  budget: number;
  cut: boolean;
  write(text: string): void;
}

type Runner = (scope: object, code: string, importHelper: (specifier: unknown, options?: unknown) => Promise<unknown>) => unknown;

let runner: Runner | undefined;
let timedCall: vm.Script | undefined;
const CALL_KEY = Symbol.for("manhole.call");

function getRunner(): Runner {
  runner ??= vm.runInThisContext("(function (__mh_scope, __mh_code, __mh_import) { with (__mh_scope) { return eval(__mh_code) } })", {
    filename: "manhole-runner",
  }) as Runner;
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

export class Evaluator {
  private readonly sessions = new Map<number, SessionState>();
  private readonly sharedOwn: Record<string, unknown> = Object.create(null);

  constructor(private readonly options: EvaluatorOptions) {}

  handle(message: ToEvaluator): void {
    switch (message.type) {
      case "session-open":
        this.session(message.session);
        break;
      case "session-close":
        this.sessions.delete(message.session);
        break;
      case "eval":
        this.evaluate(message);
        break;
      case "eval-abandoned":
        // A terminated evaluation never unwound its bookkeeping: nothing of ours runs now.
        resetRunning();
        for (const s of this.sessions.values()) if (s.current === message.id) s.current = 0;
        break;
    }
  }

  private session(id: number): SessionState {
    let s = this.sessions.get(id);
    if (s) return s;
    const own = this.options.shared ? this.sharedOwn : (Object.create(null) as Record<string, unknown>);
    const state: SessionState = {
      id,
      own,
      builtins: {},
      scope: {},
      current: 0,
      budget: this.options.maxOutputBytes,
      cut: false,
      write: (text) => this.output(state, text),
    };
    state.builtins = createSessionGlobals(state.write);
    state.scope = createScope({ own, builtins: state.builtins, namespace: this.options.namespace });
    this.sessions.set(id, state);
    s = state;
    return s;
  }

  /** Sends output within the session's byte budget; past it, one note and then silence. */
  private output(s: SessionState, text: string): void {
    if (!this.sessions.has(s.id) || text === "") return;
    if (s.cut) return;
    const bytes = encoder.encode(text).length;
    if (bytes <= s.budget) {
      s.budget -= bytes;
      this.options.emit({ type: "output", session: s.id, id: s.current, text });
      return;
    }
    const kept = Buffer.from(text).subarray(0, s.budget).toString("utf8").replace(/\uFFFD$/, "");
    s.budget = 0;
    s.cut = true;
    const note = `\n[output cut: over maxOutputBytes (${this.options.maxOutputBytes} bytes)]\n`;
    this.options.emit({ type: "output", session: s.id, id: s.current, text: kept + note });
  }

  private finish(s: SessionState, id: number, ok: boolean, text: string): void {
    if (s.current !== id) return; // abandoned meanwhile
    s.current = 0;
    let out = text;
    if (s.cut) out = ok ? "" : text.slice(0, 2000);
    else if (encoder.encode(text).length > s.budget) {
      out = `${Buffer.from(text).subarray(0, s.budget).toString("utf8").replace(/\uFFFD$/, "")}\n[output cut: over maxOutputBytes (${this.options.maxOutputBytes} bytes)]`;
      s.cut = true;
    }
    this.options.emit({ type: "result", id, session: s.id, ok, text: out });
    // What manhole code prints from now until the next input gets a fresh budget.
    s.budget = this.options.maxOutputBytes;
    s.cut = false;
  }

  private call(s: SessionState, code: string): unknown {
    const run = getRunner();
    if (this.options.syncTimeout <= 0) return run(s.scope, code, importHelper);
    timedCall ??= new vm.Script(`globalThis[Symbol.for("manhole.call")]()`, { filename: "manhole-timed" });
    Object.defineProperty(globalThis, CALL_KEY, { value: () => run(s.scope, code, importHelper), configurable: true });
    try {
      return timedCall.runInThisContext({ timeout: this.options.syncTimeout, displayErrors: false });
    } finally {
      delete (globalThis as Record<symbol, unknown>)[CALL_KEY];
    }
  }

  private evaluate(req: EvalRequest): void {
    const s = this.session(req.session);
    s.current = req.id;
    s.budget = this.options.maxOutputBytes;
    s.cut = false;
    const rewritten = rewrite(req.code);
    declare(s.own, rewritten.declared);
    const code = `${rewritten.code}\n//# sourceURL=REPL${req.id}`;
    let value: unknown;
    try {
      value = runAsManholeCode(s.write, () => this.call(s, code));
    } catch (err) {
      const e = err as { code?: string } | null;
      let timedOut = false;
      try {
        timedOut = !!e && e.code === "ERR_SCRIPT_EXECUTION_TIMEOUT";
      } catch {
        // a hostile thrown value (revoked proxy, throwing getter) is not our timeout
      }
      const text =
        timedOut
          ? `Interrupted: the evaluation ran longer than ${this.options.syncTimeout} ms (timeout)`
          : `Uncaught ${formatThrown(err)}`;
      this.finish(s, req.id, false, text);
      return;
    }
    if (!rewritten.awaited) {
      if (types.isPromise(value)) {
        tagPromise(value, s.write);
        value.then(undefined, (err: unknown) => s.write(`Uncaught (in promise) ${formatThrown(err)}\n`));
      }
      this.remember(s, value);
      this.finish(s, req.id, true, inspect(value));
      return;
    }
    const promise = value as Promise<unknown>;
    tagPromise(promise, s.write);
    let timer: NodeJS.Timeout | undefined;
    if (this.options.asyncTimeout > 0) {
      timer = setTimeout(() => {
        this.finish(s, req.id, false, awaitAbandoned("timeout", this.options.asyncTimeout));
      }, this.options.asyncTimeout);
      timer.unref();
    }
    promise.then(
      (v) => {
        clearTimeout(timer);
        this.remember(s, v);
        this.finish(s, req.id, true, inspect(v));
      },
      (err: unknown) => {
        clearTimeout(timer);
        this.finish(s, req.id, false, `Uncaught ${formatThrown(err)}`);
      },
    );
  }

  /** `_` holds the last result, as in Node's REPL. */
  private remember(s: SessionState, value: unknown): void {
    s.builtins._ = value;
  }
}
