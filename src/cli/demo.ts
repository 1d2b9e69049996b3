/** `manhole demo`: a small app with a manhole, to try it out. */
import http from "node:http";
import { startManhole } from "../agent/index.js";
import { type ParsedArgs, parseArgs } from "./args.js";
import type { CliCommand } from "./cli-command.js";

export const demoHelp = `Usage: manhole demo [--path <socket>] [--no-threaded]

Starts a small demo app (an HTTP server counting requests, and a ticking counter)
with a manhole, and prints the socket path and the nc line to connect with.

Options:
  --path <socket>   where to put the socket (default: <runtime dir>/<pid>.sock)
  --no-threaded     serve the manhole from the main thread (no worker)
  -h, --help        show this help
`;

export async function demo(args: ParsedArgs): Promise<number> {
  const app = {
    started: new Date(),
    ticks: 0,
    requests: 0,
    orders: [
      { id: 1, item: "coffee", qty: 2 },
      { id: 2, item: "tea", qty: 1 },
    ],
  };
  setInterval(() => app.ticks++, 1000);
  const server = http.createServer((_req, res) => {
    app.requests++;
    res.end(`hello from the demo app (request ${app.requests})\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  const manhole = await startManhole({
    path: args.options.path,
    threaded: args.flags.has("no-threaded") ? false : undefined,
    namespace: { app, server },
  });
  process.stdout.write(
    `demo app running, pid ${process.pid}, http://127.0.0.1:${port}/\n` +
      `manhole socket: ${manhole.path}\n` +
      `connect with:   nc -U ${manhole.path}\n` +
      "try: app.orders, app.ticks, process.memoryUsage(), .help — and process.exit(0) to end the demo\n",
  );
  const stop = () => {
    void manhole.close().then(() => process.exit(0));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  return new Promise<number>(() => {}); // runs until killed or exited from the manhole
}

export const demoCommand: CliCommand = {
  name: "demo",
  summary: "start a small demo app with a manhole, and print how to connect",
  help: demoHelp,
  run: (args) => demo(parseArgs(args, ["path"])),
};
