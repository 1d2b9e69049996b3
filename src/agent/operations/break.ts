import type { Command } from "./types.js";

export const breakInput: Command = {
  name: "break",
  help: "Abandon a multi-line input",
  readOnly: true,
  run({ clearInput }) {
    clearInput();
    return undefined;
  },
};
