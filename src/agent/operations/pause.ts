import { ArgError } from "./args.js";
import type { Operation, OperationContext, OperationResult, PauseAnswer } from "./types.js";

export const NEEDS_THREADED = "needs threaded mode (threaded: false is set): the main thread can only be paused from the manhole's worker";

/** A pause operation's reply: its text, and its JSON for programs. */
export function answered(a: PauseAnswer): OperationResult {
  return { text: a.text, json: a.json ?? { ok: a.ok } };
}

/** The session's pause control, or the reply that says why there is none. */
export function pauseControl(ctx: OperationContext, name: string): NonNullable<OperationContext["pause"]> | OperationResult {
  return ctx.pause ?? { text: `.${name} ${NEEDS_THREADED}`, json: { ok: false, reason: "inline" } };
}

export const pause: Operation = {
  name: "pause",
  help: "Stop the blocked main thread at the next statement it runs, show its frames and locals, and evaluate inputs in that frame (.resume lets it go on); --at file:line stops there the next time that line runs",
  args: [
    { name: "at", type: "string", help: "file:line: a one-shot breakpoint there instead (the loop need not be blocked)", default: "" },
    {
      name: "seconds",
      type: "duration",
      unit: "s",
      help: "with --at: how long to wait for that line (a bare number is seconds)",
      default: 30_000,
    },
  ],
  runsOn: "socket",
  observeSafe: false,
  heavy: false,
  sessionOnly: true,
  async run(ctx) {
    const control = pauseControl(ctx, "pause");
    if (!("pause" in control)) return control;
    const at = String(ctx.args.at ?? "");
    if (ctx.worker !== undefined)
      return {
        text: `.pause stops the main thread; this session evaluates in worker ${ctx.worker} (.worker main goes back first)`,
        json: { ok: false, paused: false, reason: "in-worker" },
      };
    if (!at) return answered(await control.pause());
    const m = /^(.+):(\d+)$/.exec(at.trim());
    if (!m || Number(m[2]) < 1) throw new ArgError(`--at takes file:line (e.g. server.js:42), not "${at}"`);
    const seconds = Number(ctx.args.seconds) / 1000;
    if (!(seconds > 0) || seconds > 3600) throw new ArgError("--seconds must be between 1 ms and 1 h");
    return answered(await control.pause({ at: { file: m[1].replace(/^\.\//, ""), line: Number(m[2]) }, seconds }));
  },
};
