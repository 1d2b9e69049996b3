/**
 * Reading a source map's `mappings` (version 3, one source), enough to map a line and column of
 * generated code back to the source: TypeScript input that a transform rewrote (an `enum`, a
 * `namespace`) still gets its error positions on the lines the user typed. Pure: no I/O.
 */

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const DIGIT = new Map([...BASE64].map((c, i) => [c, i]));

/** One mapped place: generated column, source line and column, all 0-based. */
type Segment = [number, number, number];

/** The segments of each generated line (0-based), in column order. */
export function decodeMappings(mappings: string): Segment[][] {
  const lines: Segment[][] = [];
  let sourceLine = 0;
  let sourceColumn = 0;
  for (const lineText of mappings.split(";")) {
    const line: Segment[] = [];
    let column = 0;
    for (const segmentText of lineText.split(",")) {
      if (segmentText === "") continue;
      const fields = decodeVlq(segmentText);
      column += fields[0] ?? 0;
      if (fields.length >= 4) {
        sourceLine += fields[2];
        sourceColumn += fields[3];
        line.push([column, sourceLine, sourceColumn]);
      }
    }
    lines.push(line);
  }
  return lines;
}

function decodeVlq(text: string): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const c of text) {
    const digit = DIGIT.get(c);
    if (digit === undefined) break;
    value += (digit & 31) << shift;
    if (digit & 32) {
      shift += 5;
      continue;
    }
    out.push(value & 1 ? -(value >>> 1) : value >>> 1);
    value = 0;
    shift = 0;
  }
  return out;
}

/**
 * Maps a 1-based line and column of the generated code to the source: the nearest mapped place
 * at or before it (on its line, else the last one of an earlier line), plus the distance from
 * there on the same line.
 */
export function sourcePosition(lines: Segment[][], line: number, column: number): [number, number] {
  for (let l = Math.min(line, lines.length) - 1; l >= 0; l--) {
    const segments = lines[l];
    let best: Segment | undefined;
    for (const s of segments) if (l < line - 1 || s[0] <= column - 1) best = s;
    if (!best) continue;
    const delta = l === line - 1 ? column - 1 - best[0] : 0;
    return [best[1] + 1, best[2] + 1 + delta];
  }
  return [line, column];
}

export interface SourceMap {
  /** The first source, as the map names it (resolved by the caller). */
  source: string | undefined;
  position(line: number, column: number): [number, number];
}

/** A source map's JSON, parsed; undefined when it is not one. */
export function parseSourceMap(json: string): SourceMap | undefined {
  try {
    const map = JSON.parse(json) as { mappings?: unknown; sources?: unknown; sourceRoot?: unknown };
    if (typeof map.mappings !== "string") return undefined;
    const lines = decodeMappings(map.mappings);
    const first = Array.isArray(map.sources) && typeof map.sources[0] === "string" ? (map.sources[0] as string) : undefined;
    const root = typeof map.sourceRoot === "string" && map.sourceRoot !== "" ? map.sourceRoot.replace(/\/?$/, "/") : "";
    return { source: first === undefined ? undefined : root + first, position: (line, column) => sourcePosition(lines, line, column) };
  } catch {
    return undefined;
  }
}

/** The JSON of a `data:application/json;base64,` source map URL; undefined for any other URL. */
export function inlineSourceMap(url: string): string | undefined {
  const m = /^data:application\/json(?:;charset=[\w-]+)?;base64,(.*)$/s.exec(url);
  return m ? Buffer.from(m[1], "base64").toString("utf8") : undefined;
}
