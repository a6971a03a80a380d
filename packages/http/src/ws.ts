import zlib from 'node:zlib';

// WebSocket (RFC 6455) for one direction of an upgraded connection: frames cut from
// chunks of any size, unmasked, fragments joined into messages, control frames
// passed between them, and permessage-deflate (RFC 7692) undone with the context kept
// across messages unless the handshake said otherwise.

export type WsOpcode = 'text' | 'binary' | 'close' | 'ping' | 'pong';

export interface WsHooks {
  onMessage(op: WsOpcode, data: Buffer, info: { compressed: boolean; truncated: boolean; size: number }): void;
  onFatal(reason: string): void;
}

export interface WsDeflate {
  /** The sender resets its compression context after each message. */
  noContextTakeover: boolean;
}

/** permessage-deflate parameters per sender, from the server's Sec-WebSocket-Extensions. */
export function parseDeflate(ext: string | undefined): { client: WsDeflate; server: WsDeflate } | null {
  if (!ext) return null;
  for (const offer of ext.split(',')) {
    const params = offer.split(';').map((s) => s.trim().toLowerCase());
    if (params[0] !== 'permessage-deflate') continue;
    return {
      client: { noContextTakeover: params.some((p) => p.startsWith('client_no_context_takeover')) },
      server: { noContextTakeover: params.some((p) => p.startsWith('server_no_context_takeover')) },
    };
  }
  return null;
}

const OPS: Record<number, WsOpcode> = { 1: 'text', 2: 'binary', 8: 'close', 9: 'ping', 10: 'pong' };
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const OUT_CHUNK = 64 * 1024;

interface ZlibInternals {
  _handle: {
    writeSync(
      flush: number,
      input: Buffer,
      inOff: number,
      inLen: number,
      out: Buffer,
      outOff: number,
      outLen: number,
    ): void;
  } | null;
  _writeState: Uint32Array;
  errored?: Error | null;
  destroyed: boolean;
}

/** Synchronous raw inflate whose window persists across calls (see decode.ts for why). */
class Inflater {
  #z = zlib.createInflateRaw();
  #buf = Buffer.allocUnsafe(OUT_CHUNK);
  constructor() {
    this.#z.on('error', () => {});
  }
  inflate(input: Buffer, max: number): { out: Buffer; truncated: boolean } {
    const z = this.#z as unknown as ZlibInternals;
    if (!z._handle) throw new Error('inflater closed');
    const parts: Buffer[] = [];
    let total = 0;
    let inOff = 0;
    let inLen = input.length;
    for (;;) {
      z._handle.writeSync(zlib.constants.Z_SYNC_FLUSH, input, inOff, inLen, this.#buf, 0, OUT_CHUNK);
      if (z.errored || z.destroyed) throw z.errored ?? new Error('inflate failed');
      const availOut = z._writeState[0]!;
      const availIn = z._writeState[1]!;
      const have = OUT_CHUNK - availOut;
      // Keep inflating past `max` (the window must see every byte) but keep no more.
      if (have > 0 && total < max) parts.push(Buffer.from(this.#buf.subarray(0, Math.min(have, max - total))));
      total += have;
      inOff += inLen - availIn;
      inLen = availIn;
      if (availOut !== 0) break;
    }
    return { out: Buffer.concat(parts), truncated: total > max };
  }
  close(): void {
    try {
      this.#z.close();
    } catch {
      /* closed */
    }
  }
}

export class WsReader {
  #hooks: WsHooks;
  #deflate: WsDeflate | null;
  #inflater: Inflater | null = null;
  #maxMessage: number;
  #dead = false;
  #head: Buffer[] = [];
  #headLen = 0;
  /** Current frame. */
  #remaining = 0;
  #mask: Buffer | null = null;
  #maskOff = 0;
  #op = 0;
  #fin = false;
  /** Payload of the control frame in progress. */
  #ctl: Buffer[] = [];
  /** The data message being assembled from its fragments. */
  #msg: { op: number; compressed: boolean; parts: Buffer[]; len: number; size: number; truncated: boolean } | null =
    null;
  #inFrame = false;

  constructor(hooks: WsHooks, deflate: WsDeflate | null, maxMessage: number) {
    this.#hooks = hooks;
    this.#deflate = deflate;
    this.#maxMessage = maxMessage;
  }

  get buffered(): number {
    return this.#headLen + (this.#msg?.len ?? 0);
  }

  gap(): void {
    if (!this.#dead) this.#fatal('capture lost data; WebSocket framing cannot be recovered');
  }

  stop(): void {
    this.#dead = true;
    this.#msg = null;
    this.#inflater?.close();
    this.#inflater = null;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.#dead) {
      if (!this.#inFrame) {
        pos = this.#readHead(chunk, pos);
        continue;
      }
      const take = Math.min(this.#remaining, chunk.length - pos);
      this.#payload(chunk.subarray(pos, pos + take));
      pos += take;
      this.#remaining -= take;
      if (this.#remaining === 0) this.#endFrame();
    }
  }

  #readHead(chunk: Buffer, pos: number): number {
    // Gather up to 14 bytes: enough for any frame header.
    const want = Math.min(14 - this.#headLen, chunk.length - pos);
    const h = Buffer.concat([...this.#head, chunk.subarray(pos, pos + want)]);
    if (h.length < 2) {
      this.#head = [h];
      this.#headLen = h.length;
      return pos + want;
    }
    const masked = (h[1]! & 0x80) !== 0;
    const len7 = h[1]! & 0x7f;
    const need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (masked ? 4 : 0);
    if (h.length < need) {
      this.#head = [h];
      this.#headLen = h.length;
      return pos + want;
    }
    const used = need - this.#headLen; // bytes of this chunk that belong to the header
    this.#head = [];
    this.#headLen = 0;
    const b0 = h[0]!;
    let len: number;
    let off = 2;
    if (len7 === 126) {
      len = h.readUInt16BE(2);
      off = 4;
    } else if (len7 === 127) {
      const big = h.readBigUInt64BE(2);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) {
        this.#fatal('frame length too large');
        return chunk.length;
      }
      len = Number(big);
      off = 10;
    } else len = len7;
    this.#mask = masked ? Buffer.from(h.subarray(off, off + 4)) : null;
    this.#maskOff = 0;
    this.#fin = (b0 & 0x80) !== 0;
    this.#op = b0 & 0x0f;
    const rsv1 = (b0 & 0x40) !== 0;
    if (this.#op >= 8) {
      if (!OPS[this.#op]) {
        this.#fatal(`unknown control opcode ${this.#op}`);
        return chunk.length;
      }
      if (!this.#fin || len > 125) {
        this.#fatal('bad control frame');
        return chunk.length;
      }
      this.#ctl = [];
    } else if (this.#op === 0) {
      if (!this.#msg) {
        this.#fatal('continuation frame without a message');
        return chunk.length;
      }
    } else if (this.#op === 1 || this.#op === 2) {
      if (this.#msg) {
        this.#fatal('new message before the previous one ended');
        return chunk.length;
      }
      if (rsv1 && !this.#deflate) {
        this.#fatal('compressed frame without permessage-deflate');
        return chunk.length;
      }
      this.#msg = { op: this.#op, compressed: rsv1, parts: [], len: 0, size: 0, truncated: false };
    } else {
      this.#fatal(`unknown opcode ${this.#op}`);
      return chunk.length;
    }
    this.#remaining = len;
    this.#inFrame = true;
    if (len === 0) this.#endFrame();
    return pos + used;
  }

  #payload(p: Buffer): void {
    if (!p.length) return;
    let data = p;
    if (this.#mask) {
      data = Buffer.allocUnsafe(p.length);
      for (let i = 0; i < p.length; i++) data[i] = p[i]! ^ this.#mask[(this.#maskOff + i) & 3]!;
      this.#maskOff = (this.#maskOff + p.length) & 3;
    }
    if (this.#op >= 8) {
      this.#ctl.push(data);
      return;
    }
    const m = this.#msg!;
    m.size += data.length;
    // Compressed messages are kept whole up to the limit plus slack: inflating needs all of it.
    const cap = m.compressed ? this.#maxMessage * 4 : this.#maxMessage;
    if (m.len + data.length > cap) {
      m.truncated = true;
      data = data.subarray(0, Math.max(0, cap - m.len));
    }
    if (data.length) {
      m.parts.push(data);
      m.len += data.length;
    }
  }

  #endFrame(): void {
    this.#inFrame = false;
    if (this.#op >= 8) {
      const data = Buffer.concat(this.#ctl);
      this.#ctl = [];
      this.#hooks.onMessage(OPS[this.#op]!, data, { compressed: false, truncated: false, size: data.length });
      return;
    }
    if (!this.#fin) return;
    const m = this.#msg!;
    this.#msg = null;
    let data: Buffer = Buffer.concat(m.parts, m.len);
    let truncated = m.truncated;
    if (m.compressed) {
      if (m.truncated) {
        // Part of the deflate stream is missing: the shared window is now unknown.
        this.#fatal(`compressed message larger than ${this.#maxMessage * 4} bytes`);
        return;
      }
      try {
        this.#inflater ??= new Inflater();
        const r = this.#inflater.inflate(Buffer.concat([data, TAIL]), this.#maxMessage);
        data = r.out;
        truncated = r.truncated;
        if (this.#deflate!.noContextTakeover) {
          this.#inflater.close();
          this.#inflater = null;
        }
      } catch (e) {
        this.#fatal(`permessage-deflate: ${(e as Error).message}`);
        return;
      }
    }
    this.#hooks.onMessage(OPS[m.op]!, data, {
      compressed: m.compressed,
      truncated,
      size: m.compressed ? data.length : m.size,
    });
  }

  #fatal(reason: string): void {
    this.stop();
    this.#hooks.onFatal(reason);
  }
}
