/**
 * Node's own flags as the process started with them, in the order Node reads them: NODE_OPTIONS
 * first, then the command line's, so that a later one wins as it does for Node.
 */
export const NODE_FLAGS = [...(process.env.NODE_OPTIONS ?? "").split(/\s+/).filter(Boolean), ...process.execArgv];

/** Node's --abort-on-uncaught-exception, as given on the command line or in NODE_OPTIONS. */
export const ABORTS_ON_UNCAUGHT = NODE_FLAGS.some((f) => /^--abort[-_]on[-_]uncaught[-_]exception$/.test(f));

/**
 * The --unhandled-rejections mode in force, as Node would read it: the last one given, spelt
 * with `-` or `_`, its value after `=` or as the next argument.
 */
export function rejectionMode(): string {
  let mode = "throw";
  NODE_FLAGS.forEach((f, i) => {
    const m = /^--unhandled[-_]rejections(?:=(.*))?$/.exec(f);
    if (!m) return;
    const value = m[1] ?? NODE_FLAGS[i + 1];
    if (value) mode = value;
  });
  return mode;
}
