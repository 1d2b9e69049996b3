// Unit: the TCP token's comparison and the per-address failure limiter.
import assert from "node:assert/strict";
import { test } from "node:test";
import { FailureLimiter, generateToken, tokenMatches } from "../../dist/agent/socket-side/token.js";

test("tokens are 43 base64url characters; comparison is exact", () => {
  const t = generateToken();
  assert.match(t, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(tokenMatches(t, t), true);
  assert.equal(tokenMatches(t, `${t}x`), false);
  assert.equal(tokenMatches(t, ""), false);
});

test("after max failures in the window an address is blocked for the window, others are not", () => {
  const l = new FailureLimiter(3, 1000);
  for (let i = 0; i < 3; i++) l.fail("a", 100 + i);
  assert.equal(l.isBlocked("a", 200), true);
  assert.equal(l.isBlocked("b", 200), false);
  assert.equal(l.isBlocked("a", 1200), false);
});

test("failures older than the window do not count", () => {
  const l = new FailureLimiter(2, 1000);
  l.fail("a", 0);
  l.fail("a", 1500);
  assert.equal(l.isBlocked("a", 1600), false);
});
