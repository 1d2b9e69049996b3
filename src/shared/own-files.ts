/**
 * The manhole's own files: the whole compiled package (agent, protocol, shared). Their frames
 * are never the user's, and a worker thread running one of them is a manhole's.
 */
import path from "node:path";

/** The package's compiled root, with a trailing separator (so that `dist-app/` is not ours). */
export const OWN_ROOT = path.resolve(__dirname, "..") + path.sep;

export function isOwnFile(file: string): boolean {
  return file.startsWith(OWN_ROOT);
}
