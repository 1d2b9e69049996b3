import { formatDuration } from "../../shared/duration.js";
import { ArgError } from "./args.js";
import type { Operation } from "./types.js";
import { NOT_THREADED_TEXT } from "./workers.js";

export const worker: Operation = {
  name: "worker",
  help: "Evaluate in worker thread <id> from now on (.stack shows its stack; .workers lists them); .worker main goes back",
  args: [{ name: "thread", type: "string", help: "a thread id from .workers, or main", default: "" }],
  runsOn: "socket",
  observeSafe: true,
  heavy: false,
  sessionOnly: true,
  async run(ctx) {
    const word = String(ctx.args.thread ?? "").trim();
    if (word === "") {
      return {
        text:
          ctx.worker === undefined
            ? "This session evaluates on the main thread (.worker <id> goes into a worker thread; .workers lists them)."
            : `This session evaluates in worker ${ctx.worker} (.worker main goes back).`,
        json: { worker: ctx.worker ?? null },
      };
    }
    if (!ctx.workers) throw new Error(NOT_THREADED_TEXT);
    if (word === "main") {
      await ctx.enterWorker(undefined);
      return { text: "Back on the main thread.", json: { worker: null } };
    }
    if (!/^\d+$/.test(word)) throw new ArgError(`thread must be a thread id (a number, see .workers) or main, not "${word}"`);
    const info = await ctx.enterWorker(Number(word)).catch((err: unknown) => {
      throw new ArgError(err instanceof Error ? err.message : String(err));
    });
    const about = info ? `${info.name ? ` "${info.name}"` : ""} (${info.file}, up ${formatDuration(info.uptimeMs)}, ${info.state})` : "";
    return {
      text: `Now in worker ${word}${about}: inputs run in its realm (let/const land in its global scope), .stack shows its stack; .worker main goes back.`,
      json: { worker: Number(word), info: info ?? null },
    };
  },
};
