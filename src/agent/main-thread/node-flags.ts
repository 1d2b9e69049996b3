/** Node's own flags as the process started with them: the command line's and NODE_OPTIONS. */
export const NODE_FLAGS = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)];

/** Node's --abort-on-uncaught-exception, as given on the command line or in NODE_OPTIONS. */
export const ABORTS_ON_UNCAUGHT = NODE_FLAGS.some((f) => /^--abort[-_]on[-_]uncaught[-_]exception$/.test(f));

/** The --unhandled-rejections mode in force, as Node would read it (the last one given). */
export function rejectionMode(): string {
  let mode = "throw";
  for (const f of NODE_FLAGS) {
    const m = /^--unhandled-rejections=(\w[\w-]*)$/.exec(f);
    if (m) mode = m[1];
  }
  return mode;
}
