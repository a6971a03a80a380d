import { encodePayload, type HttpWsEvent, SCHEMA_VERSION } from '@agentsight/events';
import type { ConnCore, Dir, Pairing } from './session.js';
import { parseDeflate, type WsOpcode, WsReader } from './ws.js';

/**
 * A connection upgraded to WebSocket: each direction's frames read into messages, each
 * message an `http`/`ws` event tied to the request that asked for the upgrade.
 */
export class WsSession {
  readonly write: WsReader;
  readonly read: WsReader;
  #core: ConnCore;
  #pairing: Pairing;
  #count = 0;

  /** `extensions`: the 101's Sec-WebSocket-Extensions. */
  constructor(core: ConnCore, pairing: Pairing, extensions: string | undefined) {
    this.#core = core;
    this.#pairing = pairing;
    const deflate = parseDeflate(extensions);
    const max = core.opts.maxBodyBytes;
    const hooks = (from: 'client' | 'server') => ({
      onMessage: (op: WsOpcode, data: Buffer, info: { compressed: boolean; truncated: boolean; size: number }) =>
        this.#message(from, op, data, info),
      onFatal: (why: string) => {
        core.unparsed(`WebSocket (${from}): ${why}; connection not parsed further`, 0);
        this.write.stop();
        this.read.stop();
      },
    });
    this.write = new WsReader(hooks('client'), deflate?.client ?? null, max);
    this.read = new WsReader(hooks('server'), deflate?.server ?? null, max);
  }

  get buffered(): number {
    return this.read.buffered + this.write.buffered;
  }

  gap(dir: Dir): void {
    this[dir].gap();
  }

  #message(
    from: 'client' | 'server',
    op: WsOpcode,
    data: Buffer,
    info: { compressed: boolean; truncated: boolean; size: number },
  ): void {
    const core = this.#core;
    const ev = core.ev;
    const out: HttpWsEvent = {
      v: SCHEMA_VERSION,
      ts: ev.ts,
      src: 'http',
      type: 'ws',
      pid: ev.pid,
      tid: ev.tid,
      comm: ev.comm,
      conn: core.id,
      protocol: 'websocket',
      req: this.#pairing.id,
      from,
      opcode: op,
      n: this.#count++,
      size: info.size,
      ...encodePayload(data),
    };
    if (info.compressed) out.compressed = true;
    if (info.truncated) out.truncated = true;
    core.stats.ws++;
    core.emit(out);
  }
}
