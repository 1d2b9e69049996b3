// After tsc: writes dist/agent/index.mjs and dist/agent/auto.mjs, the ESM entry that re-exports the CommonJS build (so
// `import` and `require` share one copy of the agent: no dual-package hazard), and makes the
// CLI executable.
const fs = require("node:fs");
const path = require("node:path");

const names = Object.keys(require("../dist/agent/index.js")).filter((n) => n !== "__esModule");
const body = `import cjs from "./index.js";\nexport const { ${names.join(", ")} } = cjs;\nexport default cjs;\n`;
fs.writeFileSync(path.join(__dirname, "..", "dist", "agent", "index.mjs"), body);
// `--import manhole/auto`: the ESM entry does what auto.js does (`--require manhole/auto`) with the
// same CommonJS build, through require (importing it would have the ESM loader parse it for
// exports it does not have), and without auto.js in between (each file costs the app's start).
fs.writeFileSync(
  path.join(__dirname, "..", "dist", "agent", "auto.mjs"),
  'import { createRequire } from "node:module";\ncreateRequire(import.meta.url)("./auto-start.js").startAuto();\n',
);
fs.chmodSync(path.join(__dirname, "..", "dist", "cli", "main.js"), 0o755);
