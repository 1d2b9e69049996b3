// The system tools the tests run, and the Debian package of each: the one list, used by
// `npm run setup:test` (scripts/setup-test.mjs), by `npm test` before it starts (pretest),
// by .ci/run, and by each test file that needs a tool (requireTool in test/helpers.mjs).
// No dependencies, so that it runs before `npm ci`.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

/**
 * command: looked up on PATH; pkg: the Debian/Ubuntu package that installs it;
 * sbin (optional): also looked up in the sbin directories (SBIN_DIRS), which a user's PATH
 * often lacks on Debian (root's has them);
 * optional (optional): installed by `npm run setup:test` and CI, but the tests that use it skip
 * with a note when it is missing (a browser is big), and `--check` does not fail for it;
 * check (optional): { args, match, problem } — run `command ...args`; if its output does
 * not match, the command is there but the wrong one, and `problem` says why.
 */
export const TOOLS = [
  {
    command: "nc",
    pkg: "netcat-openbsd",
    check: { args: ["-h"], match: /OpenBSD netcat/, problem: "is not OpenBSD netcat (the tests use `nc -N`)" },
  },
  { command: "socat", pkg: "socat" },
  { command: "tmux", pkg: "tmux" },
  { command: "openssl", pkg: "openssl" },
  // The remote-target tests start a real OpenSSH server on the loopback and connect with ssh.
  { command: "sshd", pkg: "openssh-server", sbin: true },
  { command: "ssh", pkg: "openssh-client" },
  // The flame graph test renders the page in a real headless browser.
  { command: "chromium", pkg: "chromium", optional: true },
];

/**
 * Where an `sbin` tool is also looked for. MANHOLE_TEST_SBIN_DIRS overrides the list (empty:
 * PATH only; .ci/fresh-machine sets that, to act as a machine without the tools).
 */
export const SBIN_DIRS = process.env.MANHOLE_TEST_SBIN_DIRS ?? ["/usr/local/sbin", "/usr/sbin", "/sbin"].join(path.delimiter);

/** The full path of an executable `command` on PATH, or undefined. */
export function which(command, envPath = process.env.PATH ?? "") {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const file = path.join(dir, command);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      if (fs.statSync(file).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The full path of `tool`: on PATH, or for an sbin tool in SBIN_DIRS; undefined when not installed. */
export function toolPath(tool) {
  return which(tool.command) ?? (tool.sbin ? which(tool.command, SBIN_DIRS) : undefined);
}

/** Why `tool` cannot be used ("is not installed", or its check's problem), or undefined when it can. */
export function toolProblem(tool) {
  const file = toolPath(tool);
  if (!file) return "is not installed";
  if (tool.check) {
    const r = spawnSync(file, tool.check.args, { encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "pipe"] });
    if (!tool.check.match.test(`${r.stdout ?? ""}${r.stderr ?? ""}`)) return `(${file}) ${tool.check.problem}`;
  }
  return undefined;
}

/** The tools of TOOLS that cannot be used, each with its problem. */
export function missingTools(tools = TOOLS) {
  return tools.map((tool) => ({ ...tool, problem: toolProblem(tool) })).filter((t) => t.problem);
}

/** The entry of TOOLS for `command` (throws for a command that is not in the list). */
export function tool(command) {
  const found = TOOLS.find((t) => t.command === command);
  if (!found) throw new Error(`${command} is not in the TOOLS list of scripts/test-tools.mjs`);
  return found;
}
