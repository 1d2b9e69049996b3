/**
 * The names a session sees before the namespace and the app's globals: a console that prints
 * to the session, the app's `require`, and timers whose callbacks report throws to the session.
 */
import { Console } from "node:console";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { Writable } from "node:stream";
import { guardCallback, type Reporter } from "./containment.js";

/**
 * The app's main module as Node loaded it: its real path, so that an app started through a
 * symlink (node_modules/.bin/*, npx) resolves from where its file really is, as its own
 * `require` does. undefined when there is none (node -e, a REPL).
 */
function mainModulePath(): string | undefined {
  // A CommonJS main: Node has already resolved it (and honoured --preserve-symlinks-main).
  if (require.main?.filename) return require.main.filename;
  // An ES module main has no require.main: resolve its path as Node does.
  const entry = process.argv[1];
  if (!entry) return undefined;
  try {
    return fs.realpathSync(path.resolve(entry));
  } catch {
    return undefined;
  }
}

/** `require` as the app's main module sees it; from the working directory when there is none. */
function appRequire(): NodeRequire {
  return createRequire(mainModulePath() ?? path.join(process.cwd(), "[manhole]"));
}

export interface SessionGlobals {
  /** Names the session sees before the namespace and the app's globals. */
  builtins: Record<string, unknown>;
  /** What `process.nextTick` is in the session's code (the rewrite routes it here): the app's, guarded. */
  nextTick: (fn: (...a: unknown[]) => void, ...args: unknown[]) => void;
}

/** `write` prints to the session; `report` tells it of a throw (see Evaluator.report). */
export function createSessionGlobals(write: Reporter, report: Reporter): SessionGlobals {
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
