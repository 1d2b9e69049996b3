/** Every subcommand of the CLI: one module each. */
import { bridgeCommand } from "./bridge.js";
import type { CliCommand } from "./cli-command.js";
import { connectCommand } from "./connect.js";
import { demoCommand } from "./demo.js";
import { execCommand } from "./exec.js";
import { lsCommand } from "./ls.js";

export const COMMANDS: CliCommand[] = [demoCommand, lsCommand, execCommand, connectCommand, bridgeCommand];

export type { CliCommand } from "./cli-command.js";
