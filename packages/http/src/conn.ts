import {
  type AgentEvent,
  decodePayload,
  type Emit,
  type Headers,
  type HttpRequestEvent,
  type HttpResponseEvent,
  type HttpSseEvent,
  type HttpUnparsedEvent,
  nowUs,
  SCHEMA_VERSION,
  type SslDataEvent,
} from '@agentsight/events';
import { Bodies, type Msg } from './body.js';
import { H1Session } from './conn-h1.js';
import { H2Session } from './conn-h2.js';
import { EventStreamParser } from './eventstream.js';
import { H2_PREFACE, looksLikeH2Server } from './h2.js';
import { headerValue } from './http1.js';
import { type Piece, SeqReorder } from './reorder.js';
import type { ConnCore, ConnOptions, Dir, HttpStats, Pairing, Trailers } from './session.js';
import { type SseMessage, SseParser } from './sse.js';

const MAX_ERROR_REPORTS = 16;
/** Early response bytes held at most (a server that speaks first is not waited on longer). */
const EARLY_MAX_BYTES = 1 << 20;

/**
 * One captured connection: each direction's chunks put back in sequence order, the
 * protocol told from the first bytes (HTTP/1.x, or HTTP/2 by its preface), and the
 * http events every protocol reports alike.
 */
export class Conn implements ConnCore {
  readonly id: string;
  readonly opts: ConnOptions;
  readonly stats: HttpStats;
  readonly bodies: Bodies;
  lastTs = 0;
  lastWall = 0;
  #emit: Emit;
  #order: Record<Dir, SeqReorder<SslDataEvent>>;
  #ev!: SslDataEvent;
  #h1: H1Session;
  #h2: H2Session | null = null;
  #seen: Record<Dir, boolean> = { read: false, write: false };
  /** A first write too short to tell HTTP/1 from the HTTP/2 preface. */
  #held: Buffer | null = null;
  #reqCount = 0;
  #errorReports = 0;
  #started: Record<Dir, boolean> = { read: false, write: false };
  #nextSeq: Record<Dir, number> = { read: 0, write: 0 };
  #lastPid = 0;
  #lastTid = 0;
  #lastComm = '';
  /**
   * HTTP/1 response bytes captured before the request they answer: a client writing on one
   * thread and reading on another (Go, any client with a reader thread) has its write's
   * return probed after the server's answer was read, so the answer comes first in the
   * capture. Held until a request is parsed, the reorder wait passes, or the end.
   */
  #early: Array<Piece<SslDataEvent> & { bytes: Buffer }> = [];
  #earlyBytes = 0;
  #earlySince = 0;

  constructor(id: string, opts: ConnOptions, stats: HttpStats, emit: Emit, resumeAt?: { write: number; read: number }) {
    this.id = id;
    this.opts = opts;
    this.stats = stats;
    this.#emit = emit;
    this.bodies = new Bodies(opts.maxBodyBytes);
    this.#h1 = new H1Session(this);
    this.#order = { write: this.#reorder('write', 0), read: this.#reorder('read', 0) };
    if (resumeAt) {
      this.#startAt('write', resumeAt.write);
      this.#startAt('read', resumeAt.read);
    }
  }

  get ev(): SslDataEvent {
    return this.#ev;
  }

  heldBytes(): number {
    return (
      this.#order.read.pendingBytes +
      this.#order.write.pendingBytes +
      this.#earlyBytes +
      this.#h1.heldBytes() +
      (this.#h2?.heldBytes() ?? 0)
    );
  }

  /**
   * HTTP/2 and WebSocket connections carry state that cannot be rebuilt mid-stream
   * (header tables, compression windows) and are long-lived by design: they are kept
   * longer before being dropped.
   */
  get idleFactor(): number {
    return this.#h2 || this.#h1.websocket ? 12 : 1;
  }

  nextSeqs(): { write: number; read: number } {
    return { write: this.#nextSeq.write, read: this.#nextSeq.read };
  }

  #reorder(dir: Dir, startSeq: number): SeqReorder<SslDataEvent> {
    return new SeqReorder<SslDataEvent>(
      { data: (p, b) => this.#data(p, b, dir), gap: (m) => this.#gap(dir, m) },
      { maxPending: this.opts.reorderMaxPending, startSeq },
    );
  }

  #startAt(dir: Dir, seq: number): void {
    this.#started[dir] = true;
    // A fresh SeqReorder expects 0 and would wait on a hole 0..seq-1 that never fills.
    if (seq > 0) this.#order[dir] = this.#reorder(dir, seq);
  }

  push(e: SslDataEvent): void {
    this.lastTs = e.ts;
    this.lastWall = nowUs();
    const dir: Dir = e.dir === 'read' ? 'read' : 'write';
    if (!this.#started[dir]) {
      // First sight of this direction. A connection already open when capture began
      // starts at a later seq, possibly mid-message. A small seq may just be the first
      // calls arriving out of order, so those wait for the hole to fill (or time out).
      this.#started[dir] = true;
      if (e.seq > 64) {
        this.#startAt(dir, e.seq);
        this.#h1.resync(dir);
      }
    }
    const data = decodePayload(e);
    this.#order[dir].push(
      { seq: e.seq, off: e.off ?? 0, len: e.len, data, truncated: !!e.truncated, src: e },
      this.lastWall,
    );
  }

  skipHoles(why: string): void {
    this.#order.write.skipHole(why);
    this.#order.read.skipHole(why);
  }

  skipStaleHoles(now: number, waitUs: number): void {
    for (const d of ['write', 'read'] as const) {
      const since = this.#order[d].pendingSince;
      if (since && now - since > waitUs) this.#order[d].skipHole('reorder wait timed out');
    }
    if (this.#early.length && now - this.#earlySince > waitUs) this.#release(true);
  }

  finish(reason: string): void {
    this.#order.write.flush(reason);
    this.#order.read.flush(reason);
    this.#release(true);
    this.#h2?.finish(reason);
    this.#h1.finish(reason);
  }

  #data(p: Piece<SslDataEvent>, bytes: Buffer, dir: Dir): void {
    this.#ev = p.src;
    this.#lastPid = p.src.pid;
    this.#lastTid = p.src.tid;
    this.#lastComm = p.src.comm;
    this.#nextSeq[dir] = p.seq + 1;
    if (!this.#h2 && !this.#seen[dir]) {
      bytes = this.#sniff(dir, bytes);
      if (!bytes.length) return;
    }
    this.#seen[dir] = true;
    if (dir === 'read' && !this.#h2 && (this.#early.length || this.#h1.waitsForRequest)) {
      if (!this.#early.length) this.#earlySince = nowUs();
      this.#early.push({ ...p, bytes });
      this.#earlyBytes += bytes.length;
      if (this.#earlyBytes > EARLY_MAX_BYTES) this.#release(true);
      return;
    }
    if (this.#h2) this.#h2.push(dir, bytes);
    else this.#h1.push(dir, bytes);
    if (dir === 'write' && this.#early.length) this.#release(false);
  }

  /** Parse the early response bytes: all of them, or while a request waits for them. */
  #release(all: boolean): void {
    const cur = this.#ev;
    const early = this.#early;
    let i = 0;
    // By index, not shift(): thousands of one-byte reads are held at times, and shift is linear.
    for (; i < early.length && (all || this.#h2 || !this.#h1.waitsForRequest); i++) {
      const p = early[i]!;
      this.#earlyBytes -= p.bytes.length;
      this.#ev = p.src;
      if (this.#h2) this.#h2.push('read', p.bytes);
      else this.#h1.push('read', p.bytes);
    }
    if (i) early.splice(0, i);
    if (cur) this.#ev = cur;
  }

  #gap(dir: Dir, missing: number | undefined): void {
    if (dir === 'read') this.#release(true);
    if (missing === undefined) this.stats.holes++;
    if (this.#h2) this.#h2.gap(dir);
    else this.#h1.gap(dir, missing);
  }

  /**
   * The first bytes of a direction decide between HTTP/1 and HTTP/2: the client preface,
   * or a server's opening SETTINGS frame. A first write too short to tell is held.
   */
  #sniff(dir: Dir, bytes: Buffer): Buffer {
    if (dir === 'write') {
      const held = this.#held ? Buffer.concat([this.#held, bytes]) : bytes;
      this.#held = null;
      const n = Math.min(held.length, H2_PREFACE.length);
      if (held.subarray(0, n).equals(H2_PREFACE.subarray(0, n))) {
        if (held.length < 4) {
          this.#held = held;
          return Buffer.alloc(0);
        }
        this.#startH2();
      }
      return held;
    }
    if (looksLikeH2Server(bytes)) this.#startH2();
    return bytes;
  }

  #startH2(): void {
    this.#h2 = new H2Session(this);
    this.#h1.stop();
  }

  // ------------------------------------------------------------ what every protocol reports

  pairing(method: string, startTs: number): Pairing {
    return { id: `${this.id}#${this.#reqCount++}`, method, startTs };
  }

  mayReport(): boolean {
    return this.#errorReports++ < MAX_ERROR_REPORTS;
  }

  emit(ev: AgentEvent): void {
    this.#emit(ev);
  }

  emitRequest(m: Msg, trailers: Trailers, incomplete?: string): void {
    const ev = this.#ev;
    this.bodies.end(m, incomplete);
    m.pairing!.endTs = ev.ts;
    const h = m.head;
    let target = h.target!;
    let host = headerValue(h.headers, 'host');
    const abs = /^https?:\/\/([^/?#]*)(.*)$/i.exec(target);
    if (abs) {
      host ??= abs[1];
      target = abs[2] || '/';
    }
    const out: HttpRequestEvent = {
      v: SCHEMA_VERSION,
      ts: ev.ts,
      src: 'http',
      type: 'request',
      pid: ev.pid,
      tid: ev.tid,
      comm: ev.comm,
      conn: this.id,
      protocol: h.version,
      id: m.pairing!.id,
      method: h.method!,
      path: target,
      headers: this.#headers(h.headers),
      body_size: 0,
      start_ts: m.startTs,
    };
    if (host !== undefined) out.host = host;
    if (ev.fd !== undefined) out.fd = ev.fd;
    this.#finishBody(m, out, trailers, incomplete);
    this.stats.requests++;
    this.#emit(out);
  }

  emitResponse(m: Msg, trailers: Trailers, incomplete?: string): void {
    const ev = this.#ev;
    const h = m.head;
    this.bodies.end(m, incomplete);
    if (m.sse) m.sse.end();
    const reqEnd = m.pairing?.endTs ?? m.pairing?.startTs ?? m.startTs;
    const out: HttpResponseEvent = {
      v: SCHEMA_VERSION,
      ts: ev.ts,
      src: 'http',
      type: 'response',
      pid: ev.pid,
      tid: ev.tid,
      comm: ev.comm,
      conn: this.id,
      protocol: h.version,
      req: m.pairing?.id ?? `${this.id}#?`,
      status: h.status!,
      reason: h.reason ?? '',
      headers: this.#headers(h.headers),
      body_size: 0,
      latency_ms: ms(ev.ts - reqEnd),
      start_ts: m.startTs,
    };
    if (m.sse) out.sse_count = m.sse.count;
    if (ev.fd !== undefined) out.fd = ev.fd;
    this.#finishBody(m, out, trailers, incomplete);
    if (m.sse instanceof EventStreamParser && m.sse.error) out.decode_error ??= m.sse.error;
    this.stats.responses++;
    this.#emit(out);
  }

  #finishBody(m: Msg, out: HttpRequestEvent | HttpResponseEvent, trailers: Trailers, incomplete?: string): void {
    this.bodies.finish(m, out);
    if (trailers) out.trailers = this.#headers(trailers);
    const why = m.incomplete(incomplete);
    if (why) out.incomplete = why;
  }

  watchSse(m: Msg): void {
    const ct = (headerValue(m.head.headers, 'content-type') ?? '').toLowerCase();
    if (ct.startsWith('text/event-stream')) m.sse = new SseParser((s) => this.#onSse(m, s), this.opts.maxBodyBytes);
    // Amazon Bedrock's streams: binary frames, reported as `sse` events like any other stream.
    else if (ct.startsWith('application/vnd.amazon.eventstream'))
      m.sse = new EventStreamParser((s) => this.#onSse(m, s), this.opts.maxBodyBytes);
  }

  #onSse(m: Msg, s: SseMessage): void {
    const ev = this.#ev;
    const out: HttpSseEvent = {
      v: SCHEMA_VERSION,
      ts: ev.ts,
      src: 'http',
      type: 'sse',
      pid: ev.pid,
      tid: ev.tid,
      comm: ev.comm,
      conn: this.id,
      protocol: m.head.version,
      req: m.pairing?.id ?? `${this.id}#?`,
      n: m.sse!.count - 1,
      // Undefined fields vanish from the JSON; set here to keep a readable key order.
      event: s.event,
      data: s.data,
      id: s.id,
      retry: s.retry,
    };
    if (out.n === 0) out.ttft_ms = ms(ev.ts - (m.pairing?.endTs ?? m.pairing?.startTs ?? m.startTs));
    this.stats.sse++;
    this.#emit(out);
  }

  #headers(list: Array<[string, string]>): Headers {
    const h: Headers = {};
    for (const [k, v] of list) {
      const prev = h[k];
      h[k] = prev === undefined ? v : `${prev}${k === 'set-cookie' ? '\n' : ', '}${v}`;
    }
    return h;
  }

  unparsed(reason: string, bytes: number): void {
    const ev = this.#ev;
    const out: HttpUnparsedEvent = {
      v: SCHEMA_VERSION,
      ts: ev?.ts ?? nowUs(),
      src: 'http',
      type: 'unparsed',
      pid: ev?.pid ?? this.#lastPid,
      tid: ev?.tid ?? this.#lastTid,
      comm: ev?.comm ?? this.#lastComm,
      conn: this.id,
      reason,
      bytes,
    };
    this.stats.unparsed++;
    this.#emit(out);
  }
}

function ms(us: number): number {
  return Math.max(0, Math.round(us) / 1000);
}
