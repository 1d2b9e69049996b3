/** The one way agent and CLI ask "does anything listen on this Unix socket?". */
import net from "node:net";

/**
 * "live": a connection was accepted; "dead": refused or no such file (nothing listens);
 * "unknown": any other error, or no answer within `timeoutMs`.
 */
export type SocketState = "live" | "dead" | "unknown";

export function probeSocket(socket: string, timeoutMs = 1000): Promise<SocketState> {
  return new Promise((resolve) => {
    const s = net.connect(socket);
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
