/** What each subcommand module exports (the table of them is commands.ts). */
export interface CliCommand {
  name: string;
  /** One line for `manhole --help`. */
  summary: string;
  /** The whole `manhole <name> --help` text. */
  help: string;
  /** Returns the exit code; throws CliError/UsageError for errors. */
  run(args: string[]): Promise<number>;
}
