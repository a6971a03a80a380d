/**
 * Newline-delimited byte streams, one per key (pid+fd+dir for stdio), reassembled from
 * chunks that may split a line anywhere, even inside a UTF-8 sequence. A gap in the
 * sequence numbers (lost data) drops the partial line: the next newline resyncs.
 * Memory is bounded by `maxLine` per stream and `maxStreams` streams (oldest dropped).
 */
export class LineStreams {
  #streams = new Map<string, { parts: Buffer[]; len: number; next: number; overlong: boolean; last: number }>();
  readonly maxLine: number;
  readonly maxStreams: number;
  dropped = 0;

  constructor(opts: { maxLine?: number; maxStreams?: number } = {}) {
    this.maxLine = opts.maxLine ?? 16 * 1024 * 1024;
    this.maxStreams = opts.maxStreams ?? 4096;
  }

  /** Add a chunk; returns the complete lines it finished (without the newline). */
  push(key: string, chunk: Buffer, seq: number | undefined, now: number, off = 0): string[] {
    let s = this.#streams.get(key);
    if (!s) {
      if (this.#streams.size >= this.maxStreams) {
        const oldest = this.#streams.keys().next().value as string;
        this.#streams.delete(oldest);
      }
      s = { parts: [], len: 0, next: seq ?? 0, overlong: false, last: now };
      this.#streams.set(key, s);
    } else {
      // Keep insertion order = recency, so eviction drops the idlest stream.
      this.#streams.delete(key);
      this.#streams.set(key, s);
    }
    s.last = now;
    if (seq !== undefined) {
      // Pieces of one split call share its seq (off > 0).
      const expected = off > 0 ? s.next - 1 : s.next;
      if (seq !== expected && s.len > 0) {
        this.dropped++;
        s.parts = [];
        s.len = 0;
        s.overlong = true; // discard up to the next newline: its start is lost
      }
      s.next = seq + 1;
    }
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (s.overlong) {
        s.overlong = false;
        s.parts = [];
        s.len = 0;
        continue;
      }
      const line = s.len ? Buffer.concat([...s.parts, piece]) : piece;
      s.parts = [];
      s.len = 0;
      lines.push(line.toString('utf8'));
    }
    if (start < chunk.length && !s.overlong) {
      const rest = Buffer.from(chunk.subarray(start));
      s.parts.push(rest);
      s.len += rest.length;
      if (s.len > this.maxLine) {
        s.overlong = true;
        s.parts = [];
        s.len = 0;
        this.dropped++;
      }
    }
    return lines;
  }

  /** Forget streams idle since before `cutoff`; returns the partial lines they held. */
  expire(cutoff: number): number {
    let n = 0;
    for (const [k, s] of this.#streams) {
      if (s.last < cutoff) {
        this.#streams.delete(k);
        n++;
      }
    }
    return n;
  }

  /** Partial (unterminated) lines left at end of input, by key. */
  flush(): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    for (const [k, s] of this.#streams)
      if (s.len && !s.overlong) out.push([k, Buffer.concat(s.parts).toString('utf8')]);
    this.#streams.clear();
    return out;
  }

  get size(): number {
    return this.#streams.size;
  }
}
