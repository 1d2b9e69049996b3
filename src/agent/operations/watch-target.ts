/**
 * What `.watch <expr>` names: the owner object and the property of its last member access
 * (`app.router.handle` → owner `app.router`, key `handle`; `handlers["GET /"]` → key code
 * `"GET /"`), or a bare global name. Pure: parses only (acorn), evaluates nothing.
 */
import { acornParser } from "../../shared/parser.js";

export class WatchTargetError extends Error {
  override name = "WatchTargetError";
}

export type WatchTarget =
  /** `owner.key`, `owner[keyCode]`: the owner's source, and the key as a name or as code to evaluate. */
  | { kind: "member"; ownerCode: string; key: { name: string } | { code: string } }
  /** A bare name: a property of the global object, if it is one. */
  | { kind: "global"; name: string };

interface AstNode {
  type: string;
  start: number;
  end: number;
  object?: AstNode;
  property?: AstNode;
  computed?: boolean;
  expression?: AstNode;
  name?: string;
}

const EXAMPLES = "e.g. db.query, app.router.handle, Foo.prototype.bar";

export function parseWatchTarget(text: string): WatchTarget {
  const source = text.trim();
  if (source === "") throw new WatchTargetError(`name the function to watch (${EXAMPLES})`);
  let node: AstNode;
  try {
    node = acornParser().parseExpressionAt(source, 0, { ecmaVersion: "latest", preserveParens: true }) as unknown as AstNode;
  } catch (err) {
    throw new WatchTargetError(`syntax error in ${source}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (source.slice(node.end).trim() !== "") {
    throw new WatchTargetError(`${source}: one expression only, ending at "${source.slice(0, node.end)}"`);
  }
  while ((node.type === "ParenthesizedExpression" || node.type === "ChainExpression") && node.expression) node = node.expression;
  if (node.type === "Identifier" && node.name) return { kind: "global", name: node.name };
  if (node.type !== "MemberExpression" || !node.object || !node.property) {
    throw new WatchTargetError(`${source} is not a property: name the function as owner.property (${EXAMPLES})`);
  }
  if (node.object.type === "Super") throw new WatchTargetError(`${source}: super has no value to watch on`);
  if (node.property.type === "PrivateIdentifier") {
    throw new WatchTargetError(`${source}: a private member (#name) cannot be replaced from outside its class`);
  }
  const ownerCode = source.slice(node.object.start, node.object.end);
  if (!node.computed && node.property.type === "Identifier" && node.property.name) {
    return { kind: "member", ownerCode, key: { name: node.property.name } };
  }
  return { kind: "member", ownerCode, key: { code: source.slice(node.property.start, node.property.end) } };
}
