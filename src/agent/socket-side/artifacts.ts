/**
 * ctx.artifact(): an operation's file (a profile, a heap snapshot), made and delivered the one
 * way every operation shares. It is first written to a 0600 temp file in the runtime directory:
 * a heap snapshot's chunks arrive as fast as the frozen main thread makes them, and sent
 * straight to a socket they buffered 11–65 MB for a 50 MB heap (~210 MB for 200 MB with a slow
 * reader), where a file kept the worker at 6–22 MB. Then a structured client gets the file as
 * artifact frames, one chunk at a time, each sent once the socket took the one before (a slow
 * reader slows the stream; memory stays at one chunk); human mode gets it moved to its place
 * on the app's side. The temp file is removed on every path.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { ArtifactFrame } from "../../protocol/structured.js";
import { ensurePrivateDir, runtimeDir } from "../../shared/runtime-dir.js";
import { formatBytes } from "../../shared/units.js";
import { ArtifactCancelled, type ArtifactInfo, type ArtifactMeta, type ArtifactSink } from "../operations/types.js";

/** Bytes of the file per chunk frame (its base64 is a third larger). */
export const CHUNK_BYTES = 64 * 1024;

type WithoutId<T> = T extends unknown ? Omit<T, "id"> : never;
/** An artifact frame before the mode adds its request id. */
export type ArtifactFrameBody = WithoutId<ArtifactFrame>;

export interface ArtifactDelivery {
  /** Structured mode: sends a frame, resolving once the socket has taken it (or the client is gone). */
  stream?: (frame: ArtifactFrameBody) => Promise<void>;
  /** The client left: give up. */
  gone: AbortSignal;
  /** Text for the session (human mode: where the file went). */
  write(text: string): void;
}

const SAFE_NAME = /^[\w.+-]+$/;

export async function makeArtifact(
  meta: ArtifactMeta,
  produce: (sink: ArtifactSink) => Promise<void> | void,
  delivery: ArtifactDelivery,
): Promise<ArtifactInfo> {
  if (!SAFE_NAME.test(meta.name) || meta.name.startsWith(".")) throw new Error(`bad artifact name ${JSON.stringify(meta.name)}`);
  const cancelled = () => delivery.gone.aborted || meta.signal?.aborted === true;
  const why = () => (delivery.gone.aborted ? "the client left" : "interrupted");
  if (cancelled()) throw new ArtifactCancelled(why());
  const dir = ensurePrivateDir(runtimeDir());
  sweepDead(dir);
  const temp = path.join(dir, `.${process.pid}.${meta.name}.${crypto.randomBytes(6).toString("hex")}.part`);
  const fd = fs.openSync(temp, "wx", 0o600);
  let open = true;
  let kept = false;
  let bytes = 0;
  const hash = crypto.createHash("sha256");
  const sink: ArtifactSink = {
    path: temp,
    write(chunk) {
      // Given up on: what still arrives is dropped, not written.
      if (!open || cancelled()) return;
      const buf = typeof chunk === "string" ? Buffer.from(chunk, "utf8") : chunk;
      for (let done = 0; done < buf.length; ) done += fs.writeSync(fd, buf, done, buf.length - done);
      hash.update(buf);
      bytes += buf.length;
    },
    get bytes() {
      return bytes;
    },
  };
  try {
    await produce(sink);
    open = false;
    fs.closeSync(fd);
    if (cancelled()) throw new ArtifactCancelled(why());
    const sha256 = hash.digest("hex");
    const info: ArtifactInfo = { name: meta.name, mediaType: meta.mediaType, size: bytes, sha256 };
    if (delivery.stream && !meta.output) {
      await streamFile(temp, info, delivery.stream, cancelled, why);
      return info;
    }
    let dest = meta.output ? path.resolve(meta.output) : path.join(dir, meta.name);
    if (meta.output && fs.statSync(dest, { throwIfNoEntry: false })?.isDirectory()) dest = path.join(dest, meta.name);
    place(temp, dest);
    kept = true;
    delivery.write(`wrote ${dest} (${formatBytes(bytes)}, mode 0600)\n`);
    return { ...info, path: dest };
  } finally {
    if (open) fs.closeSync(fd);
    if (!kept) fs.rmSync(temp, { force: true });
  }
}

const TEMP = /^\.(\d+)\..+\.part$/;

/**
 * Removes the temp files of processes that died while making an artifact (a snapshot's 6-7x
 * heap in extra memory can get an app killed): ours are named after our pid.
 */
function sweepDead(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(TEMP.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ESRCH") fs.rmSync(path.join(dir, name), { force: true });
    }
  }
}

/** Moves the finished temp file to `dest` (copies across file systems), private to the app's user. */
function place(temp: string, dest: string): void {
  try {
    fs.renameSync(temp, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
    fs.copyFileSync(temp, dest);
  }
  fs.chmodSync(dest, 0o600);
}

async function streamFile(
  file: string,
  info: ArtifactInfo,
  send: (frame: ArtifactFrameBody) => Promise<void>,
  cancelled: () => boolean,
  why: () => string,
): Promise<void> {
  await send({ op: "artifact", phase: "start", name: info.name, mediaType: info.mediaType, size: info.size });
  const fd = fs.openSync(file, "r");
  const buf = Buffer.allocUnsafe(CHUNK_BYTES);
  try {
    for (let offset = 0; offset < info.size; ) {
      if (cancelled()) {
        await send({ op: "artifact", phase: "abort", reason: why() });
        throw new ArtifactCancelled(why());
      }
      const n = fs.readSync(fd, buf, 0, CHUNK_BYTES, offset);
      if (n === 0) throw new Error(`${info.name}: the temp file ended at ${offset} of ${info.size} bytes`);
      await send({ op: "artifact", phase: "chunk", offset, data: buf.toString("base64", 0, n) });
      offset += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  await send({ op: "artifact", phase: "end", size: info.size, sha256: info.sha256 });
}
