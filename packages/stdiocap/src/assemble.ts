import { type AgentEvent, monoToWallUs, SCHEMA_VERSION, type StdioDataEvent, withPayload } from '@agentsight/events';
import { decodeStdio, RecordError, SF_CAPPED, SF_FAULT, SF_LAST, type StdioRec } from '@agentsight/proc';

interface Partial_ {
  first: StdioRec;
  ts: number;
  pieces: Buffer[];
  /** Bytes gathered so far; pieces arrive in order, so also the next expected offset. */
  have: number;
  fault: boolean;
  capped: boolean;
  /** Wall µs when the last piece came: a call left incomplete this long lost its tail. */
  touched: number;
}

/** A data event before its payload is encoded. */
export type StdioDataHead = Omit<StdioDataEvent, 'data' | 'enc'>;

export interface AssemblerOptions {
  toWallUs?: (ns: bigint) => number;
  /**
   * Take data events as a head and the call's bytes (valid only during the call) instead of
   * as events with the payload encoded: for a writer that encodes the bytes straight into
   * its output (EventWriter.writePayload).
   */
  emitData?: (head: StdioDataHead, bytes: Buffer) => void;
  /** A call whose last piece has not come for this long is reported truncated (µs). */
  staleUs?: number;
}

/**
 * Reassembles the kernel's per-call pieces (at most 8 KiB each, in order per call) into one
 * `stdio`/`data` event per read or write call, so a large write arrives whole. When the ring
 * was full part way through a call, the kernel stops sending it and counts the rest as lost:
 * the call is then reported with what arrived and `truncated`, once a later call on the same
 * stream, a tick, or the end shows its tail is not coming.
 */
export class StdioAssembler {
  #open = new Map<string, Partial_>();
  readonly #emit: (ev: AgentEvent) => void;
  readonly #wall: (ns: bigint) => number;
  readonly #staleUs: number;
  readonly #emitData: (head: StdioDataHead, bytes: Buffer) => void;
  malformed = 0;
  calls = 0;
  bytes = 0;

  constructor(emit: (ev: AgentEvent) => void, opts: AssemblerOptions = {}) {
    this.#emit = emit;
    this.#wall = opts.toWallUs ?? monoToWallUs;
    this.#staleUs = opts.staleUs ?? 2_000_000;
    this.#emitData = opts.emitData ?? ((head, bytes) => this.#emit(withPayload(head, bytes)));
  }

  /** One ring record (valid only during this call: data is copied). */
  record(b: Buffer): void {
    let r: StdioRec;
    try {
      r = decodeStdio(b);
    } catch (e) {
      if (e instanceof RecordError || e instanceof RangeError) {
        this.malformed++;
        return;
      }
      throw e;
    }
    const stream = `${r.pid}:${r.fd}:${r.dir}`;
    const last = (r.flags & SF_LAST) !== 0;
    let p = this.#open.get(stream);
    if (p && (p.first.seq !== r.seq || p.have !== r.off)) {
      // A newer call (or a gap in this one): the held call's tail was lost.
      this.#flush(stream, p, true);
      p = undefined;
    }
    if (!p) {
      if (r.off !== 0) return; // the head of this call was lost: counted by the kernel
      if (last) {
        // The common case: a call that fit in one piece.
        // Encoded at once, straight from the record (valid during this call): no copy.
        this.#out(r, this.#wall(r.ts), r.data, (r.flags & SF_FAULT) !== 0, (r.flags & SF_CAPPED) !== 0, false);
        return;
      }
      p = {
        first: { ...r, data: Buffer.alloc(0) },
        ts: this.#wall(r.ts),
        pieces: [],
        have: 0,
        fault: false,
        capped: false,
        touched: 0,
      };
      this.#open.set(stream, p);
    }
    // The last piece is encoded at once (concatenated below); earlier ones outlive the record.
    p.pieces.push(last ? r.data : Buffer.from(r.data));
    p.have += r.data.length;
    p.fault ||= (r.flags & SF_FAULT) !== 0;
    p.capped ||= (r.flags & SF_CAPPED) !== 0;
    p.touched = Date.now() * 1000;
    if (last) this.#flush(stream, p, false);
  }

  #flush(stream: string, p: Partial_, lostTail: boolean): void {
    this.#open.delete(stream);
    this.#out(p.first, p.ts, Buffer.concat(p.pieces, p.have), p.fault, p.capped, lostTail);
  }

  #out(r: StdioRec, ts: number, data: Buffer, fault: boolean, capped: boolean, lostTail: boolean): void {
    this.calls++;
    this.bytes += data.length;
    const ev: StdioDataHead = {
      v: SCHEMA_VERSION,
      ts,
      src: 'stdio',
      type: 'data',
      pid: r.pid,
      tid: r.tid,
      comm: r.comm,
      fd: r.fd as 0 | 1 | 2,
      dir: r.dir,
      seq: r.seq,
      len: r.len,
    };
    if (fault || capped || lostTail || data.length < r.len) ev.truncated = true;
    this.#emitData(ev, data);
  }

  /** Report calls whose tail has not come for a while (lost in a full ring). */
  tick(nowWallUs = Date.now() * 1000): void {
    for (const [stream, p] of this.#open) {
      if (nowWallUs - p.touched >= this.#staleUs) this.#flush(stream, p, true);
    }
  }

  end(): void {
    for (const [stream, p] of [...this.#open]) this.#flush(stream, p, true);
  }
}
