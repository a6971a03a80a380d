// The sink's bounded on-disk buffer: every batch is a segment file (NDJSON rows, 0600) before
// it is sent, and is removed once ClickHouse has it. So rows survive ClickHouse being away and
// this process exiting (the next start sends what is left). Over the size bound the oldest
// segments go, counted: loss is only ever beyond the bound, and always reported.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where the buffer lives unless told: state that must outlive the process, per user. */
export function defaultBufferDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.XDG_STATE_HOME || path.join(os.homedir(), '.local/state'), 'agentsight/clickhouse-buffer');
}

export interface Segment {
  file: string;
  seq: number;
  rows: number;
  bytes: number;
}

const NAME = /^(\d{12})-(\d+)\.ndjson$/;

export class SegmentBuffer {
  private segs: Segment[] = [];
  private nextSeq = 1;
  bytes = 0;
  /** Rows dropped (oldest segments removed) to stay within maxBytes. */
  droppedRows = 0;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
  ) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // What an earlier process left is sent first, in the order it was written.
    for (const f of fs.readdirSync(dir).sort()) {
      const m = NAME.exec(f);
      if (!m) continue;
      const file = path.join(dir, f);
      const bytes = fs.statSync(file).size;
      this.segs.push({ file, seq: Number(m[1]), rows: Number(m[2]), bytes });
      this.bytes += bytes;
      this.nextSeq = Math.max(this.nextSeq, Number(m[1]) + 1);
    }
  }

  /** Rows waiting in the buffer. */
  get rows(): number {
    return this.segs.reduce((a, s) => a + s.rows, 0);
  }

  get length(): number {
    return this.segs.length;
  }

  /** Append a batch as a new segment; drop the oldest ones (but `busy`, being sent) when over the bound. */
  append(lines: string[], busy?: Segment): Segment {
    const seq = this.nextSeq++;
    const file = path.join(this.dir, `${String(seq).padStart(12, '0')}-${lines.length}.ndjson`);
    const data = `${lines.join('\n')}\n`;
    fs.writeFileSync(file, data, { mode: 0o600, flag: 'wx' });
    const seg = { file, seq, rows: lines.length, bytes: Buffer.byteLength(data) };
    this.segs.push(seg);
    this.bytes += seg.bytes;
    while (this.bytes > this.maxBytes && this.segs.length > 1) {
      const i = this.segs[0] === busy ? 1 : 0;
      if (i >= this.segs.length - 1) break; // never the segment just written
      const [old] = this.segs.splice(i, 1);
      this.remove(old!);
      this.droppedRows += old!.rows;
    }
    return seg;
  }

  oldest(): Segment | undefined {
    return this.segs[0];
  }

  read(seg: Segment): string {
    return fs.readFileSync(seg.file, 'utf8');
  }

  /** The segment reached ClickHouse (or was dropped): forget it. */
  done(seg: Segment): void {
    const i = this.segs.indexOf(seg);
    if (i < 0) return; // dropped while in flight
    this.segs.splice(i, 1);
    this.remove(seg);
  }

  private remove(seg: Segment): void {
    this.bytes -= seg.bytes;
    fs.rmSync(seg.file, { force: true });
  }
}
