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
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { inlineSourceMap, parseSourceMap, type SourceMap } from "../main-thread/source-map.js";
import { inputPositions } from "../main-thread/typescript.js";
import { withDeadline } from "./deadline.js";
import { localsLines } from "./locals.js";

/** Thrown when the main thread does not answer the inspector in time: it runs native code. */
export class NotInJavaScript extends Error {}

/** A promise's outcome, or NotInJavaScript once `ms` have passed without one. */
export const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T> => withDeadline(p, ms, () => new NotInJavaScript());

/** This package's files (evaluator, containment, the boundary...): their frames are never the user's. */
const OWN_DIR = path.resolve(__dirname, "..");
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

export function isOwnFile(file: string): boolean {
  return file.startsWith(OWN_DIR + path.sep);
}

/** How long the frame on top may take to reach a statement with a breakpoint. */
const CATCH_WAIT_MS = 1000;
/** Debugger.enable reports every script, which takes a while in a big app. */
const ENABLE_WAIT_MS = 10_000;
/** How long a request to the (JavaScript-running) main thread may take. */
const ANSWER_WAIT_MS = 1000;
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
  functionName: string;
  location: Location;
  scopeChain: { type: string; object: { objectId?: string } }[];
}

/** One frame to show, from a paused event or from the probe. Positions 0-based, as the inspector gives them. */
interface Frame {
  functionName: string;
  url: string;
  line: number;
  column: number;
  scriptId?: string;
  /** The local scope's remote object, when the frame was paused. */
  locals?: string;
}

interface PropertyDescriptor {
  name: string;
  value?: { type: string; description?: string; value?: unknown };
}

/** The part of an inspector session the capture uses. */
export interface CaptureLink {
  post<T = unknown>(method: string, params?: object): Promise<T>;
  on(event: "Debugger.paused", listener: (msg: { params: { callFrames: PausedFrame[] } }) => void): void;
  off(event: "Debugger.paused", listener: (msg: { params: { callFrames: PausedFrame[] } }) => void): void;
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

  constructor(
    private readonly link: CaptureLink,
    private readonly inputOf: (id: number) => string | undefined,
  ) {}

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
    const sites = await this.sites();
    if (!sites) return undefined;
    let enabled = false;
    try {
      enabled = await this.enable();
      const probed = this.userFrames(sites.map(([functionName, url, line, column]) => this.siteFrame(functionName, url, line, column)));
      const top = probed.find((f) => f.scriptId);
      const paused = enabled && top ? await this.catchAt(top) : undefined;
      if (paused) return await this.describe(this.userFrames(paused.map((f) => this.pausedFrame(f))));
      const why = !enabled
        ? "the debugger was not ready in time"
        : `${top?.functionName || "it"} did not reach a statement where it could be stopped safely within ${CATCH_WAIT_MS / 1000} s`;
      return await this.describe(probed, `Locals: not read (${why}); the frames are as sampled.`);
    } finally {
      if (enabled) await this.disable();
    }
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

  /** Debugger.enable; false when it took too long (it is turned off again once it lands). */
  private async enable(): Promise<boolean> {
    if (this.unanswered) await withTimeout(this.unanswered, ENABLE_WAIT_MS).catch(() => {});
    if (this.unanswered) return false;
    const enable = this.link.post("Debugger.enable");
    this.unanswered = enable;
    try {
      await withTimeout(enable, ENABLE_WAIT_MS);
      this.unanswered = undefined;
      return true;
    } catch {
      enable.then(
        () => {
          this.unanswered = undefined;
          void this.disable();
        },
        () => {
          this.unanswered = undefined;
        },
      );
      return false;
    }
  }

  private async disable(): Promise<void> {
    await this.link.post("Debugger.resume").catch(() => {});
    await this.link.post("Debugger.disable").catch(() => {});
    this.scripts.clear();
    this.ids.clear();
    this.sourceMapUrls.clear();
  }

  /**
   * Sets breakpoints at the statements `top` may run next (the rest of its function, and the
   * lines just above it: the head of the loop it spins in) and waits for one to be hit: the
   * paused frames, or undefined. The breakpoints are gone when it returns.
   */
  private async catchAt(top: Frame): Promise<PausedFrame[] | undefined> {
    const scriptId = top.scriptId as string;
    const possible = (params: object) =>
      this.link.post<{ locations: Location[] }>("Debugger.getPossibleBreakpoints", params).then(
        (r) => r.locations,
        () => [] as Location[],
      );
    const [rest, above] = await Promise.all([
      possible({ start: { scriptId, lineNumber: top.line, columnNumber: top.column }, restrictToFunction: true }),
      possible({
        start: { scriptId, lineNumber: Math.max(0, top.line - LINES_ABOVE), columnNumber: 0 },
        end: { scriptId, lineNumber: top.line + 1, columnNumber: 0 },
      }),
    ]);
    const seen = new Set<string>();
    const locations = [...rest, ...above.reverse()].filter((l) => {
      const key = `${l.lineNumber}:${l.columnNumber}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    if (locations.length === 0) return undefined;
    let listener: ((msg: { params: { callFrames: PausedFrame[] } }) => void) | undefined;
    const paused = new Promise<PausedFrame[]>((resolve) => {
      listener = (msg) => resolve(msg.params.callFrames);
      this.link.on("Debugger.paused", listener);
    });
    const ids = await Promise.all(
      locations.slice(0, MAX_BREAKPOINTS).map((location) =>
        this.link.post<{ breakpointId: string }>("Debugger.setBreakpoint", { location }).then(
          (r) => r.breakpointId,
          () => undefined,
        ),
      ),
    );
    try {
      return await withTimeout(paused, CATCH_WAIT_MS).catch(() => undefined);
    } finally {
      if (listener) this.link.off("Debugger.paused", listener);
      await Promise.all(
        ids.map((breakpointId) => breakpointId && this.link.post("Debugger.removeBreakpoint", { breakpointId }).catch(() => {})),
      );
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
    else if (top?.locals) {
      const { result } = await this.link.post<{ result: PropertyDescriptor[] }>("Runtime.getProperties", {
        objectId: top.locals,
        ownProperties: true,
      });
      lines.push(...localsLines(top.functionName, result));
    }
    return lines.join("\n");
  }

  /** `at name (file:line:column)`, an input's positions mapped back to what the user typed. */
  private frameLine(frame: Frame, mappers: Map<number, (line: number, column: number) => [number, number]>): string {
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
      // As an error's stack shows an input's own code: `at REPL7:1:5`.
      if (!frame.functionName) return `    at ${file}:${line}:${column}`;
    } else if (frame.scriptId) {
      const sourceMap = this.sourceMapOf(frame.scriptId);
      if (sourceMap) {
        [line, column] = sourceMap.map.position(line, column);
        file = sourceMap.file;
      }
    }
    if (!file) return `    at ${frame.functionName || "<anonymous>"} (<anonymous>)`;
    return `    at ${frame.functionName || "<anonymous>"} (${file}:${line}:${column})`;
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
