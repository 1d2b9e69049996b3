// Unit: the human-mode line reader (bytes → lines, interrupts, errors), no sockets.
import assert from "node:assert/strict";
import { test } from "node:test";
import { LineReader } from "../../dist/agent/socket-side/line-reader.js";

const feed = (reader, ...chunks) => chunks.flatMap((c) => reader.push(Buffer.isBuffer(c) ? c : Buffer.from(c, "binary")));

test("lines split on LF and CRLF, across chunks", () => {
  const r = new LineReader(1024);
  assert.deepEqual(feed(r, "a\nb\r\nc", "d\n"), [
    { kind: "line", text: "a" },
    { kind: "line", text: "b" },
    { kind: "line", text: "cd" },
  ]);
});

test("a line of Ctrl-C, and telnet IAC IP, are interrupts; other telnet negotiation is dropped", () => {
  const r = new LineReader(1024);
  assert.deepEqual(feed(r, "\x03\n"), [{ kind: "interrupt" }]);
  assert.deepEqual(feed(r, Buffer.from([0xff, 0xf4])), [{ kind: "interrupt" }]);
  assert.deepEqual(feed(r, Buffer.from([0xff, 0xfb, 0x01, 0x78, 0x0a])), [{ kind: "line", text: "x" }]);
});

test("invalid UTF-8 and NUL bytes are errors for that line only", () => {
  const r = new LineReader(1024);
  const events = feed(r, Buffer.from([0xc3, 0x28, 0x0a]), "ok\n");
  assert.equal(events[0].kind, "error");
  assert.deepEqual(events[1], { kind: "line", text: "ok" });
});

test("a line over the limit is refused before it is kept", () => {
  const r = new LineReader(8);
  assert.deepEqual(feed(r, "123456789"), [{ kind: "too-long" }]);
});

test("end() returns the unterminated last line", () => {
  const r = new LineReader(64);
  feed(r, "tail");
  assert.deepEqual(r.end(), [{ kind: "line", text: "tail" }]);
});
