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

/** The session's stand-ins that are proxies, and what they stand for (completion looks at the latter). */
export const standInFor = new WeakMap<object, object>();

/** `write` prints to the session; `report` tells it of a throw (see Evaluator.report). */
export function createSessionGlobals(write: Reporter, report: Reporter): Record<string, unknown> {
  const stream = new Writable({
    decodeStrings: false,
    write(chunk: string | Buffer, _enc, done) {
      write(typeof chunk === "string" ? chunk : chunk.toString("utf8"));
      done();
    },
  });
  const sessionConsole = new Console({ stdout: stream, stderr: stream, colorMode: false });
  const guard = <A extends unknown[], R>(fn: (...args: A) => R) => (typeof fn === "function" ? guardCallback(report, fn) : fn);

  const timers = {
    setTimeout: (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => setTimeout(guard(fn), ms, ...args),
    setInterval: (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => setInterval(guard(fn), ms, ...args),
    setImmediate: (fn: (...a: unknown[]) => void, ...args: unknown[]) => setImmediate(guard(fn), ...args),
    queueMicrotask: (fn: () => void) => queueMicrotask(guard(fn)),
  };
  const nextTick = (fn: (...a: unknown[]) => void, ...args: unknown[]) => process.nextTick(guard(fn), ...args);
  // process as the app has it, except that nextTick callbacks are guarded.
  const sessionProcess = new Proxy(process, {
    get(target, key) {
      if (key === "nextTick") return nextTick;
      return Reflect.get(target, key, target);
    },
  });
  standInFor.set(sessionProcess, process);

  return {
    console: sessionConsole,
    require: appRequire(),
    process: sessionProcess,
    ...timers,
  };
}
