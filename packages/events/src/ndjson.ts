import { isUtf8 } from 'node:buffer';
import type { Readable, Writable } from 'node:stream';
import { MAX_EVENT_DEPTH, parseJson } from './json.js';
import { escapeJsonBytes, escapeJsonInto, lastEscapedAscii } from './jsonbytes.js';
import type { AgentEvent } from './types.js';
import { validateEvent } from './validate.js';

const UTF8_TAIL = Buffer.from('","enc":"utf8"}\n');

const BATCH_BYTES = 64 * 1024;

export interface ReadOptions {
  /** Name used in diagnostics: a file path, or "-" / "<stdin>". */
  name?: string;
  /** Stop at the first malformed line (reject) instead of reporting it and going on. */
  strict?: boolean;
  /** Lines longer than this are reported and skipped (default 256 MiB). */
  maxLineBytes?: number;
  /** Check each object against the schema (default true). */
  validate?: boolean;
  /** Where diagnostics go (default: stderr as `name:line: reason`). */
  onError?: (message: string, lineNo: number) => void;
}

export class MalformedLineError extends Error {
  constructor(
    readonly file: string,
    readonly lineNo: number,
    readonly reason: string,
  ) {
    super(`${file}:${lineNo}: ${reason}`);
  }
}

/**
 * Read NDJSON events from a byte stream, calling `onEvent` for each valid one.
 *
 * Lines are split on raw bytes rather than with split2, because split2 decodes with a
 * StringDecoder that silently replaces invalid UTF-8 with U+FFFD; the contract requires
 * such a line to be reported, not altered. A slow consumer bounds memory by pausing
 * `input` (and resuming it later); at most one chunk is processed after a pause.
 */
export function readEvents(
  input: Readable,
  onEvent: (ev: AgentEvent, lineNo: number) => void,
  opts: ReadOptions = {},
): Promise<{ lines: number; events: number; errors: number }> {
  const name = opts.name ?? '<stdin>';
  const max = opts.maxLineBytes ?? 256 * 1024 * 1024;
  const validate = opts.validate ?? true;
  const report = opts.onError ?? ((m: string) => process.stderr.write(m + '\n'));
  let lineNo = 0;
  let events = 0;
  let errors = 0;
  let parts: Buffer[] = [];
  let partLen = 0;
  let overlong = false;

  return new Promise((resolve, reject) => {
    let failed = false;
    const fail = (reason: string) => {
      errors++;
      const err = new MalformedLineError(name, lineNo, reason);
      if (opts.strict) {
        failed = true;
        input.destroy();
        reject(err);
        return;
      }
      report(err.message, lineNo);
    };

    const handleLine = (line: Buffer) => {
      lineNo++;
      if (line.length && line[line.length - 1] === 0x0d) line = line.subarray(0, -1);
      if (line.length === 0) return;
      if (!isUtf8(line)) return fail('invalid UTF-8');
      const parsed = parseJson(line.toString('utf8'), MAX_EVENT_DEPTH);
      if (!parsed.ok) return fail(parsed.reason);
      const obj = parsed.value;
      const why = validate
        ? validateEvent(obj)
        : typeof obj === 'object' && obj !== null && !Array.isArray(obj)
          ? null
          : 'not a JSON object';
      if (why) return fail(why);
      events++;
      onEvent(obj as AgentEvent, lineNo);
    };

    input.on('data', (chunk: Buffer) => {
      if (failed) return;
      try {
        onData(chunk);
      } catch (e) {
        // The consumer failed (e.g. its store's disk is full): the read fails with its error.
        failed = true;
        input.destroy();
        reject(e);
      }
    });
    const onData = (chunk: Buffer) => {
      if (typeof chunk === 'string') chunk = Buffer.from(chunk);
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        if (nl < 0) break;
        const piece = chunk.subarray(start, nl);
        start = nl + 1;
        if (overlong) {
          lineNo++;
          overlong = false;
          parts = [];
          partLen = 0;
          fail(`line longer than ${max} bytes, skipped`);
        } else if (partLen) {
          parts.push(piece);
          const line = Buffer.concat(parts, partLen + piece.length);
          parts = [];
          partLen = 0;
          if (line.length > max) {
            lineNo++;
            fail(`line longer than ${max} bytes, skipped`);
          } else handleLine(line);
        } else if (piece.length > max) {
          lineNo++;
          fail(`line longer than ${max} bytes, skipped`);
        } else {
          handleLine(piece);
        }
        if (failed) return;
      }
      if (start < chunk.length && !overlong) {
        // Copy: the chunk's memory may be reused by the producer.
        const rest = Buffer.from(chunk.subarray(start));
        parts.push(rest);
        partLen += rest.length;
        if (partLen > max) {
          overlong = true;
          parts = [];
          partLen = 0;
        }
      }
    };
    let ended = false;
    input.on('end', () => {
      ended = true;
      if (failed) return;
      if (overlong) {
        lineNo++;
        fail(`line longer than ${max} bytes, skipped`);
      } else if (partLen) {
        const line = Buffer.concat(parts, partLen);
        parts = [];
        // A last line without its newline is still a line; a truncated one fails to parse.
        try {
          handleLine(line);
        } catch (e) {
          failed = true;
          reject(e);
          return;
        }
      }
      if (!failed) resolve({ lines: lineNo, events, errors });
    });
    input.on('error', (e) => {
      if (!failed) {
        failed = true;
        reject(e);
      }
    });
    // Destroyed by the consumer (a stop requested): what was read is the result. Without
    // this the promise would never settle.
    input.on('close', () => {
      if (!failed && !ended) {
        failed = true;
        resolve({ lines: lineNo, events, errors });
      }
    });
  });
}

/** Serialise one event as an NDJSON line. */
export function formatEvent(ev: AgentEvent | Record<string, unknown>): string {
  return JSON.stringify(ev) + '\n';
}

/**
 * Writes events as whole lines to a byte stream. Lines are batched (up to 64 KiB, or until
 * the next turn of the event loop) into one `write`, which costs far less than a write per
 * event; a batch holds whole lines only, so lines never interleave even when several
 * producers share the destination (a line longer than a batch goes in several writes, one
 * after the other). `write` returns false when the destination is full; wait for
 * `drained()` before writing more to keep memory bounded. `flush()` (also done by
 * `drained()`) hands the batch over at once: call it before ending the destination.
 */
export class EventWriter {
  #out: Writable;
  #closed = false;
  #buf = Buffer.allocUnsafe(BATCH_BYTES);
  #len = 0;
  #scheduled = false;
  count = 0;

  constructor(out: Writable) {
    this.#out = out;
    out.on('close', () => {
      this.#closed = true;
    });
  }

  get closed(): boolean {
    return this.#closed || this.#out.destroyed || this.#out.writableEnded;
  }

  write(ev: AgentEvent | Record<string, unknown>): boolean {
    if (this.closed) return false;
    this.count++;
    this.#text(formatEvent(ev));
    return this.#written();
  }

  /**
   * Write `head` with a binary-safe payload of `bytes` added as its `data` and `enc` (the
   * last fields of the line): the same event as `write({ ...head, ...encodePayload(bytes) })`,
   * without making the bytes a string first (see jsonbytes.ts). `head` may be given as its
   * JSON text already. `bytes` is read before the call returns.
   */
  writePayload(head: Record<string, unknown> | string, bytes: Uint8Array): boolean {
    if (this.closed) return false;
    this.count++;
    const json = typeof head === 'string' ? head : JSON.stringify(head);
    const open = json.slice(0, -1) + (json.length > 2 ? ',"data":"' : '"data":"');
    const room = 3 * open.length + 6 * bytes.length + UTF8_TAIL.length;
    if (room <= BATCH_BYTES) {
      // The common case: all of it into the batch, the payload escaped in place. Whether
      // it is text is known from the escaping when it is all ASCII, else checked after.
      if (this.#len + room > BATCH_BYTES) this.flush();
      const b = this.#buf;
      const start = this.#len;
      const n = escapeJsonInto(bytes, b, start + b.write(open, start));
      if (lastEscapedAscii() || isUtf8(bytes)) {
        this.#len = n + UTF8_TAIL.copy(b, n);
        return this.#written();
      }
      this.#len = start; // not text after all: the line again, in base64
    } else if (isUtf8(bytes)) {
      this.#text(open);
      escapeJsonBytes(bytes, this.#piece);
      this.#bytes(UTF8_TAIL);
      return this.#written();
    }
    this.#text(
      `${open}${Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64')}","enc":"base64"}\n`,
    );
    return this.#written();
  }

  readonly #piece = (b: Uint8Array) => this.#bytes(b);

  #text(s: string): void {
    // At most 3 bytes per UTF-16 unit.
    if (this.#len + 3 * s.length > BATCH_BYTES) {
      this.flush();
      if (3 * s.length > BATCH_BYTES) {
        this.#out.write(s);
        return;
      }
    }
    this.#len += this.#buf.write(s, this.#len);
  }

  /** `b` may be a view of memory that changes after the call: copied. */
  #bytes(b: Uint8Array): void {
    if (this.#len + b.length > BATCH_BYTES) {
      this.flush();
      if (b.length > BATCH_BYTES) {
        this.#out.write(Buffer.from(b));
        return;
      }
    }
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }

  #written(): boolean {
    if (!this.#scheduled && this.#len) {
      this.#scheduled = true;
      setImmediate(() => {
        this.#scheduled = false;
        this.flush();
      });
    }
    return !this.#out.writableNeedDrain;
  }

  /** Hand the batched lines to the destination now. */
  flush(): boolean {
    if (!this.#len) return !this.#out.writableNeedDrain;
    // The destination keeps the batch until written. A small batch is copied out (a queue of
    // them must not pin 64 KiB each); a large one is handed over and a new buffer taken.
    let batch: Buffer;
    if (this.#len < BATCH_BYTES / 4) {
      batch = Buffer.from(this.#buf.subarray(0, this.#len));
    } else {
      batch = this.#buf.subarray(0, this.#len);
      this.#buf = Buffer.allocUnsafe(BATCH_BYTES);
    }
    this.#len = 0;
    if (this.closed) return false;
    return this.#out.write(batch);
  }

  /** True while the destination holds more than its high-water mark. */
  get full(): boolean {
    return this.#out.writableNeedDrain;
  }

  /** Flushes, then resolves when the destination can take more (at once if it can now). */
  drained(): Promise<void> {
    this.flush();
    if (!this.#out.writableNeedDrain || this.closed) return Promise.resolve();
    return new Promise((res) => {
      const done = () => {
        this.#out.off('drain', done);
        this.#out.off('close', done);
        res();
      };
      this.#out.on('drain', done);
      this.#out.on('close', done);
    });
  }
}
