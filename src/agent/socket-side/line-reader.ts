/**
 * Turns the raw bytes of a human-mode connection into events: complete lines, interrupts
 * (a line holding only Ctrl-C, or a telnet Interrupt Process), and errors. Telnet
 * negotiation is dropped, CRLF is accepted, and a line longer than the limit is refused
 * before it is buffered, so a hostile client cannot make the app's memory grow.
 */

export type LineEvent = { kind: "line"; text: string } | { kind: "interrupt" } | { kind: "error"; message: string } | { kind: "too-long" };

const IAC = 0xff;
const IP = 0xf4; // telnet Interrupt Process
const SB = 0xfa;
const SE = 0xf0;
const WILL = 0xfb;
const DONT = 0xfe;
const CTRL_C = 0x03;
const LF = 0x0a;
const CR = 0x0d;

const utf8 = new TextDecoder("utf-8", { fatal: true });

export class LineReader {
  private chunks: Buffer[] = [];
  private size = 0;
  /** Inside a telnet command: bytes still to skip, or -1 inside a subnegotiation. */
  private telnet: "none" | "cmd" | "opt" | "sb" | "sb-iac" = "none";
  private sawInterrupt = false;

  constructor(private readonly maxLineBytes: number) {}

  /** Feeds bytes; returns the events they complete. After "too-long" the reader must not be fed again. */
  push(data: Buffer): LineEvent[] {
    const events: LineEvent[] = [];
    let start = 0;
    const keep = (from: number, to: number): boolean => {
      if (to <= from) return true;
      this.size += to - from;
      if (this.size > this.maxLineBytes) {
        this.chunks = [];
        events.push({ kind: "too-long" });
        return false;
      }
      this.chunks.push(data.subarray(from, to));
      return true;
    };
    for (let i = 0; i < data.length; i++) {
      const b = data[i];
      if (this.telnet !== "none") {
        if (this.telnet === "cmd") {
          if (b === IAC) {
            // IAC IAC is a literal 0xFF byte
            this.telnet = "none";
            start = i;
            continue;
          }
          if (b === IP) this.sawInterrupt = true;
          this.telnet = b >= WILL && b <= DONT ? "opt" : b === SB ? "sb" : "none";
        } else if (this.telnet === "opt") this.telnet = "none";
        else if (this.telnet === "sb") this.telnet = b === IAC ? "sb-iac" : "sb";
        else if (this.telnet === "sb-iac") this.telnet = b === SE ? "none" : "sb";
        start = i + 1;
        if (this.telnet === "none" && this.sawInterrupt) {
          this.sawInterrupt = false;
          this.chunks = [];
          this.size = 0;
          events.push({ kind: "interrupt" });
        }
        continue;
      }
      if (b === IAC) {
        if (!keep(start, i)) return events;
        this.telnet = "cmd";
        continue;
      }
      if (b === LF) {
        if (!keep(start, i)) return events;
        events.push(this.finishLine());
        start = i + 1;
      }
    }
    if (this.telnet === "none") keep(start, data.length);
    return events;
  }

  /** The input ended: whatever is buffered counts as a last line. */
  end(): LineEvent[] {
    if (this.size === 0 && this.chunks.length === 0) return [];
    return [this.finishLine()];
  }

  private finishLine(): LineEvent {
    let line = Buffer.concat(this.chunks);
    this.chunks = [];
    this.size = 0;
    if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, line.length - 1);
    if (line.length === 1 && line[0] === CTRL_C) return { kind: "interrupt" };
    if (line.includes(0)) return { kind: "error", message: "input contains a NUL byte; line ignored" };
    try {
      return { kind: "line", text: utf8.decode(line) };
    } catch {
      return { kind: "error", message: "input is not valid UTF-8; line ignored" };
    }
  }
}
