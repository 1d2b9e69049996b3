import { type StripperState, stripperLabel, stripperState } from "../main-thread/typescript.js";
import type { Operation } from "./types.js";

interface TsState extends StripperState {
  /** This session's choice (`.ts on|off`); TypeScript input works when it is on and a stripper is here. */
  on: boolean;
}

function describe(r: TsState, changed: boolean): string {
  if (!r.strip) {
    return [
      `TypeScript input: unavailable (no stripper: Node ${process.versions.node} has no module.stripTypeScriptTypes, and the optional package amaro is not installed)`,
      "Install amaro beside manhole (npm install amaro), or run Node 22.13+ / 24+.",
    ].join("\n");
  }
  const state = r.on ? "on" : "off";
  const lines = [
    `TypeScript input: ${changed ? `now ${state}` : state} for this session (inputs that are not JavaScript have their types stripped by ${stripperLabel(r.strip)})`,
    r.transform
      ? `enum, namespace and parameter properties: transformed by ${stripperLabel(r.transform)}`
      : "enum, namespace and parameter properties: unavailable (strip mode only; the optional package amaro adds them)",
  ];
  if (!changed)
    lines.push(r.used ? "The stripper is loaded (TypeScript input was stripped in this process)." : "The stripper is not loaded yet.");
  return lines.join("\n");
}

export const ts: Operation = {
  name: "ts",
  help: "TypeScript input for this session: .ts on, .ts off, .ts alone to say the state and which stripper",
  args: [{ name: "state", type: "string", choices: ["on", "off"], help: "on or off; nothing to show the state", default: "" }],
  runsOn: "main",
  observeSafe: false,
  heavy: false,
  sessionOnly: true,
  main(input, ctx): TsState {
    const { on } = input as { on?: boolean };
    if (on !== undefined && ctx.prefs) ctx.prefs.typescript = on;
    return { ...stripperState(), on: ctx.prefs?.typescript ?? true };
  },
  async run(ctx) {
    const on = ctx.args.state === "on" ? true : ctx.args.state === "off" ? false : undefined;
    const r = (await ctx.callMain({ on })) as TsState;
    if (on === true && !r.strip) throw new Error(describe(r, false));
    return {
      text: describe(r, on !== undefined),
      json: { on: r.on && r.strip !== undefined, chosen: r.on, stripper: r.strip ?? null, transform: r.transform ?? null, loaded: r.used },
    };
  },
};
