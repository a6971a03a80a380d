import { Msg } from './body.js';
import { H2Reader } from './h2.js';
import type { MessageHead } from './http1.js';
import type { ConnCore, Dir, Pairing, Trailers } from './session.js';

const MAX_H2_STREAMS = 128;

interface H2Stream {
  req: Msg | null;
  res: Msg | null;
  pairing: Pairing;
}

/**
 * An HTTP/2 connection: requests and responses are streams, each reported when its
 * stream ends (or is reset, or the connection becomes unreadable).
 */
export class H2Session {
  #core: ConnCore;
  #readers: Record<Dir, H2Reader>;
  #streams = new Map<number, H2Stream>();

  constructor(core: ConnCore) {
    this.#core = core;
    const hooks = (dir: Dir) => ({
      onHeaders: (id: number, h: Array<[string, string]>, end: boolean) => this.#headers(dir, id, h, end),
      onData: (id: number, d: Buffer, end: boolean) => this.#data(dir, id, d, end),
      onReset: (id: number, code: number) => this.#close(id, `stream reset (error code ${code})`),
      onGoaway: () => {},
      onFatal: (why: string) => this.#fatal(dir, why),
    });
    this.#readers = { write: new H2Reader(true, hooks('write')), read: new H2Reader(false, hooks('read')) };
  }

  heldBytes(): number {
    let n = this.#readers.read.buffered + this.#readers.write.buffered;
    for (const st of this.#streams.values()) for (const m of [st.req, st.res]) if (m) n += m.heldBytes;
    return n;
  }

  push(dir: Dir, bytes: Buffer): void {
    this.#readers[dir].push(bytes);
  }

  gap(dir: Dir): void {
    this.#readers[dir].gap();
  }

  /** The connection ends: every open stream is reported, incomplete. */
  finish(reason: string): void {
    for (const id of [...this.#streams.keys()]) this.#close(id, reason);
  }

  #headers(dir: Dir, id: number, list: Array<[string, string]>, end: boolean): void {
    const core = this.#core;
    let st = this.#streams.get(id);
    const pseudo = (k: string) => list.find(([n]) => n === k)?.[1];
    const plain = list.filter(([n]) => !n.startsWith(':'));
    if (dir === 'write') {
      if (!st) {
        if (this.#streams.size >= MAX_H2_STREAMS) {
          if (core.mayReport())
            core.unparsed(`HTTP/2: more than ${MAX_H2_STREAMS} open streams; stream ${id} ignored`, 0);
          return;
        }
        const authority = pseudo(':authority');
        // The event carries host like HTTP/1's Host header, for consumers that look there.
        if (authority !== undefined && !plain.some(([n]) => n === 'host')) plain.unshift(['host', authority]);
        const head: MessageHead = {
          side: 'request',
          version: 'h2',
          method: pseudo(':method') ?? '',
          target: pseudo(':path') ?? '',
          headers: plain,
        };
        const m = new Msg(head, core.ev.ts);
        m.pairing = core.pairing(head.method!, m.startTs);
        core.bodies.setup(m);
        st = { req: m, res: null, pairing: m.pairing };
        this.#streams.set(id, st);
      } else if (st.req && end) {
        // Trailers.
        const m = st.req;
        st.req = null;
        m.pairing!.endTs = core.ev.ts;
        core.emitRequest(m, plain.length ? plain : null);
        return;
      }
      if (end && st.req) this.#endRequest(st);
      return;
    }
    if (!st) return; // a response to a request not seen (capture started mid-connection)
    if (!st.res) {
      const status = Number(pseudo(':status'));
      if (!/^\d{3}$/.test(pseudo(':status') ?? '')) {
        if (core.mayReport()) core.unparsed(`HTTP/2: response on stream ${id} without a valid :status`, 0);
        this.#close(id, 'malformed response headers');
        return;
      }
      if (status >= 100 && status < 200) return; // interim
      const head: MessageHead = { side: 'response', version: 'h2', status, reason: '', headers: plain };
      const m = new Msg(head, core.ev.ts);
      m.pairing = st.pairing;
      core.bodies.setup(m);
      core.watchSse(m);
      st.res = m;
      if (end) this.#endResponse(id, st, null);
      return;
    }
    if (end) this.#endResponse(id, st, plain.length ? plain : null);
  }

  #data(dir: Dir, id: number, data: Buffer, end: boolean): void {
    const st = this.#streams.get(id);
    if (!st) return;
    if (dir === 'write') {
      if (!st.req) return;
      if (data.length) this.#core.bodies.push(st.req, data);
      if (end) this.#endRequest(st);
    } else {
      if (!st.res) return;
      if (data.length) this.#core.bodies.push(st.res, data);
      if (end) this.#endResponse(id, st, null);
    }
  }

  #endRequest(st: H2Stream): void {
    const m = st.req!;
    st.req = null;
    m.pairing!.endTs = this.#core.ev.ts;
    this.#core.emitRequest(m, null);
  }

  #endResponse(id: number, st: H2Stream, trailers: Trailers, incomplete?: string): void {
    const m = st.res!;
    st.res = null;
    this.#streams.delete(id);
    this.#core.emitResponse(m, trailers, incomplete);
  }

  /** A stream ended abnormally: what it carried so far is reported, incomplete. */
  #close(id: number, why: string): void {
    const st = this.#streams.get(id);
    if (!st) return;
    if (st.req) {
      const m = st.req;
      st.req = null;
      m.pairing!.endTs = this.#core.ev.ts;
      this.#core.emitRequest(m, null, why);
    }
    if (st.res) this.#endResponse(id, st, null, why);
    this.#streams.delete(id);
  }

  #fatal(dir: Dir, why: string): void {
    this.#core.unparsed(
      `HTTP/2 (${dir === 'write' ? 'client' : 'server'} side): ${why}; connection not parsed further`,
      0,
    );
    this.#readers.write.stop();
    this.#readers.read.stop();
    for (const id of [...this.#streams.keys()]) this.#close(id, `HTTP/2 connection unreadable: ${why}`);
  }
}
