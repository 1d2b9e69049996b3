/**
 * The app's worker threads, reached from the manhole's worker through the inspector's worker
 * support: an inspector session on the main thread of its own, with the NodeWorker domain
 * enabled (Node then attaches a session to every worker, and reports those started later and
 * those that exit), and the Runtime and Debugger domains of one worker spoken through
 * `NodeWorker.sendMessageToWorker`. A session of its own rather than the watchdog's: that one is
 * held exclusively for each use, and a worker's answer must not hold back `.stack` or an
 * interrupt of the main thread.
 *
 * NodeWorker is enabled only while some manhole session is in a worker or a listing runs, and
 * disabled (every worker detached) and the inspector session closed when the last one leaves.
 * The Debugger domain of a worker is enabled only for the moment of a `.stack` capture, and
 * every path of it resumes and disables it; a pause nobody asked for is resumed at once.
 *
 * What the inspector allows, measured on Node 20 to 26: a worker answers `Runtime.evaluate` at
 * its next interrupt check even while it spins in a synchronous loop of its own (the
 * evaluation then runs on top of that loop); `Runtime.evaluate`'s `timeout` terminates the
 * evaluation alone, and the worker's own loop goes on; but a worker's inspector handles one
 * message at a time, so while an evaluation's synchronous part runs nothing else reaches it
 * (`Runtime.terminateExecution` included): only that timeout stops it.
 */
import inspector from "node:inspector";
import { fileURLToPath } from "node:url";
import { threadId as ownThreadId } from "node:worker_threads";
import { awaitAbandoned, type FrameInfo, interruptedText, type Outcome } from "../../protocol/outcome.js";
import { formatDuration } from "../../shared/duration.js";
import { isOwnFile } from "../../shared/own-files.js";
import { acornParser } from "../../shared/parser.js";
import type { WorkerInfo, WorkerThreadsAccess } from "../operations/types.js";
import { withDeadline } from "./deadline.js";
import type { RemoteObject } from "./paused-values.js";
import { type PausedFrame, StackCapture } from "./stack-capture.js";

/** A worker as NodeWorker attached it. */
interface Attached {
  sessionId: string;
  threadId: number;
  name: string;
  url: string;
  /** Runtime.enable sent: its console calls are reported, until this inspector session to it ends. */
  console?: boolean;
}

/** Where the console calls of one running input go, in order (each formatted in the worker). */
interface ConsoleRoute {
  write(text: string): void;
  /** Settles once every call reported so far has been written. */
  flushed: Promise<void>;
}

interface Evaluated {
  result?: RemoteObject;
  exceptionDetails?: { text?: string; exception?: RemoteObject };
}

interface Probe {
  threadId: number | null;
  uptimeMs: number;
  heapUsed: number;
  idle: number;
  stack: string;
}

/** The worker is gone (or the domain was disabled) while a request to it was pending. */
class WorkerGone extends Error {}
/** No answer in time. */
class NoAnswer extends Error {}

/** How long a worker may take to answer a cheap request before it counts as unresponsive. */
const ANSWER_MS = 1000;
/** NodeWorker.enable and disable, through the main thread (which answers from JavaScript, however busy). */
const ENABLE_MS = 5000;
/** Two samples this far apart, both with JavaScript running and no idle time between: blocked. */
const BLOCKED_SAMPLE_MS = 100;
/** After its timeout, how long an evaluation's reply may still take (the termination unwinding). */
const TIMEOUT_SLACK_MS = 250;
/** A Ctrl-C asks the worker whether it answers; no answer this soon: the evaluation's synchronous part runs. */
const INTERRUPT_PROBE_MS = 300;
const MAX_TEXT = 1024 * 1024;

const INSPECT_OPTIONS = { depth: 2, showProxy: true, getters: false, maxArrayLength: 100, maxStringLength: 10_000, breakLength: 80 };

/**
 * Evaluated in the worker (`this`: the value): its util.inspect text, its JSON when it has one,
 * and an error's parts. Globals only: it runs in the worker's realm.
 */
const FORMAT = `function () {
  const v = this, options = ${JSON.stringify(INSPECT_OPTIONS)};
  let text, json, error;
  try {
    const util = globalThis.process && process.getBuiltinModule ? process.getBuiltinModule("node:util") : undefined;
    text = util ? util.inspect(v, options) : String(v);
  } catch (err) {
    text = "[uninspectable value]";
  }
  try {
    const j = JSON.stringify(v);
    if (typeof j === "string" && j.length <= ${MAX_TEXT}) json = j;
  } catch {}
  try {
    if (v instanceof Error || (v && typeof v.name === "string" && typeof v.message === "string" && typeof v.stack === "string")) {
      error = { name: String(v.name), message: String(v.message) };
      if (typeof v.stack === "string") error.stack = v.stack;
    }
  } catch {}
  return { text, json, error };
}`;

/** Formats one console call's arguments in the worker, as its console would print them. */
const CONSOLE_FORMAT = `function (...args) {
  const util = globalThis.process && process.getBuiltinModule ? process.getBuiltinModule("node:util") : undefined;
  return util ? util.formatWithOptions(${JSON.stringify(INSPECT_OPTIONS)}, ...args) : args.map(String).join(" ");
}`;

/** Runtime.consoleAPICalled's parameters, as far as they are read. */
interface ConsoleCall {
  executionContextId: number;
  args: RemoteObject[];
  stackTrace?: { callFrames: { url: string }[] };
}

/** Evaluated in the worker: what it runs now (its stack under this probe), and a few figures. */
const PROBE =
  '(() => { const E = Error, p = E.prepareStackTrace, l = E.stackTraceLimit; try { E.prepareStackTrace = undefined; E.stackTraceLimit = 20; const wt = globalThis.process && process.getBuiltinModule ? process.getBuiltinModule("node:worker_threads") : undefined; return { threadId: wt ? wt.threadId : null, uptimeMs: performance.now(), heapUsed: process.memoryUsage().heapUsed, idle: performance.eventLoopUtilization().idle, stack: String(new E().stack) }; } finally { E.prepareStackTrace = p; E.stackTraceLimit = l } })()\n//# sourceURL=manhole-probe';
const STACK_LINE = /^\s*at (?:(.*?) \()?(.*?)(?::(\d+):(\d+))?\)?$/;

/** A script's URL as people read it: a file as its path. */
function displayPath(url: string): string {
  if (!url) return "(eval)";
  if (!url.startsWith("file:")) return url;
  try {
    return fileURLToPath(url);
  } catch {
    return url;
  }
}

/** Node's title for a worker: `[worker 3] name`. */
function parseTitle(title: string): { threadId: number; name: string } | undefined {
  const m = /^\[worker (\d+)\]\s*(.*)$/.exec(title);
  return m ? { threadId: Number(m[1]), name: m[2] } : undefined;
}

/** The top frame of a probe's stack that is not the probe: undefined when the worker was idle. */
function topFrame(stack: string): FrameInfo | undefined {
  const frames: FrameInfo[] = [];
  for (const line of stack.split("\n").slice(1)) {
    if (line.includes("manhole-probe")) continue;
    const m = STACK_LINE.exec(line);
    if (!m) continue;
    frames.push({ function: m[1] ?? "", file: displayPath(m[2] ?? ""), line: Number(m[3] ?? 0), column: Number(m[4] ?? 0) });
  }
  // A builtin on top (`at Atomics.add (<anonymous>)`) says less than the first frame with a place.
  return frames.find((f) => f.line > 0) ?? frames[0];
}

/** A printed error's frames below the input's own are what the input ran on top of (the worker's own loop): not shown. */
function cutBelowInput(text: string, replId: number): string {
  const lines = text.split("\n");
  const mark = `REPL${replId}:`;
  let last = -1;
  for (let i = 0; i < lines.length; i++) if (/^\s+at /.test(lines[i]) && lines[i].includes(mark)) last = i;
  if (last < 0) return text;
  let end = last + 1;
  while (end < lines.length && /^\s+at /.test(lines[end])) end++;
  return [...lines.slice(0, last + 1), ...lines.slice(end)].join("\n");
}

/** A primitive's text as util.inspect prints it (the same in every realm). */
function primitiveText(r: RemoteObject): { text: string; json?: string } {
  switch (r.type) {
    case "undefined":
      return { text: "undefined" };
    case "string":
      return { text: inspectString(String(r.value)), json: JSON.stringify(r.value) };
    case "bigint":
      return { text: r.unserializableValue ?? r.description ?? "?n" };
    case "symbol":
      return { text: r.description ?? "Symbol()" };
    case "number":
      if (r.unserializableValue) return { text: r.unserializableValue === "-0" ? "-0" : r.unserializableValue };
      return { text: String(r.value), json: JSON.stringify(r.value) };
    default:
      if (r.subtype === "null") return { text: "null", json: "null" };
      return { text: r.description ?? String(r.value), ...(r.value !== undefined ? { json: JSON.stringify(r.value) } : {}) };
  }
}

/** util.inspect's quoting of a string: single quotes unless the string has some. */
function inspectString(s: string): string {
  const shown = s.length > 10_000 ? `${s.slice(0, 10_000)}'... ${s.length - 10_000} more characters` : s;
  if (!shown.includes("'")) return `'${shown.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}'`;
  if (!shown.includes('"')) return `"${shown.replace(/\\/g, "\\\\").replace(/\n/g, "\\n")}"`;
  return `\`${shown.replace(/\\/g, "\\\\").replace(/`/g, "\\`")}\``;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const FUNCTIONS = new Set(["FunctionDeclaration", "FunctionExpression", "ArrowFunctionExpression"]);

/** Is there an `await` outside any function (top-level await)? */
function awaitsAtTop(node: unknown): boolean {
  if (!node || typeof node !== "object") return false;
  if (Array.isArray(node)) return node.some(awaitsAtTop);
  const n = node as { type?: string; await?: boolean };
  if (typeof n.type === "string") {
    if (FUNCTIONS.has(n.type)) return false;
    if (n.type === "AwaitExpression" || (n.type === "ForOfStatement" && n.await)) return true;
  }
  return Object.entries(node).some(([key, value]) => key !== "type" && typeof value === "object" && awaitsAtTop(value));
}

/**
 * Does this input need the inspector's REPL mode: top-level await, or a top-level let, const
 * or class (which REPL mode lets the next input declare again)? REPL mode's answer is a promise,
 * which settles only when the worker runs its microtasks: never while it spins in a synchronous
 * loop. So everything else (expressions above all) is evaluated as a plain script, which
 * answers even from a worker stuck in a loop. Unparsable input goes as a script: V8 reports
 * the syntax error.
 */
export function needsReplMode(code: string): boolean {
  let program: { body: { type: string; kind?: string }[] };
  try {
    program = acornParser().parse(code, { ecmaVersion: "latest", sourceType: "script", allowAwaitOutsideFunction: true }) as never;
  } catch {
    return false;
  }
  if (program.body.some((s) => (s.type === "VariableDeclaration" && s.kind !== "var") || s.type === "ClassDeclaration")) return true;
  return awaitsAtTop(program.body);
}

/** A running evaluation in a worker, as the action path sees it. */
export interface WorkerEvaluation {
  done: Promise<Outcome>;
  /** Ctrl-C: a note when it could not be stopped. */
  interrupt(): Promise<string | undefined>;
}

export class WorkerThreads implements WorkerThreadsAccess {
  private session: inspector.Session | undefined;
  private readonly attached = new Map<number, Attached>();
  private readonly bySession = new Map<string, Attached>();
  /** Listings under way and sessions in a worker: NodeWorker is enabled while there are any. */
  private users = 0;
  private transition: Promise<void> = Promise.resolve();
  private nextRequest = 1;
  private readonly pending = new Map<number, { sessionId: string; resolve(v: unknown): void; reject(e: Error): void }>();
  /** Per worker session: who waits for its next Debugger.paused. */
  private readonly pauseWaiters = new Map<string, (frames: PausedFrame[]) => void>();
  /** Per worker session and input (`<session>/REPL<n>`), while it runs: where its console calls go. */
  private readonly consoleRoutes = new Map<string, ConsoleRoute>();
  /** Per worker session, while a `.stack` capture runs: the capture, fed the scripts Debugger.enable reports. */
  private readonly captures = new Map<string, StackCapture>();
  /** Manhole sessions in each worker, by thread id. */
  private readonly inside = new Map<number, number>();
  private readonly exitListeners = new Set<(threadId: number) => void>();
  private disabling = false;
  private nextEval = 1;

  /** `timeoutMs`: how long an evaluation in a worker may run (the manhole's `timeout`). */
  constructor(readonly timeoutMs: number) {}

  /** Is `threadId` a worker of the app (attached, not the manhole's own)? */
  has(threadId: number): boolean {
    return this.attached.has(threadId);
  }

  /** Called with the thread id of each worker that exits while NodeWorker is enabled. */
  onExit(listener: (threadId: number) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  async list(): Promise<WorkerInfo[]> {
    await this.acquire();
    try {
      const workers = [...this.attached.values()].sort((a, b) => a.threadId - b.threadId);
      return await Promise.all(workers.map((w) => this.describeWorker(w)));
    } finally {
      this.release();
    }
  }

  /** A manhole session goes into worker `threadId`: NodeWorker stays enabled until it leaves. */
  async enter(threadId: number): Promise<WorkerInfo> {
    await this.acquire();
    const w = this.attached.get(threadId);
    if (!w) {
      const known = [...this.attached.keys()].sort((a, b) => a - b);
      this.release();
      throw new Error(
        `no worker thread ${threadId} in this process (${known.length ? `its workers: ${known.join(", ")}` : "it has no worker threads"}; .workers lists them)`,
      );
    }
    this.inside.set(threadId, (this.inside.get(threadId) ?? 0) + 1);
    return this.describeWorker(w);
  }

  /** A manhole session left worker `threadId` (back to main, another worker, or it closed). */
  leave(threadId: number): void {
    const n = (this.inside.get(threadId) ?? 0) - 1;
    if (n > 0) this.inside.set(threadId, n);
    else this.inside.delete(threadId);
    this.release();
  }

  close(): void {
    this.users = 0;
    this.inside.clear();
    this.transition = this.transition.then(() => this.disable());
  }

  private async acquire(): Promise<void> {
    this.users++;
    if (this.users === 1) this.transition = this.transition.then(() => this.enable());
    try {
      await this.transition;
    } catch (err) {
      this.release();
      throw err;
    }
  }

  private release(): void {
    this.users = Math.max(0, this.users - 1);
    if (this.users === 0) this.transition = this.transition.catch(() => {}).then(() => this.disable());
  }

  private async enable(): Promise<void> {
    if (this.session) return;
    const s = new inspector.Session();
    s.connectToMainThread();
    this.session = s;
    // A session closed earlier may still deliver events, with session ids that the new one reuses: only the current one counts.
    s.on("NodeWorker.attachedToWorker", (m: { params: { sessionId: string; workerInfo: { title: string; url: string } } }) => {
      if (this.session !== s) return;
      const { sessionId, workerInfo } = m.params;
      const t = parseTitle(workerInfo.title);
      if (!t) return;
      const own = t.threadId === ownThreadId || isOwnFile(displayPath(workerInfo.url));
      if (own) return;
      const w: Attached = { sessionId, threadId: t.threadId, name: t.name, url: workerInfo.url };
      this.attached.set(w.threadId, w);
      this.bySession.set(sessionId, w);
    });
    s.on("NodeWorker.detachedFromWorker", (m: { params: { sessionId: string } }) => {
      if (this.session === s) this.detached(m.params.sessionId);
    });
    s.on("NodeWorker.receivedMessageFromWorker", (m: { params: { sessionId: string; message: string } }) => {
      if (this.session === s) this.received(m.params.sessionId, m.params.message);
    });
    try {
      await this.withTimeout(this.post("NodeWorker.enable", { waitForDebuggerOnStart: false }), ENABLE_MS);
    } catch (err) {
      this.session = undefined;
      s.disconnect();
      throw err instanceof NoAnswer
        ? new Error("the main thread does not answer the inspector (it runs native code?), and workers are reached through it")
        : err;
    }
    // The workers already there are reported before the reply; let their messages be handled.
    await new Promise((r) => setImmediate(r));
  }

  private async disable(): Promise<void> {
    const s = this.session;
    if (!s || this.users > 0) return;
    this.disabling = true;
    try {
      await this.withTimeout(this.post("NodeWorker.disable"), ENABLE_MS).catch(() => {});
    } finally {
      this.disabling = false;
      this.session = undefined;
      s.disconnect();
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(new WorkerGone("the inspector's worker support was turned off"));
      }
      this.attached.clear();
      this.bySession.clear();
      this.pauseWaiters.clear();
    }
  }

  private detached(sessionId: string): void {
    const w = this.bySession.get(sessionId);
    this.bySession.delete(sessionId);
    this.pauseWaiters.delete(sessionId);
    if (!w) return;
    this.attached.delete(w.threadId);
    for (const [id, p] of this.pending) {
      if (p.sessionId !== sessionId) continue;
      this.pending.delete(id);
      p.reject(new WorkerGone(`worker ${w.threadId} has exited`));
    }
    if (!this.disabling) for (const listener of this.exitListeners) listener(w.threadId);
  }

  private received(sessionId: string, message: string): void {
    let msg: { id?: number; result?: unknown; error?: { message?: string }; method?: string; params?: unknown };
    try {
      msg = JSON.parse(message);
    } catch {
      return;
    }
    if (typeof msg.id === "number") {
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) p.reject(new Error(msg.error.message ?? "inspector error"));
      else p.resolve(msg.result);
      return;
    }
    if (msg.method === "Debugger.scriptParsed") {
      this.captures.get(sessionId)?.scriptParsed(msg.params as { scriptId: string; url: string; sourceMapURL?: string });
      return;
    }
    if (msg.method === "Runtime.consoleAPICalled") {
      this.consoleCalled(sessionId, msg.params as ConsoleCall);
      return;
    }
    if (msg.method === "Debugger.paused") {
      const waiter = this.pauseWaiters.get(sessionId);
      this.pauseWaiters.delete(sessionId);
      if (waiter) waiter((msg.params as { callFrames: PausedFrame[] }).callFrames);
      else {
        // Nobody asked for this pause (a capture gave up on it): never leave a worker paused.
        void this.sendTo(sessionId, "Debugger.resume").catch(() => {});
        void this.sendTo(sessionId, "Debugger.disable").catch(() => {});
      }
    }
  }

  private post<T = unknown>(method: string, params?: object): Promise<T> {
    const s = this.session;
    if (!s) return Promise.reject(new WorkerGone("the inspector's worker support is off"));
    return new Promise((resolve, reject) => {
      s.post(method, params ?? {}, (err: Error | null, result?: object) => (err ? reject(err) : resolve(result as T)));
    });
  }

  /** One request to a worker's inspector, answered through NodeWorker.receivedMessageFromWorker. */
  private sendTo<T = unknown>(sessionId: string, method: string, params: object = {}): Promise<T> {
    const id = this.nextRequest++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { sessionId, resolve: resolve as (v: unknown) => void, reject });
      this.post("NodeWorker.sendMessageToWorker", { sessionId, message: JSON.stringify({ id, method, params }) }).catch((err: Error) => {
        this.pending.delete(id);
        reject(err);
      });
    });
  }

  private withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
    return withDeadline(p, ms, () => new NoAnswer());
  }

  private async probe(w: Attached): Promise<Probe | undefined> {
    try {
      const r = await this.withTimeout(
        this.sendTo<Evaluated>(w.sessionId, "Runtime.evaluate", { expression: PROBE, returnByValue: true, silent: true }),
        ANSWER_MS,
      );
      return r.result?.value as Probe | undefined;
    } catch (err) {
      if (err instanceof NoAnswer || err instanceof WorkerGone) return undefined;
      throw err;
    }
  }

  private async describeWorker(w: Attached): Promise<WorkerInfo> {
    const base = { threadId: w.threadId, name: w.name, file: displayPath(w.url), sessions: this.inside.get(w.threadId) ?? 0 };
    const first = await this.probe(w);
    if (!first) return { ...base, state: "unresponsive", uptimeMs: null, heapUsed: null };
    const figures = { uptimeMs: Math.round(first.uptimeMs), heapUsed: first.heapUsed };
    const frame = topFrame(first.stack);
    if (!frame) return { ...base, state: "idle", ...figures };
    await sleep(BLOCKED_SAMPLE_MS);
    const second = await this.probe(w);
    const still = second ? topFrame(second.stack) : undefined;
    const blocked = second !== undefined && still !== undefined && second.idle === first.idle;
    return { ...base, state: blocked ? "blocked" : "running", frame: still ?? frame, ...figures };
  }

  /**
   * Evaluates `code` in worker `threadId`, REPL-like (`Runtime.evaluate` in `replMode`: top-level
   * await, `let`/`const` that persist in the worker's global scope and may be declared again),
   * the value printed by util.inspect in the worker.
   */
  evaluate(threadId: number, code: string, timeoutMs = this.timeoutMs, output?: (text: string) => void): WorkerEvaluation {
    const w = this.attached.get(threadId);
    if (!w) {
      return {
        done: Promise.resolve({ kind: "error", text: `manhole: worker ${threadId} has exited; .worker main goes back to the main thread` }),
        interrupt: async () => undefined,
      };
    }
    const replId = this.nextEval++;
    const group = `manhole-${replId}`;
    let settle: (o: Outcome) => void = () => {};
    let settled = false;
    const done = new Promise<Outcome>((resolve) => {
      settle = (o) => {
        if (settled) return;
        settled = true;
        resolve(o);
      };
    });
    const release = () => void this.sendTo(w.sessionId, "Runtime.releaseObjectGroup", { objectGroup: group }).catch(() => {});
    const repl = needsReplMode(code);
    const routeKey = `${w.sessionId}/REPL${replId}`;
    const route: ConsoleRoute | undefined = output ? { write: output, flushed: Promise.resolve() } : undefined;
    if (route) this.consoleRoutes.set(routeKey, route);
    void done.then(() => this.consoleRoutes.delete(routeKey));
    if (route) this.reportConsole(w);
    const request = this.sendTo<Evaluated>(w.sessionId, "Runtime.evaluate", {
      expression: `${code}\n//# sourceURL=REPL${replId}`,
      ...(repl ? { replMode: true, awaitPromise: true } : {}),
      includeCommandLineAPI: true,
      silent: true,
      objectGroup: group,
      timeout: timeoutMs,
    });
    request.then(
      async (r) => {
        if (settled) return release(); // given up on (timeout, interrupt): its objects go
        try {
          const outcome = await this.outcomeOf(w, r, replId);
          // What the input printed comes before its value.
          if (route) await this.withTimeout(route.flushed, ANSWER_MS).catch(() => {});
          settle(outcome);
        } catch (err) {
          settle({ kind: "error", text: `manhole: ${err instanceof Error ? err.message : String(err)}` });
        } finally {
          release();
        }
      },
      (err: Error) => {
        if (err instanceof WorkerGone) settle({ kind: "error", text: `manhole: worker ${threadId} exited while this input ran` });
        else if (/terminated/i.test(err.message)) settle({ kind: "timeout", text: interruptedText(true, timeoutMs) });
        else settle({ kind: "error", text: `manhole: ${err.message}` });
      },
    );
    // The synchronous part is V8's to stop at the timeout; an await past it gives the prompt back.
    const timer = setTimeout(() => {
      void this.answers(w).then(async (answers) => {
        const busy = answers && repl && (await this.probe(w).then((p) => p !== undefined && topFrame(p.stack) !== undefined));
        if (busy)
          settle({
            kind: "timeout",
            text: `${awaitAbandoned("timeout", timeoutMs)}. Worker ${threadId} runs synchronous code of its own, and an input with top-level await or a let/const/class declaration is a promise that settles only when its event loop turns (an expression answers at once)`,
            goesOn: true,
          });
        else if (answers) settle({ kind: "timeout", text: awaitAbandoned("timeout", timeoutMs), goesOn: true });
        else
          settle({
            kind: "timeout",
            text: `Timed out after ${timeoutMs} ms: worker ${threadId} does not answer its inspector (it runs native code, or another session's input): this input has not run, and runs when the worker answers again`,
            goesOn: true,
          });
      });
    }, timeoutMs + TIMEOUT_SLACK_MS);
    void done.then(() => clearTimeout(timer));
    return {
      done,
      interrupt: async () => {
        if (settled) return undefined;
        if (await this.answers(w, INTERRUPT_PROBE_MS)) {
          settle({ kind: "interrupted", text: awaitAbandoned("interrupt", timeoutMs), goesOn: true });
          return undefined;
        }
        if (settled) return undefined;
        return `(this input's synchronous part runs in worker ${threadId}, whose inspector takes one request at a time: it cannot be interrupted there, and is stopped at the timeout, ${formatDuration(timeoutMs)} after it started)`;
      },
    };
  }

  /**
   * Turns on the worker's console reports (Runtime.enable) for inputs whose output a session
   * wants. Not waited for: the worker's inspector takes requests in order, so it is on before
   * the input that follows runs. It stays on while the manhole is attached to the worker (NodeWorker
   * detaches when no session uses workers any more): turning it off between inputs put requests
   * between an input and its timeout's termination.
   */
  private reportConsole(w: Attached): void {
    if (w.console) return;
    w.console = true;
    void this.sendTo(w.sessionId, "Runtime.enable").catch(() => {});
  }

  /**
   * A console call in a worker: written to the session whose running input made it (a frame of
   * that input's script on its stack: its own code, or app code it called). The worker's own
   * console output goes where it always goes; this adds a copy for the session.
   */
  private consoleCalled(sessionId: string, call: ConsoleCall): void {
    const frames = call.stackTrace?.callFrames ?? [];
    let route: ConsoleRoute | undefined;
    for (const f of frames) {
      route = /^REPL\d+$/.test(f.url) ? this.consoleRoutes.get(`${sessionId}/${f.url}`) : undefined;
      if (route) break;
    }
    if (!route) return;
    const r = route;
    const formatted = this.formatConsoleArgs(sessionId, call).catch(() => call.args.map((a) => a.description ?? String(a.value)).join(" "));
    r.flushed = r.flushed
      .then(() => formatted)
      .then((text) => r.write(text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}... (cut)` : text));
  }

  private async formatConsoleArgs(sessionId: string, call: ConsoleCall): Promise<string> {
    const plain =
      call.args.every((a) => !a.objectId && a.type !== "string") ||
      (call.args.every((a) => a.type === "string") && !String(call.args[0]?.value).includes("%"));
    if (plain)
      return call.args
        .map((a) => (a.type === "string" ? String(a.value) : (a.unserializableValue ?? a.description ?? String(a.value))))
        .join(" ");
    const r = await this.sendTo<Evaluated>(sessionId, "Runtime.callFunctionOn", {
      functionDeclaration: CONSOLE_FORMAT,
      executionContextId: call.executionContextId,
      arguments: call.args.map((a) =>
        a.objectId
          ? { objectId: a.objectId }
          : a.unserializableValue
            ? { unserializableValue: a.unserializableValue }
            : "value" in a
              ? { value: a.value }
              : {},
      ),
      returnByValue: true,
      silent: true,
    });
    // The arguments were kept for this call alone: let them go.
    void this.sendTo(sessionId, "Runtime.releaseObjectGroup", { objectGroup: "console" }).catch(() => {});
    return typeof r.result?.value === "string" ? r.result.value : "";
  }

  /** Does the worker's inspector answer within `ms` (it does unless a synchronous evaluation of ours, or native code, holds it)? */
  private async answers(w: Attached, ms = ANSWER_MS): Promise<boolean> {
    try {
      await this.withTimeout(this.sendTo(w.sessionId, "Runtime.evaluate", { expression: "0", silent: true }), ms);
      return true;
    } catch {
      return false;
    }
  }

  private async outcomeOf(w: Attached, r: Evaluated, replId: number): Promise<Outcome> {
    if (r.exceptionDetails) {
      const thrown = r.exceptionDetails.exception;
      if (!thrown) return { kind: "error", text: `Uncaught ${r.exceptionDetails.text ?? "exception"}` };
      const f = await this.format(w, thrown);
      const text = `Uncaught ${cutBelowInput(f.text, replId)}`;
      return {
        kind: "error",
        text,
        ...(f.error ? { error: { ...f.error, ...(f.error.stack ? { stack: cutBelowInput(f.error.stack, replId) } : {}) } } : {}),
      };
    }
    const f = await this.format(w, r.result ?? { type: "undefined" });
    return { kind: "ok", text: f.text, ...(f.json !== undefined ? { json: f.json } : {}) };
  }

  private async format(w: Attached, value: RemoteObject): Promise<{ text: string; json?: string; error?: Outcome["error"] }> {
    if (!value.objectId) return primitiveText(value);
    const r = await this.sendTo<Evaluated>(w.sessionId, "Runtime.callFunctionOn", {
      objectId: value.objectId,
      functionDeclaration: FORMAT,
      returnByValue: true,
      silent: true,
    });
    const v = r.result?.value as { text?: string; json?: string; error?: Outcome["error"] } | undefined;
    const text = typeof v?.text === "string" ? v.text : (value.description ?? "[value]");
    return {
      text: text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT)}\n... (output cut at ${MAX_TEXT} bytes)` : text,
      json: v?.json,
      error: v?.error,
    };
  }

  /** `.stack` in a worker: its JavaScript stack and the top frame's locals; never leaves it paused. */
  async stack(threadId: number): Promise<string> {
    const w = this.attached.get(threadId);
    if (!w) return `Worker ${threadId} has exited.`;
    const head = `Worker ${threadId}${w.name ? ` "${w.name}"` : ""} (${displayPath(w.url)})`;
    const probe = await this.probe(w);
    if (!probe) {
      return `${head}: it does not answer its inspector within ${formatDuration(ANSWER_MS)}: it runs native code (a synchronous call, a native addon), or a manhole session's input whose synchronous part holds it; it cannot be sampled now.`;
    }
    if (!topFrame(probe.stack)) return `${head}: its event loop is idle; no JavaScript is running.`;
    const capture = new StackCapture(
      {
        post: (method, params) => this.sendTo(w.sessionId, method, params),
        on: (_event, listener) => this.pauseWaiters.set(w.sessionId, (callFrames) => listener({ params: { callFrames } })),
        off: () => this.pauseWaiters.delete(w.sessionId),
      },
      () => undefined,
    );
    this.captures.set(w.sessionId, capture);
    try {
      const text = await capture.capture();
      return text === undefined
        ? `${head}: it runs JavaScript but gave no stack in time (try .stack again)`
        : `${head}: running JavaScript\n${text}`;
    } catch (err) {
      if (err instanceof WorkerGone) return `Worker ${threadId} has exited.`;
      throw err;
    } finally {
      if (this.captures.get(w.sessionId) === capture) this.captures.delete(w.sessionId);
    }
  }
}
