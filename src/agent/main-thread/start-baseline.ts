/**
 * The process's memory when the manhole opened, recorded then (a few microseconds) so that
 * `.mem` can show growth since the start although the operations load only at the first input.
 */
export interface StartBaseline {
  at: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}

let recorded: StartBaseline | undefined;

export function recordStartBaseline(): void {
  const u = process.memoryUsage();
  recorded = {
    at: Date.now(),
    rss: u.rss,
    heapUsed: u.heapUsed,
    heapTotal: u.heapTotal,
    external: u.external,
    arrayBuffers: u.arrayBuffers,
  };
}

/** The figures recorded at the start, or undefined when the manhole has not opened here. */
export function startBaseline(): StartBaseline | undefined {
  return recorded;
}
