// AWS event-stream framing (`application/vnd.amazon.eventstream`, Amazon Bedrock's streaming
// responses). A message is: total length (u32), headers length (u32), CRC32 of those 8 bytes,
// headers, payload, CRC32 of everything before it. Both CRCs are checked: a message whose
// bytes were mangled is reported, not passed on as if it were what the server sent.
import { crc32 } from 'node:zlib';
import type { SseMessage } from './sse.js';

const PRELUDE = 12;
const MIN_MESSAGE = PRELUDE + 4;

/** A decoded message: its headers, and the payload as UTF-8 (Bedrock's are JSON). */
export interface EventStreamMessage {
  headers: Record<string, string | number | boolean>;
  payload: Buffer;
}

/**
 * An incremental decoder. `onMessage` gets each good message as an SSE-shaped one: `event` is
 * the `:event-type` header (for `:message-type` `exception`/`error`, the `:exception-type` or
 * `:error-code`), `data` the payload. The first framing problem is kept in `error`; a message
 * with a bad payload CRC is skipped, a bad prelude ends the decoding (its lengths cannot be
 * trusted, so no later message boundary can be found).
 */
export class EventStreamParser {
  #onMessage: (m: SseMessage) => void;
  #maxMessage: number;
  #buf: Buffer[] = [];
  #len = 0;
  #stopped = false;
  count = 0;
  /** Messages dropped for a framing error. */
  bad = 0;
  error: string | undefined;

  constructor(onMessage: (m: SseMessage) => void, maxMessage = 16 * 1024 * 1024) {
    this.#onMessage = onMessage;
    this.#maxMessage = maxMessage;
  }

  push(chunk: Buffer): void {
    if (this.#stopped || !chunk.length) return;
    this.#buf.push(chunk);
    this.#len += chunk.length;
    while (this.#len >= PRELUDE && !this.#stopped) {
      const head = this.#peek(PRELUDE);
      const total = head.readUInt32BE(0);
      const hlen = head.readUInt32BE(4);
      if (crc32(head.subarray(0, 8)) !== head.readUInt32BE(8)) {
        this.#stop(`event-stream message ${this.count + this.bad}: prelude CRC mismatch`);
        return;
      }
      if (total < MIN_MESSAGE || hlen > total - MIN_MESSAGE || total > this.#maxMessage) {
        this.#stop(`event-stream message ${this.count + this.bad}: bad lengths (total ${total}, headers ${hlen})`);
        return;
      }
      if (this.#len < total) return;
      const msg = this.#take(total);
      if (crc32(msg.subarray(0, total - 4)) !== msg.readUInt32BE(total - 4)) {
        this.#fail(`event-stream message ${this.count + this.bad}: message CRC mismatch`);
        continue;
      }
      const headers = parseHeaders(msg.subarray(PRELUDE, PRELUDE + hlen));
      if (!headers) {
        this.#fail(`event-stream message ${this.count + this.bad}: malformed headers`);
        continue;
      }
      this.count++;
      this.#onMessage(toSse({ headers, payload: msg.subarray(PRELUDE + hlen, total - 4) }));
    }
  }

  /** End of body: bytes of a message not complete are reported. */
  end(): void {
    if (!this.#stopped && this.#len > 0)
      this.#stop(`event-stream: body ended inside a message (${this.#len} bytes left)`);
  }

  #fail(why: string): void {
    this.bad++;
    this.error ??= why;
  }

  #stop(why: string): void {
    this.#fail(why);
    this.#stopped = true;
    this.#buf = [];
    this.#len = 0;
  }

  #peek(n: number): Buffer {
    if (this.#buf[0]!.length < n) this.#buf = [Buffer.concat(this.#buf, this.#len)];
    return this.#buf[0]!.subarray(0, n);
  }

  #take(n: number): Buffer {
    const all = this.#buf.length === 1 ? this.#buf[0]! : Buffer.concat(this.#buf, this.#len);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#buf = rest.length ? [rest] : [];
    this.#len = rest.length;
    return out;
  }
}

function toSse(m: EventStreamMessage): SseMessage {
  const h = m.headers;
  const kind = h[':message-type'];
  const name = kind === 'exception' ? h[':exception-type'] : kind === 'error' ? h[':error-code'] : h[':event-type'];
  const out: SseMessage = { data: m.payload.toString('utf8') };
  if (name !== undefined) out.event = String(name);
  if (kind === 'error' && h[':error-message'] !== undefined && !out.data)
    out.data = JSON.stringify({ message: h[':error-message'] });
  return out;
}

/** Header value types of the format; the ones Bedrock sends are strings. */
function parseHeaders(b: Buffer): Record<string, string | number | boolean> | null {
  const out: Record<string, string | number | boolean> = {};
  let p = 0;
  while (p < b.length) {
    const nlen = b[p]!;
    if (p + 1 + nlen + 1 > b.length) return null;
    const name = b.toString('utf8', p + 1, p + 1 + nlen);
    p += 1 + nlen;
    const type = b[p++]!;
    let v: string | number | boolean;
    switch (type) {
      case 0:
        v = true;
        break;
      case 1:
        v = false;
        break;
      case 2:
        if (p + 1 > b.length) return null;
        v = b.readInt8(p);
        p += 1;
        break;
      case 3:
        if (p + 2 > b.length) return null;
        v = b.readInt16BE(p);
        p += 2;
        break;
      case 4:
        if (p + 4 > b.length) return null;
        v = b.readInt32BE(p);
        p += 4;
        break;
      case 5:
      case 8:
        if (p + 8 > b.length) return null;
        v = Number(b.readBigInt64BE(p));
        p += 8;
        break;
      case 6:
      case 7: {
        if (p + 2 > b.length) return null;
        const len = b.readUInt16BE(p);
        if (p + 2 + len > b.length) return null;
        v = type === 7 ? b.toString('utf8', p + 2, p + 2 + len) : b.toString('base64', p + 2, p + 2 + len);
        p += 2 + len;
        break;
      }
      case 9:
        if (p + 16 > b.length) return null;
        v = b.toString('hex', p, p + 16);
        p += 16;
        break;
      default:
        return null;
    }
    out[name] = v;
  }
  return out;
}
