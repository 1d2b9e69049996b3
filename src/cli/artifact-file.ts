/**
 * The operator's side of an artifact (ArtifactFrame in protocol/structured.ts): each chunk is
 * written to `<file>.part` as it arrives, so the CLI holds one chunk at a time (and reads the
 * socket no faster than the disk takes it); at the end the size and sha256 are checked and the
 * file is renamed into place. A stream that ends otherwise leaves no file behind.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { ArtifactFrame } from "../protocol/structured.js";
import { formatBytes } from "../shared/units.js";

export interface ReceivedArtifact {
  name: string;
  mediaType: string;
  path: string;
  size: number;
  sha256: string;
}

interface Open {
  name: string;
  mediaType: string;
  size: number | null;
  dest: string;
  part: string;
  fd: number;
  written: number;
  hash: crypto.Hash;
  shown: number;
}

export class ArtifactReceiver {
  readonly received: ReceivedArtifact[] = [];
  /** Why the last artifact failed (a short stream, a checksum mismatch), if it did. */
  failure: string | undefined;
  private open: Open | undefined;

  /**
   * `output`: the file (or an existing directory) to write the first artifact to; without it,
   * the agent's suggested name in the current directory. `progress` gets a line now and then.
   */
  constructor(
    private readonly output: string | undefined,
    private readonly progress?: (text: string) => void,
  ) {}

  /** `output` for the first artifact (inside it if it is a directory); later ones by their names next to it. */
  private destination(name: string): string {
    const base = path.basename(name);
    if (this.output === undefined) return path.resolve(base);
    const isDir = fs.statSync(this.output, { throwIfNoEntry: false })?.isDirectory() === true;
    if (isDir) return path.resolve(this.output, base);
    return this.received.length === 0 ? path.resolve(this.output) : path.resolve(path.dirname(this.output), base);
  }

  handle(frame: ArtifactFrame): void {
    try {
      this.step(frame);
    } catch (err) {
      this.fail(err instanceof Error ? err.message : String(err));
    }
  }

  private step(frame: ArtifactFrame): void {
    switch (frame.phase) {
      case "start": {
        this.discard();
        const dest = this.destination(frame.name);
        const part = `${dest}.part`;
        const fd = fs.openSync(part, "w", 0o600);
        this.open = {
          name: frame.name,
          mediaType: frame.mediaType,
          size: frame.size,
          dest,
          part,
          fd,
          written: 0,
          hash: crypto.createHash("sha256"),
          shown: 0,
        };
        this.failure = undefined;
        return;
      }
      case "chunk": {
        const o = this.open;
        if (!o) return;
        if (frame.offset !== o.written) throw new Error(`${o.name}: a chunk at ${frame.offset}, expected ${o.written}`);
        const buf = Buffer.from(frame.data, "base64");
        for (let done = 0; done < buf.length; ) done += fs.writeSync(o.fd, buf, done, buf.length - done);
        o.hash.update(buf);
        o.written += buf.length;
        if (this.progress && o.size && o.written - o.shown >= o.size / 10 && o.written < o.size) {
          o.shown = o.written;
          this.progress(`${o.name}: ${Math.floor((o.written / o.size) * 100)}% of ${formatBytes(o.size)} received\n`);
        }
        return;
      }
      case "end": {
        const o = this.open;
        if (!o) return;
        this.open = undefined;
        fs.closeSync(o.fd);
        const sha256 = o.hash.digest("hex");
        if (o.written !== frame.size || sha256 !== frame.sha256) {
          fs.rmSync(o.part, { force: true });
          throw new Error(
            `${o.name}: received ${o.written} bytes with sha256 ${sha256}, the agent sent ${frame.size} with ${frame.sha256}`,
          );
        }
        fs.renameSync(o.part, o.dest);
        this.received.push({ name: o.name, mediaType: o.mediaType, path: o.dest, size: o.written, sha256 });
        return;
      }
      case "abort":
        this.fail(`${this.open?.name ?? "the artifact"}: the agent gave it up (${frame.reason})`);
        return;
    }
  }

  private fail(why: string): void {
    this.discard();
    this.failure = why;
  }

  /** Removes a file still being received (the connection ended, or the stream failed). */
  discard(): void {
    const o = this.open;
    if (!o) return;
    this.open = undefined;
    try {
      fs.closeSync(o.fd);
    } catch {
      // already closed
    }
    fs.rmSync(o.part, { force: true });
  }
}
