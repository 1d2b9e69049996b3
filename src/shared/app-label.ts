/**
 * The one app label, shown by the banner, the structured hello, `manhole ls` and `exec --all`:
 * `name@version` of the app's package, else its script's file name and arguments, else `node`.
 */
import path from "node:path";

export interface AppPackage {
  name: string;
  version: string | null;
}

/** `app`: the package found for the process (or null); `argv`: its process.argv. */
export function appLabel(app: AppPackage | null | undefined, argv: readonly unknown[] | undefined): string {
  if (app && typeof app.name === "string") return app.version ? `${app.name}@${app.version}` : app.name;
  const args = Array.isArray(argv) ? argv.map(String) : [];
  if (args.length < 2) return "node";
  return [path.basename(args[1]), ...args.slice(2)].join(" ");
}
