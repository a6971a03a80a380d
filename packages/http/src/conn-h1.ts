import type { SslDataEvent } from '@agentsight/events';
import { Msg } from './body.js';
import { WsSession } from './conn-ws.js';
import { type BodyPlan, Http1Parser, headerValue, type MessageHead, planBody } from './http1.js';
import type { ConnCore, Dir, Pairing, Trailers } from './session.js';

/**
 * An HTTP/1.x connection: requests on `write`, responses on `read`, paired in order
 * (keep-alive, pipelining, interim responses), until an upgrade hands the connection to
 * WebSocket or ends its parsing.
 */
export class H1Session {
  #core: ConnCore;
  #req: Http1Parser;
  #res: Http1Parser;
  /** Per direction: the first event of the message in progress. */
  #firstEv: Record<Dir, SslDataEvent | undefined> = { read: undefined, write: undefined };
  #reqMsg: Msg | null = null;
  #resMsg: Msg | null = null;
  #awaiting: Pairing[] = [];
  /** Response bytes were lost (or unparseable) since the last response head. */
  #resLost = false;
  #nonHttpReported = false;
  #ws: WsSession | null = null;

  constructor(core: ConnCore) {
    this.#core = core;
    const po = { maxHeadBytes: core.opts.maxHeadBytes };
    this.#req = new Http1Parser(
      'request',
      {
        onStart: () => {
          this.#firstEv.write = core.ev;
        },
        onHead: (h) => this.#onReqHead(h),
        onBody: (b) => core.bodies.push(this.#reqMsg, b),
        onBodyGap: (n) => core.bodies.gap(this.#reqMsg, n),
        onEnd: (t, inc) => this.#onReqEnd(t, inc),
        onError: (r, n, i) => this.#onError('write', r, n, i),
      },
      po,
    );
    this.#res = new Http1Parser(
      'response',
      {
        onStart: () => {
          this.#firstEv.read = core.ev;
        },
        onHead: (h) => this.#onResHead(h),
        onBody: (b) => core.bodies.push(this.#resMsg, b),
        onBodyGap: (n) => core.bodies.gap(this.#resMsg, n),
        onEnd: (t, inc) => this.#onResEnd(t, inc),
        onError: (r, n, i) => this.#onError('read', r, n, i),
      },
      po,
    );
  }

  /** Upgraded to WebSocket. */
  get websocket(): boolean {
    return this.#ws !== null;
  }

  heldBytes(): number {
    let n = this.#req.buffered + this.#res.buffered;
    for (const m of [this.#reqMsg, this.#resMsg]) if (m) n += m.heldBytes;
    if (this.#ws) n += this.#ws.buffered;
    return n;
  }

  /**
   * No request is waiting for an answer, and one still can come: response bytes now would
   * answer nothing yet (see Conn's early responses).
   */
  get waitsForRequest(): boolean {
    return (
      !this.#ws &&
      !this.#nonHttpReported &&
      this.#awaiting.length === 0 &&
      !this.#res.busy &&
      this.#res.state !== 'dead' &&
      this.#req.state !== 'dead'
    );
  }

  push(dir: Dir, bytes: Buffer): void {
    this.#parser(dir).push(bytes);
  }

  /** Bytes were lost (`missing` of them, when known). */
  gap(dir: Dir, missing: number | undefined): void {
    if (this.#ws) {
      this.#ws.gap(dir);
      return;
    }
    if (dir === 'read' && (missing === undefined || !this.#res.busy)) this.#resLost = true;
    this.#parser(dir).gap(missing);
  }

  /** The direction was joined mid-stream: parse from the next message start found. */
  resync(dir: Dir): void {
    this.#parser(dir).gap();
  }

  /** The connection speaks another protocol. */
  stop(): void {
    this.#req.stop();
    this.#res.stop();
  }

  finish(reason: string): void {
    this.#req.finish(reason);
    this.#res.finish(reason);
  }

  #parser(dir: Dir): Http1Parser {
    return dir === 'write' ? this.#req : this.#res;
  }

  // ------------------------------------------------------------ requests

  #onReqHead(h: MessageHead): BodyPlan | string {
    const plan = planBody(h);
    if (typeof plan === 'string') return plan;
    const core = this.#core;
    const m = new Msg(h, this.#firstEv.write?.ts ?? core.ev.ts);
    m.pairing = core.pairing(h.method!, m.startTs);
    this.#awaiting.push(m.pairing);
    core.bodies.setup(m);
    this.#reqMsg = m;
    return plan;
  }

  #onReqEnd(trailers: Trailers, incomplete?: string): void {
    const m = this.#reqMsg;
    this.#reqMsg = null;
    if (m) this.#core.emitRequest(m, trailers, incomplete);
  }

  // ------------------------------------------------------------ responses

  #onResHead(h: MessageHead): BodyPlan | string {
    const core = this.#core;
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
    const m = new Msg(h, this.#firstEv.read?.ts ?? core.ev.ts);
    m.interim = interim;
    m.pairing = pairing;
    if (!interim && pairing) {
      const upgraded = st === 101 || (pairing.method === 'CONNECT' && st >= 200 && st < 300);
      if (upgraded && st === 101 && /^websocket$/i.test(headerValue(h.headers, 'upgrade') ?? ''))
        this.#startWs(h, pairing);
      else if (upgraded) this.#req.stop();
      else this.#req.resume();
    }
    if (!interim) {
      core.bodies.setup(m);
      if (plan.kind !== 'none') core.watchSse(m);
    }
    this.#resMsg = m;
    return plan;
  }

  #onResEnd(trailers: Trailers, incomplete?: string): void {
    const m = this.#resMsg;
    this.#resMsg = null;
    if (!m || m.interim) return;
    this.#core.emitResponse(m, trailers, incomplete);
    const st = m.head.status!;
    if (this.#ws) {
      const ws = this.#ws;
      this.#req.divert((b) => ws.write.push(b));
      return;
    }
    if (st === 101 || (m.pairing?.method === 'CONNECT' && st >= 200 && st < 300)) {
      const proto = headerValue(m.head.headers, 'upgrade');
      this.#core.unparsed(
        st === 101
          ? `upgraded to ${proto ?? 'another protocol'}; not parsed further`
          : 'CONNECT tunnel; not parsed further',
        0,
      );
    }
  }

  #startWs(h: MessageHead, pairing: Pairing): void {
    const ws = new WsSession(this.#core, pairing, headerValue(h.headers, 'sec-websocket-extensions'));
    this.#ws = ws;
    // The client's frames held meanwhile go in once the 101 itself has been reported.
    this.#res.divert((b) => ws.read.push(b));
  }

  // ------------------------------------------------------------ errors

  #onError(dir: Dir, reason: string, bytes: number, info: { first: boolean; h2?: boolean }): void {
    if (info.first || info.h2) {
      if (this.#nonHttpReported) return;
      this.#nonHttpReported = true;
      if (info.h2) this.stop();
      this.#core.unparsed(reason, bytes);
      return;
    }
    if (dir === 'read') this.#resLost = true;
    if (!this.#core.mayReport()) return;
    this.#core.unparsed(`parse error (${dir === 'write' ? 'request' : 'response'}): ${reason}; resynchronising`, bytes);
  }
}
