/**
 * What `manhole attach <pid>` loads into a running process through its inspector (see
 * src/cli/attach.ts), from the CLI's own installation. `attach(options)` checks the options and
 * the runtime directory at once and answers with the socket path; the manhole starts only on
 * the next turn of the event loop, after the answer went out, while the CLI closes the
 * inspector: its port stays open as briefly as possible. A failure to start is left in
 * `<socket>.attach-error` (shared/attach-error.ts) for the CLI, and said on the app's stderr.
 *
 * The manhole it starts is recorded under `Symbol.for("manhole.attach")` on globalThis, so
 * that a later attach finds it (and just connects) and `manhole attach --detach` can close it.
 */
import fs from "node:fs";
import path from "node:path";
import { attachErrorPathFor, writeAttachError } from "../shared/attach-error.js";
import { checkSocketParent, ensurePrivateDir, runtimeDir } from "../shared/runtime-dir.js";
import { type ManholeHandle, startManhole } from "./index.js";
import { type ManholeOptions, resolveOptions } from "./options.js";

const REGISTRY = Symbol.for("manhole.attach");

interface Attached {
  path: string;
  state: "starting" | "open" | "failed" | "closing";
  handle?: ManholeHandle;
  closed?: Promise<void>;
}

type Registry = { [REGISTRY]?: Attached };

function registry(): Registry {
  return globalThis as unknown as Registry;
}

export interface AttachAnswer {
  /** The socket the manhole listens (or will listen) on. */
  path: string;
  /** A manhole opened by an earlier attach is there already (nothing new was started). */
  already: boolean;
  node: string;
  pid: number;
}

function say(text: string): void {
  try {
    fs.writeSync(2, `manhole: ${text}\n`);
  } catch {
    // no stderr
  }
}

/** Checks `options` and the socket's directory now (throws), starts the manhole on the next turn. */
export function attach(options: ManholeOptions): AttachAnswer {
  const reg = registry();
  const current = reg[REGISTRY];
  const base = { node: process.version, pid: process.pid };
  if (current && (current.state === "starting" || current.state === "open")) return { ...base, path: current.path, already: true };
  const opts = resolveOptions(options);
  const dir = runtimeDir();
  ensurePrivateDir(dir);
  const socketPath = opts.path ? path.resolve(opts.path) : path.join(dir, `${process.pid}.sock`);
  if (opts.path) checkSocketParent(path.dirname(socketPath));
  const errorFile = attachErrorPathFor(socketPath);
  try {
    fs.unlinkSync(errorFile);
  } catch {
    // none left from an earlier attempt
  }
  const entry: Attached = { path: socketPath, state: "starting" };
  reg[REGISTRY] = entry;
  setImmediate(() => {
    startManhole(options).then(
      (handle) => {
        if (entry.state !== "starting") {
          void handle.close(); // detached before it had opened
          return;
        }
        entry.handle = handle;
        entry.state = "open";
      },
      (err: unknown) => {
        entry.state = "failed";
        if (reg[REGISTRY] === entry) delete reg[REGISTRY];
        const message = err instanceof Error ? err.message.replace(/^manhole: /, "") : String(err);
        say(`attach: not started: ${message}`);
        try {
          writeAttachError(errorFile, message);
        } catch {
          // the CLI times out and points at the app's stderr
        }
      },
    );
  });
  return { ...base, path: socketPath, already: false };
}

export interface DetachAnswer {
  /** Whether a manhole opened by attach was there (and is being closed). */
  attached: boolean;
  path?: string;
  pid: number;
}

/** Closes the manhole an earlier attach opened, on the next turn; answers at once. */
export function detach(): DetachAnswer {
  const reg = registry();
  const entry = reg[REGISTRY];
  if (!entry || entry.state === "failed") return { attached: false, pid: process.pid };
  if (entry.state !== "closing") {
    const handle = entry.handle;
    entry.state = "closing";
    entry.closed = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => handle?.close())
      .catch((err: unknown) => say(`detach: ${err instanceof Error ? err.message : String(err)}`))
      .finally(() => {
        if (reg[REGISTRY] === entry) delete reg[REGISTRY];
      });
  }
  return { attached: true, path: entry.path, pid: process.pid };
}
