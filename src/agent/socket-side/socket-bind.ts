/**
 * Binding the Unix socket so that it is never reachable with wider permissions than 0600,
 * and never takes over a path where a live process listens.
 *
 * The socket is bound under a fresh 0700 directory (mkdtemp), chmod'ed 0600, then hard-linked
 * to its final path. link(2) fails if the path exists, so two agents racing for one path cannot
 * both win, and a stale socket left by a killed process is removed only after a probe proves
 * nothing answers on it.
 */
import fs from "node:fs";
import type net from "node:net";
import path from "node:path";
import { currentUid } from "../../shared/runtime-dir.js";
import { probeSocket } from "../../shared/socket-probe.js";
import { SocketInUseError } from "../errors.js";

/** How long a connect probe of an existing socket may take before it is "unknown". */
const PROBE_MS = 2000;

export { SocketInUseError } from "../errors.js";

/** Unix socket paths are limited by sockaddr_un.sun_path (108 bytes with the NUL on Linux). */
export const MAX_SOCKET_PATH_BYTES = 107;

type Probe = "free" | "stale" | "live";

/** Is something listening at `p`? Refuses anything at `p` that is not a socket of ours. */
export async function probeSocketPath(p: string): Promise<Probe> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return "free";
    throw err;
  }
  if (!st.isSocket()) throw new Error(`manhole: refusing ${p}: it exists and is not a socket`);
  const uid = currentUid();
  if (uid >= 0 && st.uid !== uid) throw new Error(`manhole: refusing ${p}: the socket there belongs to uid ${st.uid}`);
  const state = await probeSocket(p, PROBE_MS);
  if (state === "unknown") throw new Error(`manhole: cannot tell whether something listens on ${p}`);
  return state === "live" ? "live" : "stale";
}

function listen(server: net.Server, p: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen(p, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

/** Listens on `finalPath` with mode 0600. Throws SocketInUseError if a live process has it. */
/** Returns the inode of the socket file, so that we remove it later only if it is still ours. */
export async function bindPrivately(server: net.Server, finalPath: string): Promise<number> {
  if (Buffer.byteLength(finalPath) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(`manhole: socket path too long (${Buffer.byteLength(finalPath)} > ${MAX_SOCKET_PATH_BYTES} bytes): ${finalPath}`);
  }
  const dir = path.dirname(finalPath);
  // A hidden staging directory inside the target directory (same filesystem, so link(2) works).
  const tmpDir = fs.mkdtempSync(`${dir}${path.sep}.mh-`);
  const tmpSock = path.join(tmpDir, "s");
  if (Buffer.byteLength(tmpSock) > MAX_SOCKET_PATH_BYTES) {
    fs.rmdirSync(tmpDir);
    throw new Error(`manhole: socket path too long to bind safely (staging needs ${Buffer.byteLength(tmpSock)} bytes): ${finalPath}`);
  }
  try {
    await listen(server, tmpSock);
    fs.chmodSync(tmpSock, 0o600);
    for (let attempt = 0; ; attempt++) {
      const state = await probeSocketPath(finalPath);
      if (state === "live") {
        throw new SocketInUseError(`manhole: ${finalPath} is in use: another live process is listening there`);
      }
      if (state === "stale") {
        try {
          fs.unlinkSync(finalPath);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
        }
      }
      try {
        fs.linkSync(tmpSock, finalPath);
        return fs.lstatSync(finalPath).ino;
      } catch (err) {
        // Someone created the path between our probe and our link: probe again.
        if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 3) throw err;
      }
    }
  } catch (err) {
    server.close();
    throw err;
  } finally {
    fs.rmSync(tmpDir, { recursive: true, force: true });
  }
}

/** Removes the socket file at `p` if it is still the one we bound (same inode). */
export function unlinkIfOurs(p: string, ino: number): void {
  try {
    if (fs.lstatSync(p).ino === ino) fs.unlinkSync(p);
  } catch {
    // already gone
  }
}
