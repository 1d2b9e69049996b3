/**
 * What the paused prompt (`.pause`) prints for a value evaluated in a stopped frame
 * (Debugger.evaluateOnCallFrame gives remote objects, not values), and how it tells that an
 * assignment to a frame's variable did not take effect.
 */

interface PreviewProperty {
  name: string;
  type: string;
  subtype?: string;
  value?: string;
}

export interface RemoteObject {
  type: string;
  subtype?: string;
  value?: unknown;
  unserializableValue?: string;
  description?: string;
  objectId?: string;
  preview?: { type: string; subtype?: string; description?: string; overflow: boolean; properties: PreviewProperty[] };
}

/** Debugger.evaluateOnCallFrame's answer. */
export interface Evaluated {
  result: RemoteObject;
  exceptionDetails?: { text?: string; exception?: RemoteObject };
}

/** `name = ...` (or `name += ...`, ...): an assignment to a variable, to read back. */
export const ASSIGNMENT = /^\s*([A-Za-z_$][\w$]*)\s*(?:[-+*/%&|^]|\*\*|<<|>>>?|&&|\|\||\?\?)?=(?!=)/;

/** A primitive's identity, to compare a value written with the value read back; undefined for objects. */
export function primitiveKey(r: RemoteObject): string | undefined {
  if (r.type === "object" && r.subtype !== "null") return undefined;
  if (r.type === "function" || r.type === "symbol") return undefined;
  return `${r.type}:${r.unserializableValue ?? JSON.stringify(r.value)}`;
}

function previewValue(p: PreviewProperty): string {
  if (p.type === "string") return `'${p.value ?? ""}'`;
  if (p.type === "function") return "[Function]";
  return p.value ?? p.type;
}

/** A value as the paused prompt prints it: a primitive as is, an object by its preview. */
export function remoteText(r: RemoteObject): string {
  if (r.type === "undefined") return "undefined";
  if (r.type === "string") return `'${String(r.value)}'`;
  if (r.unserializableValue) return r.unserializableValue;
  if (r.type === "object" && r.subtype === "null") return "null";
  if (r.type !== "object" && r.type !== "function" && "value" in r) return String(r.value);
  const p = r.preview;
  if (p && (p.subtype === "array" || p.type === "object")) {
    const more = p.overflow ? ", ..." : "";
    if (p.subtype === "array") return `[ ${p.properties.map(previewValue).join(", ")}${more} ]`;
    if (p.properties.length === 0 && !p.overflow) return p.description === "Object" ? "{}" : (r.description ?? "{}");
    const head = p.description && p.description !== "Object" ? `${p.description} ` : "";
    return `${head}{ ${p.properties.map((q) => `${q.name}: ${previewValue(q)}`).join(", ")}${more} }`;
  }
  return r.description ?? r.type;
}

/** One line: an assignment to `name` did not take effect in the stopped frame, and what to do instead. */
export function notWrittenText(name: string, objects: readonly string[]): string {
  const hint = objects.length ? ` (e.g. a property of ${objects.slice(0, 3).join(", ")})` : "";
  return `(${name} did not change: the paused frame keeps it on the stack, where the debugger cannot write it; change an object it reads instead${hint})`;
}
