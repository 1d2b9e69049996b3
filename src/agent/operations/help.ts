import type { Operation } from "./types.js";

export const help: Operation = {
  name: "help",
  help: "List the commands",
  args: [],
  runsOn: "socket",
  observeSafe: true,
  heavy: false,
  sessionOnly: true,
  run({ operations, observeOnly }) {
    const shown = operations.filter((op) => !observeOnly || op.observeSafe);
    const width = Math.max(...shown.map((op) => op.name.length)) + 1;
    const lines = [...shown]
      .sort((a, b) => a.name.localeCompare(b.name))
      .map((op) => {
        const args = op.args.map((a) => (a.default === undefined ? ` <${a.name}>` : ` [${a.name}]`)).join("");
        return `.${op.name.padEnd(width)} ${op.help}${args ? ` (args:${args})` : ""}`;
      });
    lines.push(
      "",
      observeOnly
        ? "This manhole is observe-only: evaluation is disabled."
        : "Anything else is JavaScript, evaluated in the app's process. Ctrl-C on a line of its own interrupts.",
    );
    return { text: lines.join("\n"), json: shown.map((op) => op.name) };
  },
};
