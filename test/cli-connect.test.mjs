// `manhole connect`: the interactive client in a real terminal (tmux), and with piped stdin.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { interruptLoop, ROOT, requireTool, runClient, startApp, TERMINAL_PROMPT, tempDir, tmuxServer } from "./helpers.mjs";

requireTool("tmux");

const MAIN = path.join(ROOT, "dist", "cli", "main.js");
const PROMPT = TERMINAL_PROMPT;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

describe("manhole connect in a terminal", () => {
  let app;
  let server;
  before(async () => {
    app = await startApp({ options: { timeout: 60_000 } });
    server = tmuxServer();
  });
  after(async () => {
    server?.stop();
    await app?.stop();
  });
  /** `manhole connect <socket>` in a fresh terminal. */
  const terminal = (socket, opts) => server.terminal(["connect", socket], opts);
  const open = (opts = {}) => terminal(app.path, { ...opts, env: { XDG_STATE_HOME: tempDir(), MANHOLE_DIR: app.dir, ...opts.env } });

  test("banner, prompt naming the process, results, Ctrl-D leaves with 0", async () => {
    const t = open();
    try {
      const screen = await t.waitFor(PROMPT);
      assert.match(screen, new RegExp(`manhole: pid ${app.child.pid}, app \\S+, node v\\d+`));
      assert.match(screen, new RegExp(`:${app.child.pid}>$`, "m"));
      t.keys("appState.items.length + 40", "Enter");
      await t.waitFor(/^42$/m);
      t.keys("C-d");
      await t.waitFor(/^EXITED 0$/m);
    } finally {
      t.kill();
    }
  });

  test("Tab completes names and properties from the process", async () => {
    const t = open();
    try {
      await t.waitFor(PROMPT);
      t.type("appSt");
      t.keys("Tab");
      await t.waitFor(/> appState$/m);
      t.type(".it");
      t.keys("Tab");
      await t.waitFor(/> appState\.items$/m);
      t.keys("Enter");
      await t.waitFor(/^\[ 'a', 'b' \]$/m);
      t.type(".hel"); // ".he" is also .heap
      t.keys("Tab");
      await t.waitFor(/> \.help$/m);
    } finally {
      t.kill();
    }
  });

  test("history persists across runs (0600 file in a 0700 directory)", async () => {
    const state = tempDir();
    const first = open({ env: { XDG_STATE_HOME: state } });
    try {
      await first.waitFor(PROMPT);
      first.type("'remember' + 'me'");
      first.keys("Enter");
      await first.waitFor(/^'rememberme'$/m);
      first.keys("C-d");
      await first.waitFor(/^EXITED 0$/m);
    } finally {
      first.kill();
    }
    const file = path.join(state, "manhole", "history");
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
    assert.match(fs.readFileSync(file, "utf8"), /^'remember' \+ 'me'$/m);

    const second = open({ env: { XDG_STATE_HOME: state } });
    try {
      await second.waitFor(PROMPT);
      second.keys("Up");
      await second.waitFor(/> 'remember' \+ 'me'$/m);
      second.keys("Enter");
      await second.waitFor(/^'rememberme'$/m);
    } finally {
      second.kill();
    }
  });

  test("Ctrl-C interrupts a running evaluation and the prompt comes back", async () => {
    const t = open();
    try {
      await t.waitFor(PROMPT);
      await interruptLoop(t);
      t.type("6 * 7");
      t.keys("Enter");
      await t.waitFor(/^42$/m);
    } finally {
      t.kill();
    }
  });

  test("Ctrl-C clears the line when idle, with a hint on an empty line", async () => {
    const t = open();
    try {
      await t.waitFor(PROMPT);
      t.type("abandoned");
      t.keys("C-c");
      await t.waitFor(() => t.prompts() === 2);
      t.keys("C-c");
      await t.waitFor(/To exit, press Ctrl-D/);
      t.type("1 + 1");
      t.keys("Enter");
      const screen = await t.waitFor(/^2$/m);
      assert.doesNotMatch(screen, /abandoned1/);
    } finally {
      t.kill();
    }
  });

  test("multi-line input gets the continuation prompt and is evaluated whole", async () => {
    const t = open();
    try {
      await t.waitFor(PROMPT);
      t.type("function f() {");
      t.keys("Enter");
      await t.waitFor(/^\.\.\.$/m);
      t.type("return 42");
      t.keys("Enter");
      await t.waitFor(/^\.\.\. return 42\n\.\.\.$/m);
      t.type("}");
      t.keys("Enter");
      await t.waitFor(() => t.prompts() === 2);
      t.type("f()");
      t.keys("Enter");
      await t.waitFor(/^42$/m);
    } finally {
      t.kill();
    }
  });

  test("dot-commands go to the agent; .exit leaves with 0", async () => {
    const t = open();
    try {
      await t.waitFor(PROMPT);
      t.type(".help");
      t.keys("Enter");
      await t.waitFor(/^\.stack /m);
      t.type(".exit");
      t.keys("Enter");
      await t.waitFor(/^EXITED 0$/m);
    } finally {
      t.kill();
    }
  });

  test("output printed between evaluations appears above the line being typed", async () => {
    const t = open();
    try {
      await t.waitFor(PROMPT);
      t.type("setTimeout(() => console.log('tick' + 'tock'), 500), 'scheduled'");
      t.keys("Enter");
      await t.waitFor(/^'scheduled'$/m);
      t.type("still typing");
      const screen = await t.waitFor(/^ticktock$/m);
      assert.match(screen, /^ticktock\n\S+:\d+> still typing$/m);
      t.type(" more");
      await t.waitFor(/> still typing more$/m);
    } finally {
      t.kill();
    }
  });

  test("colours: errors red by default, no escape codes with NO_COLOR", async () => {
    const coloured = open({ unset: ["NO_COLOR"] });
    try {
      await coloured.waitFor(PROMPT);
      coloured.type("throw new Error('boom')");
      coloured.keys("Enter");
      await coloured.waitFor(/Uncaught Error: boom/);
      assert.match(coloured.screen(true), /\x1b\[31mUncaught Error: boom/);
    } finally {
      coloured.kill();
    }
    const plain = open({ env: { NO_COLOR: "1" } });
    try {
      await plain.waitFor(PROMPT);
      plain.type("throw new Error('boom')");
      plain.keys("Enter");
      await plain.waitFor(/Uncaught Error: boom/);
      assert.doesNotMatch(plain.screen(true), /\x1b\[/);
    } finally {
      plain.kill();
    }
  });

  test("the banner warns when the event loop is blocked", async () => {
    const other = await startApp();
    let t;
    try {
      const r = await runClient(process.execPath, [MAIN, "connect", other.path], "setTimeout(() => blockEventLoop(10_000), 100), 'ok'\n");
      assert.equal(r.code, 0);
      await sleep(800);
      t = terminal(other.path, { env: { XDG_STATE_HOME: tempDir() } });
      const screen = await t.waitFor(PROMPT);
      assert.match(screen, /^WARNING: the event loop is blocked for .* \(try \.stack\)$/m);
    } finally {
      t?.kill();
      await other.stop();
    }
  });

  test("the process closing the connection ends the client with a note and 0", async () => {
    const other = await startApp();
    const t = terminal(other.path, { env: { XDG_STATE_HOME: tempDir() } });
    try {
      await t.waitFor(PROMPT);
      t.type("setTimeout(() => manholeHandle.close(), 200), 'closing'");
      t.keys("Enter");
      const screen = await t.waitFor(/^EXITED 0$/m);
      assert.match(screen, /the process closed the connection/);
    } finally {
      t.kill();
      await other.stop();
    }
  });
});

describe("manhole connect with piped stdin", () => {
  let app;
  before(async () => {
    app = await startApp();
  });
  after(async () => {
    await app?.stop();
  });

  test("evaluates each input, prints the results, exits 0 at EOF", async () => {
    const r = await runClient(process.execPath, [MAIN, "connect", app.path], "1+1\n");
    assert.equal(r.stdout, "2\n");
    assert.equal(r.code, 0);
  });

  test("multi-line inputs and dot-commands work; exit 1 when the last input threw", async () => {
    const input = "function g() {\n  return 'g' + 1\n}\ng()\n.help\nthrow new Error('last')\n";
    const r = await runClient(process.execPath, [MAIN, "connect", app.path], input);
    assert.match(r.stdout, /^'g1'$/m);
    assert.match(r.stdout, /^\.stack /m);
    assert.doesNotMatch(r.stdout, /\x1b\[/);
    assert.match(r.stderr, /Uncaught Error: last/);
    assert.equal(r.code, 1);
  });

  test("`manhole <pid>` connects by pid through the runtime directory", async () => {
    const r = await runClient("env", [`MANHOLE_DIR=${app.dir}`, process.execPath, MAIN, String(app.child.pid)], "appState.items\n");
    assert.equal(r.stdout, "[ 'a', 'b' ]\n");
    assert.equal(r.code, 0);
  });

  test("no such process: exit 3", async () => {
    const r = await runClient(process.execPath, [MAIN, "connect", "999999999"], "");
    assert.equal(r.code, 3);
    assert.match(r.stderr, /no such process/);
  });
});
