/**
 * `manhole attach` starts the agent only after the target's inspector is closed again, so a
 * failure to start cannot travel back over the inspector: the agent writes it to
 * `<socket path without .sock>.attach-error` (0600, beside the socket) and the CLI reads and removes it.
 */
import fs from "node:fs";

export function attachErrorPathFor(socketPath: string): string {
  return socketPath.endsWith(".sock") ? `${socketPath.slice(0, -".sock".length)}.attach-error` : `${socketPath}.attach-error`;
}

export function writeAttachError(file: string, message: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // none there
  }
  fs.writeFileSync(file, `${message}\n`, { mode: 0o600, flag: "wx" });
}

/** The error left by the agent, removing the file; undefined when there is none. */
export function takeAttachError(file: string): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
  try {
    fs.unlinkSync(file);
  } catch {
    // gone meanwhile
  }
  return text.trim();
}
