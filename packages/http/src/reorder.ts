// Putting one direction of one connection back in order.
//
// as-sslsniff numbers the TLS calls of each (conn, dir) consecutively; events from
// different CPUs can arrive out of order, and the kernel ring buffer can drop some. A call
// too large for one event is split into pieces with the same `seq` and increasing `off`;
// the call is complete when `len` bytes have come, or at a piece marked `truncated` (the
// capture stopped short: the rest is a loss of known size). A hole in the sequence is
// waited for, within bounds, then declared lost so the parser can resynchronise.

export interface Piece<T> {
  seq: number;
  off: number;
  len: number;
  data: Buffer;
  truncated: boolean;
  /** The event the piece came from (for pid, comm, times). */
  src: T;
}

export interface ReorderOptions {
  /** Out-of-order pieces held before a hole is declared lost. */
  maxPending?: number;
  /** Bytes held before a hole is declared lost. */
  maxPendingBytes?: number;
  /** The seq expected first (a connection picked up mid-way). */
  startSeq?: number;
}

export interface ReorderSink<T> {
  data(p: Piece<T>, bytes: Buffer): void;
  /** Bytes were lost here; `missing` when their count is known. */
  gap(missing: number | undefined, why: string): void;
}

export class SeqReorder<T> {
  #next = 0;
  #nextOff = 0;
  /** Length of the call in progress (seq === #next), once a piece of it was seen. */
  #curLen = -1;
  #pending = new Map<number, Array<Piece<T>>>();
  #pendingCount = 0;
  #pendingBytes = 0;
  #pendingSince = 0;
  #sink: ReorderSink<T>;
  #maxPending: number;
  #maxPendingBytes: number;
  late = 0;
  holes = 0;

  constructor(sink: ReorderSink<T>, opts: ReorderOptions = {}) {
    this.#sink = sink;
    this.#maxPending = opts.maxPending ?? 256;
    this.#maxPendingBytes = opts.maxPendingBytes ?? 8 * 1024 * 1024;
    this.#next = opts.startSeq ?? 0;
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Wall-clock µs at which the oldest held piece arrived (0 when none is held). */
  get pendingSince(): number {
    return this.#pendingCount ? this.#pendingSince : 0;
  }

  push(p: Piece<T>, nowUs = 0): void {
    if (p.seq < this.#next) {
      this.late++;
      return;
    }
    if (p.seq > this.#next) {
      // A later call arriving while the current one is partly delivered means the rest of
      // the current one is not coming (pieces of one call come from one CPU, in order).
      if (p.seq === this.#next + 1 && this.#curLen >= 0 && !this.#pendingCount) {
        this.#finishCall(this.#curLen - this.#nextOff);
        this.#take(p);
        this.#drain();
        return;
      }
      let list = this.#pending.get(p.seq);
      if (!list) this.#pending.set(p.seq, (list = []));
      list.push(p);
      if (!this.#pendingCount) this.#pendingSince = nowUs;
      this.#pendingCount++;
      this.#pendingBytes += p.data.length;
      if (this.#pendingCount > this.#maxPending || this.#pendingBytes > this.#maxPendingBytes)
        this.skipHole('reorder window full');
      return;
    }
    this.#take(p);
    this.#drain();
  }

  /** Give up waiting for the hole before the held pieces (loss reported, timeout, end). */
  skipHole(why: string): void {
    if (!this.#pendingCount) return;
    let min = Infinity;
    for (const k of this.#pending.keys()) if (k < min) min = k;
    if (this.#curLen >= 0 && this.#nextOff < this.#curLen && min === this.#next + 1) {
      this.#finishCall(this.#curLen - this.#nextOff);
    } else {
      this.holes++;
      this.#sink.gap(undefined, why);
      this.#next = min;
      this.#nextOff = 0;
      this.#curLen = -1;
    }
    this.#drain();
  }

  /** Deliver everything held, declaring every remaining hole lost. */
  flush(why: string): void {
    while (this.#pendingCount) this.skipHole(why);
  }

  #finishCall(missing: number): void {
    if (missing > 0) this.#sink.gap(missing, 'capture truncated');
    this.#next++;
    this.#nextOff = 0;
    this.#curLen = -1;
  }

  #take(p: Piece<T>): void {
    if (p.seq !== this.#next) return;
    this.#curLen = p.len;
    if (p.off > this.#nextOff) this.#sink.gap(p.off - this.#nextOff, 'capture truncated');
    let data = p.data;
    if (p.off < this.#nextOff) {
      // Overlap with what was delivered: only the new tail counts.
      const skip = this.#nextOff - p.off;
      if (skip >= data.length) {
        this.late++;
        return;
      }
      data = data.subarray(skip);
    }
    const end = Math.max(p.off, this.#nextOff) + data.length;
    this.#nextOff = end;
    if (data.length) this.#sink.data(p, data);
    if (end >= p.len) this.#finishCall(0);
    else if (p.truncated) this.#finishCall(p.len - end);
  }

  #drain(): void {
    while (this.#pendingCount) {
      const list = this.#pending.get(this.#next);
      if (!list) return;
      this.#pending.delete(this.#next);
      for (const q of list) {
        this.#pendingCount--;
        this.#pendingBytes -= q.data.length;
        // Pieces of the same call: the first may finish the call and advance #next;
        // the rest then belong to an already-finished call and count as late.
        if (q.seq === this.#next) this.#take(q);
        else this.late++;
      }
    }
  }
}
