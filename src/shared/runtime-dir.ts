/**
 * Where sockets and descriptors live, and the checks that keep that place private:
 * a directory we create 0700, or an existing one that is ours, not a symlink, and not
 * writable by group or others.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export function currentUid(): number {
  return typeof process.getuid === "function" ? process.getuid() : -1;
}

/** `$MANHOLE_DIR`, else `$XDG_RUNTIME_DIR/manhole`, else `<tmpdir>/manhole-<uid>`. */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MANHOLE_DIR) return path.resolve(env.MANHOLE_DIR);
  if (env.XDG_RUNTIME_DIR) return path.join(env.XDG_RUNTIME_DIR, "manhole");
  return path.join(os.tmpdir(), `manhole-${currentUid()}`);
}

export class UnsafeDirectoryError extends Error {
  override name = "UnsafeDirectoryError";
}

/** Throws UnsafeDirectoryError unless `dir` is a real directory owned by us and not group/world-writable. */
export function checkPrivateDir(dir: string): void {
  const st = fs.lstatSync(dir);
  if (st.isSymbolicLink()) throw new UnsafeDirectoryError(`manhole: refusing ${dir}: it is a symbolic link`);
  if (!st.isDirectory()) throw new UnsafeDirectoryError(`manhole: refusing ${dir}: it is not a directory`);
  const uid = currentUid();
  if (uid >= 0 && st.uid !== uid) {
    throw new UnsafeDirectoryError(`manhole: refusing ${dir}: it is owned by uid ${st.uid}, not by uid ${uid}`);
  }
  if ((st.mode & 0o022) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(3, "0");
    throw new UnsafeDirectoryError(`manhole: refusing ${dir}: mode ${mode} lets group or others write (want 0700)`);
  }
}

/** Creates `dir` 0700 (parents as needed) if missing, then checks it. */
export function ensurePrivateDir(dir: string): string {
  try {
    fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
  }
  checkPrivateDir(dir);
  return dir;
}

/**
 * A directory that holds a socket chosen by the caller (`path` option). Any other user's
 * ability to replace entries there would let them swap our socket, so it must be ours and
 * private, or sticky (like /tmp, where others cannot rename or remove what is ours).
 */
export function checkSocketParent(dir: string): void {
  const st = fs.statSync(dir);
  if (!st.isDirectory()) throw new UnsafeDirectoryError(`manhole: refusing ${dir}: it is not a directory`);
  const sticky = (st.mode & 0o1000) !== 0;
  if (sticky) return;
  checkPrivateDir(dir);
}
