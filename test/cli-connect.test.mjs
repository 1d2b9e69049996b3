// `manhole connect`: the interactive client in a real terminal (tmux), and with piped stdin.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { ROOT, requireTool, runClient, startApp, tempDir } from "./helpers.mjs";

requireTool("tmux");

const MAIN = path.join(ROOT, "dist", "cli", "main.js");
/** A tmux server of our own (its socket in a temp dir), so that the user's sessions are never touched. */
const TMUX_SOCKET = path.join(tempDir(), "tmux.sock");
// capture-pane drops trailing blanks: an empty prompt line ends in ">".
const PROMPT = /:\d+>( |$)/m;

const tmux = (...args) => execFileSync("tmux", ["-S", TMUX_SOCKET, ...args], { encoding: "utf8" });
const quote = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

let terminals = 0;
/** Runs `manhole connect <socket>` in a fresh 120x40 tmux session; the shell prints EXITED <code> after it. */
function terminal(socket, { env = {}, unset = [] } = {}) {
  const name = `connect-${++terminals}`;
  const vars = Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`);
  const command = [
    "env",
    ...unset.map((k) => `-u ${k}`),
    ...vars,
    quote(process.execPath),
    quote(MAIN),
    "connect",
    quote(socket),
    '; echo "EXITED $?"; sleep 600',
  ].join(" ");
  tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", command);
  return {
    name,
    keys: (...keys) => tmux("send-keys", "-t", name, ...keys),
    /** Typed literally (no key names). */
    type: (text) => tmux("send-keys", "-t", name, "-l", text),
    screen: (escapes = false) => tmux("capture-pane", "-p", ...(escapes ? ["-e"] : []), "-t", name),
    /** Polls the screen until `pattern` matches (or `pattern(screen)` is true); returns the screen. */
    async waitFor(pattern, ms = 15_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const screen = this.screen();
        if (typeof pattern === "function" ? pattern(screen) : pattern.test(screen)) return screen;
        if (Date.now() > deadline) assert.fail(`timed out waiting for ${pattern}; the screen:\n${screen}`);
        await sleep(50);
      }
    },
    /** The number of lines showing a primary prompt. */
    prompts() {
      return this.screen()
        .split("\n")
        .filter((l) => PROMPT.test(l)).length;
    },
    kill() {
      try {
        tmux("kill-session", "-t", name);
      } catch {
        // already gone
      }
    },
  };
}

describe("manhole connect in a terminal", () => {
  let app;
  before(async () => {
    app = await startApp({ options: { timeout: 60_000 } });
    // A tmux server exits with its last session; a new session racing that exit fails
    // ("server exited unexpectedly"). One idle session keeps the server up between tests.
    tmux("new-session", "-d", "-s", "keeper", "sleep 3600");
  });
  after(async () => {
    try {
      tmux("kill-server");
    } catch {
      // already gone
    }
    await app?.stop();
  });
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
      t.type("while (true) {}");
      t.keys("Enter");
      await sleep(300);
      // Repeated in case the first Ctrl-C arrives before the evaluation has begun.
      for (let i = 0; !/Interrupted/i.test(t.screen()); i++) {
        assert.ok(i < 10, `no interruption; the screen:\n${t.screen()}`);
        t.keys("C-c");
        await t.waitFor(/Interrupted/i, 3000).catch(() => {});
      }
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
