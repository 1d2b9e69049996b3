// TypeScript: input typed into a session has its types stripped (Node's module.stripTypeScriptTypes,
// else amaro), enum and namespace through a transform; `.ts on|off`; JavaScript input never
// reaches a stripper; no ExperimentalWarning of ours on the app's stderr; error positions are the
// input's. And apps that are TypeScript themselves (Node's type stripping, tsx) show .ts positions.
import assert from "node:assert/strict";
import nodeModule, { createRequire } from "node:module";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { connect, MODES, openSession, ROOT, runClient, startApp } from "./helpers.mjs";

const HIDE = path.join(ROOT, "test", "fixtures", "hide-strippers.cjs");
const TS_APP = path.join(ROOT, "test", "fixtures", "ts-app.ts");
const [major, minor] = process.versions.node.split(".").map(Number);
const NODE_STRIPS = typeof nodeModule.stripTypeScriptTypes === "function";
/**
 * amaro is an optional dependency whose engines say Node 22+: npm skips it on Node 20 (.ci/run
 * installs it there for the tests). Without it, the tests that need it skip, with this note.
 */
const HAS_AMARO = (() => {
  try {
    createRequire(path.join(ROOT, "package.json")).resolve("amaro");
    return true;
  } catch {
    return false;
  }
})();
const NO_AMARO = !HAS_AMARO && "amaro is not installed (npm skips it on Node 20; npm install --no-save amaro)";
/** Some stripper: Node's own, or amaro. */
const NO_STRIPPER = !NODE_STRIPS && NO_AMARO;
/** A transform for enum and namespace: Node 22/24's (`mode: "transform"`), or amaro's. */
const NO_TRANSFORM = !(NODE_STRIPS && major < 26) && NO_AMARO;
/** Node runs .ts files itself: by default from 22.18 and 23.6, behind --experimental-strip-types from 22.6. */
const RUNS_TS = major >= 24 || (major === 23 && minor >= 6) || (major === 22 && minor >= 18);
const RUNS_TS_FLAGGED = !RUNS_TS && ((major === 22 && minor >= 6) || major === 23);

/** An app whose strippers are `hidden` ("node", "amaro", or both). */
function appWithout(hidden, mode = "threaded") {
  return startApp({
    mode,
    options: { banner: null },
    env: { NODE_OPTIONS: `--require ${HIDE}`, MANHOLE_TEST_HIDE_STRIPPERS: hidden.join(",") },
  });
}

/** A structured session: eval(code) and command(name, args) give the reply objects. */
async function structured(app) {
  const c = await connect(app.path);
  let id = 1;
  c.send(`{"op":"hello","id":${id},"protocol":[1]}\n`);
  await c.until(/\{"op":"hello".*\n/);
  const ask = async (request) => {
    const n = ++id;
    c.send(`${JSON.stringify({ ...request, id: n })}\n`);
    const line = await c.until(new RegExp(`\\{"op":"\\w+","id":${n}\\b.*\\n`));
    return JSON.parse(line.slice(line.lastIndexOf('{"op":')));
  };
  return {
    eval: (code) => ask({ op: "eval", code }),
    command: (name, args) => ask({ op: "command", name, args }),
    end: () => c.end(),
  };
}

/** Each kind of TypeScript input, and the value it must give (as the session prints it). */
const KINDS = [
  ["annotation", "let n: number = 41", "undefined"],
  ["the annotated binding persists", "n + 1", "42"],
  ["interface", "interface Point { x: number; y?: number }", "undefined"],
  ["type alias", "type Pair = [string, number]", "undefined"],
  ["as", "const p = { x: 3 } as Point", "undefined"],
  ["const persists", "p.x", "3"],
  ["as on an expression of the app", "(app.items as string[]).length", "2"],
  ["satisfies", "({ x: 4 }) satisfies Point", "{ x: 4 }"],
  ["generic function", "function first<T>(xs: T[]): T | undefined { return xs[0] }", "undefined"],
  ["calling it", "first(['g', 'h'])", "'g'"],
  ["generic class", "const m = new Map<string, number>([['a', 1]])", "undefined"],
  ["generic arrow", "const wrap = <T,>(v: T): { v: T } => ({ v }); wrap(5).v", "5"],
  ["optional parameter and return type", "function opt(a?: number): string { return String(a) }; opt()", "'undefined'"],
  ["non-null assertion", "m.get('a')!", "1"],
  ["top-level await with a type", "const late: number = await Promise.resolve(7)", "undefined"],
  ["the awaited const persists", "late * 6", "42"],
  ["type-only import", "import type { Server } from 'node:http'; 'typed'", "'typed'"],
  [
    "abstract class",
    "abstract class Shape { abstract area(): number; describe(): string { return `area \u0024{this.area()}` } }",
    "undefined",
  ],
  ["declare", "declare const injected: number; typeof injected", "'undefined'"],
];

/** Needs more than stripping: a transform (Node 22/24's, or amaro's). */
const TRANSFORMED = [
  ["enum", "enum Color { Red, Green = 5, Blue }", "undefined"],
  ["enum values", "[Color.Green, Color.Blue, Color[0]]", "[ 5, 6, 'Red' ]"],
  ["namespace", "namespace Geo { export const origin = { x: 0, y: 0 } }", "undefined"],
  ["namespace member", "Geo.origin.x", "0"],
  [
    "parameter properties",
    "class Temp { constructor(public celsius: number, private readonly unit = 'C') {} }; new Temp(21).celsius",
    "21",
  ],
];

for (const mode of MODES) {
  describe(`TypeScript input (${mode})`, { skip: NO_STRIPPER }, () => {
    let app;
    let c;
    before(async () => {
      app = await startApp({ mode, options: { banner: null } });
      c = await openSession(app);
    });
    after(async () => {
      c?.end();
      await app?.stop();
    });

    test("each kind of TypeScript input gives its value", async () => {
      const state = await c.eval(".ts");
      assert.match(state, /^TypeScript input: on for this session/, state);
      for (const [kind, code, value] of KINDS) assert.equal(await c.eval(code), `${value}\n`, `${kind}: ${code}`);
    });

    test("enum, namespace and parameter properties go through a transform", { skip: NO_TRANSFORM }, async () => {
      for (const [kind, code, value] of TRANSFORMED) assert.equal(await c.eval(code), `${value}\n`, `${kind}: ${code}`);
    });

    test("JavaScript that looks like a generic call stays JavaScript", async () => {
      // `f<T>(x)` is a comparison in JavaScript, and valid: it is not stripped.
      assert.equal(await c.eval("const lt = 1, gt = 2; lt < gt > (0)"), "true\n");
    });

    test("multi-line TypeScript continues until it is complete", async () => {
      c.send("interface Line {\n");
      c.send("  from: number\n");
      c.send("  to: number\n");
      assert.equal(await c.eval("}"), "... ... ... undefined\n");
      c.send("function length(l: Line): number {\n");
      c.send("  return l.to - l.from\n");
      assert.equal(await c.eval("}"), "... ... undefined\n");
      assert.equal(await c.eval("length({ from: 2, to: 9 })"), "7\n");
    });

    test("the app's stderr holds no ExperimentalWarning of ours", () => {
      assert.doesNotMatch(app.stderr(), /ExperimentalWarning|stripTypeScriptTypes/);
    });
  });
}

describe("TypeScript input: errors, positions and .ts", { skip: NO_STRIPPER }, () => {
  let app;
  let s;
  before(async () => {
    app = await startApp({ options: { banner: null } });
    s = await structured(app);
  });
  after(async () => {
    s?.end();
    await app?.stop();
  });

  test("an error thrown in TypeScript input points at the line and column typed", async () => {
    let r = await s.eval("let a: number = 1\ninterface I { a: number }\n\n  throw new Error('typed boom')");
    assert.equal(r.op, "error");
    assert.match(r.error.stack, /^Error: typed boom\n {4}at REPL\d+:4:9$/, r.error.stack);
    r = await s.eval("const t: string = 'x'\n  await Promise.reject(new Error('async typed'))");
    assert.match(r.error.stack, /^Error: async typed\n {4}at REPL\d+:2:24/, r.error.stack);
  });

  test("positions after a transform (enum) point at the input too", { skip: NO_TRANSFORM }, async () => {
    const r = await s.eval("enum Level { Low, High }\nlet l: Level = Level.High\n   throw new Error(`level \u0024{l}`)");
    assert.equal(r.op, "error");
    assert.match(r.error.stack, /^Error: level 1\n {4}at REPL\d+:3:10$/, r.error.stack);
  });

  test(".ts says the state and the stripper; .ts off makes TypeScript a SyntaxError again; .ts on brings it back", async () => {
    let r = await s.command("ts");
    assert.equal(r.op, "result");
    assert.equal(r.json.on, true);
    assert.equal(r.json.stripper, NODE_STRIPS ? "node" : "amaro");
    assert.match(r.text, NODE_STRIPS ? /stripped by Node's module\.stripTypeScriptTypes/ : /stripped by amaro/);
    r = await s.command("ts", "off");
    assert.equal(r.json.on, false);
    assert.match(r.text, /now off for this session/);
    r = await s.eval("let off: number = 1");
    assert.equal(r.op, "error");
    assert.equal(r.error.name, "SyntaxError");
    assert.doesNotMatch(r.text, /TypeScript/);
    r = await s.command("ts", { state: "on" });
    assert.equal(r.json.on, true);
    r = await s.eval("let on: number = 2; on");
    assert.equal(r.json, 2);
  });

  test("bad arguments to .ts get a clear error and the session goes on", async () => {
    let r = await s.command("ts", "maybe");
    assert.equal(r.op, "error");
    assert.equal(r.text, 'BadRequest: .ts: state must be on or off, not "maybe"');
    r = await s.command("ts", { state: "sideways" });
    assert.equal(r.text, 'BadRequest: .ts: state must be on or off, not "sideways"');
    r = await s.command("ts", "OFF");
    assert.equal(r.json.on, false);
    r = await s.command("ts", "on");
    assert.equal((await s.eval("1 + 1")).json, 2);
  });

  test("input that is neither JavaScript nor TypeScript keeps JavaScript's SyntaxError", async () => {
    const r = await s.eval("let = = 1");
    assert.equal(r.op, "error");
    assert.equal(r.error.name, "SyntaxError");
  });
});

describe("TypeScript input that holds the loop", { skip: NO_STRIPPER }, () => {
  test(".stack shows its frames at the positions typed, and Ctrl-C stops it", async () => {
    const app = await startApp({ options: { banner: null } });
    const a = await openSession(app);
    const b = await openSession(app);
    try {
      a.send("function spinTyped(n: number): never {\n  for (;;) { n++ }\n}\n");
      assert.equal(await a.until(">>> "), "... ... undefined\n>>> ");
      a.send("let k: number = 0; spinTyped(k)\n");
      let text = "";
      // Until the sample lands in the spin (the stripper's first calls may hold the thread before it).
      for (let i = 0; i < 100 && !/at spinTyped/.test(text); i++) {
        text = await b.eval(".stack");
        if (!/at spinTyped/.test(text)) await new Promise((r) => setTimeout(r, 100));
      }
      // The loop's body as typed: where the thread was sampled (13), or the statement it was stopped at for the locals (14).
      assert.match(text, /\n {4}at spinTyped \(REPL\d+:2:1[34]\)\n {4}at REPL\d+:1:20\nLocals of spinTyped:\n {4}n = \d+\n/, text);
      a.send("\x03\n");
      assert.equal(await a.until(">>> "), "Interrupted\n>>> ");
      assert.equal(await a.eval("k"), "0\n");
      assert.doesNotMatch(app.stderr(), /ExperimentalWarning/);
    } finally {
      a.end();
      b.end();
      await app.stop();
    }
  });
});

describe("TypeScript input: JavaScript never reaches the stripper", () => {
  for (const hidden of [[], ["node"]]) {
    const label = hidden.length ? "amaro as the stripper" : "the default stripper";
    test(`JavaScript inputs leave the stripper unloaded (${label})`, {
      skip: (hidden.length ? NO_AMARO : NO_STRIPPER) || false,
    }, async () => {
      const app = await appWithout(hidden);
      const s = await structured(app);
      try {
        const js = [
          ["app.items.length", 2],
          ["let a = 1; const b = { c: [a, 2] }; b.c.length", 2],
          ["class K { m() { return 3 } }; new K().m()", 3],
          ["await Promise.resolve(4)", 4],
          ["function f(x) { return x * 2 }; f(2.5)", 5],
          ["`t\u0024{a}`", "t1"],
        ];
        for (const [code, value] of js) assert.equal((await s.eval(code)).json, value, code);
        const amaroLoaded = "Object.keys(require.cache).some((k) => k.split(require('node:path').sep).includes('amaro'))";
        let r = await s.command("ts");
        assert.equal(r.json.loaded, false, r.text);
        assert.match(r.text, /The stripper is not loaded yet/);
        assert.equal((await s.eval(amaroLoaded)).json, false);
        // The first TypeScript input loads it.
        assert.equal((await s.eval("let typed: number = 9; typed")).json, 9);
        r = await s.command("ts");
        assert.equal(r.json.loaded, true);
        if (hidden.includes("node") || !NODE_STRIPS) {
          assert.equal(r.json.stripper, "amaro");
          assert.equal((await s.eval(amaroLoaded)).json, true);
        }
        assert.doesNotMatch(app.stderr(), /ExperimentalWarning/);
      } finally {
        s.end();
        await app.stop();
      }
    });
  }
});

describe("TypeScript input through amaro (module.stripTypeScriptTypes hidden)", { skip: NO_AMARO }, () => {
  let app;
  let c;
  before(async () => {
    app = await appWithout(["node"]);
    c = await openSession(app);
  });
  after(async () => {
    c?.end();
    await app?.stop();
  });

  test("every kind, enum and namespace included", async () => {
    assert.match(
      await c.eval(".ts"),
      /stripped by amaro \(optional dependency\)\)\nenum, namespace and parameter properties: transformed by amaro/,
    );
    for (const [kind, code, value] of [...KINDS, ...TRANSFORMED]) assert.equal(await c.eval(code), `${value}\n`, `${kind}: ${code}`);
  });
});

describe("TypeScript input with a stripper but no transform (Node 26, amaro absent)", {
  skip: !NODE_STRIPS && "no module.stripTypeScriptTypes",
}, () => {
  test("enum gets a clear error where the stripper cannot transform it; the rest works", async () => {
    const app = await appWithout(["amaro"]);
    const s = await structured(app);
    try {
      assert.equal((await s.eval("let x: number = 3; x")).json, 3);
      const r = await s.eval("enum Dir { Up, Down }");
      const state = await s.command("ts");
      if (state.json.transform === "node") {
        // Node 22 and 24 still have the transform mode.
        assert.equal(r.op, "value", r.text);
        assert.equal((await s.eval("Dir.Down")).json, 1);
      } else {
        assert.equal(r.op, "error");
        assert.equal(r.error.name, "SyntaxError");
        assert.match(r.text, /^Uncaught SyntaxError: TypeScript enum is not supported in strip-only mode \(.*amaro provides\)$/);
        assert.match(state.text, /enum, namespace and parameter properties: unavailable/);
      }
      assert.equal((await s.eval("x + 1")).json, 4);
    } finally {
      s.end();
      await app.stop();
    }
  });
});

describe("TypeScript input with no stripper at all", () => {
  let app;
  let c;
  before(async () => {
    app = await appWithout(["node", "amaro"]);
    c = await openSession(app);
  });
  after(async () => {
    c?.end();
    await app?.stop();
  });

  test("a type annotation gets a one-line hint after the SyntaxError", async () => {
    const out = await c.eval("let x: number = 1");
    assert.match(
      out,
      /^Uncaught SyntaxError: Unexpected token ':'\n\(this looks like TypeScript: stripping types needs Node 22\.13\+ .* or the package amaro installed beside manhole\)\n$/,
    );
    assert.match(await c.eval("value as string"), /\(this looks like TypeScript/);
  });

  test("a JavaScript syntax error gets no hint", async () => {
    const out = await c.eval("foo(1 2)");
    assert.match(out, /^Uncaught SyntaxError/);
    assert.doesNotMatch(out, /TypeScript/);
  });

  test(".ts says why it is unavailable and .ts on refuses clearly", async () => {
    assert.match(
      await c.eval(".ts"),
      /^TypeScript input: unavailable \(no stripper: Node .* the optional package amaro is not installed\)\nInstall amaro/,
    );
    assert.match(await c.eval(".ts on"), /^\.ts failed: TypeScript input: unavailable/);
    assert.equal(await c.eval("1 + 2"), "3\n");
  });
});

describe("TypeScript input through the CLI", { skip: NO_STRIPPER }, () => {
  test("manhole connect keeps multi-line TypeScript together and evaluates it whole", async () => {
    const app = await startApp();
    try {
      const input = [
        "interface Order {",
        "  id: number",
        "  total: number",
        "}",
        "function sum(os: Order[]): number {",
        "  return os.reduce((s: number, o: Order) => s + o.total, 0)",
        "}",
        "type Pair = {",
        "  a: number,",
        "  b: string",
        "}",
        "sum([{ id: 1, total: 4 }, { id: 2, total: 5 }] as Order[])",
        "",
      ].join("\n");
      const r = await runClient(process.execPath, [path.join(ROOT, "dist", "cli", "main.js"), "connect", app.path], input);
      assert.equal(r.stdout, "undefined\nundefined\nundefined\n9\n");
      assert.equal(r.stderr, "");
      assert.equal(r.code, 0);
    } finally {
      await app.stop();
    }
  });
});

/** The TypeScript app under a runner: its stacks must show .ts positions. */
async function checkTsApp(env) {
  const app = await startApp({ script: TS_APP, env });
  const c = await openSession(app);
  try {
    assert.equal(await c.eval("app.totals(app.orders)"), "{ count: 2, sum: 12 }\n");
    const thrown = await c.eval("app.failing('disk')");
    assert.match(
      thrown,
      /^Uncaught Error: app failed: disk\n {4}at Object\.failing \((?:file:\/\/)?\S*ts-app\.ts:23:9\)\n {4}at REPL\d+:1:5\n$/,
      thrown,
    );
    const stack = await c.eval("try { app.failing('net') } catch (e) { e.stack.split('\\n')[1] }");
    assert.match(stack, /ts-app\.ts:23:9\)'\n$/, stack);
    // .stack while the app's own TypeScript function holds the loop.
    assert.equal(await c.eval("setTimeout(() => app.spin(4000), 0); 'started'"), "'started'\n");
    let text = "";
    for (let i = 0; i < 50 && !/at spin /.test(text); i++) {
      text = await c.eval(".stack");
      if (!/at spin /.test(text)) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(text, /at spin \(\S*ts-app\.ts:(28|29):\d+\)/, text);
    assert.doesNotMatch(app.stderr(), /Error|ExperimentalWarning: stripTypeScriptTypes/);
  } finally {
    c.end();
    await app.stop();
  }
}

describe("apps written in TypeScript", () => {
  test("run by Node's own type stripping", {
    skip: !RUNS_TS && !RUNS_TS_FLAGGED && `Node ${process.version} cannot run .ts files`,
  }, async () => {
    await checkTsApp(RUNS_TS ? {} : { NODE_OPTIONS: "--experimental-strip-types --no-warnings=ExperimentalWarning" });
  });

  test("run through tsx (node --import tsx)", async () => {
    await checkTsApp({ NODE_OPTIONS: `--import ${import.meta.resolve("tsx")}` });
  });
});
