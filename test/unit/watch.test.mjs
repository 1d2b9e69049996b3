// Unit: what .watch <expr> names (owner and property of the last member access), how a settled
// promise's result is read without a handler, and the one-line form of a channel message.
import assert from "node:assert/strict";
import { test } from "node:test";
import { briefMessage, settledState } from "../../dist/agent/operations/watch.js";
import { parseWatchTarget, WatchTargetError } from "../../dist/agent/operations/watch-target.js";

test("the owner and the property are the last member access", () => {
  assert.deepEqual(parseWatchTarget("db.query"), { kind: "member", ownerCode: "db", key: { name: "query" } });
  assert.deepEqual(parseWatchTarget(" app.router.handle "), { kind: "member", ownerCode: "app.router", key: { name: "handle" } });
  assert.deepEqual(parseWatchTarget("Foo.prototype.bar"), { kind: "member", ownerCode: "Foo.prototype", key: { name: "bar" } });
  assert.deepEqual(parseWatchTarget('handlers["GET /x"]'), { kind: "member", ownerCode: "handlers", key: { code: '"GET /x"' } });
  assert.deepEqual(parseWatchTarget("obj[Symbol.iterator]"), { kind: "member", ownerCode: "obj", key: { code: "Symbol.iterator" } });
  assert.deepEqual(parseWatchTarget("getApp().db.query"), { kind: "member", ownerCode: "getApp().db", key: { name: "query" } });
  assert.deepEqual(parseWatchTarget("a?.b.c"), { kind: "member", ownerCode: "a?.b", key: { name: "c" } });
  assert.deepEqual(parseWatchTarget("(db.query)"), { kind: "member", ownerCode: "db", key: { name: "query" } });
  assert.deepEqual(parseWatchTarget("fetch"), { kind: "global", name: "fetch" });
});

test("what is not a property, or not one expression, is refused with the reason", () => {
  const refused = (text, re) =>
    assert.throws(
      () => parseWatchTarget(text),
      (err) => err instanceof WatchTargetError && re.test(err.message),
    );
  refused("", /name the function to watch/);
  refused("db.(", /^syntax error in db\.\(/);
  refused("db.query; x", /one expression only/);
  refused("f()", /f\(\) is not a property/);
  refused("1 + 2", /is not a property/);
  refused("this.#secret", /^syntax error in this\.#secret/);
});

test("a settled promise's result, as util.inspect shows it (no handler is attached)", () => {
  assert.deepEqual(settledState(Promise.resolve(42)), { outcome: "resolved", value: "42" });
  assert.deepEqual(settledState(Promise.resolve({ a: [1, 2] })), { outcome: "resolved", value: "{ a: [ 1, 2 ] }" });
  assert.deepEqual(settledState(new Promise(() => {})), { outcome: "pending", value: "" });
  const rejected = Promise.reject(new RangeError("no"));
  const s = settledState(rejected);
  assert.equal(s.outcome, "rejected");
  assert.match(s.value, /^RangeError: no\n {4}at /);
  rejected.catch(() => {}); // (that it stays unhandled is tested against a real app: test/watch.test.mjs)
});

test("a channel message in one line: requests and responses by what identifies them", () => {
  class IncomingMessage {
    constructor() {
      this.method = "GET";
      this.url = "/x?y=1";
    }
  }
  class Socket {
    constructor() {
      for (let i = 0; i < 20; i++) this[`f${i}`] = i;
    }
  }
  assert.equal(
    briefMessage({ request: new IncomingMessage(), socket: new Socket(), n: 1 }),
    "{ request: IncomingMessage GET /x?y=1, socket: Socket {…}, n: 1 }",
  );
  assert.equal(
    briefMessage({
      get secret() {
        throw new Error("never read");
      },
    }),
    "{ secret: [Getter] }",
  );
  assert.equal(briefMessage("plain"), "'plain'");
});
