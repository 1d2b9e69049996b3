/**
 * Which signals a process catches, from Linux's /proc/<pid>/status (SigCgt): whether `--signal`
 * would meet a handler or the signal's default action, and whether a pid without a socket
 * looks like an app that starts its manhole on a signal (activateOn).
 */
import fs from "node:fs";
import os from "node:os";

/** Signals Node itself catches in every process: they say nothing about the app. */
const NODE_CATCHES = new Set([
  "SIGINT",
  "SIGTERM",
  "SIGUSR1",
  "SIGSEGV",
  "SIGBUS",
  "SIGFPE",
  "SIGILL",
  "SIGABRT",
  "SIGPIPE",
  "SIGCHLD",
  "SIGWINCH",
]);

/** The signals `pid` has handlers for, or undefined where that cannot be read (not Linux, no access). */
export function caughtSignals(pid: number): Set<NodeJS.Signals> | undefined {
  let mask: bigint;
  try {
    const m = /^SigCgt:\s*([0-9a-f]+)$/im.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    if (!m) return undefined;
    mask = BigInt(`0x${m[1]}`);
  } catch {
    return undefined;
  }
  const caught = new Set<NodeJS.Signals>();
  for (const [name, number] of Object.entries(os.constants.signals)) {
    if (number > 0 && number <= 64 && (mask >> BigInt(number - 1)) & 1n) caught.add(name as NodeJS.Signals);
  }
  return caught;
}

/** Signals `pid` catches beyond Node's own: candidates for its activateOn (SIGUSR2 first). */
export function appSignals(pid: number): NodeJS.Signals[] {
  const caught = caughtSignals(pid);
  if (!caught) return [];
  return [...caught].filter((s) => !NODE_CATCHES.has(s)).sort((a, b) => (a === "SIGUSR2" ? -1 : b === "SIGUSR2" ? 1 : a.localeCompare(b)));
}
