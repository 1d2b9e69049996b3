/**
 * Reads the blocked main thread's stack and its top frame's locals without ever interrupting it
 * with a Debugger pause.
 *
 * A Debugger pause lands wherever V8 next checks for interrupts, which can be a function's entry
 * before its context exists; building the scope chains for the paused event there aborts the
 * whole process (a CHECK in V8's ScopeIterator: seen on Node 20, and reported on later versions
 * for other positions). So the frames come from a stack the main thread makes itself at its next
 * interrupt check (Runtime.evaluate: no Debugger at all), and the locals from breakpoints set at
 * the statements the top frame runs next: a breakpoint stops only at a statement, where the
 * frame is complete, as in any debugging session. A frame that does not come back to one of
 * them within a second is shown without its locals.
 */

import fs from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { isOwnFile } from "../../shared/own-files.js";
import { inlineSourceMap, parseSourceMap, type SourceMap } from "../main-thread/source-map.js";
import { inputPositions } from "../main-thread/typescript.js";
import { withDeadline } from "./deadline.js";
import { localsLines } from "./locals.js";
import { avoidOsrDeoptCrash } from "./osr-workaround.js";

/** Thrown when the main thread does not answer the inspector in time: it runs native code. */
export class NotInJavaScript extends Error {}

/** A promise's outcome, or NotInJavaScript once `ms` have passed without one. */
export const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> => withDeadline(p, ms, () => new NotInJavaScript());

/** The scripts that call an input's code: from them down, the stack is what runs manhole code. */
export const RUNNERS = new Set(["manhole-runner", "manhole-timed"]);
export const INPUT_URL = /^REPL(\d+)$/;

/** A script's URL as a stack shows it: a file as its path. */
export function displayPath(url: string): string {
  if (!url.startsWith("file:")) return url;
  try {
    return fileURLToPath(url);
  } catch {
    return url;
  }
}

/** How long the frame on top may take to reach a statement with a breakpoint. */
const CATCH_WAIT_MS = 1000;
/** Debugger.enable reports every script, which takes a while in a big app. */
const ENABLE_WAIT_MS = 10_000;
/** How long a request to the (JavaScript-running) main thread may take. */
const ANSWER_WAIT_MS = 1000;
/**
 * Any other request: answered at the thread's next interrupt check while it runs JavaScript
 * (milliseconds), at once while it is stopped. Bounded, so that no answer of ours waits for ever.
 */
const REQUEST_WAIT_MS = 2000;

/**
 * Why a thread stops answering the inspector once the Debugger is on: a loop whose on-stack
 * optimization (OSR) V8 had scheduled keeps asking for it at every iteration and is refused
 * every time (the function now has break info), and the loop takes no interrupt meanwhile
 * (gdb: Runtime_CompileOptimizedOSR on the main thread's stack, for as long as the loop runs).
 * Seen on Node 22 in about half the `.pause` tests of a spinning loop; it ends with the loop.
 */
export const STOPPED_ANSWERING =
  "the thread stopped answering the inspector once the debugger was on (V8 retries an on-stack optimization of the loop it spins in at every iteration and takes no interrupt meanwhile; it answers again when that loop ends)";
const MAX_FRAMES = 30;
/** Breakpoints set at most for one capture (a minified line can hold thousands of statements). */
const MAX_BREAKPOINTS = 100;
/** Lines above the top frame's where its next statements may be (the head of a loop it is in). */
const LINES_ABOVE = 10;

/** The main thread's stack as raw call sites (V8 positions, script URLs), made on the main thread itself. */
const SITES_PROBE = `(() => { const E = Error, p = E.prepareStackTrace, l = E.stackTraceLimit; try { E.stackTraceLimit = 200; E.prepareStackTrace = (_, sites) => sites.map((c) => { const url = c.getScriptNameOrSourceURL() || c.getFileName() || ""; let name = c.getFunctionName() || ""; if (!url && name && c.getTypeName()) name = c.getTypeName() + "." + name; return [name, url, c.getLineNumber() || 0, c.getColumnNumber() || 0] }); return new E().stack } finally { E.prepareStackTrace = p; E.stackTraceLimit = l } })()\n//# sourceURL=manhole-probe`;

interface Location {
  scriptId: string;
  lineNumber: number;
  columnNumber: number;
}

/** A frame of a Debugger.paused event. */
export interface PausedFrame {
  /** For Debugger.evaluateOnCallFrame while the thread stays paused (absent in a worker's relayed frames). */
  callFrameId?: string;
  functionName: string;
  location: Location;
  scopeChain: { type: string; object: { objectId?: string } }[];
}

/** One frame to show, from a paused event or from the probe. Positions 0-based, as the inspector gives them. */
export interface Frame {
  functionName: string;
  url: string;
  line: number;
  column: number;
  scriptId?: string;
  /** The local scope's remote object, when the frame was paused. */
  locals?: string;
  /** The paused frame's id, to evaluate in it. */
  callFrameId?: string;
}

/**
 * What `stop()` found: the thread is stopped at a statement and left so (its frames, the user's
 * first; `resume()` lets it go), or it was not stopped (the frames as sampled, and why).
 */
export type Stopped =
  | { stopped: true; frames: Frame[] }
  | {
      stopped: false;
      reason: "idle" | "unsafe" | "no-stack";
      why: string;
      frames: Frame[];
      /** The builtin (or native function) the top frame was inside of, when the probe saw one. */
      inside?: string;
    };

/** A one-shot breakpoint of `.pause --at`, armed until hit, given up or cancelled. */
export interface ArmedBreakpoint {
  /** The scripts it was set in (their paths), and the 1-based line it landed on in the first. */
  files: string[];
  line: number;
  /** Resolves with the paused frames once it is hit (the thread is then left stopped), or undefined when given up. */
  hit: Promise<Frame[] | undefined>;
  /** Removes it (if not hit yet); `hit` then resolves undefined. */
  cancel(): Promise<void>;
}

interface PropertyDescriptor {
  name: string;
  value?: { type: string; subtype?: string; description?: string; value?: unknown };
}

type PausedListener = (msg: { params: { callFrames: PausedFrame[]; hitBreakpoints?: string[] } }) => void;

/** The part of an inspector session the capture uses. */
export interface CaptureLink {
  post<T = unknown>(method: string, params?: object): Promise<T>;
  on(event: "Debugger.paused", listener: PausedListener): void;
  off(event: "Debugger.paused", listener: PausedListener): void;
}

export class StackCapture {
  /** Script URLs by id, as Debugger.enable reports them (call frames carry only the id). */
  private readonly scripts = new Map<string, string>();
  private readonly ids = new Map<string, string>();
  /** The source map URL of each script that has one (tsx, a bundler, tsc --sourceMap), by script id. */
  private readonly sourceMapUrls = new Map<string, string>();
  /** Source maps read so far, by script URL (undefined: none to be had), kept for the next `.stack`. */
  private readonly sourceMaps = new Map<string, SourceMap | undefined>();
  /** An enable the main thread has not answered yet. */
  private unanswered: Promise<unknown> | undefined;
  /** Captures, holds and armed breakpoints that need the Debugger now: disabled when the last lets go. */
  private users = 0;
  /** Whoever waits for the next Debugger.paused of a capture (any pause: it is at a statement). */
  private catching: ((frames: PausedFrame[]) => void) | undefined;
  /** An armed `.pause --at` breakpoint: only a pause that hits it is its own. */
  private armed: { ids: Set<string>; hit(frames: PausedFrame[]): void } | undefined;
  /** The thread is stopped and kept so for a caller (`stop()`, an armed breakpoint hit): nobody else resumes it. */
  private held = false;
  private readonly onPaused: PausedListener = (msg) => this.paused(msg.params);

  constructor(
    private readonly link: CaptureLink,
    private readonly inputOf: (id: number) => string | undefined,
  ) {}

  /**
   * Since when a request with the Debugger on has gone unanswered (see STOPPED_ANSWERING);
   * cleared by the next answer.
   */
  stuckSince: number | undefined;

  /** One request, rejected (NotInJavaScript) when it is not answered within REQUEST_WAIT_MS. */
  private ask<T = unknown>(method: string, params?: object): Promise<T> {
    const answer = this.link.post<T>(method, params);
    answer.then(
      () => {
        this.stuckSince = undefined;
      },
      () => {},
    );
    return withTimeout(answer, REQUEST_WAIT_MS).catch((err: unknown) => {
      if (err instanceof NotInJavaScript && this.users > 0) this.stuckSince ??= Date.now();
      throw err;
    });
  }

  /** Fed by the session's Debugger.scriptParsed events. */
  scriptParsed(params: { scriptId: string; url: string; sourceMapURL?: string }): void {
    this.scripts.set(params.scriptId, params.url);
    this.ids.set(params.url, params.scriptId);
    if (params.sourceMapURL) this.sourceMapUrls.set(params.scriptId, params.sourceMapURL);
  }

  /**
   * The frames of the JavaScript the main thread runs now and its top frame's locals, as text;
   * undefined when it gave no stack in time. The caller has checked that it answers the inspector.
   */
  async capture(): Promise<string | undefined> {
    const caught = await this.catchNext();
    if (!caught) return undefined;
    try {
      if (caught.paused) return await this.describe(this.userFrames(caught.paused.map((f) => this.pausedFrame(f))));
      return await this.describe(caught.probed, `Locals: not read (${caught.why}); the frames are as sampled.`);
    } finally {
      if (caught.paused) await this.ask("Debugger.resume").catch(() => {});
      if (caught.enabled) await this.release();
    }
  }

  /**
   * Stops the thread at the next statement its top frame runs (a breakpoint, never a Debugger
   * pause) and leaves it stopped, for `.pause`: `resume()` lets it go. Not stopped (and never
   * left so) when no statement of it is reached within a second, when what runs on top is the
   * manhole's own code, or when nothing of the app's runs (the loop has just turned).
   */
  async stop(): Promise<Stopped> {
    const caught = await this.catchNext(true);
    if (!caught) return { stopped: false, reason: "no-stack", why: "it gave no stack in time", frames: [] };
    if (!caught.paused) {
      if (caught.enabled) await this.release();
      return {
        stopped: false,
        reason: caught.reason ?? "unsafe",
        why: caught.why ?? "",
        frames: caught.probed,
        ...(caught.inside ? { inside: caught.inside } : {}),
      };
    }
    const frames = this.userFrames(caught.paused.map((f) => this.pausedFrame(f)));
    if (frames.length === 0 || this.isManholes(frames[0])) {
      await this.ask("Debugger.resume").catch(() => {});
      await this.release();
      return { stopped: false, reason: "unsafe", why: "it runs the manhole's own code, which is never paused", frames };
    }
    this.held = true;
    return { stopped: true, frames };
  }

  /** Lets a thread that `stop()` or an armed breakpoint left stopped go on, and the Debugger go when nobody else needs it. */
  async resume(): Promise<void> {
    if (!this.held) return;
    this.held = false;
    await this.ask("Debugger.resume").catch(() => {});
    await this.release();
  }

  /**
   * `.pause --at file:line`: a breakpoint on that line of every loaded script whose path is
   * `file` or ends with `/file` (never the manhole's own), hit once: the thread is then left
   * stopped there (`resume()`), and the breakpoint removed. A string says why none was set.
   */
  async arm(file: string, line: number): Promise<ArmedBreakpoint | string> {
    if (!(await this.acquire())) return "the debugger was not ready in time";
    const wanted = (url: string) => {
      const p = displayPath(url);
      return p === file || p.endsWith(`/${file}`) || url === file;
    };
    const urls = [...new Set(this.scripts.values())].filter(wanted);
    const theirs = urls.filter((u) => !isOwnFile(displayPath(u)) && !RUNNERS.has(u));
    if (theirs.length === 0) {
      await this.release();
      return urls.length > 0
        ? `${file} is the manhole's own code, which is never paused`
        : `no loaded script is ${file} (a path, or its end such as server.js or lib/server.js)`;
    }
    const set = await Promise.all(
      theirs.map((url) =>
        this.link
          .post<{ breakpointId: string; locations: Location[] }>("Debugger.setBreakpointByUrl", { url, lineNumber: line - 1 })
          .catch(() => undefined),
      ),
    );
    const placed = set.filter((r): r is { breakpointId: string; locations: Location[] } => r !== undefined);
    const ids = new Set(placed.map((r) => r.breakpointId));
    const landed = placed.flatMap((r) => r.locations);
    const remove = () =>
      Promise.all([...ids].map((breakpointId) => this.ask("Debugger.removeBreakpoint", { breakpointId }).catch(() => {}))).then(() => {});
    if (landed.length === 0) {
      await remove();
      await this.release();
      return `line ${line} of ${file} has no statement where the thread can be stopped`;
    }
    let settle: (frames: Frame[] | undefined) => void = () => {};
    const hit = new Promise<Frame[] | undefined>((resolve) => {
      settle = resolve;
    });
    let done = false;
    const end = async (frames: Frame[] | undefined) => {
      if (done) return;
      done = true;
      if (this.armed?.ids === ids) this.armed = undefined;
      await remove();
      // A hit keeps the Debugger for the hold; `resume()` lets it go.
      if (!frames) await this.release();
      settle(frames);
    };
    this.armed = {
      ids,
      hit: (callFrames) => {
        this.held = true;
        void end(this.userFrames(callFrames.map((f) => this.pausedFrame(f))));
      },
    };
    return {
      files: theirs.map(displayPath),
      line: (landed[0]?.lineNumber ?? line - 1) + 1,
      hit,
      cancel: () => end(undefined),
    };
  }

  /** Is a breakpoint armed (`.pause --at` waits)? */
  get isArmed(): boolean {
    return this.armed !== undefined;
  }

  /**
   * The frames of a held pause, numbered, the selected one marked, and its locals. Only while
   * the thread is stopped (its remote objects live until it resumes).
   */
  async describeHeld(frames: Frame[], selected: number): Promise<string> {
    const mappers = new Map<number, (line: number, column: number) => [number, number]>();
    const lines = frames.slice(0, MAX_FRAMES).map((f, i) => `${i === selected ? ">" : " "}#${i} ${this.frameLine(f, mappers).trimStart()}`);
    if (frames.length > MAX_FRAMES) lines.push(`    ... ${frames.length - MAX_FRAMES} more frames`);
    const chosen = frames[selected];
    if (chosen) lines.push(...(await this.localsOf(chosen)));
    return lines.join("\n");
  }

  /** Frames as `.stack` prints them, with the top frame's locals when it is stopped. */
  stackText(frames: Frame[]): Promise<string> {
    return this.describe(frames);
  }

  /** Frames as text, as `.stack` prints them (the sampled ones of a `.pause` that did not stop). */
  framesText(frames: Frame[]): string {
    const mappers = new Map<number, (line: number, column: number) => [number, number]>();
    const lines = frames.slice(0, MAX_FRAMES).map((f) => this.frameLine(f, mappers));
    if (frames.length > MAX_FRAMES) lines.push(`    ... ${frames.length - MAX_FRAMES} more frames`);
    return lines.join("\n");
  }

  /** A frame's function, file and 1-based position as people see them (inputs and source maps mapped). */
  frameInfo(frame: Frame): { function: string; file: string; line: number; column: number } {
    return { function: frame.functionName || "<anonymous>", ...this.placed(frame, new Map()) };
  }

  /** The names of a frame's locals that hold objects (what an assignment that did not take can change instead). */
  async objectLocals(frame: Frame): Promise<string[]> {
    if (!frame.locals) return [];
    const { result } = await this.link
      .post<{ result: PropertyDescriptor[] }>("Runtime.getProperties", { objectId: frame.locals, ownProperties: true })
      .catch(() => ({ result: [] as PropertyDescriptor[] }));
    return result.filter((p) => p.value?.type === "object" && p.value.subtype !== "null").map((p) => p.name);
  }

  /** The manhole's own frame (its files, its runners, the probe): never paused, never shown as the user's. */
  private isManholes(frame: Frame): boolean {
    return RUNNERS.has(frame.url) || frame.url === "manhole-probe" || isOwnFile(displayPath(frame.url));
  }

  /** Is a frame (as sampled) the app's or an input's, rather than Node's, a builtin's or the manhole's own? */
  private isApps(frame: Frame): boolean {
    const file = displayPath(frame.url);
    return file !== "" && !file.startsWith("node:") && !this.isManholes(frame);
  }

  /**
   * Probes the stack, enables the Debugger and catches the top frame at its next statement.
   * Undefined when no stack came in time. When `paused` is set, the thread is stopped and the
   * caller resumes it; `enabled`: the caller releases the Debugger. `strict` (for `.pause`):
   * no breakpoint is set when nothing of the app's runs, or the manhole's own code is on top.
   */
  private async catchNext(strict = false): Promise<
    | {
        probed: Frame[];
        enabled: boolean;
        paused?: PausedFrame[];
        why?: string;
        reason?: "idle" | "unsafe";
        inside?: string;
      }
    | undefined
  > {
    const sites = await this.sites();
    if (!sites) return undefined;
    const enabled = await this.acquire();
    const all = sites.map(([functionName, url, line, column]) => this.siteFrame(functionName, url, line, column));
    const probed = this.userFrames(all);
    const top = probed.find((f) => f.scriptId);
    if (!enabled) return { probed, enabled, why: "the debugger was not ready in time", reason: "unsafe" };
    if (strict && !probed.some((f) => this.isApps(f)))
      return { probed, enabled, why: "nothing of the app's runs: the event loop has just turned", reason: "idle" };
    if (strict && top && this.isManholes(top))
      return { probed, enabled, why: "it runs the manhole's own code, which is never paused", reason: "unsafe" };
    const paused = top ? await this.catchAt(top) : undefined;
    if (paused) return { probed, enabled, paused };
    if (this.stuckSince !== undefined) return { probed, enabled, why: STOPPED_ANSWERING, reason: "unsafe" };
    // What it is inside of: the builtin (or native function) above the top frame of its own.
    const inside = top ? all.slice(0, all.indexOf(top)).find((f) => !f.url && f.functionName)?.functionName : undefined;
    const why = `${top?.functionName || "it"} did not reach a statement where it could be stopped safely within ${CATCH_WAIT_MS / 1000} s`;
    return { probed, enabled, why, reason: "unsafe", ...(inside ? { inside } : {}) };
  }

  private async sites(): Promise<[string, string, number, number][] | undefined> {
    const r = await withTimeout(
      this.link.post<{ result?: { value?: unknown } }>("Runtime.evaluate", { expression: SITES_PROBE, silent: true, returnByValue: true }),
      ANSWER_WAIT_MS,
    ).catch(() => undefined);
    const value = r?.result?.value;
    if (!Array.isArray(value)) return undefined;
    return (value as [string, string, number, number][]).filter(([, url]) => url !== "manhole-probe");
  }

  /** Debugger.enable for one more user; false when it took too long (it is turned off again once it lands). */
  private async acquire(): Promise<boolean> {
    if (this.users > 0) {
      this.users++;
      return true;
    }
    if (this.unanswered) await withTimeout(this.unanswered, ENABLE_WAIT_MS).catch(() => {});
    if (this.unanswered) return false;
    if (this.users > 0) {
      this.users++;
      return true;
    }
    avoidOsrDeoptCrash(); // before the first breakpoint of any thread
    const enable = this.link.post("Debugger.enable");
    this.unanswered = enable;
    try {
      await withTimeout(enable, ENABLE_WAIT_MS);
      this.unanswered = undefined;
      if (this.users++ === 0) this.link.on("Debugger.paused", this.onPaused);
      return true;
    } catch {
      enable.then(
        () => {
          this.unanswered = undefined;
          if (this.users === 0) void this.disable();
        },
        () => {
          this.unanswered = undefined;
        },
      );
      return false;
    }
  }

  /** One user less: the last one turns the Debugger off (never while the thread is held stopped). */
  private async release(): Promise<void> {
    if (this.users === 0) return;
    if (--this.users > 0) return;
    this.link.off("Debugger.paused", this.onPaused);
    await this.disable();
  }

  private async disable(): Promise<void> {
    this.held = false;
    await this.ask("Debugger.resume").catch(() => {});
    await this.ask("Debugger.disable").catch(() => {});
    this.scripts.clear();
    this.ids.clear();
    this.sourceMapUrls.clear();
  }

  /** Every Debugger.paused: an armed breakpoint's, a capture's, or nobody's (resumed at once: never left paused). */
  private paused(params: { callFrames: PausedFrame[]; hitBreakpoints?: string[] }): void {
    const armed = this.armed;
    if (armed && params.hitBreakpoints?.some((id) => armed.ids.has(id))) {
      this.armed = undefined;
      armed.hit(params.callFrames);
      return;
    }
    const catching = this.catching;
    if (catching) {
      this.catching = undefined;
      catching(params.callFrames);
      return;
    }
    // A `debugger` statement while a breakpoint is armed, a capture's breakpoint hit after it gave up.
    if (!this.held) void this.ask("Debugger.resume").catch(() => {});
  }

  /**
   * Sets breakpoints at the statements `top` may run next (the next one from where it was
   * sampled, and the first of each line just above it: the head of the loop it spins in) and
   * waits for one to be hit: the paused frames, or undefined. The breakpoints are gone when it
   * returns.
   *
   * No Debugger.getPossibleBreakpoints first: it gives the running function break info without
   * a breakpoint, and a loop whose on-stack optimization V8 had scheduled then retries it at
   * every iteration and takes no interrupt again (STOPPED_ANSWERING). A breakpoint given in the
   * same request is hit on the loop's next turn all the same, which stops it where it answers.
   * Each position resolves to the first statement at or after it.
   */
  private async catchAt(top: Frame): Promise<PausedFrame[] | undefined> {
    const scriptId = top.scriptId as string;
    const locations: Location[] = [{ scriptId, lineNumber: top.line, columnNumber: top.column }];
    for (let line = top.line; line >= Math.max(0, top.line - LINES_ABOVE); line--)
      locations.push({ scriptId, lineNumber: line, columnNumber: 0 });
    let listener: ((frames: PausedFrame[]) => void) | undefined;
    const paused = new Promise<PausedFrame[]>((resolve) => {
      listener = resolve;
      this.catching = listener;
    });
    const ids = await Promise.all(
      locations.slice(0, MAX_BREAKPOINTS).map((location) =>
        this.ask<{ breakpointId: string }>("Debugger.setBreakpoint", { location }).then(
          (r) => r.breakpointId,
          () => undefined,
        ),
      ),
    );
    try {
      if (this.stuckSince !== undefined) return undefined;
      return await withTimeout(paused, CATCH_WAIT_MS).catch(() => undefined);
    } finally {
      if (this.catching === listener) this.catching = undefined;
      await Promise.all(ids.map((breakpointId) => breakpointId && this.ask("Debugger.removeBreakpoint", { breakpointId }).catch(() => {})));
    }
  }

  private siteFrame(functionName: string, url: string, line: number, column: number): Frame {
    const scriptId = this.ids.get(url) ?? (url.startsWith("/") ? this.ids.get(pathToFileURL(url).href) : undefined);
    return { functionName, url, line: Math.max(0, line - 1), column: Math.max(0, column - 1), ...(scriptId ? { scriptId } : {}) };
  }

  private pausedFrame(f: PausedFrame): Frame {
    const locals = f.scopeChain.find((s) => s.type === "local")?.object.objectId;
    return {
      functionName: f.functionName,
      url: this.scripts.get(f.location.scriptId) ?? "",
      line: f.location.lineNumber,
      column: f.location.columnNumber,
      scriptId: f.location.scriptId,
      ...(locals ? { locals } : {}),
      ...(f.callFrameId ? { callFrameId: f.callFrameId } : {}),
    };
  }

  /**
   * The frames worth showing: above the runner (what called the input is manhole and Node
   * plumbing), without this package's own (the interrupt check the input was stopped in). All of
   * them when that leaves none: then what blocks the thread is ours, and that is worth seeing.
   */
  private userFrames(frames: Frame[]): Frame[] {
    const runner = frames.findIndex((f) => RUNNERS.has(f.url));
    const kept = (runner >= 0 ? frames.slice(0, runner) : frames).filter((f) => !isOwnFile(displayPath(f.url)));
    return kept.length > 0 ? kept : frames;
  }

  private async describe(frames: Frame[], note?: string): Promise<string> {
    const lines: string[] = [];
    const mappers = new Map<number, (line: number, column: number) => [number, number]>();
    for (const frame of frames.slice(0, MAX_FRAMES)) lines.push(this.frameLine(frame, mappers));
    if (frames.length > MAX_FRAMES) lines.push(`    ... ${frames.length - MAX_FRAMES} more frames`);
    const top = frames[0];
    if (note) lines.push(note);
    else if (top) lines.push(...(await this.localsOf(top)));
    return lines.join("\n");
  }

  /** `Locals of fn:` and a line for each, when the frame was paused (else nothing). */
  private async localsOf(frame: Frame): Promise<string[]> {
    if (!frame.locals) return [];
    const read = await this.ask<{ result: PropertyDescriptor[] }>("Runtime.getProperties", {
      objectId: frame.locals,
      ownProperties: true,
    }).catch(() => undefined);
    if (!read) return [`Locals of ${frame.functionName || "<anonymous>"}: not read (no answer within ${REQUEST_WAIT_MS / 1000} s)`];
    return localsLines(frame.functionName, read.result);
  }

  /** `at name (file:line:column)`, an input's positions mapped back to what the user typed. */
  private frameLine(frame: Frame, mappers: Map<number, (line: number, column: number) => [number, number]>): string {
    const { file, line, column } = this.placed(frame, mappers);
    // As an error's stack shows an input's own code: `at REPL7:1:5`.
    if (INPUT_URL.test(file) && !frame.functionName) return `    at ${file}:${line}:${column}`;
    if (!file) return `    at ${frame.functionName || "<anonymous>"} (<anonymous>)`;
    return `    at ${frame.functionName || "<anonymous>"} (${file}:${line}:${column})`;
  }

  /** Where a frame is as people see it (1-based): an input's position as typed, compiled code's through its source map. */
  private placed(
    frame: Frame,
    mappers: Map<number, (line: number, column: number) => [number, number]>,
  ): { file: string; line: number; column: number } {
    let file = displayPath(frame.url);
    let line = frame.line + 1;
    let column = frame.column + 1;
    const input = INPUT_URL.exec(file);
    if (input) {
      const id = Number(input[1]);
      let map = mappers.get(id);
      const code = map ? undefined : this.inputOf(id);
      if (!map && code !== undefined) {
        map = inputPositions(code);
        mappers.set(id, map);
      }
      if (map) [line, column] = map(line, column);
    } else if (frame.scriptId) {
      const sourceMap = this.sourceMapOf(frame.scriptId);
      if (sourceMap) {
        [line, column] = sourceMap.map.position(line, column);
        file = sourceMap.file;
      }
    }
    return { file, line, column };
  }

  /**
   * The source map of a script that names one (inline, or a file beside it), so that a frame of
   * code compiled from TypeScript shows its .ts position. Read once per script and kept.
   */
  private sourceMapOf(scriptId: string): { map: SourceMap; file: string } | undefined {
    const url = this.scripts.get(scriptId);
    const mapUrl = this.sourceMapUrls.get(scriptId);
    if (!url || !mapUrl) return undefined;
    let map = this.sourceMaps.get(url);
    if (!this.sourceMaps.has(url)) {
      let json = inlineSourceMap(mapUrl);
      if (json === undefined) {
        try {
          const base = url.startsWith("file:") ? url : pathToFileURL(url).href;
          const file = new URL(mapUrl, base);
          if (file.protocol === "file:") json = fs.readFileSync(file, "utf8");
        } catch {
          // no map to be read: the compiled position stands
        }
      }
      map = json === undefined ? undefined : parseSourceMap(json);
      if (this.sourceMaps.size >= 200) this.sourceMaps.delete(this.sourceMaps.keys().next().value as string);
      this.sourceMaps.set(url, map);
    }
    if (!map) return undefined;
    let file = displayPath(url);
    if (map.source) {
      try {
        file = displayPath(new URL(map.source, url.startsWith("file:") ? url : pathToFileURL(url).href).href);
      } catch {
        // keep the script's own path
      }
    }
    return { map, file };
  }
}
