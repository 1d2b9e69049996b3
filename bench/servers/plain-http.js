// An HTTP app that never loads manhole (the target of bench/attach.js): prints {"port"} when
// it listens, and exits when its stdin ends.
"use strict";
const http = require("node:http");

globalThis.benchState = { hits: 0 };
const server = http.createServer((_req, res) => res.end(`hits ${++globalThis.benchState.hits}\n`));
server.listen(0, "127.0.0.1", () => process.stdout.write(`${JSON.stringify({ port: server.address().port })}\n`));
process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
