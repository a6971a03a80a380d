import { isUtf8 } from 'node:buffer';

// An incremental HTTP/1.x message parser for one direction of one connection.
//
// Node's llhttp binding is internal and wants a socket; we need a parser we can feed
// captured byte chunks of any size, that survives missing bytes (capture loss) by
// resynchronising, and that never buffers more than a bounded head. Bodies are handed
// out as subarrays of the input chunks, never copied or concatenated here.

export type Side = 'request' | 'response';

export interface MessageHead {
  side: Side;
  /** "HTTP/1.1" or "HTTP/1.0". */
  version: string;
  method?: string;
  target?: string;
  status?: number;
  reason?: string;
  /** Lower-cased names, in wire order, repeats kept. */
  headers: Array<[string, string]>;
}

/** How the body of a message is delimited, decided by the connection once it sees the head. */
export interface BodyPlan {
  kind: 'none' | 'length' | 'chunked' | 'close';
  length?: number;
  /**
   * After this message: 'hold' buffers further bytes until resume()/stop() (a request that
   * asked to upgrade, whose fate the response decides); 'stop' parses nothing more
   * (101 Switching Protocols, CONNECT tunnel).
   */
  then?: 'hold' | 'stop';
}

export interface ParserHooks {
  /** The first byte of a message arrived. */
  onStart?(): void;
  /** A head was parsed. Returns how its body is delimited. */
  onHead(head: MessageHead): BodyPlan | string;
  onBody(chunk: Buffer): void;
  /** `missing` body bytes were lost in capture but the framing let us skip them exactly. */
  onBodyGap(missing: number): void;
  /** The message ended; `incomplete` says why when it did not end normally. */
  onEnd(trailers: Array<[string, string]> | null, incomplete?: string): void;
  /**
   * Bytes that are not HTTP were skipped. `first` is true when the direction's very first
   * bytes failed (likely not an HTTP connection at all); `h2` for an HTTP/2 preface.
   */
  onError(reason: string, bytes: number, info: { first: boolean; h2?: boolean }): void;
}

export interface ParserOptions {
  /** Largest head (start line + headers) accepted, and largest trailer block. */
  maxHeadBytes?: number;
  /** Bytes held while waiting for an upgrade decision before giving up on the connection. */
  maxHoldBytes?: number;
}

const enum S {
  Idle,
  Head,
  BodyLength,
  ChunkSize,
  ChunkData,
  ChunkDataEnd,
  Trailers,
  BodyClose,
  Hold,
  Resync,
  Dead,
}

const CR = 0x0d;
const LF = 0x0a;
const MAX_CHUNK_LINE = 4096;
const H2_REASON = 'HTTP/2 connection preface';

// RFC 9110 tchar: what a method or header name may be made of.
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
  TCHAR[c.charCodeAt(0)] = 1;

const REQUEST_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+) (\S+) HTTP\/(1\.[01])$/;
const STATUS_LINE = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/;
// Methods we accept as the start of a request when resynchronising inside a stream:
// a full, well-formed request line is required there, so garbage rarely matches.
const RESYNC_REQUEST = /(?:^|\n)((?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|CONNECT|TRACE) \S+ HTTP\/1\.[01]\r?\n)/;
const RESYNC_RESPONSE = /(?:^|\n)(HTTP\/1\.[01] \d{3}[^\r\n]*\r?\n)/;

export class Http1Parser {
  readonly side: Side;
  #hooks: ParserHooks;
  #maxHead: number;
  #maxHold: number;
  #state: S = S.Idle;
  /** Head / chunk-size line / trailer bytes gathered so far (bounded). */
  #acc: Buffer[] = [];
  #accLen = 0;
  #remaining = 0;
  #then: BodyPlan['then'];
  #held: Buffer[] = [];
  #heldLen = 0;
  /** True until the direction's first message head has been accepted. */
  #first = true;
  #inMessage = false;
  #noHold = false;
  #divert: ((b: Buffer) => void) | null = null;
  /** Carry for resync scanning across chunk boundaries. */
  #tail = '';
  /** Bytes skipped since the last error report (resync, dead). */
  skipped = 0;
  messages = 0;

  constructor(side: Side, hooks: ParserHooks, opts: ParserOptions = {}) {
    this.side = side;
    this.#hooks = hooks;
    this.#maxHead = opts.maxHeadBytes ?? 64 * 1024;
    this.#maxHold = opts.maxHoldBytes ?? 1024 * 1024;
  }

  get state(): string {
    return [
      'idle',
      'head',
      'body',
      'chunk-size',
      'chunk-data',
      'chunk-end',
      'trailers',
      'body-until-close',
      'hold',
      'resync',
      'dead',
    ][this.#state]!;
  }

  /** True while a message is partly parsed. */
  get busy(): boolean {
    return this.#inMessage;
  }

  /** Bytes held in memory by the parser itself (head, hold buffer). */
  get buffered(): number {
    return this.#accLen + this.#heldLen + this.#tail.length;
  }

  /** Parse nothing more; count what arrives. */
  stop(): void {
    this.#state = S.Dead;
    this.#held = [];
    this.#heldLen = 0;
    this.#acc = [];
    this.#accLen = 0;
  }

  /**
   * Hand every byte from now on (and any held) to `fn`: the connection switched to
   * another protocol that is parsed elsewhere.
   */
  divert(fn: (b: Buffer) => void): void {
    this.#divert = fn;
    const held = this.#held;
    this.#held = [];
    this.#heldLen = 0;
    // Dead now, unless the message announcing the switch is still being read.
    if (this.#state === S.Hold || this.#state === S.Idle) this.#state = S.Dead;
    for (const b of held) fn(b);
  }

  /** Leave the hold state and parse what was held (the upgrade was refused). */
  resume(): void {
    // The answer can come before the request has finished (a response to an upgrade
    // request while its body is still being sent): then do not hold at all.
    if (this.#state !== S.Hold) {
      this.#noHold = true;
      return;
    }
    const held = this.#held;
    this.#held = [];
    this.#heldLen = 0;
    this.#state = S.Idle;
    for (const b of held) this.push(b);
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const n = chunk.length;
    // A chunk that starts a message outright is the strongest resync signal there is:
    // clients and servers begin each message with a fresh write.
    if (this.#state === S.Resync && this.#startsMessage(chunk)) {
      this.#state = S.Idle;
      this.#tail = '';
    }
    while (pos < n) {
      switch (this.#state) {
        case S.Idle: {
          // RFC 9112 2.2: ignore at least one empty line before a request-line.
          while (pos < n && (chunk[pos] === CR || chunk[pos] === LF)) pos++;
          if (pos === n) break;
          this.#state = S.Head;
          this.#inMessage = true;
          this.#hooks.onStart?.();
          break;
        }
        case S.Head: {
          pos = this.#pushHead(chunk, pos);
          break;
        }
        case S.BodyLength: {
          const take = Math.min(this.#remaining, n - pos);
          this.#hooks.onBody(chunk.subarray(pos, pos + take));
          pos += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#endMessage(null);
          break;
        }
        case S.ChunkSize: {
          pos = this.#pushChunkSize(chunk, pos);
          break;
        }
        case S.ChunkData: {
          const take = Math.min(this.#remaining, n - pos);
          this.#hooks.onBody(chunk.subarray(pos, pos + take));
          pos += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#state = S.ChunkDataEnd;
          break;
        }
        case S.ChunkDataEnd: {
          const c = chunk[pos]!;
          if (c === CR) {
            pos++;
            break;
          }
          if (c === LF) {
            pos++;
            this.#state = S.ChunkSize;
            break;
          }
          this.#fail('chunked: missing CRLF after chunk data', 0);
          break;
        }
        case S.Trailers: {
          pos = this.#pushTrailers(chunk, pos);
          break;
        }
        case S.BodyClose: {
          this.#hooks.onBody(pos === 0 ? chunk : chunk.subarray(pos));
          pos = n;
          break;
        }
        case S.Hold: {
          const rest = pos === 0 ? chunk : chunk.subarray(pos);
          this.#held.push(rest);
          this.#heldLen += rest.length;
          pos = n;
          if (this.#heldLen > this.#maxHold) {
            // No answer came while the client kept talking: the upgrade went through
            // and what we hold is the new protocol.
            this.skipped += this.#heldLen;
            this.stop();
          }
          break;
        }
        case S.Resync: {
          pos = this.#scanResync(chunk, pos);
          break;
        }
        case S.Dead: {
          if (this.#divert) this.#divert(pos === 0 ? chunk : chunk.subarray(pos));
          else this.skipped += n - pos;
          pos = n;
          break;
        }
      }
    }
  }

  /**
   * Capture lost bytes here. With `missing` known and the body framed by length, the
   * loss is skipped exactly and parsing goes on; otherwise the message in progress ends
   * incomplete and the parser looks for the next message start.
   */
  gap(missing?: number): void {
    if (missing !== undefined && missing > 0) {
      if ((this.#state === S.BodyLength || this.#state === S.ChunkData) && missing <= this.#remaining) {
        this.#hooks.onBodyGap(missing);
        this.#remaining -= missing;
        if (this.#remaining === 0) {
          if (this.#state === S.BodyLength) this.#endMessage(null);
          else this.#state = S.ChunkDataEnd;
        }
        return;
      }
      if (this.#state === S.BodyClose) {
        this.#hooks.onBodyGap(missing);
        return;
      }
    }
    if (this.#state === S.Dead) return;
    if (this.#state === S.Hold) {
      this.stop();
      return;
    }
    if (this.#inMessage && this.#state !== S.Head) this.#hooks.onEnd(null, 'capture lost data');
    this.#reset();
    this.#state = S.Resync;
    this.#first = false;
  }

  /** The connection is gone (or input ended): end what is in progress. */
  finish(reason: string): void {
    if (this.#inMessage && this.#state !== S.Head && this.#state !== S.Dead && this.#state !== S.Resync) {
      this.#hooks.onEnd(null, reason);
    }
    this.#reset();
    this.#state = S.Dead;
  }

  #reset(): void {
    this.#acc = [];
    this.#accLen = 0;
    this.#remaining = 0;
    this.#inMessage = false;
    this.#tail = '';
  }

  #startsMessage(chunk: Buffer): boolean {
    const s = chunk.toString('latin1', 0, Math.min(chunk.length, 8192));
    const m = (this.side === 'request' ? RESYNC_REQUEST : RESYNC_RESPONSE).exec(s);
    return m !== null && m.index === 0 && !s.startsWith('\n');
  }

  #scanResync(chunk: Buffer, pos: number): number {
    // Look for a full start line at a line start. Only the region after the last line
    // break needs carrying over to the next chunk, bounded.
    const text = this.#tail + chunk.toString('latin1', pos);
    const re = this.side === 'request' ? RESYNC_REQUEST : RESYNC_RESPONSE;
    const m = re.exec(text);
    if (m) {
      const start = m.index + m[0].length - m[1]!.length;
      // `start` is an index into text; map it back into chunk.
      const inChunk = start - this.#tail.length;
      if (inChunk >= 0) {
        this.skipped += inChunk;
        this.#tail = '';
        this.#state = S.Idle;
        return pos + inChunk;
      }
      // The start line began in the carried tail: re-feed the tail's part as a chunk.
      const carried = Buffer.from(this.#tail.slice(start), 'latin1');
      this.#tail = '';
      this.#state = S.Idle;
      this.push(carried);
      return pos;
    }
    this.skipped += chunk.length - pos;
    const lastNl = text.lastIndexOf('\n');
    let tail = lastNl >= 0 ? text.slice(lastNl) : text;
    if (tail.length > 8192) tail = '';
    this.#tail = tail;
    return chunk.length;
  }

  #gather(chunk: Buffer, from: number, to: number): void {
    if (to > from) {
      this.#acc.push(chunk.subarray(from, to));
      this.#accLen += to - from;
    }
  }

  #takeAcc(): Buffer {
    const b = this.#acc.length === 1 ? this.#acc[0]! : Buffer.concat(this.#acc, this.#accLen);
    this.#acc = [];
    this.#accLen = 0;
    return b;
  }

  /** Finds the blank line ending a head; returns the new position. */
  #pushHead(chunk: Buffer, pos: number): number {
    // Search for LF followed by (CR) LF, allowing the pattern to straddle chunks by
    // looking back up to 3 bytes into what was gathered.
    const start = pos;
    let end = -1;
    let i = pos;
    for (;;) {
      const lf = chunk.indexOf(LF, i);
      if (lf < 0) break;
      // What precedes this LF, possibly in the accumulator.
      const b1 = this.#byteBefore(chunk, start, lf, 1);
      const b2 = this.#byteBefore(chunk, start, lf, 2);
      if (b1 === LF || (b1 === CR && b2 === LF)) {
        end = lf + 1;
        break;
      }
      i = lf + 1;
    }
    if (this.#first && this.#accLen < 24) {
      // Decide early whether this is HTTP at all, before gathering a whole head of binary.
      const probe = Buffer.concat([...this.#acc, chunk.subarray(start, Math.min(chunk.length, start + 24))]);
      const why = this.#probe(probe);
      if (why) {
        const h2 = why === H2_REASON;
        const bytes = this.#accLen + chunk.length - start;
        this.#reset();
        this.#first = false;
        this.#state = h2 ? S.Dead : S.Resync;
        this.#hooks.onError(why, bytes, { first: true, h2 });
        return h2 ? chunk.length : this.#scanResync(chunk, start);
      }
    }
    if (end < 0) {
      this.#gather(chunk, start, chunk.length);
      if (this.#accLen > this.#maxHead) this.#fail(`head larger than ${this.#maxHead} bytes`, 0);
      return chunk.length;
    }
    this.#gather(chunk, start, end);
    if (this.#accLen > this.#maxHead) {
      this.#fail(`head larger than ${this.#maxHead} bytes`, 0);
      return end;
    }
    const head = this.#takeAcc();
    this.#onHead(head);
    return end;
  }

  #byteBefore(chunk: Buffer, start: number, at: number, back: number): number {
    const idx = at - back;
    if (idx >= start) return chunk[idx]!;
    // Into the accumulator, from its end.
    let need = start - idx; // 1-based from the end of acc
    for (let k = this.#acc.length - 1; k >= 0; k--) {
      const a = this.#acc[k]!;
      if (need <= a.length) return a[a.length - need]!;
      need -= a.length;
    }
    return -1;
  }

  /** Why these first bytes cannot start an HTTP message of our side, or null if they may. */
  #probe(b: Buffer): string | null {
    if (this.side === 'response') {
      const want = 'HTTP/1.';
      for (let i = 0; i < Math.min(b.length, want.length); i++) {
        if (b[i] !== want.charCodeAt(i)) return describe(b, 'not an HTTP/1 response');
      }
      return null;
    }
    for (let i = 0; i < b.length; i++) {
      const c = b[i]!;
      if (c === 0x20)
        return i > 0
          ? b.subarray(0, 4).toString('latin1') === 'PRI '
            ? H2_REASON
            : null
          : describe(b, 'not an HTTP/1 request');
      if (!TCHAR[c]) return describe(b, 'not an HTTP/1 request');
    }
    return b.length >= 24 ? describe(b, 'not an HTTP/1 request') : null;
  }

  #onHead(raw: Buffer): void {
    // Field values are octets (RFC 9110 5.5); UTF-8 is what they hold in practice when
    // not ASCII, so show it as such when it is valid, byte-per-char otherwise.
    const text = raw.toString(isUtf8(raw) ? 'utf8' : 'latin1');
    const lines = text.split(/\r?\n/);
    while (lines.length && lines[lines.length - 1] === '') lines.pop();
    const startLine = lines[0] ?? '';
    const head: MessageHead = { side: this.side, version: 'HTTP/1.1', headers: [] };
    if (this.side === 'request') {
      const m = REQUEST_LINE.exec(startLine);
      if (!m)
        return this.#fail(
          this.#first
            ? describe(raw, 'not an HTTP/1 request')
            : `bad request line ${JSON.stringify(startLine.slice(0, 60))}`,
          raw.length,
        );
      head.method = m[1]!;
      head.target = m[2]!;
      head.version = `HTTP/${m[3]}`;
    } else {
      const m = STATUS_LINE.exec(startLine);
      if (!m)
        return this.#fail(
          this.#first
            ? describe(raw, 'not an HTTP/1 response')
            : `bad status line ${JSON.stringify(startLine.slice(0, 60))}`,
          raw.length,
        );
      head.version = `HTTP/${m[1]}`;
      head.status = Number(m[2]);
      head.reason = m[3] ?? '';
    }
    const fields = parseFields(lines, 1);
    if (typeof fields === 'string') return this.#fail(fields, raw.length);
    head.headers = fields;
    this.#first = false;
    this.messages++;
    const plan = this.#hooks.onHead(head);
    if (typeof plan === 'string') return this.#fail(plan, raw.length);
    this.#then = plan.then;
    switch (plan.kind) {
      case 'none':
        this.#endMessage(null);
        break;
      case 'length':
        if (!plan.length) {
          this.#endMessage(null);
          break;
        }
        this.#remaining = plan.length;
        this.#state = S.BodyLength;
        break;
      case 'chunked':
        this.#state = S.ChunkSize;
        break;
      case 'close':
        this.#state = S.BodyClose;
        break;
    }
  }

  #pushChunkSize(chunk: Buffer, pos: number): number {
    const lf = chunk.indexOf(LF, pos);
    if (lf < 0) {
      this.#gather(chunk, pos, chunk.length);
      if (this.#accLen > MAX_CHUNK_LINE) this.#fail('chunked: chunk-size line too long', 0);
      return chunk.length;
    }
    this.#gather(chunk, pos, lf);
    const line = this.#takeAcc().toString('latin1');
    // chunk-size [ chunk-ext ] CRLF; extensions are ignored (RFC 9112 7.1.1).
    const semi = line.indexOf(';');
    const hex = (semi >= 0 ? line.slice(0, semi) : line).trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) {
      this.#fail(`chunked: bad chunk size ${JSON.stringify(line.slice(0, 40))}`, 0);
      return lf + 1;
    }
    const size = parseInt(hex, 16);
    if (size === 0) this.#state = S.Trailers;
    else {
      this.#remaining = size;
      this.#state = S.ChunkData;
    }
    return lf + 1;
  }

  #pushTrailers(chunk: Buffer, pos: number): number {
    // Trailer section: header lines up to an empty line. Gathered whole (bounded).
    let i = pos;
    for (;;) {
      const lf = chunk.indexOf(LF, i);
      if (lf < 0) {
        this.#gather(chunk, pos, chunk.length);
        if (this.#accLen > this.#maxHead) this.#fail('chunked: trailers too large', 0);
        return chunk.length;
      }
      // Is the line ending at `lf` empty? Its start is the previous LF (or the section start).
      const lineStart = this.#lineStartBefore(chunk, pos, lf);
      const isEmpty = lineStart.len === 0 || (lineStart.len === 1 && lineStart.firstIsCr);
      if (isEmpty) {
        this.#gather(chunk, pos, lf + 1);
        const text = this.#takeAcc().toString('latin1');
        const lines = text.split(/\r?\n/).filter((l) => l !== '');
        const fields = parseFields(lines, 0);
        if (typeof fields === 'string') {
          this.#fail(`trailers: ${fields}`, 0);
          return lf + 1;
        }
        this.#endMessage(fields.length ? fields : null);
        return lf + 1;
      }
      i = lf + 1;
    }
  }

  /** Length of the line that ends at `lf`, counting gathered bytes, and whether it starts with CR. */
  #lineStartBefore(chunk: Buffer, pos: number, lf: number): { len: number; firstIsCr: boolean } {
    const prevLf = lf > pos ? chunk.lastIndexOf(LF, lf - 1) : -1;
    if (prevLf >= pos) return { len: lf - prevLf - 1, firstIsCr: chunk[prevLf + 1] === CR };
    // The line began in the accumulator (or at the start of the trailer section).
    let len = lf - pos;
    let first = len > 0 ? chunk[pos]! : -1;
    for (let k = this.#acc.length - 1; k >= 0; k--) {
      const a = this.#acc[k]!;
      const p = a.lastIndexOf(LF);
      if (p >= 0) {
        len += a.length - p - 1;
        if (a.length - p - 1 > 0) first = a[p + 1]!;
        return { len, firstIsCr: first === CR };
      }
      len += a.length;
      if (a.length) first = a[0]!;
    }
    return { len, firstIsCr: first === CR };
  }

  #endMessage(trailers: Array<[string, string]> | null): void {
    this.#inMessage = false;
    this.#hooks.onEnd(trailers);
    const then = this.#then;
    this.#then = undefined;
    if (this.#state === S.Dead || this.#state === S.Resync) return;
    const hold = then === 'hold' && !this.#noHold;
    this.#noHold = false;
    this.#state = then === 'stop' ? S.Dead : hold ? S.Hold : S.Idle;
  }

  #fail(reason: string, extra: number): void {
    const bytes = this.#accLen + extra;
    const first = this.#first;
    if (this.#inMessage && this.#state !== S.Head) this.#hooks.onEnd(null, `parse error: ${reason}`);
    this.#reset();
    this.#first = false;
    this.#state = S.Resync;
    this.#hooks.onError(reason, bytes, { first });
  }
}

/** Parse header field lines from `lines[from]` on. A string result is the error. */
function parseFields(lines: string[], from: number): Array<[string, string]> | string {
  const out: Array<[string, string]> = [];
  for (let i = from; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const c = line.charCodeAt(0);
    if (c === 0x20 || c === 0x09) {
      // obs-fold (RFC 9112 5.2): a continuation of the previous field value.
      if (!out.length) return 'header continuation with no field';
      out[out.length - 1]![1] += ' ' + line.trim();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) return `bad header line ${JSON.stringify(line.slice(0, 60))}`;
    const name = line.slice(0, colon);
    for (let k = 0; k < name.length; k++) {
      if (!TCHAR[name.charCodeAt(k)]) return `bad header name ${JSON.stringify(name.slice(0, 60))}`;
    }
    out.push([name.toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return out;
}

function describe(b: Buffer, what: string): string {
  let printable = 0;
  const n = Math.min(b.length, 64);
  for (let i = 0; i < n; i++) {
    const c = b[i]!;
    if ((c >= 0x20 && c < 0x7f) || c === CR || c === LF || c === 0x09) printable++;
  }
  if (n && printable < n * 0.9) return `${what}: binary data`;
  return `${what}: ${JSON.stringify(b.toString('latin1', 0, Math.min(b.length, 24)))}`;
}

/** Value of a header (repeats joined with ", "), or undefined. */
export function headerValue(headers: Array<[string, string]>, name: string): string | undefined {
  let v: string | undefined;
  for (const [k, x] of headers) if (k === name) v = v === undefined ? x : `${v}, ${x}`;
  return v;
}

/**
 * RFC 9112 6.3 message body length, for the head of a message. `requestMethod` is the
 * method of the request a response answers (undefined when unknown).
 */
export function planBody(head: MessageHead, requestMethod?: string): BodyPlan | string {
  const te = headerValue(head.headers, 'transfer-encoding');
  const cl = headerValue(head.headers, 'content-length');
  if (head.side === 'response') {
    const st = head.status!;
    if (st === 101) return { kind: 'none', then: 'stop' };
    if (requestMethod === 'CONNECT' && st >= 200 && st < 300) return { kind: 'none', then: 'stop' };
    if (requestMethod === 'HEAD' || (st >= 100 && st < 200) || st === 204 || st === 304) return { kind: 'none' };
  }
  if (te !== undefined) {
    const codings = te
      .toLowerCase()
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (codings[codings.length - 1] === 'chunked') return withHold(head, { kind: 'chunked' });
    // A request whose length cannot be known cannot be parsed further (RFC 9112 6.3 p4).
    if (head.side === 'request') return `transfer-encoding ${JSON.stringify(te)} without chunked`;
    return { kind: 'close' };
  }
  if (cl !== undefined) {
    const parts = cl.split(',').map((s) => s.trim());
    if (!parts.every((p) => /^\d{1,15}$/.test(p) && p === parts[0]))
      return `bad content-length ${JSON.stringify(cl.slice(0, 40))}`;
    return withHold(head, { kind: 'length', length: Number(parts[0]) });
  }
  if (head.side === 'request') return withHold(head, { kind: 'none' });
  return { kind: 'close' };
}

function withHold(head: MessageHead, plan: BodyPlan): BodyPlan {
  if (head.side === 'request') {
    if (head.method === 'CONNECT') plan.then = 'hold';
    else if (
      headerValue(head.headers, 'upgrade') !== undefined &&
      /\bupgrade\b/i.test(headerValue(head.headers, 'connection') ?? '')
    )
      plan.then = 'hold';
  }
  return plan;
}
