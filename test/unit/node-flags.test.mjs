// Unit: the inspector flags `manhole attach` reads from a target's command line and NODE_OPTIONS.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseNodeFlags } from "../../dist/cli/proc-info.js";

test("no flags: nothing known, SIGUSR1 enabled", () => {
  assert.deepEqual(parseNodeFlags([]), { disableSigusr1: false });
});

test("--inspect-port sets the port (and a host), with = or as the next word", () => {
  assert.deepEqual(parseNodeFlags(["--inspect-port=9333"]), { disableSigusr1: false, port: 9333 });
  assert.deepEqual(parseNodeFlags(["--inspect-port", "9334"]), { disableSigusr1: false, port: 9334 });
  assert.deepEqual(parseNodeFlags(["--debug-port=0.0.0.0:9335"]), { disableSigusr1: false, host: "0.0.0.0", port: 9335 });
  assert.deepEqual(parseNodeFlags(["--inspect-port=[::1]:9336"]), { disableSigusr1: false, host: "::1", port: 9336 });
});

test("--inspect, --inspect-brk, --inspect-wait: open at start, with their port", () => {
  assert.deepEqual(parseNodeFlags(["--inspect"]), { disableSigusr1: false, inspectAtStart: "--inspect" });
  assert.deepEqual(parseNodeFlags(["--inspect=0"]), { disableSigusr1: false, inspectAtStart: "--inspect=0", port: 0 });
  assert.deepEqual(parseNodeFlags(["--inspect-brk=127.0.0.1:9400"]), {
    disableSigusr1: false,
    inspectAtStart: "--inspect-brk=127.0.0.1:9400",
    host: "127.0.0.1",
    port: 9400,
  });
  assert.equal(parseNodeFlags(["--inspect-wait"]).inspectAtStart, "--inspect-wait");
  assert.equal(parseNodeFlags(["--inspect-publish-uid=http"]).inspectAtStart, undefined);
});

test("NODE_OPTIONS first, the command line after it wins; --disable-sigusr1 from either", () => {
  assert.equal(parseNodeFlags(["--inspect-port=9500"], "--inspect-port=9400").port, 9500);
  assert.equal(parseNodeFlags([], "--require x  --inspect-port=9401").port, 9401);
  assert.equal(parseNodeFlags([], "--disable-sigusr1").disableSigusr1, true);
  assert.equal(parseNodeFlags(["--disable-sigusr1"]).disableSigusr1, true);
});
