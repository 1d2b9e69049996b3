/**
 * What a manhole listens with, worked out from its resolved options: the runtime directory
 * (made private), the socket's path, the app it serves and the listener's config. startManhole()
 * works it out on the main thread; an auto start leaves it to the worker (auto-worker.ts), so
 * that the app's start pays only for the worker.
 */
import fs from "node:fs";
import path from "node:path";
import { appLabel } from "../shared/app-label.js";
import { type AppPackage, findAppPackage } from "../shared/descriptor.js";
import { checkSocketParent, ensurePrivateDir, runtimeDir } from "../shared/runtime-dir.js";
import type { ResolvedOptions } from "./options.js";
import type { ListenerConfig } from "./socket-side/listener.js";

/** What the plan needs to know of the process, which a worker thread cannot read for itself. */
export interface ProcessFacts {
  pid: number;
  /** The main thread's process.argv (a worker has its own). */
  argv: readonly string[];
  /** When the process started (ms since the epoch). */
  startedAt: number;
}

export const processFacts = (): ProcessFacts => ({
  pid: process.pid,
  argv: process.argv,
  startedAt: Date.now() - process.uptime() * 1000,
});

export interface StartPlan {
  dir: string;
  socketPath: string;
  app: AppPackage | null;
  config: ListenerConfig;
}

function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/** Throws what startManhole() throws for an unsafe directory or socket parent. */
export function startPlan(opts: ResolvedOptions, facts: ProcessFacts): StartPlan {
  const dir = runtimeDir();
  ensurePrivateDir(dir);
  const socketPath = opts.path ? path.resolve(opts.path) : path.join(dir, `${facts.pid}.sock`);
  if (opts.path) checkSocketParent(path.dirname(socketPath));
  const app = findAppPackage(facts.argv);
  const config: ListenerConfig = {
    path: socketPath,
    banner: opts.banner,
    prompt: opts.prompt,
    continuationPrompt: opts.continuationPrompt,
    maxLineBytes: opts.maxLineBytes,
    maxOutputBytes: opts.maxOutputBytes,
    maxConnections: opts.maxConnections,
    idleTimeout: opts.idleTimeout,
    info: { pid: facts.pid, node: process.version, app: appLabel(app, facts.argv), startedAt: facts.startedAt },
    threaded: opts.threaded,
    version: packageVersion(),
    oneshot: opts.oneshot,
  };
  return { dir, socketPath, app, config };
}
