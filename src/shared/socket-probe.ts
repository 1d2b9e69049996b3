/** The one way agent and CLI ask "does anything listen on this Unix socket?". */
import type net from "node:net";

/**
 * "live": a connection was accepted; "dead": refused or no such file (nothing listens);
 * "unknown": any other error, or no answer within `timeoutMs`.
 */
export type SocketState = "live" | "dead" | "unknown";

export function probeSocket(socket: string, timeoutMs = 1000): Promise<SocketState> {
  return new Promise((resolve) => {
    // Loaded here: the agent's main thread imports this file at start, and asks only when its
    // socket path is taken.
    const { connect } = require("node:net") as typeof net;
    const s = connect(socket);
    const done = (state: SocketState) => {
      clearTimeout(timer);
      s.destroy();
      resolve(state);
    };
    const timer = setTimeout(() => done("unknown"), timeoutMs);
    s.once("connect", () => done("live"));
    s.once("error", (err: NodeJS.ErrnoException) => done(err.code === "ECONNREFUSED" || err.code === "ENOENT" ? "dead" : "unknown"));
  });
}
