/**
 * V8 11 (Node 20) can abort the process (a CHECK in its deoptimizer) when a breakpoint
 * deoptimizes a loop running in on-stack-replacement (OSR) code: `.stack` and `.pause` set
 * breakpoints in the very loop that spins. Measured on a busy-waiting main thread, `.stack` for
 * 4 s from three sessions: 11 runs of 15 aborted; with OSR off (`--no-use-osr`) from before the
 * first breakpoint, 0 of 28, also where the loop was in OSR code already (its first
 * deoptimization is then the last). `--no-concurrent-osr` made it rarer, not rare enough.
 * V8's flags are the process's: set here, before the first Debugger.enable, it holds for
 * every thread, for the rest of the process's life (a long loop in a function then runs
 * unoptimized until that function is called again). Later V8s (Node 22 on) did not abort:
 * left alone there.
 */
import v8 from "node:v8";

let done = false;

export function avoidOsrDeoptCrash(): void {
  if (done) return;
  done = true;
  if (Number(process.versions.v8.split(".")[0]) >= 12) return;
  try {
    v8.setFlagsFromString("--no-use-osr");
  } catch {
    // flags frozen: nothing to be done here
  }
}
