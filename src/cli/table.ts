/** Plain-text tables: columns padded to their widest cell, two spaces apart. */

export function table(rows: string[][], decorate?: (padded: string, row: number, col: number) => string): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows
    .map((r, row) =>
      r
        .map((cell, col) => {
          const padded = col === r.length - 1 ? cell : cell.padEnd(widths[col]);
          return decorate ? decorate(padded, row, col) : padded;
        })
        .join("  "),
    )
    .join("\n");
}
