// Floor: a raw Unix-socket echo server. argv[2] = socket path.
"use strict";
const net = require("node:net");

const server = net.createServer((socket) => {
  socket.on("error", () => {});
  socket.pipe(socket);
});
server.on("error", (err) => {
  console.error(err);
  process.exit(1);
});
server.listen(process.argv[2], () => process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`));
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
