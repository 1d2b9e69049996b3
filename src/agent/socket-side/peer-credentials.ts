/**
 * Who is on the other end of a Unix socket: SO_PEERCRED on Linux, read through koffi (an
 * optional dependency, loaded on first use). Node has no API for it. When koffi is missing or
 * fails, the check is off and the socket's 0600 mode and the 0700 directory are what protect
 * it; that is said once on stderr.
 */

import fs from "node:fs";
import type net from "node:net";
import os from "node:os";
import { endThenDestroy } from "./end-socket.js";

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
/** struct ucred { pid_t pid; uid_t uid; gid_t gid; }: three 32-bit integers. */
const UCRED_SIZE = 12;

type GetSockOpt = (fd: number, level: number, name: number, value: Buffer, length: Buffer) => number;

/** undefined: not loaded yet; null: unavailable. */
let getsockopt: GetSockOpt | null | undefined;
let errnoOf: () => number = () => 0;
let said = false;

/** Says once, on the app's stderr, that connections are not being checked. */
function unavailable(reason: string): undefined {
  if (!said) {
    said = true;
    try {
      fs.writeSync(2, `manhole: peer credentials unavailable (${reason}); relying on socket and directory permissions\n`);
    } catch {}
  }
  return undefined;
}

function load(): GetSockOpt | null {
  if (getsockopt !== undefined) return getsockopt;
  try {
    const koffi = require("koffi");
    let libc: { func(signature: string): GetSockOpt };
    try {
      libc = koffi.load(null); // the process itself: whichever libc node runs on (glibc or musl)
    } catch {
      libc = koffi.load("libc.so.6");
    }
    getsockopt = libc.func("int getsockopt(int, int, int, void *, void *)");
    errnoOf = () => koffi.errno();
  } catch (err) {
    getsockopt = null;
    const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
    unavailable((err as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND" ? "koffi is not installed" : message);
  }
  return getsockopt ?? null;
}

/** Whether connections are checked: Linux with koffi working. Loads koffi on first call. */
export function peerCheckAvailable(): boolean {
  return process.platform === "linux" && load() !== null;
}

/**
 * The peer's pid, uid and gid, or undefined when they cannot be known: not Linux, no koffi, or
 * this one call failed (which is said once; later connections are still checked).
 */
export function peerCredentials(socket: net.Socket): PeerCredentials | undefined {
  if (!peerCheckAvailable()) return undefined;
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) return unavailable("the socket has no file descriptor");
  const value = Buffer.alloc(UCRED_SIZE);
  const length = Buffer.alloc(4);
  const le = os.endianness() === "LE";
  if (le) length.writeUInt32LE(UCRED_SIZE);
  else length.writeUInt32BE(UCRED_SIZE);
  let rc: number;
  try {
    rc = (getsockopt as GetSockOpt)(fd, SOL_SOCKET, SO_PEERCRED, value, length);
  } catch (err) {
    return unavailable(err instanceof Error ? err.message : String(err));
  }
  if (rc !== 0) return unavailable(`getsockopt(SO_PEERCRED) failed, errno ${errnoOf()}`);
  const at = (i: number) => (le ? value.readInt32LE(i * 4) : value.readInt32BE(i * 4));
  return { pid: at(0), uid: at(1) >>> 0, gid: at(2) >>> 0 };
}

/**
 * Refuses a connection from anyone but our own effective uid or root: one line to the peer, then
 * the socket is closed. Returns why it refused (the caller audits it and tells stderr), or
 * undefined when it accepts, also when the credentials cannot be known (then the socket's
 * permissions are the only check).
 */
export function refusePeer(socket: net.Socket, peer: PeerCredentials | undefined): string | undefined {
  const euid = process.geteuid?.();
  if (!peer || euid === undefined || peer.uid === euid || peer.uid === 0) return undefined;
  socket.resume(); // whatever it sent is discarded
  endThenDestroy(socket, `manhole: permission denied: peer uid ${peer.uid} is not the owner (uid ${euid})\n`);
  return `peer uid ${peer.uid} is not the owner (uid ${euid})`;
}
