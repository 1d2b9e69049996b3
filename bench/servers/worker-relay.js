// The floor of threaded mode's design, without manhole: a worker thread owns the socket and
// reads JSON lines, the main thread evaluates, the answer goes back through the worker.
// Nothing else (no sessions, scope, containment or formatting). argv[2] = socket path.
"use strict";
const net = require("node:net");
const vm = require("node:vm");
const { Worker, isMainThread, parentPort, workerData } = require("node:worker_threads");

if (isMainThread) {
  const worker = new Worker(__filename, { workerData: process.argv[2] });
  worker.on("message", (m) => {
    if (m.ready) {
      process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`);
      return;
    }
    const value = vm.runInThisContext(m.code);
    worker.postMessage({ conn: m.conn, line: `${JSON.stringify({ op: "value", id: m.id, text: String(value), json: value })}\n` });
  });
  worker.on("error", (err) => {
    console.error(err);
    process.exit(1);
  });
  process.stdin.on("end", () => process.exit(0));
  process.stdin.resume();
} else {
  const conns = new Map();
  let next = 0;
  parentPort.on("message", (m) => conns.get(m.conn)?.write(m.line));
  const server = net.createServer((socket) => {
    const conn = ++next;
    conns.set(conn, socket);
    socket.on("error", () => {});
    socket.on("close", () => conns.delete(conn));
    socket.setEncoding("utf8");
    let buf = "";
    socket.on("data", (d) => {
      buf += d;
      for (let nl = buf.indexOf("\n"); nl !== -1; nl = buf.indexOf("\n")) {
        const req = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (req.op === "hello") socket.write(`${JSON.stringify({ op: "hello", id: req.id, protocol: 1 })}\n`);
        else parentPort.postMessage({ conn, id: req.id, code: req.code });
      }
    });
  });
  server.listen(workerData, () => parentPort.postMessage({ ready: true }));
}
