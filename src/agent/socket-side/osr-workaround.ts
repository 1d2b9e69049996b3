/**
 * V8 11 (Node 20) can abort the process (a CHECK in its deoptimizer) when a breakpoint deoptimizes
 * a loop whose on-stack replacement is being compiled on a background thread: `.stack` and
 * `.pause` set breakpoints in the very loop that spins. Measured: `.stack` repeated on a
 * busy-waiting main thread aborted it in 6 runs of 9; with on-stack replacement compiled on the
 * main thread instead (`--no-concurrent-osr`), 0 of 12. V8's flags are the process's, so the
 * worker sets it, before the first breakpoint; the app's long loops then pay their one OSR
 * compile on its own thread. Later V8s (Node 22 on) did not abort: left alone there.
 */
import v8 from "node:v8";

let done = false;

export function avoidConcurrentOsrCrash(): void {
  if (done) return;
  done = true;
  const major = Number(process.versions.v8.split(".")[0]);
  if (major >= 12) return;
  try {
    v8.setFlagsFromString("--no-concurrent-osr");
  } catch {
    // flags frozen: nothing to be done here
  }
}
