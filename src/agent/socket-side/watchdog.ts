/**
 * The worker-side supervisor: an inspector session on the main thread (no debug port is
 * opened) that reads its stack (stack-capture.ts) and terminates an evaluation that runs too long.
 *
 * It never pauses the main thread with Debugger.pause (see stack-capture.ts). Before
 * terminating, the main thread's stack is sampled for the evaluation's own frames (sourceURL
 * REPL<id>), so that app code is never terminated by mistake.
 */
import inspector from "node:inspector";
import {
  awaitAbandoned,
  type BlockedAt,
  type FrameInfo,
  interruptedText,
  NOT_STARTED_TEXT,
  type Outcome,
  STILL_RUNNING,
  waitedText,
} from "../../protocol/outcome.js";
import { formatDuration } from "../../shared/duration.js";
import { isOwnFile } from "../../shared/own-files.js";
import {
  attendLoop,
  CELL,
  claimTermination,
  INTERRUPT,
  type LoopState,
  lastBeat,
  markCancelled,
  readLoopState,
  releaseTermination,
} from "../boundary/shared-memory.js";
import { inputPositions } from "../main-thread/typescript.js";
import type { InspectorAccess, PauseAnswer, PauseOptions } from "../operations/types.js";
import type { EvalChannel } from "./eval-channel.js";
import { ASSIGNMENT, type Evaluated, notWrittenText, primitiveKey, remoteText } from "./paused-values.js";
import {
  displayPath,
  type Frame,
  INPUT_URL,
  NotInJavaScript,
  type PausedFrame,
  RUNNERS,
  STOPPED_ANSWERING,
  StackCapture,
  type Stopped,
  withTimeout,
} from "./stack-capture.js";
import type { Supervisor, WatchHooks } from "./supervisor.js";
import { WorkerThreads } from "./worker-threads.js";

/**
 * How long a cheap inspector request may go unanswered before the main thread counts as outside
 * JavaScript. JavaScript (and Atomics.wait) answers within milliseconds, however busy, since V8
 * handles the request at its next interrupt check; native code (execSync, a blocking syscall)
 * answers only when it returns. Only that case waits this long.
 */
const REACH_WAIT_MS = 1000;
const PAUSE_WAIT_MS = 1000;
/** How often an input waiting for the main thread looks whether its loop is blocked. */
const WAITING_POLL_MS = 20;
const SAMPLES = 5;
/** How long the event loop may take to turn before it counts as blocked (heartbeats come every 50 ms). */
const TURN_WAIT_MS = 300;
/** How long stopping manhole code cooperatively may take before other means are tried. */
const COOPERATIVE_WAIT_MS = 500;

/** The main thread held stopped for a session (.pause). */
interface PauseHold {
  session: number;
  /** Its frames, the user's first (as `.pause` numbers them). */
  frames: Frame[];
  selected: number;
  since: number;
  idle: NodeJS.Timeout;
  ended: (text: string) => void;
}

/** How long a pause may go unused before it is resumed by itself (MANHOLE_PAUSE_IDLE_MS overrides it). */
const PAUSE_IDLE_MS = Number(process.env.MANHOLE_PAUSE_IDLE_MS) > 0 ? Number(process.env.MANHOLE_PAUSE_IDLE_MS) : 60_000;
/** A paused evaluation's answer may take this long (the code runs on the stopped main thread). */
const FRAME_EVAL_WAIT_MS = 30_000;

/**
 * How halting went: the code let go of the main thread (stopped at a check, or it was never
 * what held it), was terminated, or could not be stopped (why).
 */
type Halted = "freed" | "terminated" | "not-ours" | "unsafe" | "not-js" | "unseen";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nextCheck = () => new Promise((r) => setImmediate(r));

/**
 * Evaluated on the main thread through the inspector (Runtime.evaluate, no Debugger): V8 runs
 * it at the blocked code's next interrupt check, so its stack is the blocked code's, under it.
 * Costs a few milliseconds, where a Debugger pause first needs Debugger.enable (every script
 * reported: 60-150 ms in a small app). The app's own stack formatting is kept out of it.
 */
const stackProbe = (limit: number) =>
  `(() => { const E = Error, p = E.prepareStackTrace, l = E.stackTraceLimit; try { E.prepareStackTrace = undefined; E.stackTraceLimit = ${limit}; return String(new E().stack) } finally { E.prepareStackTrace = p; E.stackTraceLimit = l } })()\n//# sourceURL=manhole-probe`;
const STACK_PROBE = stackProbe(60);
/** Every frame, to find an input's runner under however deep a recursion. */
const WHOLE_STACK_PROBE = stackProbe(1e6);
const STACK_LINE = /^\s*at (?:(.*?) \()?(.*?)(?::(\d+):(\d+))?\)?$/;

/**
 * Lets messages the main thread has already sent arrive: the poll phase that reads them runs
 * between two check phases. Used before deciding that an evaluation has not ended.
 */
async function receivePending(): Promise<void> {
  await nextCheck();
  await nextCheck();
}

export class ThreadSupervisor implements Supervisor {
  private session: inspector.Session | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  /** A reachability probe the main thread has not answered yet. */
  private probing: Promise<unknown> | undefined;
  /** The capture waiting for the main thread to stop at one of its breakpoints, if any. */
  private pauseListener: ((msg: { params: { callFrames: PausedFrame[] } }) => void) | undefined;
  /** The stack probe under way, shared by every session that waits (stackProbe). */
  private probingStack: Promise<string> | undefined;
  /** Reads the main thread's stack and locals when `.stack` asks. */
  private readonly capture: StackCapture;
  /** The app's worker threads: an inspector session of their own, made on first use. */
  readonly workers: WorkerThreads;
  /** The main thread is held stopped for a session (.pause). */
  private pauseHold: PauseHold | undefined;
  /** The session whose `.pause --at` breakpoint waits to be hit. */
  private armedBy: number | undefined;

  constructor(
    private readonly channel: EvalChannel,
    private readonly beat: SharedArrayBuffer,
    private readonly cells: Int32Array,
    private readonly timeoutMs: number,
  ) {
    this.workers = new WorkerThreads(timeoutMs);
    this.capture = new StackCapture(
      {
        post: (method, params) => this.post(method, params),
        on: (_event, listener) => {
          this.connect();
          this.pauseListener = listener;
        },
        off: () => {
          this.pauseListener = undefined;
        },
      },
      (id) => this.channel.inputOf(id),
    );
  }

  loopState(): LoopState {
    return readLoopState(this.beat);
  }

  attend(): () => void {
    return attendLoop(this.beat);
  }

  watch(id: number, hooks?: WatchHooks): () => void {
    let timer: NodeJS.Timeout | undefined;
    let poll: NodeJS.Timeout | undefined;
    let ended = false;
    const arm = () => {
      timer = setTimeout(() => void this.overdue(id, hooks, arm), this.timeoutMs);
    };
    arm();
    if (hooks) {
      // While the input waits for the main thread: a look at the loop now and every WAITING_POLL_MS.
      // One timer, cleared when the evaluation ends: most end long before the first look.
      const look = () => {
        poll = undefined;
        if (ended || !this.channel.isRunning(id) || this.started(id)) return;
        if (this.loopState().blocked) void this.noticeBlocked(id, hooks, () => ended, look);
        else poll = setTimeout(look, WAITING_POLL_MS);
      };
      look();
    }
    return () => {
      ended = true;
      clearTimeout(timer);
      if (poll) clearTimeout(poll);
    };
  }

  /** Has evaluation `id` been taken by the main thread? */
  private started(id: number): boolean {
    return Atomics.load(this.cells, CELL.started) >= id;
  }

  /**
   * Evaluation `id` waits and the loop looks blocked: tells its session so at once, how long and
   * where the main thread is (what the inspector observed); else looks again later.
   */
  private async noticeBlocked(id: number, hooks: WatchHooks, ended: () => boolean, again: () => void): Promise<void> {
    const at = await this.where().catch(() => undefined);
    // A main thread found with nothing of the app's or of an input on its stack is turning
    // (the heartbeat lags behind the message that ended a block): not blocked, look again.
    if (at && !at.idle) {
      // An interrupt for this input is under way (reached): its own answer says what happened.
      const interrupting = Atomics.load(this.cells, CELL.target) === id;
      if (!ended() && this.channel.isRunning(id) && !this.started(id) && !interrupting) hooks.blocked(at);
      return;
    }
    if (!ended()) setTimeout(again, WAITING_POLL_MS);
  }

  /**
   * Where the main thread is, for a session told its input waits: its top frame outside the
   * manhole, read from a stack the main thread itself makes at its next interrupt check; or
   * "native" when it does not answer the inspector at all.
   */
  async where(): Promise<BlockedAt> {
    const hold = this.pauseHold;
    if (hold) {
      const top = hold.frames[0];
      return {
        blockedMs: this.loopState().sinceMs,
        state: "js",
        pausedBy: hold.session,
        ...(top ? { frame: this.capture.frameInfo(top) } : {}),
      };
    }
    try {
      await this.reachable();
    } catch (err) {
      if (err instanceof NotInJavaScript) return { blockedMs: this.loopState().sinceMs, state: "native" };
      throw err;
    }
    const stack = await this.stackProbe();
    return { blockedMs: this.loopState().sinceMs, ...this.topOf(stack) };
  }

  /**
   * The main thread's stack from STACK_PROBE, "" when it gives none in time. Every session
   * waiting at once shares one probe, and the probe holds the inspector lock like a capture: the
   * thread must never be stopped (at a pause or a breakpoint) while it runs JavaScript the
   * inspector gave it. A stop inside such an evaluation, with more inspector messages queued
   * behind it, leaves the thread paused for good: Node's message loop on pause waits for those
   * messages while nothing dispatches them, so not even Debugger.resume is read (measured on
   * Node 20, 24 and 26).
   */
  private stackProbe(): Promise<string> {
    this.probingStack ??= this.exclusive(async () => {
      const r = await withTimeout(
        this.post<{ result?: { value?: unknown } }>("Runtime.evaluate", { expression: STACK_PROBE, silent: true, returnByValue: true }),
        PAUSE_WAIT_MS,
      ).catch(() => undefined);
      return typeof r?.result?.value === "string" ? r.result.value : "";
    }).finally(() => {
      this.probingStack = undefined;
    });
    return this.probingStack;
  }

  /** The top frame of an Error stack that is the user's, and whether it waits in Atomics.wait. */
  private topOf(stack: string): { state: "js" | "waiting"; frame?: FrameInfo; idle?: true } {
    const lines = stack.split("\n").slice(1);
    let waiting = false;
    const mappers = new Map<number, (line: number, column: number) => [number, number]>();
    for (const text of lines) {
      const m = STACK_LINE.exec(text);
      if (!m) continue;
      const [, fn = "", rawFile = "", line, column] = m;
      if (rawFile === "manhole-probe") continue;
      if (fn === "" && rawFile === "Atomics.wait") continue;
      if (rawFile === "<anonymous>" && fn === "Atomics.wait") {
        waiting = true;
        continue;
      }
      const file = displayPath(rawFile);
      if (!line || file.startsWith("node:") || RUNNERS.has(file) || isOwnFile(file)) continue;
      let pos: [number, number] = [Number(line), Number(column)];
      const input = INPUT_URL.exec(file);
      if (input) pos = this.mapInput(Number(input[1]), pos, mappers);
      return { state: waiting ? "waiting" : "js", frame: { function: fn, file, line: pos[0], column: pos[1] } };
    }
    // Nothing of the app's or of an input on the stack (only Node's and the manhole's own
    // plumbing, or nothing): the loop is turning. Atomics.wait always has its caller.
    return { state: waiting ? "waiting" : "js", ...(waiting ? {} : { idle: true as const }) };
  }

  /** An input's position (1-based) as the user typed it. */
  private mapInput(
    id: number,
    [line, column]: [number, number],
    mappers: Map<number, (line: number, column: number) => [number, number]>,
  ): [number, number] {
    let map = mappers.get(id);
    const code = map ? undefined : this.channel.inputOf(id);
    if (!map && code !== undefined) {
      map = inputPositions(code);
      mappers.set(id, map);
    }
    return map ? map(line, column) : [line, column];
  }

  async interrupt(id: number, session: number): Promise<string | undefined> {
    if (id) {
      await this.stop(id, INTERRUPT.request);
      return undefined;
    }
    // Nothing of this session runs, but the loop may be held by an earlier input's async tail.
    if (!this.loopState().blocked) return undefined;
    Atomics.store(this.cells, CELL.stopped, 0);
    const outcome = await this.halt(INTERRUPT.request, 0, session);
    // A loop that turned by itself (a slow moment of the app's) stopped nothing: only a check
    // that threw, or a termination, did.
    const stopped = outcome === "terminated" || (outcome === "freed" && Atomics.load(this.cells, CELL.stopped) !== 0);
    return stopped ? "Interrupted: manhole code that held the event loop was stopped" : undefined;
  }

  /**
   * The timeout. An evaluation that never started (other code keeps the loop blocked) is
   * cancelled, so that it never runs later, unless its session keeps inputs waiting (`.wait`):
   * then it is told so, and its own timeout starts when it starts.
   */
  private async overdue(id: number, hooks: WatchHooks | undefined, rearm: () => void): Promise<void> {
    if (!this.channel.isRunning(id)) return;
    if (!this.started(id)) {
      if (hooks?.keepWaiting()) {
        hooks.note(waitedText(true, this.timeoutMs));
        while (this.channel.isRunning(id) && !this.started(id)) await sleep(20);
        if (this.channel.isRunning(id)) rearm();
        return;
      }
      if (markCancelled(this.cells, id)) {
        this.channel.abandon(id, { kind: "cancelled", text: waitedText(false, this.timeoutMs) });
        return;
      }
      // It started meanwhile: its timeout is over all the same.
    }
    await this.stop(id, INTERRUPT.timeout);
  }

  /** Ends evaluation `id`: stops it if it is what keeps the main thread busy, else gives the prompt back. */
  private async stop(id: number, reason: number): Promise<void> {
    if (!this.channel.isRunning(id)) return;
    if (reason === INTERRUPT.request && !(await this.reached(id))) return;
    const stopKind = reason === INTERRUPT.timeout ? "timeout" : "interrupted";
    const awaiting = awaitAbandoned(reason === INTERRUPT.timeout ? "timeout" : "interrupt", this.timeoutMs);
    // Its synchronous part runs now: stop it, even before the heartbeat calls the loop blocked.
    if (Atomics.load(this.cells, CELL.sync) !== id) {
      // Awaiting only if the loop turns from now on: a continuation that started a moment ago
      // (`await 0; while (true) {}`) has not yet had time to look blocked.
      const turned = await this.turnedSince(Date.now(), TURN_WAIT_MS, id);
      if (!this.channel.isRunning(id)) return;
      if (turned) {
        this.channel.abandon(id, { kind: stopKind, text: awaiting });
        return;
      }
    }
    const outcome = await this.halt(reason, id, this.channel.sessionOf(id) ?? 0);
    // A stopped evaluation usually reports itself ("Interrupted ..."); these cover the rest.
    const text = interruptedText(reason === INTERRUPT.timeout, this.timeoutMs);
    const notes: Record<Halted, string> = {
      // The main thread is free of it, yet it has not ended: it awaits.
      freed: awaiting,
      terminated: text,
      "not-ours": `${text}: ${STILL_RUNNING["not-ours"]}`,
      unsafe: `${text}: ${STILL_RUNNING.unsafe}`,
      "not-js": `${text}: ${STILL_RUNNING["not-js"]}`,
      unseen: `${text}: ${STILL_RUNNING.unseen}`,
    };
    const goesOn = outcome === "not-ours" || outcome === "unsafe" || outcome === "not-js" || outcome === "unseen";
    this.channel.abandon(id, { kind: stopKind, text: notes[outcome], ...(goesOn ? { goesOn: true as const } : {}) });
  }

  /**
   * Stops the manhole code that blocks the main thread. First cooperatively: the interrupt flag
   * makes the next loop iteration or function call of any manhole code throw, which ends sync
   * loops and microtask loops alike. If the loop stays blocked, a synchronous evaluation (the
   * runner is on the stack) is terminated through the inspector. Termination is never used on
   * a microtask: V8 and Node do not recover from it reliably (the process can die).
   * With `id`, only that evaluation is terminated, and its end is enough: a later one may be
   * what blocks the loop by then. The flag stops only `session`'s code (0: any session's).
   */
  private async halt(reason: number, id: number, session: number): Promise<Halted> {
    const raised = Date.now();
    // Only this session's manhole code stops at its checks: another session's keeps running.
    Atomics.store(this.cells, CELL.scope, session);
    Atomics.store(this.cells, CELL.flag, reason);
    try {
      if (await this.turnedSince(raised, COOPERATIVE_WAIT_MS, id)) return "freed";
      try {
        return await this.exclusive(() => this.terminateIfSynchronous(id));
      } catch (err) {
        // Native only when the inspector saw no answer; any other failure proves nothing.
        return err instanceof NotInJavaScript ? "not-js" : "unseen";
      }
    } finally {
      // Lowered by the main thread when it gets this, i.e. once its loop turns again.
      this.channel.interruptDone();
    }
  }

  /**
   * Resolves true as soon as the event loop has turned after `since` (a fresh heartbeat is not
   * enough: code that started a moment ago has not had time to look blocked), false after `ms`.
   * A stopped evaluation's own result arrives first: it says best what happened. True too as
   * soon as evaluation `id` (if any) has ended.
   */
  private async turnedSince(since: number, ms: number, id: number): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      await sleep(10);
      if (id && !this.channel.isRunning(id)) return true;
      if (lastBeat(this.beat) > since) {
        await receivePending();
        return true;
      }
    }
    return false;
  }

  /**
   * Waits until evaluation `id` has reached the main thread; false if it ended first. The
   * target is set first: if the main thread takes the evaluation before we look again, it
   * raises the flag itself, so that the evaluation stops at its first check. If other code
   * keeps the loop blocked meanwhile, the session is told so and gets its prompt back; the
   * input is skipped when its turn comes.
   */
  private async reached(id: number): Promise<boolean> {
    Atomics.store(this.cells, CELL.target, id);
    while (Atomics.load(this.cells, CELL.started) < id) {
      if (!this.channel.isRunning(id)) return false;
      // Other code holds the loop: say so now rather than when it lets go (maybe never). A loop
      // that counts as blocked has not turned for 250 ms: the input is not about to start. But
      // the heartbeat alone is a guess (a starved process turns late too): only a main thread
      // the inspector finds running something other than the manhole's plumbing is blocked.
      if (this.loopState().blocked) {
        const at = await this.where().catch(() => undefined);
        if (at?.idle) {
          await sleep(50);
          continue;
        }
        // Told "will not run" only once the main thread is sure to skip it.
        if (markCancelled(this.cells, id)) {
          this.channel.abandon(id, { kind: "cancelled", text: NOT_STARTED_TEXT });
          return false;
        }
      }
      await sleep(10);
    }
    return this.channel.isRunning(id);
  }

  async stack(): Promise<string> {
    const hold = this.pauseHold;
    if (hold) {
      return this.exclusive(
        async () =>
          `Main thread: paused by session ${hold.session} (.pause) for ${formatDuration(Date.now() - hold.since)}; it goes on after that session's .resume\n${await this.capture.stackText(hold.frames)}`,
      );
    }
    const loop = this.loopState();
    if (!loop.blocked) {
      return `Main thread: the event loop is responsive (last turn ${formatDuration(loop.sinceMs)} ago); no JavaScript is running.`;
    }
    try {
      return await this.exclusive(async () => {
        await this.reachable();
        const text = await this.capture.capture();
        const head = `Main thread: event loop blocked for ${formatDuration(this.loopState().sinceMs)}`;
        return text === undefined ? `${head}; it runs JavaScript but gave no stack in time (try .stack again)` : `${head}\n${text}`;
      });
    } catch (err) {
      if (err instanceof NotInJavaScript && this.capture.stuckSince !== undefined) {
        return `Main thread: event loop blocked for ${formatDuration(this.loopState().sinceMs)}; it runs JavaScript, but ${STOPPED_ANSWERING}. Try .stack again then.`;
      }
      if (err instanceof NotInJavaScript) {
        return `Main thread: event loop blocked for ${formatDuration(this.loopState().sinceMs)}, outside JavaScript (native code such as execSync, a synchronous file operation or a native addon): it does not answer the inspector, so it can be neither paused nor stopped from here. Its JavaScript stack can be read once it returns. Node's diagnostic report (process.report) has only the native stack of the thread that writes it, so the main thread's native frames cannot be read from inside the process; gdb or eu-stack -p ${process.pid} can.`;
      }
      throw err;
    }
  }

  pausedBy(): number | undefined {
    return this.pauseHold?.session;
  }

  async pause(session: number, ended: (text: string) => void, options: PauseOptions = {}, signal?: AbortSignal): Promise<PauseAnswer> {
    if (this.pauseHold) {
      return this.pauseHold.session === session
        ? {
            ok: false,
            text: "Already paused (.frame N selects a frame, .resume lets the main thread go on).",
            json: { paused: true, reason: "paused" },
          }
        : {
            ok: false,
            text: `The main thread is paused by session ${this.pauseHold.session} (.pause); it goes on after that session's .resume.`,
            json: { paused: false, reason: "busy", by: this.pauseHold.session },
          };
    }
    if (this.armedBy !== undefined) {
      return {
        ok: false,
        text: `Session ${this.armedBy} waits for its .pause --at breakpoint; one pause at a time.`,
        json: { paused: false, reason: "busy", by: this.armedBy },
      };
    }
    if (options.at) return this.pauseAt(session, ended, options.at, options.seconds ?? 30, signal);
    const loop = this.loopState();
    if (!loop.blocked) {
      return {
        ok: false,
        text: `Nothing to pause: the event loop turns (last turn ${formatDuration(loop.sinceMs)} ago); inputs are evaluated as usual (.pause --at file:line stops there the next time that line runs).`,
        json: { paused: false, reason: "not-blocked" },
      };
    }
    return this.exclusive(async () => {
      try {
        await this.reachable();
      } catch (err) {
        if (!(err instanceof NotInJavaScript)) throw err;
        if (this.capture.stuckSince !== undefined)
          return {
            ok: false,
            text: `Not paused: the main thread runs JavaScript, but ${STOPPED_ANSWERING}. Nothing was stopped.`,
            json: { paused: false, reason: "unsafe" },
          };
        return {
          ok: false,
          text: `Cannot pause: the main thread is blocked outside JavaScript (native code such as execSync, a synchronous file operation or a native addon) for ${formatDuration(this.loopState().sinceMs)}; it does not answer the inspector, so native code cannot be paused (.stack says more).`,
          json: { paused: false, reason: "native" },
        };
      }
      const stopped = await this.capture.stop();
      if (!stopped.stopped) return this.notStopped(stopped);
      return this.hold(
        session,
        ended,
        stopped.frames,
        `at the next statement of ${stopped.frames[0]?.functionName || "<anonymous>"}`,
        signal,
      );
    });
  }

  /** Why `.pause` did not stop the thread, with its frames as sampled. */
  private notStopped(stopped: Extract<Stopped, { stopped: false }>): PauseAnswer {
    if (stopped.reason === "idle") {
      return {
        ok: false,
        text: "Nothing to pause: the event loop has just turned; inputs are evaluated as usual.",
        json: { paused: false, reason: "not-blocked" },
      };
    }
    if (stopped.reason === "no-stack") {
      return {
        ok: false,
        text: "Not paused: the main thread runs JavaScript but gave no stack in time (try .pause again).",
        json: { paused: false, reason: "missed" },
      };
    }
    const top = stopped.frames.find((f) => f.url !== "");
    const name = top?.functionName || "<anonymous>";
    const why = stopped.inside
      ? `it is inside ${stopped.inside} (called from ${name}), which reached no statement where it could be stopped within 1 s`
      : stopped.why;
    const frames = this.capture.framesText(stopped.frames);
    return {
      ok: false,
      text: `Not paused: the main thread could not be paused safely: ${why}. Nothing was stopped; its frames as sampled:\n${frames}`,
      json: {
        paused: false,
        reason: "unsafe",
        ...(stopped.inside ? { inside: stopped.inside } : {}),
        frames: stopped.frames.map((f) => this.capture.frameInfo(f)),
      },
    };
  }

  /** Holds the stopped thread for `session`: its inputs are evaluated in the selected frame until it resumes. */
  private async hold(
    session: number,
    ended: (text: string) => void,
    frames: Frame[],
    how: string,
    signal?: AbortSignal,
  ): Promise<PauseAnswer> {
    const blockedMs = this.loopState().sinceMs;
    const hold: PauseHold = {
      session,
      frames,
      selected: 0,
      since: Date.now(),
      idle: setTimeout(() => void this.idleResume(session), PAUSE_IDLE_MS),
      ended,
    };
    hold.idle.unref();
    this.pauseHold = hold;
    // The session left while the thread was being stopped: nobody is there to resume it.
    if (signal?.aborted) {
      clearTimeout(hold.idle);
      this.pauseHold = undefined;
      await this.capture.resume();
      return { ok: false, text: "Resumed at once: the session left.", json: { paused: false, reason: "cancelled" } };
    }
    const blocked = this.loopState().blocked ? ` (its event loop was blocked for ${formatDuration(blockedMs)})` : "";
    return {
      ok: true,
      text: `Paused the main thread ${how}${blocked}. Inputs are now evaluated in the selected frame; .frame N, .up and .down select another, .resume lets it go on (also Ctrl-D, leaving, or ${formatDuration(PAUSE_IDLE_MS)} unused).\n${await this.capture.describeHeld(frames, 0)}`,
      json: { paused: true, frames: frames.map((f) => this.capture.frameInfo(f)), selected: 0 },
    };
  }

  /** `.pause --at file:line`: a one-shot breakpoint, waited for up to `seconds`; removed unless hit. */
  private async pauseAt(
    session: number,
    ended: (text: string) => void,
    at: { file: string; line: number },
    seconds: number,
    signal?: AbortSignal,
  ): Promise<PauseAnswer> {
    this.armedBy = session;
    try {
      const armed = await this.exclusive(() => this.capture.arm(at.file, at.line));
      if (typeof armed === "string") {
        return { ok: false, text: `No breakpoint set: ${armed}.`, json: { paused: false, reason: "no-breakpoint" } };
      }
      let timer: NodeJS.Timeout | undefined;
      let onAbort: (() => void) | undefined;
      const gaveUp = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), seconds * 1000);
        onAbort = () => resolve(undefined);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
      let frames = await Promise.race([armed.hit, gaveUp]);
      clearTimeout(timer);
      if (onAbort) signal?.removeEventListener("abort", onAbort);
      if (!frames) {
        await armed.cancel();
        // Hit just as it was given up: hold it all the same (the thread is stopped now).
        frames = await armed.hit;
      }
      const where = `${armed.files[0]}:${armed.line}`;
      if (!frames) {
        return {
          ok: false,
          text: signal?.aborted
            ? `Not paused: cancelled before ${where} ran; the breakpoint is removed.`
            : `Not paused: ${where} did not run within ${formatDuration(seconds * 1000)}; the breakpoint is removed.`,
          json: { paused: false, reason: signal?.aborted ? "cancelled" : "not-hit" },
        };
      }
      const hit = frames;
      return await this.exclusive(() => this.hold(session, ended, hit, `at ${where}`, signal));
    } finally {
      this.armedBy = undefined;
    }
  }

  async selectFrame(session: number, to: number | "up" | "down"): Promise<PauseAnswer> {
    const hold = this.pauseHold;
    if (!hold || hold.session !== session)
      return { ok: false, text: "Not paused (.pause stops the main thread while its event loop is blocked)." };
    const index = to === "up" ? hold.selected + 1 : to === "down" ? hold.selected - 1 : to;
    if (!Number.isInteger(index) || index < 0 || index >= hold.frames.length) {
      return { ok: false, text: `No frame ${index}: frames go from 0 (the top) to ${hold.frames.length - 1}.` };
    }
    hold.selected = index;
    hold.idle.refresh();
    return this.exclusive(async () => ({
      ok: true,
      text: await this.capture.describeHeld(hold.frames, index),
      json: { paused: true, frames: hold.frames.map((f) => this.capture.frameInfo(f)), selected: index },
    }));
  }

  async resumePaused(session: number, why?: string): Promise<PauseAnswer> {
    const hold = this.pauseHold;
    if (!hold || hold.session !== session)
      return { ok: false, text: "Not paused: nothing to resume.", json: { paused: false, resumed: false } };
    clearTimeout(hold.idle);
    this.pauseHold = undefined;
    await this.exclusive(() => this.capture.resume());
    return {
      ok: true,
      text: `Resumed${why ? ` (${why})` : ""} after ${formatDuration(Date.now() - hold.since)}: the main thread goes on; inputs are evaluated as usual again.`,
      json: { paused: false, resumed: true },
    };
  }

  private async idleResume(session: number): Promise<void> {
    const hold = this.pauseHold;
    if (!hold || hold.session !== session) return;
    const { text } = await this.resumePaused(session, `unused for ${formatDuration(PAUSE_IDLE_MS)}`);
    hold.ended(text);
  }

  async evaluateInFrame(session: number, code: string): Promise<Outcome> {
    const hold = this.pauseHold;
    if (!hold || hold.session !== session) return { kind: "error", text: "Not paused" };
    hold.idle.refresh();
    const frame = hold.frames[hold.selected];
    if (!frame?.callFrameId) return { kind: "error", text: "This frame cannot be evaluated in (select another with .frame N)" };
    const callFrameId = frame.callFrameId;
    return this.exclusive(async () => {
      const evaluate = (expression: string) =>
        withTimeout(
          this.post<Evaluated>("Debugger.evaluateOnCallFrame", {
            callFrameId,
            expression,
            returnByValue: false,
            generatePreview: true,
            silent: true,
            includeCommandLineAPI: true,
          }),
          FRAME_EVAL_WAIT_MS,
        );
      const r = await evaluate(code);
      const assigned = ASSIGNMENT.exec(code)?.[1];
      if (r.exceptionDetails) {
        const e = r.exceptionDetails.exception;
        const text = `Uncaught ${e ? (e.description ?? remoteText(e)) : (r.exceptionDetails.text ?? "error")}`;
        const note =
          assigned && /constant variable/.test(text) ? `\n${notWrittenText(assigned, await this.capture.objectLocals(frame))}` : "";
        return { kind: "error", text: text + note };
      }
      let text = remoteText(r.result);
      const key = primitiveKey(r.result);
      if (assigned && key !== undefined) {
        // An optimized frame's stack-allocated variable is written only in a copy: read it back.
        const back = await evaluate(assigned).catch(() => undefined);
        if (back && !back.exceptionDetails && primitiveKey(back.result) !== key)
          text += `\n${notWrittenText(assigned, await this.capture.objectLocals(frame))}`;
      }
      return { kind: "ok", text };
    });
  }

  close(): void {
    if (this.pauseHold) clearTimeout(this.pauseHold.idle);
    this.pauseHold = undefined;
    this.workers.close();
    this.session?.disconnect();
    this.session = undefined;
  }

  /** An operation's use of the inspector session, exclusive of every other (stack captures, interrupts). */
  withInspector<T>(fn: (inspector: InspectorAccess) => Promise<T>): Promise<T> {
    return this.exclusive(() => fn({ post: (method, params) => this.post(method, params) }));
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }

  private connect(): inspector.Session {
    if (!this.session) {
      this.session = new inspector.Session();
      this.session.connectToMainThread();
      this.session.on("Debugger.paused", (msg: { params: { callFrames: PausedFrame[] } }) => {
        // A stop nobody waits for (a breakpoint hit after its capture gave up, an app's `debugger`
        // statement while the domain is on): the app must not stay paused.
        if (this.pauseListener) this.pauseListener(msg);
        else void this.post("Debugger.resume").catch(() => {});
      });
      this.session.on("Debugger.scriptParsed", (msg: { params: { scriptId: string; url: string; sourceMapURL?: string } }) =>
        this.capture.scriptParsed(msg.params),
      );
    }
    return this.session;
  }

  private post<T = unknown>(method: string, params?: object): Promise<T> {
    const s = this.connect();
    return new Promise((resolve, reject) => {
      s.post(method, params ?? {}, (err: Error | null, result?: object) => (err ? reject(err) : resolve(result as T)));
    });
  }

  /**
   * Throws NotInJavaScript unless the main thread answers a cheap request: decided by what the
   * inspector observes (an answer, or none), not by how long a costly request happens to take.
   */
  private async reachable(): Promise<void> {
    if (!this.probing) {
      const probe: Promise<unknown> = this.post("Runtime.getHeapUsage").finally(() => {
        if (this.probing === probe) this.probing = undefined;
      });
      probe.catch(() => {});
      this.probing = probe;
    }
    const probe = this.probing;
    let settled = false;
    probe.then(
      () => {
        settled = true;
      },
      () => {
        settled = true;
      },
    );
    // Counts only time this thread itself was running on time: when the whole process is
    // starved (a busy machine, CPU throttling), an answer already here must not lose the race
    // with our own timer.
    let observed = 0;
    let last = Date.now();
    const quiet = probe.catch(() => {});
    while (!settled) {
      await Promise.race([quiet, sleep(20)]);
      if (settled) break;
      const now = Date.now();
      observed += Math.min(now - last, 60);
      last = now;
      if (observed >= REACH_WAIT_MS && !settled) {
        await receivePending();
        if (!settled) throw new NotInJavaScript();
      }
    }
    await probe;
  }

  /**
   * The script URLs on the main thread's stack, innermost first, from a stack the main thread
   * makes itself at its next interrupt check (Runtime.evaluate). No Debugger pause: V8 builds the
   * scope chain of every frame at a pause, and on a frame interrupted at its entry, before its
   * context exists, that aborts the whole process (a CHECK in V8's ScopeIterator). Undefined
   * when the probe got no answer in time.
   */
  private async stackUrls(): Promise<string[] | undefined> {
    await this.reachable();
    const r = await withTimeout(
      this.post<{ result?: { value?: unknown } }>("Runtime.evaluate", { expression: WHOLE_STACK_PROBE, silent: true, returnByValue: true }),
      PAUSE_WAIT_MS,
    ).catch(() => undefined);
    if (typeof r?.result?.value !== "string") return undefined;
    const urls: string[] = [];
    for (const text of r.result.value.split("\n").slice(1)) {
      // `at eval (REPL7:1:5)`, `at REPL7:1:5`, `at fn (file:line:col)`; an eval's own frame
      // names its origin too (`eval at <anonymous> (manhole-runner:1:96), REPL7:1:5`): the last one counts.
      const m = STACK_LINE.exec(text);
      if (!m) continue;
      const file = (m[2] ?? "").split(", ").pop() ?? "";
      if (file === "manhole-probe") continue;
      urls.push(file);
    }
    return urls;
  }

  /**
   * Samples the main thread's stack a few times (a sample may land in glue code). Terminates
   * only when manhole code runs inside a synchronous evaluation: a REPL<n> frame with the
   * runner below it, so the termination unwinds to the evaluator's message handler. With `id`,
   * only that evaluation's synchronous part counts.
   */
  private async terminateIfSynchronous(id: number): Promise<Exclude<Halted, "not-js">> {
    // A session holds the main thread stopped (.pause): what holds it is not an evaluation to stop.
    if (this.pauseHold) return "not-ours";
    let seen: "not-ours" | "unsafe" | "unseen" = "unseen";
    const ours = (url: string) => (id ? url === `REPL${id}` : /^REPL\d+$/.test(url));
    for (let sample = 0; sample < SAMPLES; sample++) {
      if (id && !this.channel.isRunning(id)) return "freed";
      const urls = await this.stackUrls();
      if (!urls) continue;
      const repl = urls.findIndex(ours);
      if (repl < 0) {
        if (seen === "unseen") seen = "not-ours";
        continue;
      }
      if (urls.slice(repl).some((u) => RUNNERS.has(u))) {
        // The evaluation that runs: the sampled one, or (any session's, id 0) the one in `sync`.
        const target = id || Atomics.load(this.cells, CELL.sync);
        // Its synchronous part may have ended since the sample: then nothing of it is left to
        // terminate. Else it cannot end until the termination has landed (claimTermination).
        if (!target) return "unsafe";
        if ((id && !this.channel.isRunning(id)) || !claimTermination(this.cells, target)) return "freed";
        try {
          // The reply comes only once the terminated code has unwound.
          await withTimeout(this.post("Runtime.terminateExecution"), PAUSE_WAIT_MS).catch(() => {});
        } finally {
          releaseTermination(this.cells, target);
        }
        return "terminated";
      }
      seen = "unsafe";
    }
    return seen;
  }
}
