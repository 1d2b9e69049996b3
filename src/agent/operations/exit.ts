import type { Operation } from "./types.js";

export const exit: Operation = {
  name: "exit",
  help: "Leave this session (the app keeps running)",
  args: [],
  runsOn: "socket",
  observeSafe: true,
  heavy: false,
  sessionOnly: true,
  midInput: true,
  run({ leave }) {
    leave();
    return undefined;
  },
};
