import { type CpuProfile, profileText, summariseProfile } from "../../shared/cpu-profile.js";
import { formatDuration } from "../../shared/duration.js";
import { formatBytes } from "../../shared/units.js";
import type { ArtifactInfo, Operation, OwnInspector } from "./types.js";

/** How long the main thread may take to answer Profiler.stop (it answers while busy in JavaScript; not while in native code). */
const STOP_ANSWER_MS = 30_000;

/** `20261201T144700Z`: a file name part that sorts by time. */
export function stamp(date = new Date()): string {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/** Resolves after `ms`, or as soon as `signal` aborts (never rejects: stopping early is a normal end). */
export function waitOrAbort(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** `promise`, or a rejection once `signal` aborts first. */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(new Error(`interrupted while ${what}`));
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer from the main thread within ${formatDuration(ms)}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export function savedText(info: ArtifactInfo): string {
  return info.path ? `saved ${info.path} (${formatBytes(info.size)})` : `${info.name}: ${formatBytes(info.size)} sent to the client`;
}

/**
 * A CPU profile of the main thread through an inspector session of its own (no port). The
 * sampling interval is set at every start: it persists in an inspector session between profiles.
 */
export const profile: Operation = {
  name: "profile",
  help: "A CPU profile of the main thread (a .cpuprofile for Chrome DevTools or speedscope) and its top functions; Ctrl-C stops early and keeps what was sampled",
  args: [
    { name: "seconds", type: "duration", unit: "s", help: "how long to sample (a bare number is seconds)", default: 10_000 },
    { name: "interval", type: "number", help: "sampling interval in microseconds", default: 1000 },
    {
      name: "output",
      type: "string",
      help: "where to write the file on the app's side (human mode; default the runtime directory)",
      default: "",
    },
  ],
  runsOn: "socket",
  observeSafe: true,
  heavy: true,
  artifact: "a .cpuprofile (Chrome DevTools, speedscope)",
  async run(ctx) {
    const ms = ctx.args.seconds as number;
    const intervalUs = ctx.args.interval as number;
    if (!(ms > 0 && ms <= 3_600_000)) return { text: ".profile: seconds must be more than 0 and at most 1 hour" };
    if (!(Number.isInteger(intervalUs) && intervalUs >= 10 && intervalUs <= 1_000_000))
      return { text: ".profile: interval must be a whole number of microseconds from 10 to 1000000" };
    const inspector: OwnInspector = ctx.openInspector();
    let cpuProfile: CpuProfile;
    let sampledMs: number;
    try {
      await unlessAborted(inspector.post("Profiler.enable"), ctx.signal, "starting the profiler");
      await unlessAborted(inspector.post("Profiler.setSamplingInterval", { interval: intervalUs }), ctx.signal, "starting the profiler");
      await unlessAborted(inspector.post("Profiler.start"), ctx.signal, "starting the profiler");
      const began = performance.now();
      ctx.write(
        `profiling the main thread for ${formatDuration(ms)}, one sample every ${intervalUs} µs; this costs the app while it runs (measured at 1 ms under saturating HTTP load: 8-14% fewer requests per second). Ctrl-C stops early and keeps what was sampled.\n`,
      );
      await waitOrAbort(ms, ctx.signal);
      sampledMs = performance.now() - began;
      cpuProfile = (await withTimeout(inspector.post<{ profile: CpuProfile }>("Profiler.stop"), STOP_ANSWER_MS, "Profiler.stop")).profile;
    } finally {
      await withTimeout(inspector.post("Profiler.disable"), STOP_ANSWER_MS, "Profiler.disable").catch(() => {});
      inspector.disconnect();
    }
    const summary = summariseProfile(cpuProfile);
    const stopped = ctx.signal.aborted ? `stopped early after ${formatDuration(sampledMs)}; ` : "";
    const info = await ctx.artifact(
      { name: `profile-${process.pid}-${stamp()}.cpuprofile`, mediaType: "application/json", output: ctx.args.output as string },
      (sink) => sink.write(JSON.stringify(cpuProfile)),
    );
    const text = `CPU profile of the main thread: ${stopped}${profileText(summary)}\n${savedText(info)}; open it in Chrome DevTools (Performance) or speedscope`;
    return { text, json: { summary, artifact: info, stoppedEarly: ctx.signal.aborted, intervalUs } };
  },
};
