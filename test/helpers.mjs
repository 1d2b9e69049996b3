// Shared test helpers: real child processes, real sockets, real nc/socat clients, and a real terminal (tmux).
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { tool, toolProblem } from "../scripts/test-tools.mjs";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const FIXTURE = path.join(ROOT, "test", "fixtures", "app.cjs");
/** Both modes unless MANHOLE_TEST_MODES says otherwise ("threaded", "inline"). */
export const MODES = (process.env.MANHOLE_TEST_MODES ?? "threaded,inline").split(",");

/** tmux servers of tmuxServer() not stopped yet: ended at exit (before their sockets' directories go). */
const tmuxSockets = new Set();
/** A fresh private directory for sockets (removed at exit). */
const tempDirs = new Set();
process.on("exit", () => {
  for (const socket of tmuxSockets) spawnSync("tmux", ["-S", socket, "kill-server"], { stdio: "ignore" });
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
});

export function tempDir(prefix = "mh-test-") {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(dir, 0o700);
  tempDirs.add(dir);
  return dir;
}

/**
 * Starts the fixture app (or `script`, run with `nodeArgs`) as a child process and waits for its
 * ready line: `READY <socket path> <port>` (the fixtures that start a manhole themselves), or
 * `ready`, e.g. /^LISTENING (\d+)$/m for an app that never loads manhole (its port; its socket
 * is then the default `<dir>/<pid>.sock`). Resolves to { child, dir, path, port, stdout(),
 * stderr(), exit, stop() } where exit resolves to { code, signal }.
 */
export function startApp({
  mode = "threaded",
  options = {},
  env = {},
  script = FIXTURE,
  args = [],
  nodeArgs = [],
  ready = /^READY (\S+) (\d+)$/m,
} = {}) {
  const dir = options.path ? path.dirname(options.path) : (env.MANHOLE_DIR ?? tempDir());
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    env: {
      ...process.env,
      MANHOLE_DIR: dir,
      MANHOLE_TEST_THREADED: mode === "inline" ? "0" : "1",
      MANHOLE_TEST_OPTIONS: JSON.stringify(options),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (d) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d) => (err += d));
  const exit = new Promise((resolve) => child.on("exit", (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`app did not start: ${out} ${err}`)), 15_000);
    let done = false;
    const check = () => {
      const m = ready.exec(out);
      if (m && !done) {
        done = true;
        clearTimeout(timer);
        const withPath = m.length > 2;
        resolve({
          child,
          dir,
          path: withPath ? m[1] : path.join(dir, `${child.pid}.sock`),
          port: Number(withPath ? m[2] : m[1]),
          stdout: () => out,
          stderr: () => err,
          exit,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
            await exit;
          },
        });
      } else if (!m && /^FAILED /m.test(out)) {
        clearTimeout(timer);
        reject(new Error(out.trim()));
      }
    };
    child.stdout.on("data", check);
    child.on("exit", () => {
      clearTimeout(timer);
      if (!done) reject(new Error(`app exited before it was ready: ${out} ${err}`));
    });
  });
}

/** Runs a client command with `input` on stdin (`env` added to ours); resolves to { stdout, stderr, code } when it exits. */
export function runClient(cmd, args, input, { timeout = 15_000, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, ...env } });
    let stdout = Buffer.alloc(0);
    let stderr = "";
    child.stdout.on("data", (d) => (stdout = Buffer.concat([stdout, d])));
    child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${cmd} timed out; got so far: ${stdout.toString()}`));
    }, timeout);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ stdout: stdout.toString("utf8"), raw: stdout, stderr, code });
    });
    child.stdin.on("error", () => {});
    child.stdin.end(input);
  });
}

/**
 * Throws if a system tool of scripts/test-tools.mjs is missing or wrong, naming it. Each test
 * file that runs one calls this once, at its top, so that a missing tool fails that file with
 * one message instead of every test with its own unrelated-looking error.
 */
export function requireTool(...commands) {
  for (const command of commands) {
    const problem = toolProblem(tool(command));
    if (problem) throw new Error(`${command} ${problem} (needed by this test file; run: npm run setup:test)`);
  }
}

/** `nc -N -U path` (netcat-openbsd): sends `input`, half-closes, returns all the server said. */
export const nc = (socketPath, input, opts) => runClient("nc", ["-N", "-U", socketPath], input, opts);
/** `socat - UNIX-CONNECT:path`. */
export const socat = (socketPath, input, opts) => runClient("socat", ["-t", "30", "-", `UNIX-CONNECT:${socketPath}`], input, opts);

/**
 * Waits on a growing transcript: `until(pattern)` resolves with everything up to and
 * including `pattern` (a string or RegExp), consuming it. `push` adds text, `close` ends it.
 */
function transcript() {
  let buf = "";
  let waiters = [];
  let closed = false;
  const flush = () => {
    waiters = waiters.filter((w) => {
      const i = typeof w.pattern === "string" ? buf.indexOf(w.pattern) : buf.search(w.pattern);
      if (i < 0) return !closed || w.reject(new Error(`closed before ${w.pattern}; got: ${JSON.stringify(buf)}`));
      const m = typeof w.pattern === "string" ? w.pattern : buf.match(w.pattern)[0];
      const upto = buf.slice(0, i + m.length);
      buf = buf.slice(i + m.length);
      clearTimeout(w.timer);
      w.resolve(upto);
      return false;
    });
  };
  return {
    push(text) {
      buf += text;
      flush();
    },
    close() {
      closed = true;
      flush();
    },
    until(pattern, ms = 10_000) {
      return new Promise((res, rej) => {
        const w = { pattern, resolve: res, reject: rej };
        w.timer = setTimeout(() => {
          waiters = waiters.filter((x) => x !== w);
          rej(new Error(`timeout waiting for ${pattern}; got: ${JSON.stringify(buf)}`));
        }, ms);
        waiters.push(w);
        flush();
      });
    },
    rest: () => buf,
  };
}

/**
 * A real `nc -U path` (netcat-openbsd) driven step by step, as a person types into it:
 * { send(text), until(pattern, ms), rest(), end(), exited }.
 */
export function ncInteractive(socketPath) {
  const child = spawn("nc", ["-N", "-U", socketPath], { stdio: ["pipe", "pipe", "pipe"] });
  const t = transcript();
  child.stdout.setEncoding("utf8").on("data", (d) => t.push(d));
  const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  child.on("exit", () => t.close());
  child.stdin.on("error", () => {});
  return {
    child,
    send: (text) => child.stdin.write(text),
    until: t.until,
    rest: t.rest,
    end: () => child.stdin.end(),
    exited,
    kill: () => child.kill("SIGKILL"),
  };
}

/** A raw Node socket client for step-by-step conversations. */
export function connect(socketPath) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(socketPath);
    const t = transcript();
    let closed = false;
    sock.setEncoding("utf8");
    sock.on("data", (d) => t.push(d));
    sock.on("close", () => {
      closed = true;
      t.close();
    });
    sock.on("error", () => {});
    sock.once("connect", () =>
      resolve({
        socket: sock,
        /** Resolves with everything up to and including `pattern`, consuming it. */
        until: t.until,
        send(text) {
          sock.write(text);
        },
        /** Sends `line` and returns the output up to the next primary prompt. */
        async eval(line, prompt = ">>> ") {
          sock.write(`${line}\n`);
          const out = await this.until(prompt);
          return out.slice(0, -prompt.length);
        },
        rest: t.rest,
        closed: () => new Promise((res) => (closed ? res() : sock.once("close", res))),
        end: () => sock.end(),
        destroy: () => sock.destroy(),
      }),
    );
    sock.once("error", reject);
  });
}

export function httpGet(port) {
  return new Promise((resolve, reject) => {
    const req = net.connect(port, "127.0.0.1", () => req.end("GET / HTTP/1.0\r\n\r\n"));
    let data = "";
    req.setEncoding("utf8").on("data", (d) => (data += d));
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}

/** httpGet, failing after `ms` instead of waiting for an app that never answers. */
export function httpGetWithin(port, ms = 10_000) {
  return Promise.race([
    httpGet(port),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`no HTTP answer within ${ms} ms`)), ms).unref()),
  ]);
}

/** Polls `read()` until it matches `pattern`. */
export async function waitForText(read, pattern, ms = 10_000) {
  const until = Date.now() + ms;
  while (!pattern.test(read())) {
    if (Date.now() > until) throw new Error(`timeout waiting for ${pattern}; got: ${JSON.stringify(read())}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The default prompt. */
export const PROMPT = ">>> ";

/** Opens a session and consumes its first prompt (for apps started with banner: null). */
export async function openSession(app) {
  const c = await connect(app.path);
  assert.equal(await c.until(PROMPT), PROMPT);
  return c;
}

let marks = 0;
/** Sends a unique marker expression and returns everything the server said before its answer. */
export async function sync(c) {
  const tag = `sync${++marks}`;
  c.send(`'${tag}'\n`);
  const out = await c.until(`'${tag}'\n${PROMPT}`, 15_000);
  return out.slice(0, -`'${tag}'\n${PROMPT}`.length);
}

/** Evaluates `code` in a session and returns the printed value as a number. */
export async function evalNumber(c, code) {
  const out = await c.eval(code);
  assert.match(out, /^\d+\n$/, `expected a number from ${code}, got ${JSON.stringify(out)}`);
  return Number(out);
}

/**
 * A tmux server of our own (its socket in a temp dir, so that the user's sessions are never
 * touched) for driving `manhole` in a real terminal: { tmux(...args), terminal(args, opts), stop() }.
 * `terminal(["connect", target], { env, unset })` runs `manhole ...args` in a fresh 120x40
 * session (with `env` added and the `unset` variables removed); the shell prints `EXITED <code>`
 * after it. One idle session keeps the server up between terminals: a server exits with its
 * last session, and a new session racing that exit fails ("server exited unexpectedly").
 */
export function tmuxServer() {
  const socket = path.join(tempDir(), "tmux.sock");
  const tmux = (...args) => execFileSync("tmux", ["-S", socket, ...args], { encoding: "utf8" });
  const quote = (s) => `'${String(s).replaceAll("'", "'\\''")}'`;
  tmux("new-session", "-d", "-s", "keeper", "sleep 3600");
  tmuxSockets.add(socket);
  let terminals = 0;
  return {
    tmux,
    terminal(args, { env = {}, unset = [] } = {}) {
      const name = `term-${++terminals}`;
      const vars = Object.entries(env).map(([k, v]) => `${k}=${quote(v)}`);
      const command = [
        "env",
        ...unset.map((k) => `-u ${k}`),
        ...vars,
        quote(process.execPath),
        quote(path.join(ROOT, "dist", "cli", "main.js")),
        ...args.map(quote),
        '; echo "EXITED $?"; sleep 600',
      ].join(" ");
      tmux("new-session", "-d", "-s", name, "-x", "120", "-y", "40", command);
      return {
        name,
        keys: (...keys) => tmux("send-keys", "-t", name, ...keys),
        /** Typed literally (no key names). */
        type: (text) => tmux("send-keys", "-t", name, "-l", text),
        screen: (escapes = false) => tmux("capture-pane", "-p", ...(escapes ? ["-e"] : []), "-t", name),
        /** Everything the terminal showed, the lines scrolled off the top included. */
        history: () => tmux("capture-pane", "-p", "-S", "-", "-t", name),
        /** Polls the screen until `pattern` matches (or `pattern(screen)` is true); returns the screen. */
        async waitFor(pattern, ms = 15_000) {
          const deadline = Date.now() + ms;
          for (;;) {
            const screen = this.screen();
            if (typeof pattern === "function" ? pattern(screen) : pattern.test(screen)) return screen;
            if (Date.now() > deadline) assert.fail(`timed out waiting for ${pattern}; the screen:\n${screen}`);
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        },
        /** The number of lines showing a primary prompt (`app:pid> `; capture-pane drops trailing blanks). */
        prompts() {
          return this.screen()
            .split("\n")
            .filter((l) => TERMINAL_PROMPT.test(l)).length;
        },
        kill() {
          try {
            tmux("kill-session", "-t", name);
          } catch {
            // already gone
          }
        },
      };
    },
    stop() {
      tmuxSockets.delete(socket);
      try {
        tmux("kill-server");
      } catch {
        // already gone
      }
    },
  };
}

/** `manhole connect`'s primary prompt on a tmux screen: capture-pane drops trailing blanks, so an empty prompt line ends in ">". */
export const TERMINAL_PROMPT = /:\d+>( |$)/m;

/**
 * Types `while (true) {}` and presses Ctrl-C until the screen says it was interrupted (repeated
 * in case the first Ctrl-C arrives before the evaluation has begun).
 */
export async function interruptLoop(t) {
  t.type("while (true) {}");
  t.keys("Enter");
  await new Promise((resolve) => setTimeout(resolve, 300));
  for (let i = 0; !/Interrupted/i.test(t.screen()); i++) {
    assert.ok(i < 10, `no interruption; the screen:\n${t.screen()}`);
    t.keys("C-c");
    await t.waitFor(/Interrupted/i, 3000).catch(() => {});
  }
}
