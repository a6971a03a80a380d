import { encodePayload, type HttpRequestEvent, type HttpResponseEvent } from '@agentsight/events';
import { ContentDecoder } from './decode.js';
import type { EventStreamParser } from './eventstream.js';
import { headerValue, type MessageHead } from './http1.js';
import type { SseParser } from './sse.js';

// Message bodies, whatever the protocol that frames them: content-decoded, kept within
// a per-message and a per-connection bound, fed to the SSE parser for event streams, and
// reported as the body fields of a request or response event.

const SSE_FALLBACK_BYTES = 64 * 1024;
/** Body bytes a connection may hold at once, in units of the per-message limit. */
const CONN_BODY_FACTOR = 4;

/** A request and the response it gets, joined by `id`. */
export interface Pairing {
  id: string;
  method: string;
  /** When the request was complete (µs), once it is. */
  endTs?: number;
  startTs: number;
}

/** A message being assembled. */
export class Msg {
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
  /** The body's messages, as they arrive: SSE, or AWS event-stream frames. */
  sse: SseParser | EventStreamParser | null = null;
  interim = false;
  pairing?: Pairing;

  constructor(head: MessageHead, startTs: number) {
    this.head = head;
    this.startTs = startTs;
  }

  get heldBytes(): number {
    return this.bodyLen + this.rawLen;
  }

  /** Why the message is incomplete, if it is. */
  incomplete(why?: string): string | undefined {
    return why ?? (this.lost ? `capture lost ${this.lost} body bytes` : undefined);
  }
}

/** The bodies of one connection's messages in progress. */
export class Bodies {
  /** Body bytes held for messages in progress on this connection. */
  #kept = 0;

  constructor(readonly maxBytes: number) {}

  /** A head arrived: its content coding decides how the body is decoded. */
  setup(m: Msg): void {
    const ce = headerValue(m.head.headers, 'content-encoding');
    if (ce !== undefined) {
      const d = new ContentDecoder(ce, this.maxBytes + 1);
      if (d.coding !== '') m.decoder = d;
    }
  }

  push(m: Msg | null, raw: Buffer): void {
    if (!m || m.interim) return;
    m.rawSize += raw.length;
    const max = this.maxBytes;
    let bytes = raw;
    if (m.decoder) {
      // Keep the raw bytes too (bounded): if decoding fails they are what we can show.
      if (!m.sse && m.rawLen < max) {
        m.raw.push(raw);
        m.rawLen += raw.length;
      }
      bytes = m.decoder.passthrough ? raw : m.decoder.write(raw);
    }
    this.#decoded(m, bytes);
  }

  /** Decoded body bytes: to the SSE parser, or kept (bounded). */
  #decoded(m: Msg, bytes: Buffer): void {
    const max = this.maxBytes;
    if (!bytes.length) return;
    m.bodySize += bytes.length;
    if (m.sse) {
      // Until a first message parses, keep the start of the body: a server that labels an
      // error as an event stream but sends plain JSON must not lose it.
      if (m.sse.count === 0 && m.bodyLen < SSE_FALLBACK_BYTES) {
        m.body.push(bytes);
        m.bodyLen += bytes.length;
      }
      m.sse.push(bytes);
      if (m.sse.count > 0 && m.bodyLen) {
        m.body = [];
        m.bodyLen = 0;
      }
      return;
    }
    // Per message, and per connection: HTTP/2 can have many bodies in flight at once.
    const room = Math.min(max - m.bodyLen, max * CONN_BODY_FACTOR - this.#kept);
    if (room <= 0) {
      m.truncated = true;
      return;
    }
    if (bytes.length > room) {
      bytes = bytes.subarray(0, room);
      m.truncated = true;
    }
    m.body.push(bytes);
    m.bodyLen += bytes.length;
    this.#kept += bytes.length;
  }

  /** The body is complete: what the decoder still holds comes out (or its error). */
  end(m: Msg, incomplete?: string): void {
    if (!m.decoder || m.decoder.passthrough || m.decoder.error || incomplete) return;
    this.#decoded(m, m.decoder.end());
  }

  gap(m: Msg | null, missing: number): void {
    if (!m) return;
    m.lost += missing;
    m.rawSize += missing;
    if (m.decoder && !m.decoder.passthrough && !m.decoder.error) {
      m.decoder.error = `content-encoding ${m.decoder.coding}: capture lost bytes, cannot decode past them`;
      m.decoder.close();
    }
  }

  /** The body fields of the event reporting `m`; the message's bytes are released. */
  finish(m: Msg, out: HttpRequestEvent | HttpResponseEvent): void {
    if (!m.sse) this.#kept -= m.bodyLen;
    let body: Buffer | null = null;
    let size = m.bodySize;
    if (m.decoder?.error) {
      out.decode_error = m.decoder.error;
      if (!m.sse) {
        // Show the bytes as they were on the wire.
        body = Buffer.concat(m.raw, m.rawLen);
        size = m.rawSize;
        if (body.length > this.maxBytes) body = body.subarray(0, this.maxBytes);
        if (body.length < size) m.truncated = true;
        else m.truncated = false;
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
    if (body?.length) Object.assign(out, encodePayload(body));
    if (m.truncated) out.body_truncated = true;
  }
}
