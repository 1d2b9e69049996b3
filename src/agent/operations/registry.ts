/** Every operation, in `.help` order: adding one is its file plus one line here. */
import { breakInput } from "./break.js";
import { exit } from "./exit.js";
import { help } from "./help.js";
import { stack } from "./stack.js";
import type { Operation } from "./types.js";
import { versions } from "./versions.js";
import { wait } from "./wait.js";

export const OPERATIONS: readonly Operation[] = [help, exit, breakInput, stack, wait, versions];

const byName = new Map(OPERATIONS.map((op) => [op.name, op]));

export function operation(name: string): Operation | undefined {
  return byName.get(name);
}

/** Every operation's name, for completion of dot-commands. */
export function operationNames(): string[] {
  return OPERATIONS.map((op) => op.name);
}

/** "`.help`, `.exit` and `.stack`": the operations that still work in observe-only mode, for the banner. */
export function observeSafeList(): string {
  const names = OPERATIONS.filter((op) => op.observeSafe && op.name !== "break").map((op) => `.${op.name}`);
  return names.length <= 1 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
}
