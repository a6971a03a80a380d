import zlib from 'node:zlib';
import { Decompress as ZstdDecompress } from 'fzstd';

// Streaming, synchronous Content-Encoding decoding. A Stage must emit events in the
// call that fed it bytes (SSE messages "as they arrive"), and zlib's stream objects
// are asynchronous while its *Sync functions are one-shot. So this drives the zlib
// handle the way Node's own processChunkSync does (lib/zlib.js), without closing it
// after each chunk. Those are internals (stable from Node 14 to 22); when they are
// missing the decoder says so and bodies are reported raw.

type Engine = zlib.Gunzip | zlib.Inflate | zlib.InflateRaw | zlib.BrotliDecompress;

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

const OUT_CHUNK = 64 * 1024;

const SUPPORTED = new Set(['gzip', 'x-gzip', 'deflate', 'br', 'zstd']);

/** Undoes a Content-Encoding chunk by chunk. Errors are reported, never thrown. */
export class ContentDecoder {
  /** Set when decoding failed or the coding is unsupported; the raw bytes are then what counts. */
  error?: string;
  readonly coding: string;
  #engine?: Engine;
  #flush = zlib.constants.Z_SYNC_FLUSH;
  /** For deflate: zlib-wrapped (RFC 1950) or raw (what some servers send); decided on the first byte. */
  #deflatePending = false;
  #maxOut: number;
  #out = 0;
  #buf: Buffer | undefined;
  #zstd: ZstdDecompress | undefined;
  #zout: Buffer[] = [];

  /** `codings` is the Content-Encoding header value. `maxOut` bounds the decoded size. */
  constructor(codings: string, maxOut: number) {
    this.#maxOut = maxOut;
    const list = codings
      .toLowerCase()
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s && s !== 'identity');
    this.coding = list.join(', ');
    if (list.length === 0) return;
    if (list.length > 1) {
      this.error = `content-encoding ${JSON.stringify(codings)}: stacked codings not decoded`;
      return;
    }
    const c = list[0]!;
    if (!SUPPORTED.has(c)) {
      this.error = `content-encoding ${JSON.stringify(c)}: not supported`;
      return;
    }
    if (c === 'zstd') {
      // Node 20's zlib has no zstd; fzstd is a synchronous streaming decoder in JS that
      // yields each block as it completes, which is what a flushed stream needs.
      this.#zstd = new ZstdDecompress((d) => {
        this.#zout.push(Buffer.from(d));
      });
      return;
    }
    if (c === 'br') {
      this.#engine = zlib.createBrotliDecompress();
      this.#flush = zlib.constants.BROTLI_OPERATION_FLUSH;
    } else if (c === 'deflate') {
      this.#deflatePending = true;
    } else {
      this.#engine = zlib.createGunzip();
    }
    // Errors are read from the stream state after each write; an 'error' event with no listener
    // would otherwise crash the process later.
    this.#engine?.on('error', () => {});
    if (this.#engine && !usable(this.#engine)) {
      this.error = 'zlib internals missing in this Node: body not decoded';
      this.#engine = undefined;
    }
  }

  /** True when bytes pass through unchanged (identity, or an undecodable coding). */
  get passthrough(): boolean {
    return !this.#engine && !this.#deflatePending && !this.#zstd;
  }

  /** Decoded bytes for this raw chunk (possibly empty); empty once an error is set. */
  write(chunk: Buffer): Buffer {
    if (this.error) return EMPTY;
    if (this.#deflatePending) {
      if (chunk.length === 0) return EMPTY;
      // A zlib header has CM=8 in the low nibble and a header checksum divisible by 31;
      // anything else is taken as raw deflate.
      const wrapped = (chunk[0]! & 0x0f) === 8 && (chunk.length < 2 || ((chunk[0]! << 8) | chunk[1]!) % 31 === 0);
      this.#engine = wrapped ? zlib.createInflate() : zlib.createInflateRaw();
      this.#engine.on('error', () => {});
      this.#deflatePending = false;
    }
    if (this.#zstd) return this.#writeZstd(chunk);
    if (!this.#engine) return chunk;
    if (this.#out >= this.#maxOut) return EMPTY;
    const z = this.#engine as unknown as ZlibInternals;
    const handle = z._handle;
    const state = z._writeState;
    const parts: Buffer[] = [];
    let total = 0;
    let inOff = 0;
    let inLen = chunk.length;
    try {
      for (;;) {
        this.#buf ??= Buffer.allocUnsafe(OUT_CHUNK);
        handle!.writeSync(this.#flush, chunk, inOff, inLen, this.#buf, 0, OUT_CHUNK);
        if (z.errored || z.destroyed) throw z.errored ?? new Error('decoder failed');
        const availOut = state[0]!;
        const availIn = state[1]!;
        const have = OUT_CHUNK - availOut;
        if (have > 0) {
          // Copied out: the buffer is reused for the next call.
          parts.push(Buffer.from(this.#buf.subarray(0, have)));
          total += have;
        }
        inOff += inLen - availIn;
        inLen = availIn;
        // Output space left over means zlib has produced all it can from this input.
        if (availOut !== 0 || this.#out + total >= this.#maxOut) break;
      }
    } catch (e) {
      this.error = `content-encoding ${this.coding}: ${(e as Error).message}`;
      this.close();
      return EMPTY;
    }
    this.#out += total;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
  }

  /** End of the body: anything still held, or an error for a stream cut short. */
  end(): Buffer {
    if (!this.#zstd || this.error) return EMPTY;
    return this.#writeZstd(EMPTY, true);
  }

  #writeZstd(chunk: Buffer, final = false): Buffer {
    if (this.#out >= this.#maxOut) return EMPTY;
    try {
      this.#zstd!.push(chunk, final);
    } catch (e) {
      this.error = `content-encoding zstd: ${(e as Error).message}`;
      this.#zstd = undefined;
      this.#zout = [];
      return EMPTY;
    }
    const out = this.#zout.length === 1 ? this.#zout[0]! : Buffer.concat(this.#zout);
    this.#zout = [];
    this.#out += out.length;
    return out;
  }

  close(): void {
    this.#zstd = undefined;
    try {
      this.#engine?.close();
    } catch {
      /* already closed */
    }
    this.#engine = undefined;
  }
}

const EMPTY = Buffer.alloc(0);

function usable(e: Engine): boolean {
  const z = e as unknown as ZlibInternals;
  return !!z._handle && typeof z._handle.writeSync === 'function' && z._writeState instanceof Uint32Array;
}
