// Unit: completion from a session scope, without getters or proxy traps.
import assert from "node:assert/strict";
import { test } from "node:test";
import { complete } from "../../dist/agent/main-thread/completion.js";

const scope = (own = {}) => ({ own, builtins: {}, namespace: {} });

test("dot-commands complete from the names given", () => {
  assert.deepEqual(complete(".st", scope(), ["stack", "help", "status"]), { items: [".stack", ".status"], prefix: ".st" });
});

test("session names and their properties complete", () => {
  const s = scope({ appState: { items: [], itemCount: 0 } });
  assert.deepEqual(complete("appSt", s, []).items, ["appState"]);
  assert.deepEqual(complete("appState.item", s, []), { items: ["itemCount", "items"], prefix: "item" });
});

test("a getter is never run and a proxy's traps never fire", () => {
  let ran = false;
  const tricky = {
    get boom() {
      ran = true;
      return 1;
    },
  };
  const proxy = new Proxy(
    {},
    {
      ownKeys: () => {
        ran = true;
        return [];
      },
      get: () => {
        ran = true;
      },
    },
  );
  complete("tricky.bo", scope({ tricky, proxy }), []);
  complete("proxy.x", scope({ tricky, proxy }), []);
  assert.equal(ran, false);
});
