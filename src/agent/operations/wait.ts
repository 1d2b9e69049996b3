import type { Operation } from "./types.js";

export const wait: Operation = {
  name: "wait",
  help: "Keep an input that waits for a blocked event loop past the timeout, instead of cancelling it (.wait off: cancel again)",
  args: [{ name: "on", type: "boolean", help: "keep waiting inputs (on) or cancel them at the timeout (off)", default: true }],
  runsOn: "socket",
  observeSafe: false,
  heavy: false,
  immediate: true,
  run(ctx) {
    const on = ctx.args.on !== false;
    ctx.keepWaiting(on);
    return {
      text: on
        ? "Inputs that wait for a blocked event loop now stay queued past the timeout and run once when it turns (Ctrl-C cancels one)."
        : "Inputs that wait for a blocked event loop are cancelled at the timeout again.",
      json: { keepWaiting: on },
    };
  },
};
