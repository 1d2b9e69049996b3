import type { Operation } from "./types.js";

export const stack: Operation = {
  name: "stack",
  help: "Show the main thread's JavaScript stack and the top frame's locals (works while the loop is blocked); in a worker (.worker), that worker's",
  args: [],
  runsOn: "socket",
  observeSafe: true,
  heavy: false,
  immediate: true,
  async run(ctx) {
    return { text: await ctx.stack() };
  },
};
