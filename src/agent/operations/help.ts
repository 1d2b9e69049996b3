import type { Command } from "./types.js";

export const help: Command = {
  name: "help",
  help: "List the commands",
  readOnly: true,
  run({ commands }) {
    const names = [...commands.keys()].sort();
    const width = Math.max(...names.map((n) => n.length)) + 1;
    const lines = names.map((n) => `.${n.padEnd(width)} ${commands.get(n)?.help ?? ""}`);
    lines.push("", "Anything else is JavaScript, evaluated in the app's process. Ctrl-C on a line of its own interrupts.");
    return lines.join("\n");
  },
};
