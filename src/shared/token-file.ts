/** Where the TCP listener's token lives (written 0600 by the agent, read by the CLI, removed by either). */
import fs from "node:fs";

/** `<dir>/<pid>.sock` → `<dir>/<pid>.token` (any other name gets `.token` appended). */
export function tokenPathFor(socketPath: string): string {
  return socketPath.endsWith(".sock") ? `${socketPath.slice(0, -".sock".length)}.token` : `${socketPath}.token`;
}

/** Writes the token file with mode 0600 (replacing a stale one of ours). */
export function writeTokenFile(file: string, token: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // none there
  }
  fs.writeFileSync(file, `${token}\n`, { mode: 0o600, flag: "wx" });
  fs.chmodSync(file, 0o600);
}

export function removeTokenFile(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch {
    // already gone
  }
}
