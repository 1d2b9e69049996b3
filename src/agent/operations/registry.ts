/** Every operation, in `.help` order: adding one is its file plus one line here. */

import type { CommandInfo } from "../../protocol/structured.js";
import { breakInput } from "./break.js";
import { down } from "./down.js";
import { exit } from "./exit.js";
import { frame } from "./frame.js";
import { gc } from "./gc.js";
import { handles } from "./handles.js";
import { heap } from "./heap.js";
import { help } from "./help.js";
import { loop } from "./loop.js";
import { mem } from "./mem.js";
import { pause } from "./pause.js";
import { profile } from "./profile.js";
import { report } from "./report.js";
import { requests } from "./requests.js";
import { resume } from "./resume.js";
import { stack } from "./stack.js";
import { ts } from "./ts.js";
import type { Operation } from "./types.js";
import { up } from "./up.js";
import { versions } from "./versions.js";
import { wait } from "./wait.js";
import { watch } from "./watch.js";
import { worker } from "./worker.js";
import { workers } from "./workers.js";

export const OPERATIONS: readonly Operation[] = [
  help,
  exit,
  breakInput,
  stack,
  wait,
  pause,
  frame,
  up,
  down,
  resume,
  versions,
  handles,
  requests,
  loop,
  mem,
  gc,
  report,
  profile,
  heap,
  watch,
  ts,
  workers,
  worker,
];

const byName = new Map(OPERATIONS.map((op) => [op.name, op]));

export function operation(name: string): Operation | undefined {
  return byName.get(name);
}

/** Every operation's declaration as data: `describe` answers with it; the CLI builds its subcommands from it. */
export function declarations(): CommandInfo[] {
  return OPERATIONS.map((op) => ({
    name: op.name,
    help: op.help,
    args: op.args.map(({ choices, ...a }) => (choices ? { ...a, choices: [...choices] } : a)),
    runsOn: op.runsOn,
    observeSafe: op.observeSafe,
    heavy: op.heavy,
    midInput: op.midInput === true,
    sessionOnly: op.sessionOnly === true,
    ...(op.artifact ? { artifact: op.artifact } : {}),
  }));
}

/** Every operation's name, for completion of dot-commands. */
export function operationNames(): string[] {
  return OPERATIONS.map((op) => op.name);
}

const list = (names: string[]) => (names.length <= 1 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`);

/**
 * "`.help`, `.exit` and the diagnostics (`.stack`, `.mem`, …)": what still works in observe-only
 * mode, for the banner, from each operation's declaration. Session commands that make no sense
 * on their own there (`.break`) are left out.
 */
export function observeSafeList(): string {
  const safe = OPERATIONS.filter((op) => op.observeSafe);
  const session = safe.filter((op) => op.sessionOnly && op.name !== "break");
  const diagnostics = safe.filter((op) => !op.sessionOnly).map((op) => `.${op.name}`);
  const parts = session.map((op) => `.${op.name}`);
  if (diagnostics.length) parts.push(`the diagnostics (${diagnostics.join(", ")})`);
  return list(parts);
}
