// Events into ClickHouse as a Stage: rows gather into batches, each batch becomes a segment in
// the on-disk buffer, and one sender ships segments oldest first with the official client
// (@clickhouse/client, over the HTTP interface), retrying with backoff while ClickHouse is
// away. Nothing is lost within the buffer's bound; beyond it the oldest rows go, counted.

import { type AgentEvent, hostIdentity, type Stage } from '@agentsight/events';
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { type Segment, SegmentBuffer } from './buffer.js';
import { checkTable, createTableSql, DEFAULT_TABLE, toRow } from './schema.js';

export interface SinkOptions {
  /** ClickHouse HTTP interface, e.g. http://localhost:8123 (user:password@ in the URL works). */
  url: string;
  table?: string;
  bufferDir: string;
  /** Bound of the on-disk buffer. */
  maxBufferBytes?: number;
  batchRows?: number;
  /** Longest a row waits for its batch to fill. */
  batchDelayMs?: number;
  /** Host identity written with every row (default: this host's, from hostIdentity()). */
  host?: string;
  machineId?: string;
  requestTimeoutMs?: number;
  /** First retry delay; doubles to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  warn?: (msg: string) => void;
}

export interface SinkStats {
  /** Rows taken in. */
  rows: number;
  /** Rows ClickHouse acknowledged. */
  sent: number;
  /** Rows dropped from the buffer to stay within its bound. */
  dropped: number;
  /** Rows still in the buffer (sent by the next start on the same buffer directory). */
  buffered: number;
  inserts: number;
  /** Failed insert attempts (each retried). */
  retries: number;
  lastError?: string;
}

export class ClickHouseSink implements Stage {
  readonly client: ClickHouseClient;
  readonly table: string;
  readonly buffer: SegmentBuffer;
  private pending: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;
  private inFlight: Segment | undefined;
  private schemaReady = false;
  private stopped = false;
  private wake: (() => void) | undefined;
  private run = '';
  private readonly host: string;
  private readonly machineId: string;
  private readonly opts: Required<Pick<SinkOptions, 'batchRows' | 'batchDelayMs' | 'minBackoffMs' | 'maxBackoffMs'>>;
  readonly stats: SinkStats = { rows: 0, sent: 0, dropped: 0, buffered: 0, inserts: 0, retries: 0 };
  private warnedDrop = false;

  constructor(private readonly o: SinkOptions) {
    this.table = checkTable(o.table ?? DEFAULT_TABLE);
    this.buffer = new SegmentBuffer(o.bufferDir, o.maxBufferBytes ?? 256 * 1024 * 1024);
    const me = hostIdentity();
    this.host = o.host ?? me.name;
    this.machineId = o.machineId ?? me.id ?? '';
    this.opts = {
      batchRows: o.batchRows ?? 5000,
      batchDelayMs: o.batchDelayMs ?? 1000,
      minBackoffMs: o.minBackoffMs ?? 250,
      maxBackoffMs: o.maxBackoffMs ?? 30_000,
    };
    this.client = createClient({
      url: o.url,
      request_timeout: o.requestTimeoutMs ?? 30_000,
      // One insert at a time is the design (segments in order); a retry must not wait on a dead socket.
      keep_alive: { enabled: false },
      // Failures are counted and reported here, once, not logged per attempt by the client.
      log: { level: ClickHouseLogLevel.OFF },
    });
    if (this.buffer.length) this.kick();
  }

  write(ev: AgentEvent): void {
    // A run's events follow its meta/run event: the row carries the run it belongs to.
    if (ev.src === 'meta' && ev.type === 'run' && typeof (ev as { run?: unknown }).run === 'string')
      this.run = (ev as { run: string }).run;
    this.stats.rows++;
    this.pending.push(JSON.stringify(toRow(ev, { host: this.host, machineId: this.machineId, run: this.run })));
    if (this.pending.length >= this.opts.batchRows) this.seal();
    else this.timer ??= setTimeout(() => this.seal(), this.opts.batchDelayMs);
  }

  end(): void {
    this.seal();
  }

  /** The batch so far becomes a segment on disk, and the sender is woken. */
  private seal(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.pending.length) return;
    const lines = this.pending;
    this.pending = [];
    this.buffer.append(lines, this.inFlight);
    this.stats.dropped = this.buffer.droppedRows;
    if (this.stats.dropped && !this.warnedDrop) {
      this.warnedDrop = true;
      this.o.warn?.(
        `buffer over ${this.buffer.maxBytes} bytes while ClickHouse is away: dropping oldest rows (counted)`,
      );
    }
    this.kick();
  }

  private kick(): void {
    if (this.wake) {
      const w = this.wake;
      this.wake = undefined;
      w();
    }
    this.sending ??= this.sendLoop().finally(() => {
      this.sending = undefined;
    });
  }

  private async sendLoop(): Promise<void> {
    let backoff = this.opts.minBackoffMs;
    for (;;) {
      const seg = this.buffer.oldest();
      if (!seg || this.stopped) return;
      this.inFlight = seg;
      try {
        if (!this.schemaReady) {
          await this.client.command({ query: createTableSql(this.table) });
          this.schemaReady = true;
        }
        const text = this.buffer.read(seg);
        const values = text
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        await this.client.insert({ table: this.table, values, format: 'JSONEachRow' });
        this.stats.inserts++;
        this.stats.sent += seg.rows;
        backoff = this.opts.minBackoffMs;
      } catch (e) {
        this.inFlight = undefined;
        this.stats.retries++;
        this.stats.lastError = (e as Error).message;
        if (this.stats.retries === 1 || this.stats.retries % 20 === 0)
          this.o.warn?.(
            `ClickHouse insert failed (retrying, ${this.buffer.rows} rows buffered): ${this.stats.lastError}`,
          );
        // Sleep, or wake early when stop() wants the loop to end.
        await new Promise<void>((r) => {
          const t = setTimeout(r, backoff * (0.75 + Math.random() * 0.5));
          this.wake = () => {
            clearTimeout(t);
            r();
          };
        });
        this.wake = undefined;
        backoff = Math.min(backoff * 2, this.opts.maxBackoffMs);
        if (this.stopped) return;
        continue;
      }
      this.inFlight = undefined;
      this.buffer.done(seg);
    }
  }

  /**
   * End of input: seal the last batch and send until the buffer is empty or timeoutMs has
   * passed; what is left stays on disk for the next start. Closes the client.
   */
  async shutdown(timeoutMs: number): Promise<SinkStats> {
    this.seal();
    const deadline = Date.now() + timeoutMs;
    while (this.buffer.length && Date.now() < deadline) {
      this.kick();
      await Promise.race([
        this.sending,
        new Promise((r) => setTimeout(r, Math.max(0, Math.min(200, deadline - Date.now())))),
      ]);
    }
    this.stopped = true;
    this.wake?.();
    await this.sending;
    await this.client.close();
    this.stats.dropped = this.buffer.droppedRows;
    this.stats.buffered = this.buffer.rows;
    return { ...this.stats };
  }
}
