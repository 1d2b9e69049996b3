import { formatDuration } from "../../shared/duration.js";
import type { Operation } from "./types.js";

interface Versions {
  node: string;
  versions: Record<string, string | undefined>;
  execArgv: string[];
  platform: string;
  arch: string;
  uptimeMs: number;
}

/** The process as it sees itself: read on the main thread, so it is the app's own view (execArgv, uptime). */
export const versions: Operation = {
  name: "versions",
  help: "Node, V8, libuv and the other versions of this process; its platform, flags and uptime",
  args: [],
  runsOn: "main",
  observeSafe: true,
  heavy: false,
  main(): Versions {
    return {
      node: process.version,
      versions: { ...process.versions },
      execArgv: [...process.execArgv],
      platform: process.platform,
      arch: process.arch,
      uptimeMs: Math.round(process.uptime() * 1000),
    };
  },
  async run(ctx) {
    const v = (await ctx.callMain()) as Versions;
    const width = Math.max(...Object.keys(v.versions).map((k) => k.length));
    const lines = [
      `node ${v.node} on ${v.platform}-${v.arch}, up ${formatDuration(v.uptimeMs)}${v.execArgv.length ? `, flags: ${v.execArgv.join(" ")}` : ""}`,
      ...Object.entries(v.versions).map(([k, ver]) => `  ${k.padEnd(width)}  ${ver}`),
    ];
    return { text: lines.join("\n"), json: v };
  },
};
