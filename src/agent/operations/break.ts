import type { Operation } from "./types.js";

export const breakInput: Operation = {
  name: "break",
  help: "Abandon a multi-line input",
  args: [],
  runsOn: "socket",
  observeSafe: true,
  heavy: false,
  sessionOnly: true,
  midInput: true,
  run({ clearInput }) {
    clearInput();
    return undefined;
  },
};
