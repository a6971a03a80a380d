// Turns the ring buffer's records into `ssl` events: the chunks of one TLS call become one
// `data` event holding the call's bytes, handshakes become `handshake` events, and each
// (process, SSL object) gets a connection id that changes when the object starts a new
// session (so a reused pointer does not merge two connections).
import {
  monoToWallUs,
  SCHEMA_VERSION,
  type SslDataEvent,
  type SslHandshakeEvent,
  withPayload,
} from '@agentsight/events';
import {
  CHUNK,
  decodeHeader,
  F_CAPPED,
  F_FAULT,
  HDR_SIZE,
  KIND_DATA,
  KIND_FD,
  KIND_HANDSHAKE,
  type RecordHeader,
} from './record.js';
import { RustlsLinker } from './rustls.js';
import { libById, TLS_LIBRARIES } from './tls-libraries.js';

const RUSTLS = TLS_LIBRARIES.rustls.id;

export type SslOut = SslDataEvent | SslHandshakeEvent;
/** A data event before its payload is encoded. */
export type SslDataHead = Omit<SslDataEvent, 'data' | 'enc'>;

interface Pending {
  h: RecordHeader;
  buf: Buffer;
  /** Next offset expected. */
  next: number;
  /** Bytes of the call present from 0 (the prefix before the first missing piece). */
  prefix: number;
  fault: boolean;
  since: number;
}

interface ConnState {
  pid: number;
  conn: string;
  /** pid:address, and the id events carry (the key, then key.gen after a new session). */
  key: string;
  id: string;
  gen: number;
  seen: [boolean, boolean];
  last: number;
}

export interface AssemblerStats {
  /** rustls records that never learnt their socket (see rustls.ts). */
  unlinked?: number;
  /** Data events emitted and the bytes they carried. */
  calls: number;
  bytes: number;
  handshakes: number;
  /** Calls emitted with `truncated` (lost pieces, faults, or over the per-call cap). */
  truncated: number;
  /** Records that did not fit any call (a lost first piece). */
  orphans: number;
}

export interface AssemblerOptions {
  /** A call whose remaining pieces have not arrived after this long is emitted as truncated (ms). */
  pieceTimeoutMs?: number;
  /** Forget connection ids idle for this long (ms). */
  connIdleMs?: number;
  now?: () => number;
  /**
   * Take data events as a head and the call's bytes (valid only during the call) instead
   * of as events with the payload encoded: for a writer that encodes the bytes straight
   * into its output (EventWriter.writePayload).
   */
  emitData?: (head: SslDataHead, bytes: Buffer) => void;
  /**
   * Put before every connection id (JSON-safe characters only): a capture whose events go
   * into a store that outlives it (agentsight monitor, restarted) names its connections
   * apart from an earlier run's, where the same process and TLS object may reappear.
   */
  connPrefix?: string;
}

/** JSON strings of process names seen (few; bounded all the same). */
const quoted = new Map<string, string>();

/**
 * The JSON text of a data event's head: JSON.stringify(head), written out by hand because
 * that is five times faster for this one shape, and it is paid once per captured call
 * (assemble.test.ts checks the two agree).
 */
export function sslDataHeadJson(h: SslDataHead): string {
  let comm = quoted.get(h.comm);
  if (comm === undefined) {
    if (quoted.size >= 1024) quoted.clear();
    comm = JSON.stringify(h.comm);
    quoted.set(h.comm, comm);
  }
  // The time as seconds and microseconds, small integers: a 16-digit number that is a new
  // double each time goes through V8's slow conversion (a tenth of the CPU per event).
  const sec = Math.floor(h.ts / 1e6);
  const us = h.ts - sec * 1e6;
  const ts = sec === 0 ? `${us}` : `${sec}${us < 100000 ? String(us + 1000000).slice(1) : us}`;
  // conn, dir and lib are made here of characters JSON keeps as they are.
  return `{"v":${h.v},"ts":${ts},"src":"ssl","type":"data","pid":${h.pid},"tid":${h.tid},"comm":${comm},"conn":"${h.conn}","dir":"${h.dir}","seq":${h.seq},"len":${h.len},"lib":"${h.lib}","latency_us":${h.latency_us}${h.truncated ? ',"truncated":true' : ''}${h.fd !== undefined ? `,"fd":${h.fd}` : ''}}`;
}

export class Assembler {
  readonly stats: AssemblerStats = { calls: 0, bytes: 0, handshakes: 0, truncated: 0, orphans: 0 };
  #pending = new Map<number, Pending>();
  #conns = new Map<string, ConnState>();
  readonly #pieceTimeout: number;
  readonly #connIdle: number;
  readonly #now: () => number;
  readonly #emitData: (head: SslDataHead, bytes: Buffer) => void;
  readonly #prefix: string;

  constructor(
    private readonly emit: (ev: SslOut) => void,
    opts: AssemblerOptions = {},
  ) {
    this.#emitData = opts.emitData ?? ((head, bytes) => this.emit(withPayload(head, bytes)));
    this.#pieceTimeout = opts.pieceTimeoutMs ?? 2000;
    this.#connIdle = opts.connIdleMs ?? 30 * 60_000;
    this.#prefix = opts.connPrefix ?? '';
    this.#now = opts.now ?? (() => performance.now());
    this.#coarseNow = this.#now();
    this.#rustls = new RustlsLinker({
      data: (h, conn, seq, fd, bytes, truncated) => this.#out(h, conn, seq, fd, bytes, truncated),
      handshake: (h, conn, fd) => this.#handshakeOut(h, conn, TLS_LIBRARIES.rustls.handshakeOk, fd),
      now: this.#now,
    });
  }

  readonly #rustls: RustlsLinker;

  /** One ring record; `rec` is only read during the call (it may be a view of the ring). */
  push(rec: Buffer): void {
    const h = decodeHeader(rec);
    if (h.lib === RUSTLS) {
      if (h.kind === KIND_FD) return this.#rustls.fd(h);
      if (h.kind === KIND_HANDSHAKE) return this.#rustls.handshake(h);
    }
    if (h.kind === KIND_HANDSHAKE) return this.#handshake(h);
    if (h.kind !== KIND_DATA) return;
    const data = rec.subarray(HDR_SIZE);
    const fault = (h.flags & F_FAULT) !== 0;
    const p = this.#pending.get(h.tid);
    if (p && (p.h.ts !== h.ts || p.h.conn !== h.conn)) {
      // A new call on this thread while the previous one still misses pieces: those are lost.
      this.#pending.delete(h.tid);
      this.#finish(p);
    }
    if (h.off === 0) {
      if (!fault && data.length >= h.cap) {
        // The common case: the whole call in one record; no copy beyond the encoding.
        this.#data(h, data.subarray(0, h.cap), false);
        return;
      }
      const np: Pending = { h, buf: Buffer.allocUnsafe(h.cap), next: 0, prefix: 0, fault: false, since: this.#now() };
      this.#pending.set(h.tid, np);
      this.#piece(np, h, data, fault);
      return;
    }
    const cur = this.#pending.get(h.tid);
    if (!cur) {
      this.stats.orphans++;
      return;
    }
    this.#piece(cur, h, data, fault);
  }

  #piece(p: Pending, h: RecordHeader, data: Buffer, fault: boolean): void {
    if (h.off !== p.next) {
      // A piece went missing in between (the kernel stops a call at the first loss, so
      // this should not happen; keep what is contiguous).
      p.fault = true;
    }
    const want = Math.min(CHUNK, p.h.cap - h.off);
    if (!fault && data.length > 0) {
      data.copy(p.buf, h.off, 0, Math.min(data.length, p.h.cap - h.off));
      if (!p.fault && p.prefix === h.off) p.prefix = h.off + Math.min(data.length, want);
    }
    if (fault || data.length < want) p.fault = true;
    p.next = h.off + want;
    if (p.next >= p.h.cap) {
      this.#pending.delete(h.tid);
      this.#finish(p);
    }
  }

  #finish(p: Pending): void {
    const complete = !p.fault && p.prefix >= p.h.cap;
    this.#data(p.h, p.buf.subarray(0, complete ? p.h.cap : p.prefix), !complete);
  }

  /** The connection last used: consecutive records are mostly on the same one. */
  #lastConn: ConnState | undefined;
  /** Time for idle bookkeeping, updated by tick() rather than read per record. */
  #coarseNow = 0;

  #conn(pid: number, conn: string): ConnState {
    const l = this.#lastConn;
    if (l !== undefined && l.pid === pid && l.conn === conn) {
      l.last = this.#coarseNow;
      return l;
    }
    const key = `${this.#prefix}${pid}:${conn}`;
    let st = this.#conns.get(key);
    if (!st) {
      st = { pid, conn, key, id: key, gen: 0, seen: [false, false], last: 0 };
      this.#conns.set(key, st);
    }
    st.last = this.#coarseNow;
    this.#lastConn = st;
    return st;
  }

  static #newSession(st: ConnState): void {
    st.gen++;
    st.id = Assembler.connId(st.key, st.gen);
    st.seen = [false, false];
  }

  static connId(key: string, gen: number): string {
    return gen ? `${key}.${gen}` : key;
  }

  #data(h: RecordHeader, bytes: Buffer, truncated: boolean): void {
    if (h.flags & F_CAPPED) truncated = true;
    // rustls's records are per AEAD context, not per connection: rustls.ts links them.
    if (h.lib === RUSTLS) return this.#rustls.data(h, bytes, truncated);
    const st = this.#conn(h.pid, h.conn);
    const dir = h.dir ? 1 : 0;
    // The kernel restarted this stream's sequence: a new session on a reused object.
    if (h.seq === 0 && st.seen[dir]) Assembler.#newSession(st);
    st.seen[dir] = true;
    this.#out(h, st.id, h.seq, h.fd, bytes, truncated);
  }

  #out(h: RecordHeader, conn: string, seq: number, fd: number, bytes: Buffer, truncated: boolean): void {
    const ev: SslDataHead = {
      v: SCHEMA_VERSION,
      ts: monoToWallUs(h.ts),
      src: 'ssl',
      type: 'data',
      pid: h.pid,
      tid: h.tid,
      comm: h.comm,
      conn,
      dir: h.dir ? 'write' : 'read',
      seq,
      len: h.len,
      lib: libById(h.lib),
      latency_us: Math.round(h.latNs / 1000),
    };
    if (truncated) {
      ev.truncated = true;
      this.stats.truncated++;
    }
    if (fd >= 0) ev.fd = fd;
    this.stats.calls++;
    this.stats.bytes += bytes.length;
    this.#emitData(ev, bytes);
  }

  #handshake(h: RecordHeader): void {
    const st = this.#conn(h.pid, h.conn);
    const lib = libById(h.lib);
    const ok = h.ret === TLS_LIBRARIES[lib].handshakeOk;
    if (ok && (st.seen[0] || st.seen[1])) Assembler.#newSession(st);
    this.#handshakeOut(h, st.id, h.ret, h.fd);
  }

  #handshakeOut(h: RecordHeader, conn: string, ret: number, fd: number): void {
    this.stats.handshakes++;
    this.emit({
      v: SCHEMA_VERSION,
      ts: monoToWallUs(h.ts),
      src: 'ssl',
      type: 'handshake',
      pid: h.pid,
      tid: h.tid,
      comm: h.comm,
      conn,
      lib: libById(h.lib),
      ret,
      latency_us: Math.round(h.latNs / 1000),
      ...(fd >= 0 ? { fd } : {}),
    });
  }

  /** Emit calls whose pieces stopped arriving, and forget idle connections. */
  tick(): void {
    const now = this.#now();
    for (const [tid, p] of this.#pending) {
      if (now - p.since > this.#pieceTimeout) {
        this.#pending.delete(tid);
        this.#finish(p);
      }
    }
    this.#coarseNow = now;
    this.#rustls.tick();
    if (this.#rustls.stats.unlinked) this.stats.unlinked = this.#rustls.stats.unlinked;
    for (const [k, st] of this.#conns) {
      if (now - st.last <= this.#connIdle) continue;
      this.#conns.delete(k);
      if (this.#lastConn === st) this.#lastConn = undefined;
    }
  }

  /** Emit everything held (at exit). */
  flush(): void {
    for (const p of this.#pending.values()) this.#finish(p);
    this.#pending.clear();
    this.#rustls.flush();
    if (this.#rustls.stats.unlinked) this.stats.unlinked = this.#rustls.stats.unlinked;
  }

  get pending(): number {
    return this.#pending.size;
  }
}
