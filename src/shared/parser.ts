/**
 * acorn, loaded on first use: most processes that start a manhole never evaluate anything,
 * and the worker should be listening as soon as possible.
 */
import type * as Acorn from "acorn";

let parser: typeof Acorn.Parser | undefined;

export function acornParser(): typeof Acorn.Parser {
  parser ??= (require("acorn") as typeof Acorn).Parser;
  return parser;
}
