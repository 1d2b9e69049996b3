import type { Command } from "./types.js";

export const stack: Command = {
  name: "stack",
  help: "Show the main thread's JavaScript stack and the top frame's locals (works while the loop is blocked)",
  readOnly: true,
  run({ supervisor }) {
    return supervisor.stack();
  },
};
