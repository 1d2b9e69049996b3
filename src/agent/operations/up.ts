import { answered, pauseControl } from "./pause.js";
import type { Operation } from "./types.js";

export const up: Operation = {
  name: "up",
  help: "While paused (.pause): select the frame that called the selected one",
  args: [],
  runsOn: "socket",
  observeSafe: false,
  heavy: false,
  sessionOnly: true,
  async run(ctx) {
    const control = pauseControl(ctx, "up");
    return "select" in control ? answered(await control.select("up")) : control;
  },
};
