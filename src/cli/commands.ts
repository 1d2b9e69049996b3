/** Every subcommand of the CLI: one module each. */
import { connectCommand } from "./connect.js";
import { demoCommand } from "./demo.js";
import { execCommand } from "./exec.js";
import { lsCommand } from "./ls.js";

export interface CliCommand {
  name: string;
  /** One line for `manhole --help`. */
  summary: string;
  /** The whole `manhole <name> --help` text. */
  help: string;
  /** Returns the exit code; throws CliError/UsageError for errors. */
  run(args: string[]): Promise<number>;
}

export const COMMANDS: CliCommand[] = [demoCommand, lsCommand, execCommand, connectCommand];
