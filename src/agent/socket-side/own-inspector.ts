/**
 * ctx.openInspector(): an inspector session of one operation's own on the main thread (from the
 * worker through connectToMainThread; inline, on this very thread), apart from the supervisor's,
 * so that a ten-second profile holds nothing `.stack` or an interrupt needs.
 */
import inspector from "node:inspector";
import type { OwnInspector } from "../operations/types.js";

export function openInspector(threaded: boolean): OwnInspector {
  const session = new inspector.Session();
  if (threaded) session.connectToMainThread();
  else session.connect();
  let connected = true;
  return {
    post<T>(method: string, params?: object): Promise<T> {
      return new Promise((resolve, reject) => {
        if (!connected) return reject(new Error("the inspector session is closed"));
        session.post(method, params ?? {}, (err: Error | null, result?: object) => (err ? reject(err) : resolve(result as T)));
      });
    },
    on(event, listener) {
      session.on(event, (message: { params?: unknown }) => listener(message.params));
    },
    disconnect() {
      if (!connected) return;
      connected = false;
      session.disconnect();
    },
  };
}
