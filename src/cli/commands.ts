/**
 * Every subcommand of the CLI: one module each, loaded only when it runs, so that a command
 * starts as fast as its own modules allow (`exec`, `ls` and `bridge` run once per process or
 * host in a fleet). The operations' subcommands come from their declarations, which load
 * every operation: only for an operation's subcommand and for `manhole --help`.
 */
import type { CliCommand } from "./cli-command.js";

interface BuiltIn {
  name: string;
  load(): CliCommand;
}

/** The CLI's own subcommands, in `manhole --help` order. */
const BUILT_IN: readonly BuiltIn[] = [
  { name: "demo", load: () => (require("./demo.js") as typeof import("./demo.js")).demoCommand },
  { name: "ls", load: () => (require("./ls.js") as typeof import("./ls.js")).lsCommand },
  { name: "exec", load: () => (require("./exec.js") as typeof import("./exec.js")).execCommand },
  { name: "connect", load: () => (require("./connect.js") as typeof import("./connect.js")).connectCommand },
  { name: "attach", load: () => (require("./attach.js") as typeof import("./attach.js")).attachCommand },
  { name: "top", load: () => (require("./top.js") as typeof import("./top.js")).topCommand },
  { name: "bridge", load: () => (require("./bridge.js") as typeof import("./bridge.js")).bridgeCommand },
];

const operationCommands = (): CliCommand[] => (require("./operation.js") as typeof import("./operation.js")).operationCommands();

/** The CLI's own subcommand called `name`, loading only its module. */
export function builtInCommand(name: string): CliCommand | undefined {
  return BUILT_IN.find((c) => c.name === name)?.load();
}

/** The subcommand of the operation called `name` (loads the operations). */
export function operationCommand(name: string): CliCommand | undefined {
  return operationCommands().find((c) => c.name === name);
}

/** Every subcommand (loads them all): the CLI's own, then one per agent operation. */
export function allCommands(): CliCommand[] {
  return [...BUILT_IN.map((c) => c.load()), ...operationCommands()];
}

export type { CliCommand } from "./cli-command.js";
