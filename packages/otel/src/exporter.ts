// OTLP/HTTP trace exporter: a bounded queue drained in batches by one sender, which
// retries throttling, server errors and network failures with backoff (honouring
// Retry-After) and never lets the queue grow past its bounds: when the collector is
// down, new spans are dropped and counted rather than held without limit.
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { Agent, type Dispatcher, request } from 'undici';
import { type KeyValue, sizeOf } from './attrs.js';
import { buildRequest, type ExportRequest, encodeProtobuf, type OtlpSpan, rejectedSpans } from './otlp.js';

export type Protocol = 'http/protobuf' | 'http/json';

export interface ExporterOptions {
  /** Full traces URL, e.g. http://localhost:4318/v1/traces. */
  url: string;
  headers?: Record<string, string>;
  /** PEM CA bundle to trust for https (instead of the system's). */
  ca?: string;
  protocol?: Protocol;
  compression?: 'gzip' | 'none';
  resource: KeyValue[];
  scope: { name: string; version?: string };
  /** Spans per request. */
  batchSize?: number;
  /** Longest a span waits in the queue before a (partial) batch is sent. */
  delayMs?: number;
  /** Queue bounds; spans beyond them are dropped and counted. */
  maxQueueSpans?: number;
  maxQueueBytes?: number;
  /** Per-request timeout. */
  timeoutMs?: number;
  /** Attempts per batch (first try included) before it is given up. */
  maxAttempts?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Instead of sending, hand each request (OTLP/JSON form) here: the --stdout mode. */
  sink?: (req: ExportRequest) => void;
  warn?: (msg: string) => void;
}

export interface ExportStats {
  /** Spans handed to the exporter. */
  spans: number;
  /** Spans the collector accepted. */
  exported: number;
  /** Dropped because the queue was full. */
  dropped: number;
  /** Rejected by the collector, given up after retries, or still unsent at shutdown. */
  failed: number;
  requests: number;
  retries: number;
}

const RETRYABLE = (s: number) => s === 429 || (s >= 500 && s !== 501 && s !== 505);

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function retryAfterMs(v: string | string[] | undefined, now = Date.now()): number | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return undefined;
  if (/^\s*\d+\s*$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

interface Queued {
  span: OtlpSpan;
  size: number;
}

class TimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`no answer in ${ms} ms`);
  }
}

export class OtlpExporter {
  readonly stats: ExportStats = { spans: 0, exported: 0, dropped: 0, failed: 0, requests: 0, retries: 0 };
  readonly #o: Required<Omit<ExporterOptions, 'sink' | 'headers' | 'warn' | 'ca'>> &
    Pick<ExporterOptions, 'sink' | 'headers' | 'warn'>;
  readonly #dispatcher: Dispatcher | undefined;
  #queue: Queued[] = [];
  #queueBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #due = false;
  #running: Promise<void> | undefined;
  #abort = new AbortController();
  #lastError = '';
  #warnedDrop = false;
  /** False from a failed attempt (network, 429, 5xx) until the next success. */
  #healthy = true;
  #waiters: Array<() => void> = [];

  constructor(opts: ExporterOptions) {
    this.#o = {
      protocol: 'http/protobuf',
      compression: 'none',
      batchSize: 512,
      delayMs: 1000,
      maxQueueSpans: 8192,
      maxQueueBytes: 64 << 20,
      timeoutMs: 10_000,
      maxAttempts: 6,
      initialBackoffMs: 500,
      maxBackoffMs: 30_000,
      ...opts,
    };
    // A batch larger than the queue could never be congested before the queue is full (as
    // the OpenTelemetry SDKs do, the batch is at most the queue).
    this.#o.batchSize = Math.max(1, Math.min(this.#o.batchSize, this.#o.maxQueueSpans));
    this.#dispatcher = opts.ca ? new Agent({ connect: { ca: opts.ca } }) : undefined;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /**
   * True while the queue is over half full and the collector is answering: the caller
   * should hold its input (see room()). While the collector is failing this stays false,
   * so input goes on and what does not fit in the queue is dropped and counted: a
   * collector that is down never stalls a live capture.
   */
  get congested(): boolean {
    return (
      this.#healthy &&
      !this.#abort.signal.aborted &&
      (this.#queue.length >= Math.max(this.#o.batchSize, this.#o.maxQueueSpans / 2) ||
        this.#queueBytes >= this.#o.maxQueueBytes / 2)
    );
  }

  /**
   * True while the queue is at its limit and the collector is answering: a span added now
   * would be dropped though it would be sent if it waited (see OtelStage, which holds it).
   */
  get full(): boolean {
    return (
      this.#healthy &&
      !this.#abort.signal.aborted &&
      (this.#queue.length >= this.#o.maxQueueSpans || this.#queueBytes >= this.#o.maxQueueBytes)
    );
  }

  /** Resolves when the exporter is no longer congested. */
  room(): Promise<void> {
    if (!this.congested) return Promise.resolve();
    return new Promise((res) => this.#waiters.push(res));
  }

  #wake(): void {
    if (this.congested) return;
    for (const w of this.#waiters.splice(0)) w();
  }

  get queuedBytes(): number {
    return this.#queueBytes;
  }
  get lastError(): string {
    return this.#lastError;
  }

  add(span: OtlpSpan): void {
    this.stats.spans++;
    const size = sizeOf(span);
    if (
      this.#abort.signal.aborted ||
      this.#queue.length >= this.#o.maxQueueSpans ||
      this.#queueBytes + size > this.#o.maxQueueBytes
    ) {
      this.stats.dropped++;
      if (!this.#warnedDrop) {
        this.#warnedDrop = true;
        this.#o.warn?.(
          `export queue full (${this.#queue.length} spans${this.#lastError ? `; ${this.#lastError}` : ''}): dropping spans`,
        );
      }
      return;
    }
    this.#queue.push({ span, size });
    this.#queueBytes += size;
    if (this.#queue.length >= this.#o.batchSize) this.#kick(false);
    else
      this.#timer ??= setTimeout(() => {
        this.#timer = undefined;
        this.#kick(true);
      }, this.#o.delayMs);
  }

  /** Send everything queued now; resolves when the queue is empty and nothing is in flight. */
  async flush(): Promise<void> {
    while ((this.#queue.length && !this.#abort.signal.aborted) || this.#running) {
      this.#kick(true);
      await this.#running;
    }
  }

  /**
   * Flush, waiting at most `timeoutMs`; then abandon retries and count what is left as
   * failed. The exporter takes no more spans afterwards.
   */
  async shutdown(timeoutMs: number): Promise<ExportStats> {
    const timer = setTimeout(() => this.#abort.abort(), timeoutMs);
    try {
      await this.flush();
    } finally {
      clearTimeout(timer);
      this.#abort.abort();
      if (this.#timer) clearTimeout(this.#timer);
      this.#wake();
    }
    this.stats.failed += this.#queue.length;
    this.#queue = [];
    this.#queueBytes = 0;
    return this.stats;
  }

  #kick(due: boolean): void {
    if (due) this.#due = true;
    this.#running ??= this.#run().finally(() => {
      this.#running = undefined;
      // Spans added after the run's last look at the queue, before it settled, found it
      // still running: without another run nothing would send them.
      if (!this.#abort.signal.aborted && this.#queue.length && (this.#due || this.#queue.length >= this.#o.batchSize))
        this.#kick(false);
    });
  }

  async #run(): Promise<void> {
    while (this.#queue.length && (this.#due || this.#queue.length >= this.#o.batchSize)) {
      if (this.#abort.signal.aborted) return;
      const batch = this.#queue.splice(0, this.#o.batchSize);
      for (const q of batch) this.#queueBytes -= q.size;
      await this.#send(batch.map((q) => q.span));
      this.#wake();
    }
    if (!this.#queue.length) {
      this.#due = false;
      if (this.#timer) {
        clearTimeout(this.#timer);
        this.#timer = undefined;
      }
    } else if (!this.#timer && !this.#abort.signal.aborted) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#kick(true);
      }, this.#o.delayMs);
    }
  }

  #encode(req: ExportRequest): { body: Buffer; headers: Record<string, string> } {
    const json = this.#o.protocol === 'http/json';
    let body = json ? Buffer.from(JSON.stringify(req)) : Buffer.from(encodeProtobuf(req));
    const headers: Record<string, string> = {
      ...this.#o.headers,
      'content-type': json ? 'application/json' : 'application/x-protobuf',
    };
    if (this.#o.compression === 'gzip') {
      body = gzipSync(body);
      headers['content-encoding'] = 'gzip';
    }
    return { body, headers };
  }

  async #send(spans: OtlpSpan[]): Promise<void> {
    const req = buildRequest(this.#o.resource, this.#o.scope, spans);
    const n = spans.length;
    if (this.#o.sink) {
      this.#o.sink(req);
      this.stats.requests++;
      this.stats.exported += n;
      return;
    }
    const { body, headers } = this.#encode(req);
    for (let attempt = 1; ; attempt++) {
      if (this.#abort.signal.aborted) {
        this.stats.failed += n;
        return;
      }
      let wait: number | undefined;
      let why: string;
      // One timer per attempt, covering the connection, the answer and its body. Not
      // AbortSignal.timeout: combined with AbortSignal.any nothing holds it, and a
      // collector that never answers stalled the export when it was collected unfired.
      const attemptAbort = new AbortController();
      const onAbort = () => attemptAbort.abort(this.#abort.signal.reason);
      this.#abort.signal.addEventListener('abort', onAbort);
      const timer = setTimeout(() => attemptAbort.abort(new TimeoutError(this.#o.timeoutMs)), this.#o.timeoutMs);
      try {
        this.stats.requests++;
        const res = await request(this.#o.url, {
          method: 'POST',
          headers,
          body,
          ...(this.#dispatcher ? { dispatcher: this.#dispatcher } : {}),
          signal: attemptAbort.signal,
        });
        const resBody = new Uint8Array(await res.body.arrayBuffer());
        const ctype = res.headers['content-type'];
        const contentType = Array.isArray(ctype) ? ctype[0] : ctype;
        if (res.statusCode >= 200 && res.statusCode < 300) {
          const { rejected, message } = rejectedSpans(resBody, contentType);
          if (rejected) this.#o.warn?.(`collector rejected ${rejected} of ${n} spans${message ? `: ${message}` : ''}`);
          this.stats.exported += n - Math.min(rejected, n);
          this.stats.failed += Math.min(rejected, n);
          this.#lastError = '';
          this.#healthy = true;
          return;
        }
        const text =
          contentType?.includes('json') || contentType?.startsWith('text/')
            ? Buffer.from(resBody).toString('utf8').slice(0, 200)
            : '';
        why = `HTTP ${res.statusCode}${text ? `: ${text.trim()}` : ''}`;
        if (!RETRYABLE(res.statusCode)) {
          this.#lastError = why;
          this.#o.warn?.(`collector refused ${n} spans (${why}); not retried`);
          this.stats.failed += n;
          return;
        }
        wait = retryAfterMs(res.headers['retry-after']);
      } catch (e) {
        if (this.#abort.signal.aborted) {
          this.stats.failed += n;
          return;
        }
        const err = e as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
        // `code` is not always a string (a DOMException's is a number).
        const code = [err.code, err.cause?.code, err.name].find((c) => typeof c === 'string' && c !== '');
        why = code ?? 'error';
        if (err.message && !why.includes(err.message)) why += ` (${err.message})`;
      } finally {
        clearTimeout(timer);
        this.#abort.signal.removeEventListener('abort', onAbort);
      }
      this.#lastError = `${this.#o.url}: ${why}`;
      this.#healthy = false;
      this.#wake();
      if (attempt >= this.#o.maxAttempts) {
        this.#o.warn?.(`giving up on ${n} spans after ${attempt} attempts: ${this.#lastError}`);
        this.stats.failed += n;
        return;
      }
      this.stats.retries++;
      const backoff = Math.min(this.#o.maxBackoffMs, this.#o.initialBackoffMs * 2 ** (attempt - 1));
      const delay = Math.min(wait ?? backoff * (0.5 + Math.random() / 2), Math.max(this.#o.maxBackoffMs, 60_000));
      try {
        await sleep(delay, undefined, { signal: this.#abort.signal });
      } catch {
        this.stats.failed += n;
        return;
      }
    }
  }
}
