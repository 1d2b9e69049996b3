/** Every subcommand of the CLI: one module each. */
import { attachCommand } from "./attach.js";
import { bridgeCommand } from "./bridge.js";
import type { CliCommand } from "./cli-command.js";
import { connectCommand } from "./connect.js";
import { demoCommand } from "./demo.js";
import { execCommand } from "./exec.js";
import { lsCommand } from "./ls.js";
import { operationCommands } from "./operation.js";
import { topCommand } from "./top.js";

/** The CLI's own subcommands, then one per agent operation (from its declaration). */
export const COMMANDS: CliCommand[] = [
  demoCommand,
  lsCommand,
  execCommand,
  connectCommand,
  attachCommand,
  topCommand,
  bridgeCommand,
  ...operationCommands(),
];

export type { CliCommand } from "./cli-command.js";
