/** The top frame's locals as `.stack` prints them, from the inspector's Runtime.getProperties. */

/** Locals shown at most. */
const MAX_LOCALS = 25;

interface LocalProperty {
  name: string;
  value?: { type?: string; value?: unknown; description?: string };
}

/** `Locals of fn:` and one `    name = value` line each (values cut to 120 characters, on one line). */
export function localsLines(functionName: string, props: readonly LocalProperty[]): string[] {
  const lines = [`Locals of ${functionName || "<anonymous>"}:`];
  if (props.length === 0) lines.push("    (none)");
  for (const p of props.slice(0, MAX_LOCALS)) {
    const v = p.value;
    let text = v ? (v.description ?? (v.type === "string" ? JSON.stringify(v.value) : String(v.value))) : "<unavailable>";
    if (text.length > 120) text = `${text.slice(0, 117)}...`;
    lines.push(`    ${p.name} = ${text.replace(/\n/g, " ")}`);
  }
  if (props.length > MAX_LOCALS) lines.push(`    ... ${props.length - MAX_LOCALS} more`);
  return lines;
}
