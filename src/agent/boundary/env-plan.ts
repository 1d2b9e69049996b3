/**
 * An auto start's options, worked out in the worker from the environment it inherited
 * (env-options.ts) and the process facts the main thread handed over: the app's start pays
 * only for starting the worker. Each problem with a variable is one line on stderr, written
 * from here (the main thread may be busy, or about to exit).
 */
import fs from "node:fs";
import path from "node:path";
import type { WorkerStatus } from "../../protocol/relay.js";
import { auditTarget } from "../audit-option.js";
import { optionsFromEnv } from "../env-options.js";
import { resolveOptions } from "../options.js";
import { type ProcessFacts, startPlan } from "../start-plan.js";
import type { WorkerPlan } from "./worker-data.js";

/** One line on the app's stderr, as auto-start.ts writes them. */
export function say(text: string): void {
  try {
    fs.writeSync(2, `manhole: ${text}\n`);
  } catch {
    // no stderr
  }
}

/**
 * What the worker serves with, and what the main thread needs for the descriptor; throws what
 * startManhole() would. The problems with variables are written by whichever thread first
 * turns `told` from 0 to 1: here, or the main thread at an exit that came sooner.
 */
export function planFromEnv(
  facts: ProcessFacts,
  told: Int32Array,
): {
  plan: WorkerPlan;
  planned: NonNullable<Extract<WorkerStatus, { type: "ready" }>["planned"]>;
} {
  const { options, problems } = optionsFromEnv(process.env);
  if (Atomics.compareExchange(told, 0, 0, 1) === 0) for (const problem of problems) say(problem);
  const opts = resolveOptions(options);
  const { dir, socketPath, app, config } = startPlan(opts, facts);
  const audit = typeof opts.audit === "string" ? path.resolve(opts.audit) : undefined;
  return {
    plan: { listener: config, timeout: opts.timeout, observeOnly: opts.observeOnly, audit: auditTarget(audit) },
    planned: { dir, socketPath, app },
  };
}
