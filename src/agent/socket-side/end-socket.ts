/** Ending a connection the agent refuses or closes. */
import type net from "node:net";

/**
 * Ends `socket` (with `text`, if any) and destroys it `graceMs` later if the peer never ends its
 * side: the server allows half-open sockets, and a peer that keeps its side open must not keep
 * the connection forever. The delay lets the peer read the last line before its writes fail.
 */
export function endThenDestroy(socket: net.Socket, text?: string, graceMs = 1000): void {
  if (text === undefined) socket.end();
  else socket.end(text);
  const timer = setTimeout(() => socket.destroy(), graceMs);
  timer.unref();
  socket.once("close", () => clearTimeout(timer));
}
