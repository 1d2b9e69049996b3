import type { Command } from "./types.js";

export const exit: Command = {
  name: "exit",
  help: "Leave this session (the app keeps running)",
  readOnly: true,
  run({ leave }) {
    leave();
    return undefined;
  },
};
