// Self-described operations end to end: one declaration gives the dot-command, the structured
// command with its JSON, the describe entry, completion and .help; arguments are checked; a
// main-thread operation runs in the app's process.
import assert from "node:assert/strict";
import { test } from "node:test";
import { connect, MODES, openSession, startApp } from "./helpers.mjs";

async function structured(app) {
  const c = await connect(app.path);
  c.send('{"op":"hello","id":1,"protocol":[1]}\n');
  await c.until(/\{"op":"hello".*\n/);
  return {
    c,
    async ask(request) {
      c.send(`${JSON.stringify(request)}\n`);
      return JSON.parse(await c.until("\n"));
    },
  };
}

for (const mode of MODES) {
  test(`${mode}: .versions runs on the main thread: the app's own view, as text and as JSON`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const c = await openSession(app);
      const text = await c.eval(".versions");
      assert.match(text, new RegExp(`^node ${process.version.replace(/\./g, "\\.")} on ${process.platform}-${process.arch}, up `));
      assert.match(text, /\n {2}v8 +\d+\.\d+/);
      assert.match(text, /\n {2}uv +\d+\.\d+/);
      c.end();

      const s = await structured(app);
      const reply = await s.ask({ op: "command", id: 2, name: "versions" });
      assert.equal(reply.op, "result");
      assert.equal(reply.json.node, process.version);
      assert.equal(reply.json.versions.v8, process.versions.v8);
      assert.deepEqual(reply.json.execArgv, []);
      assert.equal(typeof reply.json.uptimeMs, "number");
      assert.match(reply.text, /^node v\d+\.\d+\.\d+ on /);
      s.c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: describe lists each operation's whole declaration; completion and .help come from it`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const s = await structured(app);
      const described = await s.ask({ op: "describe", id: 2 });
      const byName = new Map(described.commands.map((cmd) => [cmd.name, cmd]));
      for (const name of ["help", "exit", "break", "stack", "versions"]) assert.ok(byName.has(name), name);
      assert.deepEqual(byName.get("versions"), {
        name: "versions",
        help: byName.get("versions").help,
        args: [],
        runsOn: "main",
        observeSafe: true,
        heavy: false,
        midInput: false,
        sessionOnly: false,
      });
      assert.equal(byName.get("stack").runsOn, "socket");
      assert.equal(byName.get("break").midInput, true);
      const completed = await s.ask({ op: "complete", id: 3, text: ".ve" });
      assert.deepEqual(completed.items, [".versions"]);
      const help = await s.ask({ op: "command", id: 4, name: "help" });
      for (const name of byName.keys()) assert.match(help.text, new RegExp(`^\\.${name} `, "m"));
      s.c.end();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: arguments are checked against the declaration; .exit and .break say what they did`, async () => {
    const app = await startApp({ mode, options: { banner: null } });
    try {
      const s = await structured(app);
      const extra = await s.ask({ op: "command", id: 2, name: "versions", args: "now" });
      assert.equal(extra.op, "error");
      assert.equal(extra.error.name, "BadRequest");
      assert.match(extra.error.message, /too many arguments/);
      const named = await s.ask({ op: "command", id: 3, name: "versions", args: { since: 1 } });
      assert.equal(named.op, "error");
      assert.match(named.error.message, /unknown argument "since"/);
      const badArgs = await s.ask({ op: "command", id: 4, name: "versions", args: 7 });
      assert.equal(badArgs.error.name, "BadRequest");
      assert.deepEqual(await s.ask({ op: "command", id: 5, name: "break" }), {
        op: "result",
        id: 5,
        text: "",
        session: { clearInput: true },
      });
      assert.deepEqual(await s.ask({ op: "command", id: 6, name: "exit" }), { op: "result", id: 6, text: "", session: { leave: true } });
      await s.c.closed();

      const c = await openSession(app);
      assert.equal(await c.eval(".versions now"), ".versions: too many arguments (takes 0)\n");
      c.send("function f() {\n");
      assert.equal(await c.until("... "), "... ");
      c.send(".exit\n");
      await c.closed();
    } finally {
      await app.stop();
    }
  });

  test(`${mode}: observe-only runs the observe-safe operations, names them in the banner, refuses the rest`, async () => {
    const app = await startApp({ mode, options: { observeOnly: true } });
    try {
      const c = await connect(app.path);
      const banner = await c.until(">>> ");
      assert.match(
        banner,
        /This manhole is observe-only: evaluation is disabled; \.help, \.exit(, \.worker)? and the diagnostics \(\.stack, \.versions, [^)]*\) work\.\n>>> $/,
      );
      assert.match(await c.eval(".versions"), /^node v/);
      const help = await c.eval(".help");
      assert.doesNotMatch(help, /Anything else is JavaScript/);
      c.end();
    } finally {
      await app.stop();
    }
  });
}
