import { answered, pauseControl } from "./pause.js";
import type { Operation } from "./types.js";

export const down: Operation = {
  name: "down",
  help: "While paused (.pause): select the frame the selected one called",
  args: [],
  runsOn: "socket",
  observeSafe: false,
  heavy: false,
  sessionOnly: true,
  async run(ctx) {
    const control = pauseControl(ctx, "down");
    return "select" in control ? answered(await control.select("down")) : control;
  },
};
