import os from "node:os";
import { runtimeDir } from "../shared/runtime-dir.js";
import { probeSocket } from "../shared/socket-probe.js";
import { UsageError } from "./args.js";
import { CliError, EXIT } from "./errors.js";
import { caughtSignals } from "./proc-signals.js";
import { processExists, socketForPid } from "./target.js";

/**
 * `USR2`, `sigusr2` or `SIGUSR2` → `SIGUSR2`; a usage error for anything that is not a catchable
 * signal, and for SIGUSR1: Node answers it by opening its inspector, an unauthenticated
 * debugging port (127.0.0.1:9229) that any local user can reach.
 */
export function parseSignal(name: string): NodeJS.Signals {
  const upper = name.toUpperCase();
  const full = upper.startsWith("SIG") ? upper : `SIG${upper}`;
  if (!(full in os.constants.signals) || full === "SIGKILL" || full === "SIGSTOP") {
    throw new UsageError(`--signal: "${name}" is not a signal a process can catch (e.g. SIGUSR2)`);
  }
  if (full === "SIGUSR1") {
    throw new UsageError(
      "--signal: SIGUSR1 opens Node's inspector (an unauthenticated debugging port any local user can reach), not a manhole; use the app's activateOn signal (e.g. SIGUSR2)",
    );
  }
  return full as NodeJS.Signals;
}

async function listening(socket: string): Promise<boolean> {
  return (await probeSocket(socket)) === "live";
}

async function liveSocket(pid: number, dir: string): Promise<string | undefined> {
  const socket = socketForPid(pid, dir);
  return socket && (await listening(socket)) ? socket : undefined;
}

/**
 * Sends `signal` to `pid` (unless its manhole already listens: a second signal could meet the
 * signal's default action, e.g. termination) and polls until its socket accepts connections.
 * Resolves to the socket path; CliErrors: no such process (3), permission denied (5), timeout (7).
 */
export async function waitForSocket(pid: number, signal: NodeJS.Signals, timeoutMs: number, dir = runtimeDir()): Promise<string> {
  if (!processExists(pid)) throw new CliError(EXIT.noProcess, `no such process: ${pid}`);
  const already = await liveSocket(pid, dir);
  if (already) return already;
  const caught = caughtSignals(pid);
  if (caught && !caught.has(signal)) {
    process.stderr.write(
      `manhole: warning: process ${pid} has no handler for ${signal}, so its default action applies (for most signals: the process dies); sending it anyway\n`,
    );
  }
  try {
    process.kill(pid, signal);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ESRCH") throw new CliError(EXIT.noProcess, `no such process: ${pid}`);
    if (code === "EPERM") throw new CliError(EXIT.permission, `cannot send ${signal} to process ${pid}: permission denied`);
    throw new CliError(EXIT.failure, `cannot send ${signal} to process ${pid}: ${(err as Error).message}`);
  }
  const deadline = Date.now() + timeoutMs;
  for (let delay = 10; ; delay = Math.min(delay * 2, 100)) {
    const socket = await liveSocket(pid, dir);
    if (socket) return socket;
    if (!processExists(pid)) throw new CliError(EXIT.noProcess, `process ${pid} exited after ${signal}`);
    if (Date.now() >= deadline) {
      throw new CliError(EXIT.timeout, `process ${pid} opened no manhole within ${timeoutMs} ms of ${signal} (nothing in ${dir})`);
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}
