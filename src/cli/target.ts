/**
 * What a user names on the command line (a pid, or a socket path) → the socket to connect to,
 * with the CLI's errors for a process that does not exist or has no manhole.
 */
import fs from "node:fs";
import path from "node:path";
import { runtimeDir } from "../agent/runtime-dir.js";
import { CliError, EXIT } from "./errors.js";

export interface Target {
  socket: string;
  pid?: number;
}

export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A pid's manhole socket: `<runtime dir>/<pid>.sock`, or the socket named in a `<pid>*.json` descriptor. */
export function socketForPid(pid: number, dir = runtimeDir()): string | undefined {
  const direct = path.join(dir, `${pid}.sock`);
  if (fs.existsSync(direct)) return direct;
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return undefined;
  }
  for (const name of names) {
    if (name !== `${pid}.json` && !(name.startsWith(`${pid}-`) && name.endsWith(".json"))) continue;
    try {
      const d = JSON.parse(fs.readFileSync(path.join(dir, name), "utf8")) as { socket?: unknown };
      if (typeof d.socket === "string") return d.socket;
    } catch {
      // unreadable descriptor: try the next
    }
  }
  return undefined;
}

/** `4242` or `/path/to.sock` (anything with a slash, or an existing file, is a path). */
export function resolveTarget(spec: string): Target {
  if (/^\d+$/.test(spec) && !fs.existsSync(spec)) {
    const pid = Number(spec);
    const socket = socketForPid(pid);
    if (socket) return { socket, pid };
    if (!processExists(pid)) throw new CliError(EXIT.noProcess, `no such process: ${pid}`);
    throw new CliError(EXIT.noManhole, `process ${pid} has no manhole (nothing in ${runtimeDir()})`);
  }
  return { socket: path.resolve(spec) };
}
