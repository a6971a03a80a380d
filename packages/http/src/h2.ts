// HTTP/2 framing (RFC 9113) for one direction of one connection: frames cut from
// captured chunks of any size, header blocks (HEADERS + CONTINUATION, PUSH_PROMISE)
// decoded in order with this direction's own HPACK table, DATA handed out per stream.
// Flow control, priorities and settings change nothing about what was said, so they are
// read past.

import { HpackDecoder, HpackError } from './hpack.js';

export const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface H2Hooks {
  onHeaders(stream: number, headers: Array<[string, string]>, endStream: boolean): void;
  onData(stream: number, data: Buffer, endStream: boolean): void;
  onReset(stream: number, code: number): void;
  /** The peer will not process streams above `lastStream`. */
  onGoaway(lastStream: number, code: number): void;
  /** The direction cannot be read further (framing or HPACK broken, or data lost). */
  onFatal(reason: string): void;
}

export interface H2Options {
  /** Largest frame payload accepted (the protocol maximum is 2^24-1). */
  maxFrameBytes?: number;
  /** Largest header block (HEADERS plus CONTINUATION). */
  maxHeaderBlock?: number;
}

const T = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;
const F = { END_STREAM: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

export class H2Reader {
  readonly hpack: HpackDecoder;
  #hooks: H2Hooks;
  #maxFrame: number;
  #maxBlock: number;
  /** Bytes of the client preface still expected (client-to-server direction only). */
  #preface: number;
  #acc: Buffer[] = [];
  #accLen = 0;
  #dead = false;
  /** A header block being continued: its stream, flags and the fragments so far. */
  #block: { stream: number; endStream: boolean; parts: Buffer[]; len: number; push: boolean } | null = null;
  frames = 0;

  /** `client` is true for the direction that starts with the connection preface. */
  constructor(client: boolean, hooks: H2Hooks, opts: H2Options = {}) {
    this.#hooks = hooks;
    this.#preface = client ? H2_PREFACE.length : 0;
    this.#maxFrame = opts.maxFrameBytes ?? (1 << 24) - 1;
    this.#maxBlock = opts.maxHeaderBlock ?? 256 * 1024;
    this.hpack = new HpackDecoder();
  }

  get dead(): boolean {
    return this.#dead;
  }
  get buffered(): number {
    return this.#accLen;
  }

  /** Lost bytes: frame boundaries and the HPACK table are gone for good. */
  gap(): void {
    if (!this.#dead) this.#fatal('capture lost data; HTTP/2 framing and header table cannot be recovered');
  }

  stop(): void {
    this.#dead = true;
    this.#acc = [];
    this.#accLen = 0;
    this.#block = null;
  }

  push(chunk: Buffer): void {
    if (this.#dead) return;
    let pos = 0;
    if (this.#preface) {
      const n = Math.min(this.#preface, chunk.length);
      const off = H2_PREFACE.length - this.#preface;
      if (!chunk.subarray(0, n).equals(H2_PREFACE.subarray(off, off + n)))
        return this.#fatal('bad HTTP/2 connection preface');
      this.#preface -= n;
      pos = n;
    }
    while (pos < chunk.length && !this.#dead) {
      // Gather the 9-byte header, then the payload, across chunks.
      const need = this.#need();
      if (this.#dead) return;
      const take = Math.min(need - this.#accLen, chunk.length - pos);
      this.#acc.push(chunk.subarray(pos, pos + take));
      this.#accLen += take;
      pos += take;
      if (this.#accLen < need) return;
      const buf = this.#acc.length === 1 ? this.#acc[0]! : Buffer.concat(this.#acc, this.#accLen);
      const len = buf.readUIntBE(0, 3);
      if (buf.length < 9 + len) {
        this.#acc = [buf];
        continue;
      }
      this.#acc = [];
      this.#accLen = 0;
      this.#frame(buf[3]!, buf[4]!, buf.readUInt32BE(5) & 0x7fffffff, buf.subarray(9, 9 + len));
    }
  }

  /** Bytes the current frame needs in total, as far as known. */
  #need(): number {
    if (this.#accLen < 9) return 9;
    const head = this.#acc.length === 1 ? this.#acc[0]! : Buffer.concat(this.#acc, this.#accLen);
    this.#acc = [head];
    const len = head.readUIntBE(0, 3);
    if (len > this.#maxFrame) {
      this.#fatal(`frame of ${len} bytes over the limit`);
      return 0;
    }
    return 9 + len;
  }

  #frame(type: number, flags: number, stream: number, p: Buffer): void {
    this.frames++;
    if (this.#block && type !== T.CONTINUATION) return this.#fatal('header block interrupted by another frame');
    switch (type) {
      case T.DATA: {
        const body = this.#unpad(flags, p);
        if (body === null) return;
        if (stream === 0) return this.#fatal('DATA on stream 0');
        this.#hooks.onData(stream, body, (flags & F.END_STREAM) !== 0);
        return;
      }
      case T.HEADERS: {
        let frag = this.#unpad(flags, p);
        if (frag === null) return;
        if (flags & F.PRIORITY) {
          if (frag.length < 5) return this.#fatal('HEADERS priority truncated');
          frag = frag.subarray(5);
        }
        if (stream === 0) return this.#fatal('HEADERS on stream 0');
        this.#startBlock(stream, (flags & F.END_STREAM) !== 0, frag, (flags & F.END_HEADERS) !== 0, false);
        return;
      }
      case T.PUSH_PROMISE: {
        // Its header block must be decoded to keep the table in step; the pushed
        // request itself is of no interest here.
        let frag = this.#unpad(flags, p);
        if (frag === null) return;
        if (frag.length < 4) return this.#fatal('PUSH_PROMISE truncated');
        frag = frag.subarray(4);
        this.#startBlock(stream, false, frag, (flags & F.END_HEADERS) !== 0, true);
        return;
      }
      case T.CONTINUATION: {
        const b = this.#block;
        if (!b || b.stream !== stream) return this.#fatal('CONTINUATION without a header block');
        b.parts.push(p);
        b.len += p.length;
        if (b.len > this.#maxBlock) return this.#fatal(`header block over ${this.#maxBlock} bytes`);
        if (flags & F.END_HEADERS) this.#endBlock();
        return;
      }
      case T.RST_STREAM:
        if (p.length !== 4) return this.#fatal('RST_STREAM of wrong size');
        this.#hooks.onReset(stream, p.readUInt32BE(0));
        return;
      case T.GOAWAY:
        if (p.length < 8) return this.#fatal('GOAWAY truncated');
        this.#hooks.onGoaway(p.readUInt32BE(0) & 0x7fffffff, p.readUInt32BE(4));
        return;
      default:
        // SETTINGS, PING, PRIORITY, WINDOW_UPDATE, and unknown types (which must be ignored).
        return;
    }
  }

  #unpad(flags: number, p: Buffer): Buffer | null {
    if (!(flags & F.PADDED)) return p;
    if (p.length < 1 || p[0]! + 1 > p.length) {
      this.#fatal('padding longer than the frame');
      return null;
    }
    return p.subarray(1, p.length - p[0]!);
  }

  #startBlock(stream: number, endStream: boolean, frag: Buffer, end: boolean, push: boolean): void {
    this.#block = { stream, endStream, parts: [frag], len: frag.length, push };
    if (frag.length > this.#maxBlock) return this.#fatal(`header block over ${this.#maxBlock} bytes`);
    if (end) this.#endBlock();
  }

  #endBlock(): void {
    const b = this.#block!;
    this.#block = null;
    let headers: Array<[string, string]>;
    try {
      headers = this.hpack.decode(b.parts.length === 1 ? b.parts[0]! : Buffer.concat(b.parts, b.len));
    } catch (e) {
      if (e instanceof HpackError) return this.#fatal(`HPACK: ${e.message}`);
      throw e;
    }
    if (!b.push) this.#hooks.onHeaders(b.stream, headers, b.endStream);
  }

  #fatal(reason: string): void {
    this.stop();
    this.#hooks.onFatal(reason);
  }
}

/** Does this first chunk of a server-to-client direction look like HTTP/2 (a SETTINGS frame)? */
export function looksLikeH2Server(b: Buffer): boolean {
  if (b.length < 9) return false;
  const len = b.readUIntBE(0, 3);
  return (
    b[3] === 4 && (b[4] === 0 || b[4] === 1) && (b.readUInt32BE(5) & 0x7fffffff) === 0 && len % 6 === 0 && len <= 6 * 16
  );
}
