// Writes dist/agent/index.mjs: the ESM entry re-exports the CommonJS build, so that `import`
// and `require` share one copy of the agent (no dual-package hazard).
const fs = require("node:fs");
const path = require("node:path");

const names = Object.keys(require("../dist/agent/index.js")).filter((n) => n !== "__esModule");
const body = `import cjs from "./index.js";\nexport const { ${names.join(", ")} } = cjs;\nexport default cjs;\n`;
fs.writeFileSync(path.join(__dirname, "..", "dist", "agent", "index.mjs"), body);
