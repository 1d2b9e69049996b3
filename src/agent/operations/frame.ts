import { answered, pauseControl } from "./pause.js";
import type { Operation } from "./types.js";

export const frame: Operation = {
  name: "frame",
  help: "While paused (.pause): select frame N (0: the top) for evaluation and show its locals",
  args: [{ name: "n", type: "number", help: "the frame's number, as .pause lists them (0, the top, when left out)", default: 0 }],
  runsOn: "socket",
  observeSafe: false,
  heavy: false,
  sessionOnly: true,
  async run(ctx) {
    const control = pauseControl(ctx, "frame");
    return "select" in control ? answered(await control.select(Number(ctx.args.n))) : control;
  },
};
