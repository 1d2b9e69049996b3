/** What a dot-command can reach. */

export interface CommandContext {
  /** Text after the command name, trimmed. */
  args: string;
  /** What the socket side can tell about the main thread. */
  supervisor: { stack(): Promise<string> };
  /** Drops a half-typed multi-line input. */
  clearInput(): void;
  /** Ends this session (not the app). */
  leave(): void;
  commands: ReadonlyMap<string, Command>;
}

export interface Command {
  name: string;
  help: string;
  /** May be run while another session evaluates, or while the event loop is blocked. */
  readOnly: boolean;
  /** Returns text to print (without the prompt), or nothing. */
  run(ctx: CommandContext): Promise<string | undefined> | string | undefined;
}
