// The JSON shapes docs/protocol.md gives for the operations' answers, and a checker of values
// against them: the documentation is what the tests hold the agent to.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./helpers.mjs";

/** The JSON Schema blocks of docs/protocol.md, by the name in their `<!-- shape: name -->` line. */
function shapes() {
  const doc = fs.readFileSync(path.join(ROOT, "docs", "protocol.md"), "utf8");
  const found = {};
  for (const m of doc.matchAll(/<!-- shape: ([\w-]+) -->\n```json\n([\s\S]*?)\n```/g)) found[m[1]] = JSON.parse(m[2]);
  return found;
}
export const SHAPES = shapes();

/** The subset of JSON Schema the shapes use: type, enum, required, properties, additionalProperties, items, $ref. */
export function checkShape(schema, value, where = "$") {
  if (schema.$ref) return checkShape(SHAPES[schema.$ref] ?? assert.fail(`no shape ${schema.$ref}`), value, where);
  if (schema.enum) assert.ok(schema.enum.includes(value), `${where}: ${JSON.stringify(value)} not in ${schema.enum}`);
  if (schema.type) {
    const types = [].concat(schema.type);
    const is = (t) =>
      t === "null"
        ? value === null
        : t === "array"
          ? Array.isArray(value)
          : t === "integer"
            ? Number.isInteger(value)
            : t === "object"
              ? typeof value === "object" && value !== null && !Array.isArray(value)
              : typeof value === t;
    assert.ok(types.some(is), `${where}: ${JSON.stringify(value)?.slice(0, 80)} is not ${types.join("|")}`);
  }
  if (value === null || typeof value !== "object") return;
  if (Array.isArray(value)) {
    if (schema.items) {
      for (const [i, v] of value.entries()) checkShape(schema.items, v, `${where}[${i}]`);
    }
    return;
  }
  for (const key of schema.required ?? []) assert.ok(key in value, `${where}: missing ${key}`);
  for (const [key, v] of Object.entries(value)) {
    const sub = schema.properties?.[key] ?? (typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined);
    if (sub) checkShape(sub, v, `${where}.${key}`);
  }
}
