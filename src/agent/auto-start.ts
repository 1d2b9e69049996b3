/**
 * Which processes `manhole/auto` starts a manhole in, and starting it without ever failing
 * the app. Child processes inherit NODE_OPTIONS: an app's cluster workers and forked children
 * each get their own manhole, but the Node tools an app runs (npm, npx, yarn, pnpm, corepack,
 * node-gyp) do not, nor do processes without a main script (`node -e`, `node -p`, the REPL).
 * `MANHOLE=0` turns it off for a process (and, inherited, its children); `MANHOLE_CHILDREN=0`
 * gives one only to the first process, not to any process it starts; `MANHOLE_SKIP` adds
 * names of main scripts (comma-separated, without extension) to leave alone.
 */
import fs from "node:fs";
import path from "node:path";
import { isMainThread } from "node:worker_threads";

/** Main scripts of Node tools, by file name without its extension. */
const TOOLS = ["npm-cli", "npx-cli", "npm", "npx", "yarn", "yarn.js", "pnpm", "pnpx", "corepack", "node-gyp", "nopt"];
/**
 * Variables whose start needs the main thread (serving inline, waiting for a signal, one
 * connection at a time, TCP): when one is set, startManhole() starts it here. Otherwise the
 * worker does all but start itself (auto-worker.ts).
 */
const MAIN_THREAD_START = [
  "MANHOLE_THREADED",
  "MANHOLE_ACTIVATE_ON",
  "MANHOLE_ONESHOT",
  "MANHOLE_TCP_PORT",
  "MANHOLE_TCP_HOST",
  "MANHOLE_TCP_TOKEN",
];
/** Marks the process tree below the first process that got a manhole (for MANHOLE_CHILDREN=0). */
const PARENT_MARK = "MANHOLE_AUTO_PARENT";

function say(text: string): void {
  try {
    fs.writeSync(2, `manhole: ${text}\n`);
  } catch {
    // no stderr: nothing to tell
  }
}

/** Why this process gets no manhole, or undefined when it gets one. */
export function skipReason(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = process.argv): string | undefined {
  if (env.MANHOLE !== undefined && /^(0|false|no|off)$/i.test(env.MANHOLE)) return "MANHOLE=0";
  const main = argv[1];
  if (!main) return "no main script";
  const name = path.basename(main).replace(/\.(c|m)?js$/, "");
  const skip = [
    ...TOOLS,
    ...(env.MANHOLE_SKIP ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  ];
  if (skip.includes(name) || /[\\/]node_modules[\\/](npm|corepack|yarn|pnpm|node-gyp)[\\/]/.test(main)) return `a tool (${name})`;
  if (env[PARENT_MARK] && env.MANHOLE_CHILDREN !== undefined && /^(0|false|no|off)$/i.test(env.MANHOLE_CHILDREN)) {
    return "MANHOLE_CHILDREN=0";
  }
  return undefined;
}

let started = false;

export function startAuto(): void {
  // Preloads run again in worker threads (and in the manhole's own worker): one per process.
  if (started || !isMainThread) return;
  started = true;
  if (skipReason() !== undefined) return;
  process.env[PARENT_MARK] = String(process.pid);
  if (!MAIN_THREAD_START.some((name) => (process.env[name] ?? "") !== "")) {
    try {
      (require("./auto-worker.js") as typeof import("./auto-worker.js")).startInWorker(say);
    } catch (err) {
      say(`not started: ${err instanceof Error ? err.message : String(err)}`);
    }
    return;
  }
  const { optionsFromEnv } = require("./env-options.js") as typeof import("./env-options.js");
  const { startManhole } = require("./index.js") as typeof import("./index.js");
  let options: ReturnType<typeof optionsFromEnv>;
  try {
    options = optionsFromEnv();
  } catch (err) {
    say(`not started: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  for (const problem of options.problems) say(problem);
  let pending: Promise<unknown>;
  try {
    pending = startManhole(options.options);
  } catch (err) {
    say(`not started: ${err instanceof Error ? err.message : String(err)}`);
    return;
  }
  pending.catch((err: unknown) => say(`not started: ${err instanceof Error ? err.message : String(err)}`));
}
