import {
  decodePayload, encodePayload, nowUs, SCHEMA_VERSION,
  type AgentEvent, type Emit, type Headers, type HttpRequestEvent, type HttpResponseEvent,
  type HttpSseEvent, type HttpUnparsedEvent, type HttpWsEvent, type SslDataEvent, type Stage,
} from '@agentsight/events';
import { ContentDecoder } from './decode.js';
import { Http1Parser, headerValue, planBody, type BodyPlan, type MessageHead } from './http1.js';
import { H2Reader, H2_PREFACE, looksLikeH2Server } from './h2.js';
import { WsReader, parseDeflate, type WsOpcode } from './ws.js';
import { redactHeaders, redactTarget } from './redact.js';
import { SeqReorder, type Piece } from './reorder.js';
import { SseParser, type SseMessage } from './sse.js';

export interface HttpStageOptions {
  /** Replace secrets (auth headers, cookies, key-like query parameters) by a fingerprint. Default true. */
  redact?: boolean;
  /** Body bytes kept per message (decoded); beyond, the body is cut and `body_truncated` set. Default 16 MiB. */
  maxBodyBytes?: number;
  /** A connection with no data for this long is flushed and forgotten. Default 300 s. */
  idleTimeoutS?: number;
  /** Largest head or trailer block. Default 64 KiB. */
  maxHeadBytes?: number;
  /** How long a hole in the sequence numbers is waited for before it counts as lost. Default 2 s. */
  reorderWaitMs?: number;
  /** Out-of-order pieces held per direction before a hole counts as lost. Default 256. */
  reorderMaxPending?: number;
}

/** Counters for a summary line. */
export interface HttpStats {
  requests: number;
  responses: number;
  sse: number;
  ws: number;
  unparsed: number;
  holes: number;
  connections: number;
}

type Dir = 'read' | 'write';
const MAX_ERROR_REPORTS = 16;
const MAX_H2_STREAMS = 128;
const SSE_FALLBACK_BYTES = 64 * 1024;
/** Body bytes a connection may hold at once, in units of the per-message limit. */
const CONN_BODY_FACTOR = 4;
const RETIRED_MAX = 4096;

/**
 * HTTP/1.x reassembly as a pipeline stage: `ssl`/`data` events in, `http` events out
 * (`request`, `response`, `sse`, `unparsed`); every other event passes through. For the
 * client side of TLS, `write` carries requests and `read` responses.
 */
export class HttpStage implements Stage {
  readonly opts: Required<HttpStageOptions>;
  readonly stats: HttpStats = { requests: 0, responses: 0, sse: 0, ws: 0, unparsed: 0, holes: 0, connections: 0 };
  #emit: Emit;
  #conns = new Map<string, Conn>();
  /** Where dropped connections had got to, so a reused connection resumes without a hole. */
  #retired = new Map<string, { write: number; read: number }>();
  #latestTs = 0;
  #writes = 0;

  constructor(opts: HttpStageOptions, emit: Emit) {
    this.opts = {
      redact: opts.redact ?? true,
      maxBodyBytes: opts.maxBodyBytes ?? 16 * 1024 * 1024,
      idleTimeoutS: opts.idleTimeoutS ?? 300,
      maxHeadBytes: opts.maxHeadBytes ?? 64 * 1024,
      reorderWaitMs: opts.reorderWaitMs ?? 2000,
      reorderMaxPending: opts.reorderMaxPending ?? 256,
    };
    this.#emit = emit;
  }

  /** Connections currently tracked. */
  get connections(): number {
    return this.#conns.size;
  }

  /** Bytes held across all connections (bodies being assembled, reorder buffers, heads). */
  get heldBytes(): number {
    let n = 0;
    for (const c of this.#conns.values()) n += c.heldBytes();
    return n;
  }

  write(ev: AgentEvent): void {
    if (ev.src !== 'ssl') { this.#emit(ev); return; }
    if (ev.type === 'lost') {
      this.#emit(ev);
      // Something was dropped somewhere: holes being waited on will not fill.
      for (const c of this.#conns.values()) c.skipHoles('capture reported loss');
      return;
    }
    if (ev.type !== 'data') { this.#emit(ev); return; }
    const e = ev as SslDataEvent;
    if (e.ts > this.#latestTs) this.#latestTs = e.ts;
    let c = this.#conns.get(e.conn);
    if (!c) {
      const prev = this.#retired.get(e.conn);
      this.#retired.delete(e.conn);
      c = new Conn(e.conn, this, this.#emit, prev);
      this.#conns.set(e.conn, c);
      this.stats.connections++;
    }
    c.push(e);
    // Idle connections in a capture file: judged by event time, since a file is read
    // far faster than it was recorded.
    if ((++this.#writes & 1023) === 0) this.#sweep(this.#latestTs, (c) => c.lastTs);
  }

  end(): void {
    for (const c of [...this.#conns.values()]) this.#drop(c, 'end of input');
  }

  tick(now: number): void {
    const waitUs = this.opts.reorderWaitMs * 1000;
    for (const c of this.#conns.values()) c.skipStaleHoles(now, waitUs);
    this.#sweep(now, (c) => c.lastWall);
  }

  #sweep(now: number, last: (c: Conn) => number): void {
    const limit = this.opts.idleTimeoutS * 1e6;
    for (const c of [...this.#conns.values()]) if (now - last(c) > limit * c.idleFactor) this.#drop(c, 'idle timeout');
  }

  #drop(c: Conn, reason: string): void {
    c.finish(reason);
    this.#conns.delete(c.id);
    this.#retired.set(c.id, c.nextSeqs());
    if (this.#retired.size > RETIRED_MAX) this.#retired.delete(this.#retired.keys().next().value!);
  }
}

interface Pairing {
  id: string;
  method: string;
  /** When the request was complete (µs), once it is. */
  endTs?: number;
  startTs: number;
}

interface H2Stream {
  req: Msg | null;
  res: Msg | null;
  pairing: Pairing;
}

/** A message being assembled. */
class Msg {
  head: MessageHead;
  startTs: number;
  decoder: ContentDecoder | null = null;
  body: Buffer[] = [];
  bodyLen = 0;
  /** Decoded size seen, whether kept or not. */
  bodySize = 0;
  rawSize = 0;
  raw: Buffer[] = [];
  rawLen = 0;
  truncated = false;
  lost = 0;
  sse: SseParser | null = null;
  interim = false;
  pairing?: Pairing;

  constructor(head: MessageHead, startTs: number) {
    this.head = head;
    this.startTs = startTs;
  }
}

class Conn {
  readonly id: string;
  lastTs = 0;
  lastWall = 0;
  #stage: HttpStage;
  #emit: Emit;
  #req: Http1Parser;
  #res: Http1Parser;
  #order: Record<Dir, SeqReorder<SslDataEvent>>;
  /** The event whose bytes are being parsed: times and process identity come from it. */
  #ev!: SslDataEvent;
  /** Per direction: the first event of the message in progress. */
  #firstEv: Record<Dir, SslDataEvent | undefined> = { read: undefined, write: undefined };
  #reqMsg: Msg | null = null;
  #h2: Record<Dir, H2Reader> | null = null;
  #ws: Record<Dir, WsReader> | null = null;
  #wsCount = 0;
  #streams = new Map<number, H2Stream>();
  #seen: Record<Dir, boolean> = { read: false, write: false };
  /** A first write too short to tell HTTP/1 from the HTTP/2 preface. */
  #held: Buffer | null = null;
  #resMsg: Msg | null = null;
  #awaiting: Pairing[] = [];
  /** Body bytes held for messages in progress on this connection. */
  #kept = 0;
  /** Response bytes were lost (or unparseable) since the last response head. */
  #resLost = false;
  #reqCount = 0;
  #nonHttpReported = false;
  #errorReports = 0;
  #started: Record<Dir, boolean> = { read: false, write: false };
  #lastPid = 0;
  #lastTid = 0;
  #lastComm = '';

  constructor(id: string, stage: HttpStage, emit: Emit, resumeAt?: { write: number; read: number }) {
    this.id = id;
    this.#stage = stage;
    this.#emit = emit;
    const po = { maxHeadBytes: stage.opts.maxHeadBytes };
    this.#req = new Http1Parser('request', {
      onStart: () => { this.#firstEv.write = this.#ev; },
      onHead: (h) => this.#onReqHead(h),
      onBody: (b) => this.#onBody(this.#reqMsg, b),
      onBodyGap: (n) => this.#onGap(this.#reqMsg, n),
      onEnd: (t, inc) => this.#onReqEnd(t, inc),
      onError: (r, n, i) => this.#onError('write', r, n, i),
    }, po);
    this.#res = new Http1Parser('response', {
      onStart: () => { this.#firstEv.read = this.#ev; },
      onHead: (h) => this.#onResHead(h),
      onBody: (b) => this.#onBody(this.#resMsg, b),
      onBodyGap: (n) => this.#onGap(this.#resMsg, n),
      onEnd: (t, inc) => this.#onResEnd(t, inc),
      onError: (r, n, i) => this.#onError('read', r, n, i),
    }, po);
    const ro = { maxPending: stage.opts.reorderMaxPending };
    this.#order = {
      write: new SeqReorder<SslDataEvent>({ data: (p, b) => this.#data(p, b, 'write'), gap: (m, why) => this.#gap('write', m, why) }, ro),
      read: new SeqReorder<SslDataEvent>({ data: (p, b) => this.#data(p, b, 'read'), gap: (m, why) => this.#gap('read', m, why) }, ro),
    };
    if (resumeAt) {
      this.#startAt('write', resumeAt.write);
      this.#startAt('read', resumeAt.read);
    }
  }

  heldBytes(): number {
    let n = this.#order.read.pendingBytes + this.#order.write.pendingBytes + this.#req.buffered + this.#res.buffered;
    for (const m of [this.#reqMsg, this.#resMsg]) if (m) n += m.bodyLen + m.rawLen;
    for (const st of this.#streams.values()) for (const m of [st.req, st.res]) if (m) n += m.bodyLen + m.rawLen;
    if (this.#h2) n += this.#h2.read.buffered + this.#h2.write.buffered;
    if (this.#ws) n += this.#ws.read.buffered + this.#ws.write.buffered;
    return n;
  }

  /**
   * HTTP/2 and WebSocket connections carry state that cannot be rebuilt mid-stream
   * (header tables, compression windows) and are long-lived by design: they are kept
   * longer before being dropped.
   */
  get idleFactor(): number {
    return this.#h2 || this.#ws ? 12 : 1;
  }

  nextSeqs(): { write: number; read: number } {
    return { write: this.#nextSeq.write, read: this.#nextSeq.read };
  }

  #nextSeq: Record<Dir, number> = { read: 0, write: 0 };

  #startAt(dir: Dir, seq: number): void {
    this.#started[dir] = true;
    if (seq > 0) {
      // A fresh SeqReorder expects 0 and would wait on a hole 0..seq-1 that never fills.
      this.#order[dir] = new SeqReorder<SslDataEvent>({ data: (p, b) => this.#data(p, b, dir), gap: (m, why) => this.#gap(dir, m, why) }, { maxPending: this.#stage.opts.reorderMaxPending, startSeq: seq });
    }
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
        (dir === 'write' ? this.#req : this.#res).gap();
      }
    }
    const data = decodePayload(e);
    this.#order[dir].push({ seq: e.seq, off: e.off ?? 0, len: e.len, data, truncated: !!e.truncated, src: e }, this.lastWall);
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
  }

  finish(reason: string): void {
    this.#order.write.flush(reason);
    this.#order.read.flush(reason);
    for (const id of [...this.#streams.keys()]) this.#h2Close(id, reason);
    this.#req.finish(reason);
    this.#res.finish(reason);
  }

  #data(p: Piece<SslDataEvent>, bytes: Buffer, dir: Dir): void {
    this.#ev = p.src;
    this.#lastPid = p.src.pid; this.#lastTid = p.src.tid; this.#lastComm = p.src.comm;
    this.#nextSeq[dir] = p.seq + 1;
    if (!this.#h2 && !this.#seen[dir]) {
      bytes = this.#sniff(dir, bytes);
      if (!bytes.length) return;
    }
    this.#seen[dir] = true;
    if (this.#h2) { this.#h2[dir].push(bytes); return; }
    (dir === 'write' ? this.#req : this.#res).push(bytes);
  }

  #gap(dir: Dir, missing: number | undefined, _why: string): void {
    if (missing === undefined) this.#stage.stats.holes++;
    if (this.#h2) { this.#h2[dir].gap(); return; }
    if (this.#ws) { this.#ws[dir].gap(); return; }
    if (dir === 'read' && (missing === undefined || !this.#res.busy)) this.#resLost = true;
    (dir === 'write' ? this.#req : this.#res).gap(missing);
  }

  // ------------------------------------------------------------ WebSocket

  #startWs(h: MessageHead, pairing: Pairing): void {
    const deflate = parseDeflate(headerValue(h.headers, 'sec-websocket-extensions'));
    const max = this.#stage.opts.maxBodyBytes;
    const hooks = (from: 'client' | 'server') => ({
      onMessage: (op: WsOpcode, data: Buffer, info: { compressed: boolean; truncated: boolean; size: number }) => this.#onWs(pairing, from, op, data, info),
      onFatal: (why: string) => {
        this.#unparsed(`WebSocket (${from}): ${why}; connection not parsed further`, 0, from === 'client' ? 'write' : 'read');
        this.#ws?.write.stop();
        this.#ws?.read.stop();
      },
    });
    const ws = { write: new WsReader(hooks('client'), deflate?.client ?? null, max), read: new WsReader(hooks('server'), deflate?.server ?? null, max) };
    this.#ws = ws;
    // The client's frames held meanwhile go in once the 101 itself has been reported.
    this.#res.divert((b) => ws.read.push(b));
  }

  #onWs(pairing: Pairing, from: 'client' | 'server', op: WsOpcode, data: Buffer, info: { compressed: boolean; truncated: boolean; size: number }): void {
    const ev = this.#ev;
    const out: HttpWsEvent = {
      v: SCHEMA_VERSION, ts: ev.ts, src: 'http', type: 'ws',
      pid: ev.pid, tid: ev.tid, comm: ev.comm,
      conn: this.id, protocol: 'websocket', req: pairing.id, from, opcode: op, n: this.#wsCount++,
      size: info.size, ...encodePayload(data),
    };
    if (info.compressed) out.compressed = true;
    if (info.truncated) out.truncated = true;
    this.#stage.stats.ws++;
    this.#emit(out);
  }

  // ------------------------------------------------------------ HTTP/2

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
        if (held.length < 4) { this.#held = held; return Buffer.alloc(0); }
        this.#startH2();
      }
      return held;
    }
    if (looksLikeH2Server(bytes)) this.#startH2();
    return bytes;
  }

  #startH2(): void {
    const hooks = (dir: Dir) => ({
      onHeaders: (id: number, h: Array<[string, string]>, end: boolean) => this.#h2Headers(dir, id, h, end),
      onData: (id: number, d: Buffer, end: boolean) => this.#h2Data(dir, id, d, end),
      onReset: (id: number, code: number) => this.#h2Close(id, `stream reset (error code ${code})`),
      onGoaway: () => {},
      onFatal: (why: string) => this.#h2Fatal(dir, why),
    });
    this.#h2 = { write: new H2Reader(true, hooks('write')), read: new H2Reader(false, hooks('read')) };
    this.#req.stop();
    this.#res.stop();
  }

  #h2Headers(dir: Dir, id: number, list: Array<[string, string]>, end: boolean): void {
    let st = this.#streams.get(id);
    const pseudo = (k: string) => list.find(([n]) => n === k)?.[1];
    const plain = list.filter(([n]) => !n.startsWith(':'));
    if (dir === 'write') {
      if (!st) {
        if (this.#streams.size >= MAX_H2_STREAMS) {
          if (this.#errorReports++ < MAX_ERROR_REPORTS) this.#unparsed(`HTTP/2: more than ${MAX_H2_STREAMS} open streams; stream ${id} ignored`, 0, dir);
          return;
        }
        const authority = pseudo(':authority');
        // The event carries host like HTTP/1's Host header, for consumers that look there.
        if (authority !== undefined && !plain.some(([n]) => n === 'host')) plain.unshift(['host', authority]);
        const head: MessageHead = { side: 'request', version: 'h2', method: pseudo(':method') ?? '', target: pseudo(':path') ?? '', headers: plain };
        const m = new Msg(head, this.#ev.ts);
        m.pairing = { id: `${this.id}#${this.#reqCount++}`, method: head.method!, startTs: m.startTs };
        this.#setupBody(m);
        st = { req: m, res: null, pairing: m.pairing };
        this.#streams.set(id, st);
      } else if (st.req && end) {
        // Trailers.
        const m = st.req;
        st.req = null;
        m.pairing!.endTs = this.#ev.ts;
        this.#emitRequest(m, plain.length ? plain : null);
        return;
      }
      if (end && st.req) this.#endH2Request(st);
      return;
    }
    if (!st) return; // a response to a request not seen (capture started mid-connection)
    if (!st.res) {
      const status = Number(pseudo(':status'));
      if (!/^\d{3}$/.test(pseudo(':status') ?? '')) {
        if (this.#errorReports++ < MAX_ERROR_REPORTS) this.#unparsed(`HTTP/2: response on stream ${id} without a valid :status`, 0, dir);
        this.#h2Close(id, 'malformed response headers');
        return;
      }
      if (status >= 100 && status < 200) return; // interim
      const head: MessageHead = { side: 'response', version: 'h2', status, reason: '', headers: plain };
      const m = new Msg(head, this.#ev.ts);
      m.pairing = st.pairing;
      this.#setupBody(m);
      if ((headerValue(plain, 'content-type') ?? '').toLowerCase().startsWith('text/event-stream')) {
        m.sse = new SseParser((s) => this.#onSse(m, s), this.#stage.opts.maxBodyBytes);
      }
      st.res = m;
      if (end) this.#endH2Response(id, st, null);
      return;
    }
    if (end) this.#endH2Response(id, st, plain.length ? plain : null);
  }

  #h2Data(dir: Dir, id: number, data: Buffer, end: boolean): void {
    const st = this.#streams.get(id);
    if (!st) return;
    if (dir === 'write') {
      if (!st.req) return;
      if (data.length) this.#onBody(st.req, data);
      if (end) this.#endH2Request(st);
    } else {
      if (!st.res) return;
      if (data.length) this.#onBody(st.res, data);
      if (end) this.#endH2Response(id, st, null);
    }
  }

  #endH2Request(st: H2Stream): void {
    const m = st.req!;
    st.req = null;
    m.pairing!.endTs = this.#ev.ts;
    this.#emitRequest(m, null);
  }

  #endH2Response(id: number, st: H2Stream, trailers: Array<[string, string]> | null, incomplete?: string): void {
    const m = st.res!;
    st.res = null;
    this.#streams.delete(id);
    this.#emitResponse(m, trailers, incomplete);
  }

  /** A stream ended abnormally: what it carried so far is reported, incomplete. */
  #h2Close(id: number, why: string): void {
    const st = this.#streams.get(id);
    if (!st) return;
    if (st.req) { const m = st.req; st.req = null; m.pairing!.endTs = this.#ev.ts; this.#emitRequest(m, null, why); }
    if (st.res) this.#endH2Response(id, st, null, why);
    this.#streams.delete(id);
  }

  #h2Fatal(dir: Dir, why: string): void {
    this.#unparsed(`HTTP/2 (${dir === 'write' ? 'client' : 'server'} side): ${why}; connection not parsed further`, 0, dir);
    this.#h2?.write.stop();
    this.#h2?.read.stop();
    for (const id of [...this.#streams.keys()]) this.#h2Close(id, `HTTP/2 connection unreadable: ${why}`);
  }

  // ------------------------------------------------------------ requests

  #onReqHead(h: MessageHead): BodyPlan | string {
    const plan = planBody(h);
    if (typeof plan === 'string') return plan;
    const m = new Msg(h, this.#firstEv.write?.ts ?? this.#ev.ts);
    m.pairing = { id: `${this.id}#${this.#reqCount++}`, method: h.method!, startTs: m.startTs };
    this.#awaiting.push(m.pairing);
    this.#setupBody(m);
    this.#reqMsg = m;
    return plan;
  }

  #onReqEnd(trailers: Array<[string, string]> | null, incomplete?: string): void {
    const m = this.#reqMsg;
    this.#reqMsg = null;
    if (m) this.#emitRequest(m, trailers, incomplete);
  }

  #emitRequest(m: Msg, trailers: Array<[string, string]> | null, incomplete?: string): void {
    const ev = this.#ev;
    this.#endDecoder(m, incomplete);
    m.pairing!.endTs = ev.ts;
    const h = m.head;
    let target = h.target!;
    let host = headerValue(h.headers, 'host');
    const abs = /^https?:\/\/([^/?#]*)(.*)$/i.exec(target);
    if (abs) { host ??= abs[1]; target = abs[2] || '/'; }
    const out: HttpRequestEvent = {
      v: SCHEMA_VERSION, ts: ev.ts, src: 'http', type: 'request',
      pid: ev.pid, tid: ev.tid, comm: ev.comm,
      conn: this.id, protocol: h.version, id: m.pairing!.id,
      method: h.method!,
      path: this.#stage.opts.redact ? redactTarget(target) : target,
      headers: this.#headers(h.headers),
      body_size: 0, start_ts: m.startTs,
    };
    if (host !== undefined) out.host = host;
    if (ev.fd !== undefined) out.fd = ev.fd;
    this.#finishBody(m, out, trailers, incomplete);
    this.#stage.stats.requests++;
    this.#emit(out);
  }

  // ------------------------------------------------------------ responses

  #onResHead(h: MessageHead): BodyPlan | string {
    const st = h.status!;
    const interim = st >= 100 && st < 200 && st !== 101;
    if (this.#resLost && this.#awaiting.length > 1) {
      // Responses were lost: the requests they answered wait in vain. Clients do not
      // pipeline in practice, so the newest request is the one being answered.
      this.#awaiting.splice(0, this.#awaiting.length - 1);
    }
    this.#resLost = false;
    const pairing = interim ? this.#awaiting[0] : this.#awaiting.shift();
    const plan = planBody(h, pairing?.method);
    if (typeof plan === 'string') return plan;
    const m = new Msg(h, this.#firstEv.read?.ts ?? this.#ev.ts);
    m.interim = interim;
    m.pairing = pairing;
    if (!interim && pairing) {
      const upgraded = st === 101 || (pairing.method === 'CONNECT' && st >= 200 && st < 300);
      if (upgraded && st === 101 && /^websocket$/i.test(headerValue(h.headers, 'upgrade') ?? '')) this.#startWs(h, pairing);
      else if (upgraded) this.#req.stop();
      else this.#req.resume();
    }
    if (!interim) {
      this.#setupBody(m);
      const ct = (headerValue(h.headers, 'content-type') ?? '').toLowerCase();
      if (ct.startsWith('text/event-stream') && plan.kind !== 'none') {
        m.sse = new SseParser((s) => this.#onSse(m, s), this.#stage.opts.maxBodyBytes);
      }
    }
    this.#resMsg = m;
    return plan;
  }

  #onSse(m: Msg, s: SseMessage): void {
    const ev = this.#ev;
    const out: HttpSseEvent = {
      v: SCHEMA_VERSION, ts: ev.ts, src: 'http', type: 'sse',
      pid: ev.pid, tid: ev.tid, comm: ev.comm,
      conn: this.id, protocol: m.head.version, req: m.pairing?.id ?? `${this.id}#?`,
      n: m.sse!.count - 1,
      // Undefined fields vanish from the JSON; set here to keep a readable key order.
      event: s.event, data: s.data, id: s.id, retry: s.retry,
    };
    if (out.n === 0) out.ttft_ms = ms(ev.ts - (m.pairing?.endTs ?? m.pairing?.startTs ?? m.startTs));
    this.#stage.stats.sse++;
    this.#emit(out);
  }

  #onResEnd(trailers: Array<[string, string]> | null, incomplete?: string): void {
    const m = this.#resMsg;
    this.#resMsg = null;
    if (m && !m.interim) this.#emitResponse(m, trailers, incomplete);
  }

  #emitResponse(m: Msg, trailers: Array<[string, string]> | null, incomplete?: string): void {
    const ev = this.#ev;
    const h = m.head;
    this.#endDecoder(m, incomplete);
    if (m.sse) m.sse.end();
    const reqEnd = m.pairing?.endTs ?? m.pairing?.startTs ?? m.startTs;
    const out: HttpResponseEvent = {
      v: SCHEMA_VERSION, ts: ev.ts, src: 'http', type: 'response',
      pid: ev.pid, tid: ev.tid, comm: ev.comm,
      conn: this.id, protocol: h.version, req: m.pairing?.id ?? `${this.id}#?`,
      status: h.status!, reason: h.reason ?? '',
      headers: this.#headers(h.headers),
      body_size: 0, latency_ms: ms(ev.ts - reqEnd), start_ts: m.startTs,
    };
    if (m.sse) out.sse_count = m.sse.count;
    if (ev.fd !== undefined) out.fd = ev.fd;
    this.#finishBody(m, out, trailers, incomplete);
    this.#stage.stats.responses++;
    this.#emit(out);
    const st = h.status!;
    if (this.#ws) { const ws = this.#ws; this.#req.divert((b) => ws.write.push(b)); return; }
    if (st === 101 || (m.pairing?.method === 'CONNECT' && st >= 200 && st < 300)) {
      const proto = headerValue(h.headers, 'upgrade');
      this.#unparsed(st === 101 ? `upgraded to ${proto ?? 'another protocol'}; not parsed further` : 'CONNECT tunnel; not parsed further', 0, 'read');
    }
  }

  // ------------------------------------------------------------ bodies

  #setupBody(m: Msg): void {
    const ce = headerValue(m.head.headers, 'content-encoding');
    if (ce !== undefined) {
      const d = new ContentDecoder(ce, this.#stage.opts.maxBodyBytes + 1);
      if (d.coding !== '') m.decoder = d;
    }
  }

  #onBody(m: Msg | null, raw: Buffer): void {
    if (!m || m.interim) return;
    m.rawSize += raw.length;
    const max = this.#stage.opts.maxBodyBytes;
    let bytes = raw;
    if (m.decoder) {
      // Keep the raw bytes too (bounded): if decoding fails they are what we can show.
      if (!m.sse && m.rawLen < max) { m.raw.push(raw); m.rawLen += raw.length; }
      bytes = m.decoder.passthrough ? raw : m.decoder.write(raw);
    }
    this.#decoded(m, bytes);
  }

  /** Decoded body bytes: to the SSE parser, or kept (bounded). */
  #decoded(m: Msg, bytes: Buffer): void {
    const max = this.#stage.opts.maxBodyBytes;
    if (!bytes.length) return;
    m.bodySize += bytes.length;
    if (m.sse) {
      // Until a first message parses, keep the start of the body: a server that labels an
      // error as an event stream but sends plain JSON must not lose it.
      if (m.sse.count === 0 && m.bodyLen < SSE_FALLBACK_BYTES) { m.body.push(bytes); m.bodyLen += bytes.length; }
      m.sse.push(bytes);
      if (m.sse.count > 0 && m.bodyLen) { m.body = []; m.bodyLen = 0; }
      return;
    }
    // Per message, and per connection: HTTP/2 can have many bodies in flight at once.
    const room = Math.min(max - m.bodyLen, this.#stage.opts.maxBodyBytes * CONN_BODY_FACTOR - this.#kept);
    if (room <= 0) { m.truncated = true; return; }
    if (bytes.length > room) { bytes = bytes.subarray(0, room); m.truncated = true; }
    m.body.push(bytes);
    m.bodyLen += bytes.length;
    this.#kept += bytes.length;
  }

  /** The body is complete: what the decoder still holds comes out (or its error). */
  #endDecoder(m: Msg, incomplete?: string): void {
    if (!m.decoder || m.decoder.passthrough || m.decoder.error || incomplete) return;
    this.#decoded(m, m.decoder.end());
  }

  #onGap(m: Msg | null, missing: number): void {
    if (!m) return;
    m.lost += missing;
    m.rawSize += missing;
    if (m.decoder && !m.decoder.passthrough && !m.decoder.error) {
      m.decoder.error = `content-encoding ${m.decoder.coding}: capture lost bytes, cannot decode past them`;
      m.decoder.close();
    }
  }

  #finishBody(m: Msg, out: HttpRequestEvent | HttpResponseEvent, trailers: Array<[string, string]> | null, incomplete?: string): void {
    if (!m.sse) this.#kept -= m.bodyLen;
    let body: Buffer | null = null;
    let size = m.bodySize;
    if (m.decoder?.error) {
      out.decode_error = m.decoder.error;
      if (!m.sse) {
        // Show the bytes as they were on the wire.
        body = Buffer.concat(m.raw, m.rawLen);
        size = m.rawSize;
        if (body.length > this.#stage.opts.maxBodyBytes) body = body.subarray(0, this.#stage.opts.maxBodyBytes);
        if (body.length < size) m.truncated = true; else m.truncated = false;
      }
    } else if (m.sse && m.sse.count === 0 && m.bodyLen) {
      body = Buffer.concat(m.body, m.bodyLen);
      if (body.length > SSE_FALLBACK_BYTES) body = body.subarray(0, SSE_FALLBACK_BYTES);
      if (body.length < m.bodySize) m.truncated = true;
    } else if (!m.sse && m.bodyLen) {
      body = m.body.length === 1 ? m.body[0]! : Buffer.concat(m.body, m.bodyLen);
    }
    m.decoder?.close();
    out.body_size = size;
    if (m.decoder) out.raw_size = m.rawSize;
    if (body && body.length) Object.assign(out, encodePayload(body));
    if (m.truncated) out.body_truncated = true;
    if (trailers) out.trailers = this.#headers(trailers);
    const why = incomplete ?? (m.lost ? `capture lost ${m.lost} body bytes` : undefined);
    if (why) out.incomplete = why;
  }

  #headers(list: Array<[string, string]>): Headers {
    const h: Headers = {};
    for (const [k, v] of list) {
      const prev = h[k];
      h[k] = prev === undefined ? v : `${prev}${k === 'set-cookie' ? '\n' : ', '}${v}`;
    }
    return this.#stage.opts.redact ? redactHeaders(h) : h;
  }

  // ------------------------------------------------------------ errors

  #onError(dir: Dir, reason: string, bytes: number, info: { first: boolean; h2?: boolean }): void {
    if (info.first || info.h2) {
      if (this.#nonHttpReported) return;
      this.#nonHttpReported = true;
      if (info.h2) { this.#req.stop(); this.#res.stop(); }
      this.#unparsed(reason, bytes, dir);
      return;
    }
    if (dir === 'read') this.#resLost = true;
    if (this.#errorReports++ >= MAX_ERROR_REPORTS) return;
    this.#unparsed(`parse error (${dir === 'write' ? 'request' : 'response'}): ${reason}; resynchronising`, bytes, dir);
  }

  #unparsed(reason: string, bytes: number, _dir: Dir): void {
    const ev = this.#ev;
    const out: HttpUnparsedEvent = {
      v: SCHEMA_VERSION, ts: ev?.ts ?? nowUs(), src: 'http', type: 'unparsed',
      pid: ev?.pid ?? this.#lastPid, tid: ev?.tid ?? this.#lastTid, comm: ev?.comm ?? this.#lastComm,
      conn: this.id, reason, bytes,
    };
    this.#stage.stats.unparsed++;
    this.#emit(out);
  }
}

function ms(us: number): number {
  return Math.max(0, Math.round(us) / 1000);
}
