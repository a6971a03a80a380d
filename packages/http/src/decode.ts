import zlib from 'node:zlib';

// Streaming, synchronous Content-Encoding decoding. A Stage must emit events in the
// call that fed it bytes (SSE messages "as they arrive"), and zlib's stream objects
// are asynchronous; their `_processChunk` is the synchronous core Node's own
// *Sync functions use, fed here with a flush so each chunk yields what it can.

type Engine = zlib.Gunzip | zlib.Inflate | zlib.InflateRaw | zlib.BrotliDecompress;

interface SyncEngine {
  _processChunk(chunk: Buffer, flush: number): Buffer;
}

const SUPPORTED = new Set(['gzip', 'x-gzip', 'deflate', 'br']);

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

  /** `codings` is the Content-Encoding header value. `maxOut` bounds the decoded size. */
  constructor(codings: string, maxOut: number) {
    this.#maxOut = maxOut;
    const list = codings.toLowerCase().split(',').map((s) => s.trim()).filter((s) => s && s !== 'identity');
    this.coding = list.join(', ');
    if (list.length === 0) return;
    if (list.length > 1) { this.error = `content-encoding ${JSON.stringify(codings)}: stacked codings not decoded`; return; }
    const c = list[0]!;
    if (!SUPPORTED.has(c)) {
      this.error = c === 'zstd' ? 'content-encoding zstd: not supported by this Node (zstd arrives in Node 22.15)' : `content-encoding ${JSON.stringify(c)}: not supported`;
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
    // Errors are caught where _processChunk throws; an 'error' event with no listener
    // would otherwise crash the process later.
    this.#engine?.on('error', () => {});
    if (this.#engine && typeof (this.#engine as unknown as SyncEngine)._processChunk !== 'function') {
      this.error = 'zlib synchronous interface missing in this Node';
      this.#engine = undefined;
    }
  }

  /** True when bytes pass through unchanged (identity, or an undecodable coding). */
  get passthrough(): boolean {
    return !this.#engine && !this.#deflatePending;
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
    if (!this.#engine) return chunk;
    if (this.#out >= this.#maxOut) return EMPTY;
    try {
      const out = (this.#engine as unknown as SyncEngine)._processChunk(chunk, this.#flush);
      this.#out += out.length;
      return out;
    } catch (e) {
      this.error = `content-encoding ${this.coding}: ${(e as Error).message}`;
      this.close();
      return EMPTY;
    }
  }

  close(): void {
    try { this.#engine?.close(); } catch { /* already closed */ }
    this.#engine = undefined;
  }
}

const EMPTY = Buffer.alloc(0);
