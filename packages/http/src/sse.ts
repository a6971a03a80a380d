// Incremental Server-Sent Events parsing (WHATWG HTML, "event stream interpretation"),
// on bytes: lines are cut on raw bytes and decoded whole, so a multi-byte UTF-8
// character split across chunks is never mangled.

export interface SseMessage {
  event?: string;
  data: string;
  id?: string;
  retry?: number;
}

const CR = 0x0d;
const LF = 0x0a;

export class SseParser {
  #onMessage: (m: SseMessage) => void;
  #maxLine: number;
  #line: Buffer[] = [];
  #lineLen = 0;
  #lineOverflow = false;
  /** The previous chunk ended with CR: a LF starting the next one belongs to it. */
  #lastWasCr = false;
  #bomChecked = false;
  #bomPartial: Buffer | null = null;
  #event: string | undefined;
  #data: string[] = [];
  #dataLen = 0;
  #hasData = false;
  #id: string | undefined;
  #retry: number | undefined;
  count = 0;

  /** `maxLine` bounds one line (and one message's data); excess is dropped. */
  constructor(onMessage: (m: SseMessage) => void, maxLine = 16 * 1024 * 1024) {
    this.#onMessage = onMessage;
    this.#maxLine = maxLine;
  }

  push(chunk: Buffer): void {
    if (!this.#bomChecked) {
      // A UTF-8 BOM may only appear at the very start of the stream, and may itself be split.
      if (this.#bomPartial) {
        chunk = Buffer.concat([this.#bomPartial, chunk]);
        this.#bomPartial = null;
      }
      if (chunk.length < 3 && BOM.subarray(0, chunk.length).equals(chunk)) {
        this.#bomPartial = chunk;
        return;
      }
      this.#bomChecked = true;
      if (chunk.length >= 3 && chunk[0] === 0xef && chunk[1] === 0xbb && chunk[2] === 0xbf) chunk = chunk.subarray(3);
    }
    let pos = 0;
    const n = chunk.length;
    if (this.#lastWasCr && n > 0) {
      if (chunk[0] === LF) pos = 1;
      this.#lastWasCr = false;
    }
    // Next CR and next LF, found with indexOf (native, fast) and cached while ahead.
    let nextCr = -2;
    let nextLf = -2;
    while (pos < n) {
      if (nextCr !== -1 && nextCr < pos) nextCr = chunk.indexOf(CR, pos);
      if (nextLf !== -1 && nextLf < pos) nextLf = chunk.indexOf(LF, pos);
      const end = nextCr < 0 ? (nextLf < 0 ? n : nextLf) : nextLf < 0 ? nextCr : Math.min(nextCr, nextLf);
      if (end === n) {
        this.#gather(chunk.subarray(pos, n));
        return;
      }
      this.#gather(chunk.subarray(pos, end));
      this.#takeLine();
      if (chunk[end] === CR) {
        if (end + 1 < n) pos = chunk[end + 1] === LF ? end + 2 : end + 1;
        else {
          this.#lastWasCr = true;
          pos = n;
        }
      } else pos = end + 1;
    }
  }

  /** End of stream. A message not closed by a blank line is still delivered: it was received. */
  end(): void {
    if (this.#lineLen || this.#line.length) this.#takeLine();
    this.#dispatch();
  }

  #gather(b: Buffer): void {
    if (!b.length || this.#lineOverflow) return;
    if (this.#lineLen + b.length > this.#maxLine) {
      this.#lineOverflow = true;
      return;
    }
    this.#line.push(b);
    this.#lineLen += b.length;
  }

  #takeLine(): void {
    const bytes = this.#line.length === 1 ? this.#line[0]! : Buffer.concat(this.#line, this.#lineLen);
    this.#line = [];
    this.#lineLen = 0;
    this.#lineOverflow = false;
    if (bytes.length === 0) {
      this.#dispatch();
      return;
    }
    if (bytes[0] === 0x3a) return; // ":" comment
    const line = bytes.toString('utf8');
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon < 0) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.charCodeAt(colon + 1) === 0x20 ? line.slice(colon + 2) : line.slice(colon + 1);
    }
    switch (field) {
      case 'event':
        this.#event = value;
        break;
      case 'data':
        this.#hasData = true;
        if (this.#dataLen + value.length <= this.#maxLine) {
          this.#data.push(value);
          this.#dataLen += value.length + 1;
        }
        break;
      case 'id':
        if (!value.includes('\0')) this.#id = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.#retry = Number(value);
        break;
      default:
        break; // unknown fields are ignored
    }
  }

  #dispatch(): void {
    // As the SDKs do (and unlike a browser), an `event:` without data is still delivered:
    // some providers send bare named events.
    if (this.#hasData || this.#event !== undefined) {
      const m: SseMessage = { data: this.#data.join('\n') };
      if (this.#event !== undefined) m.event = this.#event;
      if (this.#id !== undefined) m.id = this.#id;
      if (this.#retry !== undefined) m.retry = this.#retry;
      this.count++;
      this.#onMessage(m);
    }
    this.#event = undefined;
    this.#data = [];
    this.#dataLen = 0;
    this.#hasData = false;
    this.#retry = undefined;
    // `id` persists across messages per the spec (last event ID) but is reported only
    // on the message that set it.
    this.#id = undefined;
  }
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
