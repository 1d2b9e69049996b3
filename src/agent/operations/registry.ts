/** Every dot-command, by name. */
import { breakInput } from "./break.js";
import { exit } from "./exit.js";
import { help } from "./help.js";
import { stack } from "./stack.js";
import type { Command } from "./types.js";

export type { Command, CommandContext } from "./types.js";

export const COMMANDS: ReadonlyMap<string, Command> = new Map([help, exit, breakInput, stack].map((c) => [c.name, c]));
