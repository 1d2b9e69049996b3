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
  help: "Pause the main thread where its blocked event loop is held, show its frames and locals, and evaluate inputs in that frame (.resume lets it go on)",
  args: [],
  runsOn: "socket",
  observeSafe: false,
  heavy: false,
  sessionOnly: true,
  async run(ctx) {
    const control = pauseControl(ctx, "pause");
    return "pause" in control ? answered(await control.pause()) : control;
  },
};
