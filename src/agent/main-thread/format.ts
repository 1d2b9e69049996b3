/**
 * Printing values and errors the way Node's REPL does, without ever throwing: hostile objects
 * (throwing getters, revoked proxies, toString that throws) print as best they can.
 */
import util from "node:util";
import type { ErrorInfo } from "../../protocol/structured.js";
import { OWN_ROOT } from "../../shared/own-files.js";

const INSPECT_OPTIONS: util.InspectOptions = {
  depth: 2,
  showProxy: true, // never run a proxy's traps while printing it
  getters: false,
  maxArrayLength: 100,
  maxStringLength: 10_000,
  breakLength: 80,
  colors: false,
};

export function inspect(value: unknown): string {
  try {
    return util.inspect(value, INSPECT_OPTIONS);
  } catch (err) {
    return `[uninspectable value: ${safeMessage(err)}]`;
  }
}

function safeMessage(err: unknown): string {
  try {
    if (err instanceof Error) return `${err.name}: ${err.message}`;
    return String(err);
  } catch {
    return "unprintable error";
  }
}

const USER_FRAME = /\(?REPL\d+:\d+:\d+\)?$/;

/** How to map positions in rewritten inputs back to what the user typed, by input id (the n of REPLn). */
const positions = new Map<number, (line: number, column: number) => [number, number]>();
const MAX_REMEMBERED = 500;

export function rememberPositions(id: number, map: (line: number, column: number) => [number, number]): void {
  positions.set(id, map);
  if (positions.size > MAX_REMEMBERED) positions.delete(positions.keys().next().value as number);
}

function userPosition(frame: string): string {
  return frame.replace(/REPL(\d+):(\d+):(\d+)/, (whole, id: string, line: string, column: string) => {
    const map = positions.get(Number(id));
    if (!map) return whole;
    const [l, c] = map(Number(line), Number(column));
    return `REPL${id}:${l}:${c}`;
  });
}

const RUNNER_FRAME = /\(?manhole-(runner|timed)[:)]/;

/** Cuts frames to those that belong to the user: theirs and the app's, none of ours or what runs us. */
function userFrames(all: string[]): string[] {
  // Frames from the runner on are what called the user's code: ours and Node's, never theirs.
  const runnerAt = all.findIndex((l) => RUNNER_FRAME.test(l));
  const frames = (runnerAt >= 0 ? all.slice(0, runnerAt) : all).filter((l) => !l.includes(OWN_ROOT) && !RUNNER_FRAME.test(l));
  let lastUser = -1;
  frames.forEach((l, i) => {
    if (USER_FRAME.test(l)) lastUser = i;
  });
  return (lastUser >= 0 ? frames.slice(0, lastUser + 1) : frames).map((l) =>
    userPosition(l)
      .replace(/^(\s+at (?:async )?)Proxy\./, "$1")
      .replace(/at eval \((REPL\d+:\d+:\d+)\)$/, "at $1")
      .replace(/at (?:async )?eval \(eval at .*?\((REPL\d+:\d+:\d+)\)\)$/, "at $1"),
  );
}

/** Cuts a stack to the frames that belong to the user (see userFrames). */
export function cleanStack(stack: string): string {
  const lines = stack.split("\n");
  const firstFrame = lines.findIndex((l) => /^\s+at /.test(l));
  if (firstFrame < 0) return stack;
  return [...lines.slice(0, firstFrame), ...userFrames(lines.slice(firstFrame))].join("\n");
}

/** A line of a stack as util.inspect prints it: a frame, or its note on frames shared with the cause. */
const PRINTED_FRAME = /^\s+(at |\.\.\. \d+ lines? matching cause stack trace \.\.\.)/;

/**
 * util.inspect output with every error stack in it (an error value, a rejected promise's reason,
 * an error in an array...) cut as a thrown one is. Done on the text: the error objects stay as
 * they are, and a promise's reason cannot be read synchronously anyway.
 */
function cleanPrintedStacks(text: string): string {
  if (!text.includes(" at ")) return text;
  const lines = text.split("\n");
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    if (!PRINTED_FRAME.test(lines[i])) {
      out.push(lines[i++]);
      continue;
    }
    const start = i;
    while (i < lines.length && PRINTED_FRAME.test(lines[i])) i++;
    const frames = lines.slice(start, i);
    // inspect ends the last frame with what follows the error: " {" for its properties, "," in a list.
    const last = frames.length - 1;
    const tail = /( \{|,)$/.exec(frames[last])?.[1] ?? "";
    frames[last] = frames[last].slice(0, frames[last].length - tail.length);
    const kept = userFrames(frames);
    if (kept.length > 0) kept[kept.length - 1] += tail;
    else if (out.length > 0) out[out.length - 1] += tail;
    out.push(...kept);
  }
  return out.join("\n");
}

/**
 * On Node before 24, async_hooks (on while manhole work is pending) puts two ids on each promise
 * made meanwhile; Node's REPL, with no hook, would print none. A promise printed as the value is
 * printed without them (taken off for the call), and they are cut from the text elsewhere.
 */
const ASYNC_ID_KEYS = new Set(["async_id_symbol", "trigger_async_id_symbol"]);
const PRINTED_ASYNC_ID = /,\s*\[Symbol\((?:async_id_symbol|trigger_async_id_symbol)\)\]: \d+/g;

function withoutAsyncIds<T>(value: unknown, fn: () => T): T {
  if (!util.types.isPromise(value)) return fn();
  const saved: [symbol, PropertyDescriptor][] = [];
  try {
    for (const key of Object.getOwnPropertySymbols(value)) {
      const desc = Object.getOwnPropertyDescriptor(value, key);
      if (!desc?.configurable || !ASYNC_ID_KEYS.has(key.description ?? "")) continue;
      saved.push([key, desc]);
      delete (value as unknown as Record<symbol, unknown>)[key];
    }
    return fn();
  } finally {
    for (const [key, desc] of saved) Object.defineProperty(value, key, desc);
  }
}

/** A value as the session prints it: util.inspect, with stacks in it cut to the user's frames. */
export function formatValue(value: unknown): string {
  const text = withoutAsyncIds(value, () => inspect(value));
  return cleanPrintedStacks(text.includes("async_id_symbol") ? text.replace(PRINTED_ASYNC_ID, "") : text);
}

/** `Error: msg\n    at ...` for errors, util.inspect for anything else thrown. */
export function formatThrown(err: unknown): string {
  try {
    // A proxy is never asked for its stack: that would run its traps.
    if (typeof err === "object" && err !== null && !util.types.isProxy(err)) {
      const stack = (err as Error).stack;
      if (typeof stack === "string" && stack.length > 0) {
        const cleaned = cleanStack(stack);
        // Errors with extra own properties (code, errno...) show them as Node's REPL does.
        const extra = Object.keys(err).filter((k) => k !== "stack" && k !== "message");
        if (extra.length === 0) return cleaned;
        const props = formatValue(Object.fromEntries(extra.map((k) => [k, (err as Record<string, unknown>)[k]])));
        return `${cleaned} ${props}`;
      }
    }
  } catch {
    // a throwing getter on the error: fall back to inspect, which does not call getters
  }
  return formatValue(err);
}

/** The value as JSON text for the structured protocol, or undefined when it has none or is too big. */
export function toJson(value: unknown, maxBytes: number): string | undefined {
  if (util.types.isProxy(value)) return undefined;
  try {
    const json = JSON.stringify(value);
    if (typeof json !== "string" || Buffer.byteLength(json) > maxBytes) return undefined;
    return json;
  } catch {
    return undefined; // circular, BigInt, a throwing toJSON...
  }
}

/** name, message and cleaned stack of something thrown, when it looks like an error. */
export function errorInfo(err: unknown): ErrorInfo | undefined {
  try {
    if (typeof err !== "object" || err === null || util.types.isProxy(err)) return undefined;
    const { name, message, stack } = err as Error;
    if (typeof message !== "string") return undefined;
    return { name: typeof name === "string" ? name : "Error", message, stack: typeof stack === "string" ? cleanStack(stack) : undefined };
  } catch {
    return undefined;
  }
}
