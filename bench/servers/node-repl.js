// Reference: Node's own REPL served over a Unix socket. argv[2] = socket path.
"use strict";
const net = require("node:net");
const repl = require("node:repl");

const server = net.createServer((socket) => {
  socket.on("error", () => {});
  const r = repl.start({ input: socket, output: socket, prompt: "> ", terminal: false });
  r.on("exit", () => socket.end());
});
server.on("error", (err) => {
  console.error(err);
  process.exit(1);
});
server.listen(process.argv[2], () => process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
