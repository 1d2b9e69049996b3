// `npm run setup:test`: installs the system tools the tests need (the list: scripts/test-tools.mjs)
// with apt-get, when run as root or with passwordless sudo; otherwise prints one message naming
// the missing tools and the command that installs them, and exits 1.
// `--check` (npm test's pretest): never installs; exits 1 with the same message if any is missing.
// Uses only Node's own modules, so it runs before `npm ci` (.ci/run does so).
import { spawnSync } from "node:child_process";
import { missingTools, TOOLS, which } from "./test-tools.mjs";

const checkOnly = process.argv.includes("--check");
const names = (tools) => tools.map((t) => t.command).join(", ");

let missing = missingTools();
if (checkOnly && missing.every((t) => t.optional)) {
  if (missing.length) console.log(`setup:test: missing, so their tests skip: ${names(missing)} (npm run setup:test installs them)`);
  process.exit(0);
}
if (missing.length === 0) {
  if (!checkOnly) console.log(`setup:test: the tools the tests need are installed: ${names(TOOLS)}`);
  process.exit(0);
}

const packages = [...new Set(missing.map((t) => t.pkg))];
const isRoot = process.getuid?.() === 0;
const sudoWorks = !isRoot && which("sudo") !== undefined && spawnSync("sudo", ["-n", "true"], { stdio: "ignore" }).status === 0;
const hasApt = which("apt-get") !== undefined;

/** Prints the one message about `tools` that cannot be used, and exits 1. */
function fail(tools, why) {
  const sudo = isRoot ? "" : "sudo ";
  const lines = ["The tests need system tools that are missing:"];
  for (const t of tools) lines.push(`  ${t.command} ${t.problem} (Debian package ${t.pkg})`);
  if (hasApt) {
    const pkgs = [...new Set(tools.map((t) => t.pkg))].join(" ");
    lines.push(
      "Install them with:",
      `  ${sudo}apt-get update && ${sudo}apt-get install -y --no-install-recommends ${pkgs}`,
      why ?? "or run `npm run setup:test`, which runs that itself as root or with passwordless sudo.",
    );
  } else {
    lines.push("This machine has no apt-get: install them with its package manager (the package names may differ).");
    if (why) lines.push(why);
  }
  console.error(lines.join("\n"));
  process.exit(1);
}

if (checkOnly) fail(missing);
if (!hasApt) fail(missing);
if (!isRoot && !sudoWorks)
  fail(missing, "(`npm run setup:test` installs them itself only as root or with passwordless sudo: here it is neither.)");

/** Runs `apt-get ...args` as root (directly, or through `sudo -n`); exits 1 if it fails. */
function aptGet(...args) {
  const argv = [...(isRoot ? [] : ["sudo", "-n"]), "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", ...args];
  console.log(`setup:test: ${argv.join(" ")}`);
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ["ignore", "pipe", "inherit"], encoding: "utf8" });
  if (r.status !== 0) {
    if (r.stdout) process.stderr.write(r.stdout);
    console.error(`setup:test: ${argv.join(" ")} failed (${r.error?.message ?? `exit code ${r.status}`})`);
    process.exit(1);
  }
}

console.log(`setup:test: installing ${packages.join(" ")} (for ${names(missing)})`);
aptGet("update", "-qq");
aptGet("install", "-y", "-qq", "--no-install-recommends", "-o", "Dpkg::Use-Pty=0", ...packages);
missing = missingTools();
if (missing.length > 0) fail(missing, "(apt-get install ran, but these are still missing or wrong on PATH.)");
console.log(`setup:test: installed; the tools the tests need are all here: ${names(TOOLS)}`);
