/**
 * The names a session sees before the namespace and the app's globals: a console that prints
 * to the session, the app's `require`, and timers whose callbacks report throws to the session.
 */
import { Console } from "node:console";
import { createRequire } from "node:module";
import path from "node:path";
import { Writable } from "node:stream";
import { guardCallback, type Reporter } from "./containment.js";

/** `require` as the app's entry module would see it. */
function appRequire(): NodeRequire {
  const entry = process.argv[1] ? path.resolve(process.argv[1]) : path.join(process.cwd(), "[manhole]");
  try {
    return createRequire(entry);
  } catch {
    return createRequire(path.join(process.cwd(), "[manhole]"));
  }
}

export interface SessionGlobals {
  /** Names the session sees before the namespace and the app's globals. */
  builtins: Record<string, unknown>;
  /** What `process.nextTick` is in the session's code (the rewrite routes it here): the app's, guarded. */
  nextTick: (fn: (...a: unknown[]) => void, ...args: unknown[]) => void;
}

export function createSessionGlobals(write: Reporter): SessionGlobals {
  const stream = new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _enc, done) {
      write(typeof chunk === "string" ? chunk : chunk.toString("utf8"));
      done();
    },
  });
  const sessionConsole = new Console({ stdout: stream, stderr: stream, colorMode: false });
  const guard = <A extends unknown[], R>(fn: (...args: A) => R) => (typeof fn === "function" ? guardCallback(write, fn) : fn);

  const timers = {
    setTimeout: (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => setTimeout(guard(fn), ms, ...args),
    setInterval: (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => setInterval(guard(fn), ms, ...args),
    setImmediate: (fn: (...a: unknown[]) => void, ...args: unknown[]) => setImmediate(guard(fn), ...args),
    queueMicrotask: (fn: () => void) => queueMicrotask(guard(fn)),
  };
  // process itself is the app's real object (identity, Map keys): only the nextTick that the
  // session's code names is a guarded one.
  const nextTick = (fn: (...a: unknown[]) => void, ...args: unknown[]) => process.nextTick(guard(fn), ...args);

  return {
    builtins: {
      console: sessionConsole,
      require: appRequire(),
      ...timers,
    },
    nextTick,
  };
}
