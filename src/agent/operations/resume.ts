import { answered, pauseControl } from "./pause.js";
import type { Operation } from "./types.js";

export const resume: Operation = {
  name: "resume",
  help: "Let the main thread this session paused (.pause) go on",
  args: [],
  runsOn: "socket",
  observeSafe: false,
  heavy: false,
  sessionOnly: true,
  async run(ctx) {
    const control = pauseControl(ctx, "resume");
    return "resume" in control ? answered(await control.resume()) : control;
  },
};
