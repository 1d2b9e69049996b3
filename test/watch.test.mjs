// .watch against a real app (test/fixtures/watch-app.cjs) whose HTTP routes call the watched
// functions: exactly the calls made are reported, then the watch removes itself and the
// function is the original again; removal when the session ends, on Ctrl-C and on the
// structured interrupt; `new`/this/length/name kept; the app's unhandled-rejection behaviour
// unchanged; bad expressions; a diagnostics_channel; structured events; the CLI subcommand.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, MODES, ncInteractive, PROMPT, ROOT, requireTool, startApp } from "./helpers.mjs";
import { checkShape as check, SHAPES } from "./protocol-shapes.mjs";

requireTool("nc");

const FIXTURE = path.join(ROOT, "test", "fixtures", "watch-app.cjs");
const MAIN = path.join(ROOT, "dist", "cli", "main.js");

function get(port, p) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: p, agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d) => (body += d));
        res.on("end", () => resolve(body));
      })
      .on("error", reject);
  });
}

/** A human session (a raw socket, as nc is) with its first prompt read. */
async function human(app) {
  const c = await connect(app.path);
  await c.until(PROMPT);
  return c;
}

/** A raw JSON-lines client: hello, then requests; replies are read one line at a time. */
async function structured(app) {
  const c = await connect(app.path);
  c.send('{"op":"hello","id":1,"protocol":[1]}\n');
  await c.until(/\{"op":"hello".*\n/);
  return {
    c,
    send: (obj) => c.send(`${JSON.stringify(obj)}\n`),
    next: async () => JSON.parse(await c.until("\n", 20_000)),
  };
}

/** Polls `code` in session `c` until it prints `expected` (removal after a session ends is asynchronous). */
async function evalUntil(c, code, expected, tries = 200) {
  let out;
  for (let i = 0; i < tries; i++) {
    out = await c.eval(code);
    if (out === expected) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`${code} kept printing ${JSON.stringify(out)}, not ${JSON.stringify(expected)}`);
}

for (const mode of MODES) {
  describe(`.watch (${mode})`, () => {
    let app;
    let b; // a second session, to look at the app while another one watches
    before(async () => {
      app = await startApp({ script: FIXTURE, mode });
      b = await human(app);
      assert.equal(await b.eval("orig = { add: svc.add, fetchUser: svc.fetchUser, Point: svc.Point, whoAmI: svc.whoAmI }; 1"), "1\n");
    });
    after(async () => {
      b?.destroy();
      await app?.stop();
    });

    test("reports exactly the calls made (args, values, an async result after it settles, a throw), then removes itself after --count", async () => {
      const a = await human(app);
      a.send(".watch svc.add --count 3\n");
      assert.match(await a.until(/watching .*\n/), /^watching svc\.add \(function add, 2 parameters\) for 3 calls or 60 s/);
      assert.equal(await b.eval("svc.add === orig.add"), "false\n");
      for (const [x, y] of [
        [1, 2],
        [10, 20],
        [5, 5],
        [7, 7],
      ])
        assert.equal(await get(app.port, `/add?a=${x}&b=${y}`), `${x + y}\n`);
      const report = await a.until(PROMPT);
      const lines = report.slice(0, -PROMPT.length).trimEnd().split("\n");
      assert.equal(lines.length, 4, report); // three calls, then the end
      assert.match(lines[0], /^#1 \+\d+\.\d{3}s svc\.add\(1, 2\) → 3 {2}\(\d+\.\d+ ms\)$/);
      assert.match(lines[1], /^#2 .* svc\.add\(10, 20\) → 30 /);
      assert.match(lines[2], /^#3 .* svc\.add\(5, 5\) → 10 /);
      assert.match(lines[3], /^watch of svc\.add ended \(the --count limit\) after 3 calls in .*; svc\.add restored$/);
      assert.equal(await b.eval("svc.add === orig.add"), "true\n");
      assert.equal(await get(app.port, "/add?a=2&b=2"), "4\n");

      a.send(".watch svc.fetchUser --count 2\n");
      await a.until(/watching .*\n/);
      assert.equal(await get(app.port, "/user?id=7"), '{"id":7,"name":"user7"}\n');
      const first = await a.until("\n");
      const m = /^#1 .* svc\.fetchUser\(7\) → \{ id: 7, name: 'user7' \} {2}\(resolved after (\d+\.\d+) ms\)\n$/.exec(first);
      assert.ok(m, first);
      assert.ok(Number(m[1]) >= 20, `the duration runs until the promise settles (its sleep is 30 ms): ${m[1]}`);
      assert.equal(await get(app.port, "/user?id=8"), '{"id":8,"name":"user8"}\n');
      assert.match(
        await a.until(PROMPT),
        /^#2 .*\{ id: 8, name: 'user8' \}.*\nwatch of svc\.fetchUser ended \(the --count limit\) after 2 calls/,
      );
      assert.equal(await b.eval("[svc.fetchUser === orig.fetchUser, svc.fetchUser.extra]"), "[ true, 'kept' ]\n");

      a.send(".watch svc.fail --count 1\n");
      await a.until(/watching .*\n/);
      assert.equal(await get(app.port, "/fail?msg=oops"), "caught TypeError\n");
      assert.match(
        await a.until(PROMPT),
        /^#1 .* svc\.fail\('oops'\) threw TypeError: bad input: oops {2}\(.* ms\)\n.*ended \(the --count limit\) after 1 call/,
      );
      a.destroy();
    });

    test("the wrapper keeps new, new.target, this, length, name, own properties and the prototype", async () => {
      const a = await human(app);
      a.send(".watch svc.Point --count 100\n");
      await a.until(/watching svc\.Point \(class Point, 2 parameters\)/);
      assert.equal(
        await b.eval(
          "P = svc.Point; JSON.stringify([P === orig.Point, P.name, P.length, P.origin, P.prototype === orig.Point.prototype, new P(3, 4).norm(), new P(1, 1) instanceof orig.Point, new P(1, 1).direct])",
        ),
        `'[false,"Point",2,"0,0",true,5,true,true]'\n`,
      );
      assert.equal(
        await b.eval("class Sub extends svc.Point {}; s = new Sub(1, 2); [s.direct, s instanceof Sub, s.x]"),
        "[ false, true, 1 ]\n",
      );
      assert.match(await b.eval("svc.Point(1, 2)"), /^Uncaught TypeError: Class constructor Point cannot be invoked without 'new'/);
      assert.equal(await get(app.port, "/point"), "5 true true\n");
      a.send("\x03\n");
      const ended = await a.until(PROMPT);
      assert.match(ended, /#\d+ .* new svc\.Point\(3, 4\) → Point \{ x: 3, y: 4, direct: true \}/);
      assert.match(ended, /#\d+ .* new Sub\(1, 2\)|new svc\.Point\(1, 2\)/);
      assert.match(ended, /svc\.Point\(1, 2\) threw TypeError: Class constructor Point cannot be invoked without 'new'/);
      assert.match(ended, /watch of svc\.Point ended \(interrupted\) after \d+ calls .*; svc\.Point restored/);
      assert.equal(await b.eval("svc.Point === orig.Point"), "true\n");

      a.send(".watch svc.whoAmI --count 100\n");
      await a.until(/watching .*\n/);
      assert.equal(
        await b.eval("[svc.whoAmI(), svc.whoAmI.call({ label: 'other' }), svc.whoAmI.name, svc.whoAmI.length]"),
        "[ 'svc', 'other', 'whoAmI', 0 ]\n",
      );
      assert.match(await b.eval("new svc.whoAmI()"), /^Uncaught TypeError: svc\.whoAmI is not a constructor/);
      a.send("\x03\n");
      assert.match(await a.until(PROMPT), /ended \(interrupted\) after 2 calls/);
      a.destroy();
    });

    test("bad expressions get a clear error; the session and the app carry on", async () => {
      const a = await human(app);
      const cases = [
        [".watch svc.notAFunction", ".watch failed: svc.notAFunction is a number, not a function"],
        [".watch svc.missing.query", ".watch failed: svc.missing is undefined"],
        [".watch svc.nothing", ".watch failed: svc.nothing is undefined (svc has no property nothing)"],
        [".watch nowhere.query", ".watch failed: nowhere: ReferenceError: nowhere is not defined"],
        [".watch svc.(", ".watch failed: syntax error in svc.(: Unexpected token (1:4)"],
        [".watch 1 + 2", '.watch: count must be a number, not "+"'],
        [
          ".watch (1)",
          ".watch failed: (1) is not a property: name the function as owner.property (e.g. db.query, app.router.handle, Foo.prototype.bar)",
        ],
        [".watch svc.label.length", ".watch failed: svc.label is a string, not an object: its methods cannot be replaced"],
        [
          ".watch localName",
          ".watch failed: localName is not a global: name the function through the object that holds it (owner.localName); a session's own names and local variables cannot be watched",
        ],
        [".watch", ".watch: name a function (.watch db.query) or a channel (.watch --channel http.server.request.start)"],
        [".watch svc.add --count 0", ".watch: --count must be a whole number from 1 to 10000"],
        [".watch svc.add --channel x", ".watch: a function or --channel, not both"],
      ];
      for (const [input, expected] of cases) assert.equal(await a.eval(input), `${expected}\n`, input);
      assert.equal(await a.eval("1 + 1"), "2\n");
      assert.equal(await get(app.port, "/add?a=1&b=1"), "2\n");
      a.destroy();
    });

    test("the watch goes when its session ends (nc killed), and on Ctrl-C", async () => {
      const n = ncInteractive(app.path);
      await n.until(PROMPT);
      n.send(".watch svc.add --seconds 600\n");
      await n.until(/watching .*\n/);
      assert.equal(await b.eval("svc.add === orig.add"), "false\n");
      n.kill();
      await n.exited;
      // Its end of the socket says only "no more input" (as nc -N does at the end of piped input,
      // when the watch must go on): the next call's report finds the client gone.
      assert.equal(await get(app.port, "/add?a=3&b=4"), "7\n");
      await evalUntil(b, "svc.add === orig.add", "true\n");
      assert.equal(await get(app.port, "/add?a=3&b=4"), "7\n");

      const a = await human(app);
      a.send(".watch svc.add --seconds 600\n");
      await a.until(/watching .*\n/);
      a.send("\x03\n");
      assert.match(await a.until(PROMPT), /^watch of svc\.add ended \(interrupted\) after 0 calls in .*; svc\.add restored\n/);
      assert.equal(await b.eval("svc.add === orig.add"), "true\n");
      a.destroy();
    });

    test("a throw in the reporting path (an argument that cannot be printed) stays out of the app's call", async () => {
      const a = await human(app);
      a.send(".watch svc.add --count 1\n");
      await a.until(/watching .*\n/);
      assert.equal(
        await b.eval(
          "svc.add({ [Symbol.for('nodejs.util.inspect.custom')]() { throw new Error('no printing') }, toString: () => 'x' }, 1)",
        ),
        "'x1'\n",
      );
      assert.match(await a.until(PROMPT), /^#1 .* svc\.add\(\[uninspectable: no printing\], 1\) → 'x1' /);
      a.destroy();
    });

    test("restored even when another watch wrapped it meanwhile; a pass-through when other code replaced it", async () => {
      const a = await human(app);
      const c = await human(app);
      a.send(".watch svc.add --seconds 600\n");
      await a.until(/watching .*\n/);
      c.send(".watch svc.add --seconds 600\n");
      await c.until(/watching .*\n/);
      assert.equal(await b.eval("svc.add(2, 3)"), "5\n");
      a.send("\x03\n");
      assert.match(await a.until(PROMPT), /after 1 call .*; svc\.add restored inside the later watch that wraps it\n/);
      assert.equal(await b.eval("svc.add(4, 4)"), "8\n");
      c.send("\x03\n");
      assert.match(await c.until(PROMPT), /after 2 calls .*; svc\.add restored\n/);
      assert.equal(await b.eval("svc.add === orig.add"), "true\n");

      a.send(".watch svc.add --seconds 600\n");
      await a.until(/watching .*\n/);
      assert.equal(await b.eval("held = svc.add; svc.add = function other(x, y) { return x * y }; held(2, 5)"), "7\n");
      a.send("\x03\n");
      assert.match(
        await a.until(PROMPT),
        /after 1 call .*; svc\.add could not be restored: other code replaced it meanwhile \(it now holds \[Function: other\]\); the watch's wrapper stays wherever it is referenced, as a pass-through to the original\n/,
      );
      assert.equal(await b.eval("[svc.add(2, 5), held(2, 5)]"), "[ 10, 7 ]\n");
      assert.equal(await b.eval("svc.add = orig.add; svc.add(1, 1)"), "2\n");
      a.destroy();
      c.destroy();
    });

    test("--channel prints a real HTTP request's message and unsubscribes", async () => {
      const a = await human(app);
      const subscribed = "require('node:diagnostics_channel').channel('http.server.request.start').hasSubscribers";
      assert.equal(await b.eval(subscribed), "false\n");
      a.send(".watch --channel http.server.request.start --count 1\n");
      assert.match(await a.until(/watching .*\n/), /^watching diagnostics_channel http\.server\.request\.start for 1 message or 60 s/);
      assert.equal(await b.eval(subscribed), "true\n");
      assert.match(await get(app.port, "/hello/channel"), /^ok \d+\n$/);
      const out = await a.until(PROMPT);
      assert.match(
        out,
        /^#1 \+\d+\.\d{3}s http\.server\.request\.start \{ request: IncomingMessage GET \/hello\/channel, response: ServerResponse/,
      );
      assert.match(
        out,
        /\nwatch of http\.server\.request\.start ended \(the --count limit\) after 1 message in .*; unsubscribed from http\.server\.request\.start\n/,
      );
      assert.equal(await b.eval(subscribed), "false\n");
      a.destroy();
    });
  });
}

describe(".watch: structured events, bounds, the CLI, unhandled rejections", () => {
  let app;
  before(async () => {
    app = await startApp({ script: FIXTURE });
  });
  after(async () => {
    await app?.stop();
  });

  test("a raw JSON client gets each call as an event frame, then the summary; the structured interrupt ends a watch", async () => {
    const s = await structured(app);
    s.send({ op: "command", id: 2, name: "watch", args: { expr: "svc.add", count: 2 } });
    const start = await s.next();
    check(SHAPES["watch-start"], start.data, "watch-start");
    assert.equal(start.op, "event");
    assert.equal(start.id, 2);
    assert.equal(start.event, "watch.start");
    assert.deepEqual(
      { ...start.data, watch: 0 },
      {
        kind: "start",
        watch: 0,
        target: "svc.add",
        function: { name: "add", length: 2, kind: "function" },
        property: "own",
        count: 2,
        seconds: 60,
      },
    );
    assert.equal(await get(app.port, "/add?a=1&b=2"), "3\n");
    assert.equal(await get(app.port, "/add?a=3&b=4"), "7\n");
    for (const [n, args, value] of [
      [1, ["1", "2"], "3"],
      [2, ["3", "4"], "7"],
    ]) {
      const e = await s.next();
      check(SHAPES["watch-call"], e.data, "watch-call");
      assert.equal(e.op, "event");
      assert.equal(e.event, "watch.call");
      assert.equal(e.id, 2);
      assert.equal(e.data.n, n);
      assert.deepEqual(e.data.args, args);
      assert.equal(e.data.value, value);
      assert.equal(e.data.outcome, "returned");
      assert.equal(e.data.async, false);
      assert.equal(e.data.constructed, false);
      assert.equal(typeof e.data.durationMs, "number");
      assert.match(e.text, new RegExp(`^#${n} `));
    }
    const result = await s.next();
    check(SHAPES.watch, result.json, "watch");
    assert.equal(result.op, "result");
    assert.equal(result.id, 2);
    assert.equal(result.json.reason, "count");
    assert.equal(result.json.calls, 2);
    assert.equal(result.json.restored, "restored");
    assert.deepEqual(result.json.pending, []);

    s.send({ op: "command", id: 3, name: "watch", args: { expr: "svc.fetchUser", seconds: 600 } });
    assert.equal((await s.next()).event, "watch.start");
    s.send({ op: "interrupt", id: 4 });
    const replies = [await s.next(), await s.next()];
    const summary = replies.find((r) => r.id === 3);
    assert.equal(summary.op, "result");
    check(SHAPES.watch, summary.json, "watch");
    assert.equal(summary.json.reason, "interrupted");
    assert.equal(summary.json.restored, "restored");
    assert.ok(replies.some((r) => r.id === 4 && r.op === "result"));
    s.c.destroy();
  });

  test("watching a function the manhole's own reporting uses (Array.prototype.push) does not recurse; the app carries on", async () => {
    const b = await human(app);
    assert.equal(await b.eval("origPush = Array.prototype.push; 1"), "1\n");
    const a = await human(app);
    a.send(".watch Array.prototype.push --count 3\n");
    await a.until(/watching Array\.prototype\.push \(function push, 1 parameter\)/);
    assert.equal(await b.eval("x = []; x.push(1); x.push(2, 3); x.push(4); x.length"), "4\n");
    assert.match(
      await a.until(PROMPT),
      /watch of Array\.prototype\.push ended \(the --count limit\) after 3 calls .*; Array\.prototype\.push restored\n/,
    );
    assert.equal(await b.eval("Array.prototype.push === origPush"), "true\n");
    assert.equal(await get(app.port, "/add?a=1&b=1"), "2\n");
    a.destroy();
    b.destroy();
  });

  test("--seconds ends a watch; a promise still pending then is listed, and the function restored", async () => {
    const a = await human(app);
    const b = await human(app);
    a.send(".watch svc.hang --seconds 0.5\n");
    await a.until(/watching svc\.hang .* for 10 calls or 0\.5 s.*\n/);
    assert.equal(await b.eval("typeof svc.hang('t1')"), "'object'\n");
    const out = await a.until(PROMPT);
    assert.match(
      out,
      /^watch of svc\.hang ended \(the --seconds limit\) after 1 call in .*; svc\.hang restored\n {2}#1 svc\.hang\('t1'\) still pending after .*\n/,
    );
    assert.equal(await b.eval("require('node:util').types.isProxy(svc.hang)"), "false\n");
    a.destroy();
    b.destroy();
  });

  test("at most 4 watches per session at once", async () => {
    const s = await structured(app);
    for (let id = 10; id < 14; id++) s.send({ op: "command", id, name: "watch", args: { expr: "svc.add", seconds: 600 } });
    for (let i = 0; i < 4; i++) assert.equal((await s.next()).event, "watch.start");
    s.send({ op: "command", id: 20, name: "watch", args: { expr: "svc.add" } });
    const refused = await s.next();
    assert.equal(refused.op, "error");
    assert.equal(refused.id, 20);
    assert.match(refused.text, /this session already runs 4 watches \(at most 4 per session\)/);
    s.c.destroy();
    const h = await human(app);
    await evalUntil(h, "require('node:util').types.isProxy(svc.add)", "false\n");
    h.destroy();
  });

  test("manhole watch prints calls as they arrive, --json as JSON lines; Ctrl-C ends it with its summary (exit 130)", async () => {
    const cli = (args) => {
      const child = spawn(process.execPath, [MAIN, "watch", app.path, ...args], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.setEncoding("utf8").on("data", (d) => (out += d));
      const exit = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
      const until = async (re) => {
        while (!re.test(out)) await new Promise((r) => setTimeout(r, 20));
      };
      return { child, exit, until, out: () => out };
    };
    const one = cli(["svc.add", "--count", "2"]);
    await one.until(/watching svc\.add/);
    assert.equal(await get(app.port, "/add?a=1&b=1"), "2\n");
    assert.equal(await get(app.port, "/add?a=2&b=2"), "4\n");
    assert.equal(await one.exit, 0);
    const lines = one.out().trimEnd().split("\n");
    assert.equal(lines.length, 4, one.out());
    assert.match(lines[1], /^#1 .* svc\.add\(1, 1\) → 2 /);
    assert.match(lines[2], /^#2 .* svc\.add\(2, 2\) → 4 /);
    assert.match(lines[3], /^watch of svc\.add ended \(the --count limit\) after 2 calls/);

    const json = cli(["svc.fetchUser", "--count", "1", "--json"]);
    await json.until(/watch\.start/);
    await get(app.port, "/user?id=3");
    assert.equal(await json.exit, 0);
    const [s, c, end] = json
      .out()
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(s.event, "watch.start");
    assert.equal(c.event, "watch.call");
    check(SHAPES["watch-call"], c.data, "watch-call");
    check(SHAPES.watch, end, "watch");
    assert.equal(c.data.outcome, "resolved");
    assert.equal(c.data.value, "{ id: 3, name: 'user3' }");
    assert.equal(c.data.async, true);
    assert.equal(end.reason, "count");

    const stop = cli(["svc.add", "--seconds", "600"]);
    await stop.until(/watching svc\.add/);
    stop.child.kill("SIGINT");
    assert.equal(await stop.exit, 130);
    assert.match(stop.out(), /watch of svc\.add ended \(interrupted\) after 0 calls .*; svc\.add restored\n$/);
  });

  for (const handler of [true, false]) {
    test(`a watched async function that rejects unhandled: ${handler ? "the app's own unhandledRejection listener gets the same promise" : "the app crashes exactly as without the watch"}`, async () => {
      const run = async (watched) => {
        const env = handler ? { WATCH_APP_HANDLER: "1" } : {};
        const one = await startApp({ script: FIXTURE, env });
        let watcher;
        if (watched) {
          watcher = await human(one);
          watcher.send(".watch svc.lost --count 1\n");
          await watcher.until(/watching .*\n/);
        }
        assert.equal(await get(one.port, "/lost?msg=nobody-catches"), "lost\n");
        let seen;
        if (watcher) {
          // A crashing app may end before its manhole has written the line: only then may it be missing.
          seen = await watcher.until(/\n/).catch((err) => (handler ? Promise.reject(err) : undefined));
          watcher.destroy();
        }
        if (handler) {
          while (!/APP-UNHANDLED/.test(one.stdout())) await new Promise((r) => setTimeout(r, 20));
          assert.equal(await get(one.port, "/add?a=1&b=1"), "2\n"); // it carries on
          await one.stop();
          return { out: one.stdout().replace(/^READY .*\n/, ""), seen };
        }
        const { code, signal } = await one.exit;
        return { code, signal, err: one.stderr(), seen };
      };
      const plain = await run(false);
      const watched = await run(true);
      if (handler || watched.seen !== undefined)
        assert.match(watched.seen, /^#1 .* svc\.lost\('nobody-catches'\) rejected Error: lost: nobody-catches {2}\(after .* ms\)\n$/);
      if (handler) {
        assert.equal(plain.out, "APP-UNHANDLED lost: nobody-catches same=true\n");
        assert.equal(watched.out, plain.out);
      } else {
        assert.equal(plain.code, 1);
        assert.equal(watched.code, plain.code);
        assert.equal(watched.signal, plain.signal);
        assert.match(plain.err, /Error: lost: nobody-catches\n {4}at Object\.lost /);
        // Node's own frames below the app's depend on which of its queues ran the continuation.
        const appFrames = (text) => text.replace(/^ {4}at .*\(?node:internal\/.*\n/gm, "");
        assert.equal(appFrames(watched.err), appFrames(plain.err));
      }
    });
  }
});

for (const mode of MODES) {
  test(`.watch of a plain path runs no manhole code: containment's hooks never come on for it (${mode})`, async () => {
    const app = await startApp({ script: FIXTURE, mode });
    try {
      const a = await human(app);
      a.send(".watch svc.add --count 1\n");
      await a.until(/watching svc\.add .*\n/);
      assert.equal(await get(app.port, "/add?a=1&b=2"), "3\n");
      assert.match(await a.until(PROMPT), /svc\.add restored/);
      // Long after the watch (hooks that came on for it would have gone off again by now), the
      // first evaluation: it turns the hooks on itself (once, by hooks; never, by context).
      await new Promise((r) => setTimeout(r, 300));
      const containment = JSON.stringify(path.join(ROOT, "dist", "agent", "main-thread", "containment.js"));
      const state = await a.eval(`(({ design, switchedOn }) => design + " " + switchedOn)(require(${containment}).pendingWork())`);
      assert.match(state, /^'(hooks 1|context 0)'\n$/);
      a.destroy();
    } finally {
      await app.stop();
    }
  });
}
