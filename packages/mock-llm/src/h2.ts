// HTTP/2 for the mock (opt in with `http2: true`): ALPN offers h2, and each stream is answered
// by the same respond() as an HTTP/1.1 connection. respond() writes HTTP/1.1 (a head, then a
// sized or chunked body; a replay writes recorded bytes whole), so a stream's sink reads that
// back and puts it on the stream as HEADERS and DATA: the API renderings stay in one place.
import type http2 from 'node:http2';
import type { RawRequest } from './http1.js';

/** Where respond() writes one response: a socket (HTTP/1.1) or an HTTP/2 stream. */
export interface ResponseSink {
  readonly alive: boolean;
  write(b: Buffer | string): Promise<void>;
  head(status: number, headers: Record<string, string>): Promise<void>;
  /** End the response abruptly (a cut mid-stream): the socket, or a reset of the stream. */
  destroy(): void;
}

/** HTTP/1.1 connection headers HTTP/2 forbids (RFC 9113 8.2.2). */
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection']);

export class H2Sink implements ResponseSink {
  #head: Buffer = Buffer.alloc(0);
  #responded = false;
  #chunked = false;
  /** Body bytes still due with a content-length; -1: until the end. */
  #left = -1;
  #chunk: Buffer = Buffer.alloc(0);
  /** Chunked: bytes of the current chunk still to pass on. */
  #inChunk = 0;
  #ended = false;

  constructor(readonly stream: http2.ServerHttp2Stream) {}

  get alive(): boolean {
    return !this.#ended && !this.stream.destroyed && !this.stream.closed;
  }

  async head(status: number, headers: Record<string, string>): Promise<void> {
    this.#respond(status, headers);
  }

  destroy(): void {
    this.#ended = true;
    // Not close(code): that ends the stream's writable side first, a clean END_STREAM
    // the reset then follows too late to count. destroy(err) resets it at once.
    this.stream.destroy(new Error('cut by the mock'));
  }

  /** After respond(): a body with neither a length nor chunks ends with the response. */
  end(): void {
    if (!this.alive) return;
    this.#ended = true;
    if (!this.#responded) this.stream.respond({ ':status': 502 });
    this.stream.end();
  }

  async write(b: Buffer | string): Promise<void> {
    let d = typeof b === 'string' ? Buffer.from(b) : b;
    if (!this.alive) return;
    if (!this.#responded) {
      // A replay: the recorded response's own head comes first.
      this.#head = Buffer.concat([this.#head, d]);
      const end = this.#head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = this.#head.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(/^HTTP\/\d\.\d (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 502);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
      }
      d = this.#head.subarray(end + 4);
      this.#respond(status, headers);
    }
    await this.#body(d);
  }

  #respond(status: number, headers: Record<string, string>): void {
    this.#responded = true;
    const out: http2.OutgoingHttpHeaders = { ':status': status };
    for (const [k, v] of Object.entries(headers)) if (!HOP.has(k.toLowerCase())) out[k.toLowerCase()] = v;
    this.#chunked = /chunked/i.test(headers['transfer-encoding'] ?? '');
    this.#left = this.#chunked ? -1 : Number(headers['content-length'] ?? -1);
    this.stream.respond(out, { endStream: this.#left === 0 });
    if (this.#left === 0) this.#ended = true;
  }

  async #body(d: Buffer): Promise<void> {
    if (!this.#chunked) {
      const take = this.#left >= 0 ? d.subarray(0, this.#left) : d;
      if (this.#left >= 0) this.#left -= take.length;
      await this.#send(take, this.#left === 0);
      return;
    }
    this.#chunk = this.#chunk.length ? Buffer.concat([this.#chunk, d]) : d;
    while (this.#chunk.length && !this.#ended) {
      if (this.#inChunk > 0) {
        const take = this.#chunk.subarray(0, this.#inChunk);
        this.#inChunk -= take.length;
        this.#chunk = this.#chunk.subarray(take.length);
        await this.#send(take, false);
        continue;
      }
      const nl = this.#chunk.indexOf('\r\n');
      if (nl < 0) return;
      if (nl === 0) {
        // The CRLF after a chunk's data.
        this.#chunk = this.#chunk.subarray(2);
        continue;
      }
      const size = Number.parseInt(this.#chunk.subarray(0, nl).toString('latin1'), 16);
      this.#chunk = this.#chunk.subarray(nl + 2);
      if (!(size > 0)) {
        await this.#send(Buffer.alloc(0), true);
        return;
      }
      this.#inChunk = size;
    }
  }

  async #send(d: Buffer, last: boolean): Promise<void> {
    if (!this.alive) return;
    if (last) {
      this.#ended = true;
      this.stream.end(d);
      return;
    }
    if (!d.length || this.stream.write(d)) return;
    await new Promise<void>((r) => {
      const done = () => {
        this.stream.off('drain', done);
        this.stream.off('close', done);
        r();
      };
      this.stream.on('drain', done);
      this.stream.on('close', done);
    });
  }
}

/** The request of an HTTP/2 stream, in the shape the HTTP/1.1 parser gives. */
export function h2Request(headers: http2.IncomingHttpHeaders, body: Buffer): RawRequest {
  const plain: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith(':') || v === undefined) continue;
    plain[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  if (headers[':authority'] && !plain.host) plain.host = String(headers[':authority']);
  return {
    method: String(headers[':method'] ?? 'GET'),
    target: String(headers[':path'] ?? '/'),
    version: 'HTTP/2',
    headers: plain,
    body,
    keepAlive: true,
  };
}
