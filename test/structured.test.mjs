// The structured protocol on the same socket as human mode, spoken by a raw client.
import assert from "node:assert/strict";
import { test } from "node:test";
import { connect, MODES, startApp } from "./helpers.mjs";

/** Says hello past the banner; returns the raw client and a request() that resolves with the reply to an id. */
async function structured(app) {
  const c = await connect(app.path);
  c.send('{"op":"hello","id":1,"protocol":[1]}\n');
  const upTo = await c.until(/\{"op":"hello".*\n/);
  const hello = JSON.parse(upTo.slice(upTo.indexOf('{"op":"hello"')));
  const lines = async (n) => {
    const out = [];
    for (let i = 0; i < n; i++) out.push(JSON.parse(await c.until("\n")));
    return out;
  };
  return { c, hello, lines, send: (obj) => c.send(`${JSON.stringify(obj)}\n`) };
}

for (const mode of MODES) {
  test(`${mode}: hello negotiates version 1 and describes the process`, async () => {
    const app = await startApp({ mode });
    try {
      const { hello, c } = await structured(app);
      assert.equal(hello.protocol, 1);
      assert.equal(hello.agent, "manhole");
      assert.equal(hello.pid, app.child.pid);
      assert.equal(hello.threaded, mode === "threaded");
      assert.equal(typeof hello.uptimeMs, "number");
      if (mode === "threaded") assert.equal(hello.loop.blocked, false);
      else assert.equal(hello.loop, undefined);
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: eval streams output, then a value with its JSON; errors carry name, message and stack`, async () => {
    const app = await startApp({ mode });
    try {
      const { send, lines, c } = await structured(app);
      send({ op: "eval", id: 2, code: 'console.log("hi"); ({ a: [1, 2], b: "x" })' });
      assert.deepEqual(await lines(2), [
        { op: "out", id: 2, text: "hi\n" },
        { op: "value", id: 2, text: "{ a: [ 1, 2 ], b: 'x' }", json: { a: [1, 2], b: "x" } },
      ]);
      send({ op: "eval", id: 3, code: "1n" });
      assert.deepEqual(await lines(1), [{ op: "value", id: 3, text: "1n" }]);
      send({ op: "eval", id: 4, code: 'throw new TypeError("bad")' });
      const [err] = await lines(1);
      assert.equal(err.op, "error");
      assert.equal(err.id, 4);
      assert.equal(err.error.name, "TypeError");
      assert.equal(err.error.message, "bad");
      assert.match(err.error.stack, /^TypeError: bad\n {4}at REPL\d+:1:7$/);
      // One at a time, in order.
      send({ op: "eval", id: 5, code: "await new Promise((r) => setTimeout(() => r('A'), 200))" });
      send({ op: "eval", id: 6, code: "'B'" });
      assert.deepEqual(
        (await lines(2)).map((r) => [r.id, r.json]),
        [
          [5, "A"],
          [6, "B"],
        ],
      );
      c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: complete, command, describe, close; bad requests get errors and the session goes on`, async () => {
    const app = await startApp({ mode });
    try {
      const { send, lines, c } = await structured(app);
      send({ op: "complete", id: 2, text: "appSt" });
      assert.deepEqual(await lines(1), [{ op: "completions", id: 2, items: ["appState"], prefix: "appSt" }]);
      send({ op: "complete", id: 3, text: "appState.it" });
      assert.deepEqual(await lines(1), [{ op: "completions", id: 3, items: ["items"], prefix: "it" }]);
      send({ op: "complete", id: 4, text: "process.memoryU" });
      assert.deepEqual(await lines(1), [{ op: "completions", id: 4, items: ["memoryUsage"], prefix: "memoryU" }]);
      send({ op: "complete", id: 5, text: ".st" });
      assert.deepEqual(await lines(1), [{ op: "completions", id: 5, items: [".stack"], prefix: ".st" }]);
      send({ op: "command", id: 6, name: "help" });
      const [help] = await lines(1);
      assert.equal(help.op, "result");
      assert.match(help.text, /\.stack/);
      send({ op: "describe", id: 7 });
      const [described] = await lines(1);
      assert.deepEqual(
        described.ops.map((o) => o.name),
        ["hello", "eval", "complete", "interrupt", "command", "describe", "close"],
      );
      assert.ok(described.commands.some((cmd) => cmd.name === "stack"));
      c.send("not json\n");
      assert.deepEqual(await lines(1), [
        { op: "error", id: 0, text: "BadRequest: not a JSON object", error: { name: "BadRequest", message: "not a JSON object" } },
      ]);
      send({ op: "frob", id: 8 });
      const [unknown] = await lines(1);
      assert.equal(unknown.error.name, "UnknownOperation");
      send({ op: "eval", id: 9, code: "40 + 2" });
      assert.deepEqual(await lines(1), [{ op: "value", id: 9, text: "42", json: 42 }]);
      send({ op: "close", id: 10 });
      assert.deepEqual(await lines(1), [{ op: "bye", id: 10 }]);
      await c.closed();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: interrupt stops a running evaluation; a version the agent does not speak is refused`, async () => {
    const app = await startApp({ mode, options: { timeout: 60_000 } });
    try {
      const { send, lines, c } = await structured(app);
      send({ op: "eval", id: 2, code: "await new Promise(() => {})" });
      send({ op: "interrupt", id: 3 });
      const replies = await lines(2);
      const stopped = replies.find((r) => r.id === 2);
      assert.equal(stopped.op, "error");
      assert.match(stopped.text, /^Interrupted/);
      send({ op: "eval", id: 4, code: "1+1" });
      assert.deepEqual(await lines(1), [{ op: "value", id: 4, text: "2", json: 2 }]);
      c.end();

      const old = await connect(app.path);
      old.send('{"op":"hello","id":1,"protocol":[99]}\n');
      const refused = await old.until(/\n$/);
      assert.match(refused, /"name":"ProtocolVersionMismatch"/);
      await old.closed();
    } finally {
      await app.stop();
    }
  });
}
