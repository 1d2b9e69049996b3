/**
 * The usual auto start (threaded, listening at once): the main thread only starts the worker
 * and hands it the process's facts; the worker works the options out from the environment,
 * makes the runtime directory and listens (boundary/env-plan.ts), so that the app's start pays
 * for the worker and two small files. Once it listens, this side writes the descriptor and
 * removes the files at exit, as startManhole() does; the evaluator is made at a session's
 * first message, with the options read from the environment then.
 */
import fs from "node:fs";
import path from "node:path";
import { serveThreaded } from "./boundary/main-end.js";
import type { MainEvaluator } from "./main-thread/evaluator-factory.js";
import type { ResolvedOptions } from "./options.js";

/** The options the worker listens with, worked out again here when first needed (the same environment, the same result). */
function envOptions(): { opts: ResolvedOptions; problems: string[] } {
  const { optionsFromEnv } = require("./env-options.js") as typeof import("./env-options.js");
  const { resolveOptions } = require("./options.js") as typeof import("./options.js");
  const { options, problems } = optionsFromEnv();
  return { opts: resolveOptions(options), problems };
}

export function startInWorker(say: (text: string) => void): void {
  (require("./main-thread/start-baseline.js") as typeof import("./main-thread/start-baseline.js")).recordStartBaseline();
  const told = new Int32Array(new SharedArrayBuffer(4));
  let evaluator: MainEvaluator | undefined;
  const make = (...args: Parameters<MainEvaluator["make"]>) => {
    if (!evaluator) {
      const { MainEvaluator } = require("./main-thread/evaluator-factory.js") as typeof import("./main-thread/evaluator-factory.js");
      evaluator = new MainEvaluator(envOptions().opts);
    }
    return evaluator.make(...args);
  };
  let atExit: (() => void) | undefined;
  // At exit, what the worker has not said yet (the app was quicker) is said here.
  process.once("exit", () => {
    if (Atomics.compareExchange(told, 0, 0, 1) === 0) for (const problem of envOptions().problems) say(problem);
    atExit?.();
  });
  const fromEnv = { pid: process.pid, argv: process.argv, startedAt: Date.now() - process.uptime() * 1000 };
  serveThreaded({ fromEnv, told: told.buffer as SharedArrayBuffer }, make, { observeOnly: false, audit: undefined }).then(
    (serving) => {
      const planned = serving.planned;
      if (!planned) return;
      const { buildDescriptor, claimDescriptorPath, writeDescriptor } =
        require("../shared/descriptor.js") as typeof import("../shared/descriptor.js");
      const descFile = claimDescriptorPath(planned.dir);
      atExit = () => {
        // Only a session's evaluations can be under way at exit: without one, the options are not read again.
        const audit = evaluator?.made ? envOptions().opts.audit : undefined;
        if (typeof audit === "string" && evaluator)
          (require("./audit.js") as typeof import("./audit.js")).auditAtExit(path.resolve(audit), evaluator.inFlight());
        serving.removeSocket();
        try {
          fs.unlinkSync(descFile);
        } catch {
          // already gone
        }
      };
      try {
        writeDescriptor(descFile, buildDescriptor(planned.socketPath, planned.app, true));
      } catch (err) {
        say(`not started: ${err instanceof Error ? err.message : String(err)}`);
        atExit = undefined;
        void serving.close();
      }
    },
    (err: unknown) => {
      // The worker has said why, unless it never got that far.
      if (Atomics.load(told, 0) !== 2) say(`not started: ${err instanceof Error ? err.message : String(err)}`);
    },
  );
}
