/**
 * The interactive client's persistent history: one entry a line, oldest first, in
 * `$XDG_STATE_HOME/manhole/history` (default `~/.local/state/manhole/history`); the directory is
 * 0700 and the file 0600, since inputs may hold secrets. Each entry is appended as it is
 * entered, so concurrent sessions share one file; it is trimmed to the last HISTORY_SIZE
 * entries when loaded. Failing to read or write the history never stops a session.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const HISTORY_SIZE = 1000;

export function historyPath(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME && path.isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : path.join(os.homedir(), ".local", "state");
  return path.join(state, "manhole", "history");
}

export class History {
  private last: string | undefined;

  constructor(
    readonly file: string,
    readonly size = HISTORY_SIZE,
  ) {}

  /** The saved entries, newest first (as readline's `history` option wants them). */
  load(): string[] {
    let lines: string[];
    try {
      lines = fs
        .readFileSync(this.file, "utf8")
        .split("\n")
        .filter((l) => l.trim() !== "");
    } catch {
      return [];
    }
    if (lines.length > this.size) {
      lines = lines.slice(-this.size);
      this.write(`${lines.join("\n")}\n`);
    }
    this.last = lines.at(-1);
    return lines.reverse();
  }

  /** Records one entered line (blank lines and repeats of the previous entry are skipped). */
  add(line: string): void {
    if (line.trim() === "" || line === this.last || line.includes("\n")) return;
    this.last = line;
    try {
      this.ensureDir();
      fs.appendFileSync(this.file, `${line}\n`, { mode: 0o600 });
    } catch {
      // history is a convenience
    }
  }

  private ensureDir(): void {
    const dir = path.dirname(this.file);
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private write(text: string): void {
    try {
      this.ensureDir();
      const tmp = `${this.file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, text, { mode: 0o600 });
      fs.renameSync(tmp, this.file);
    } catch {
      // history is a convenience
    }
  }
}
