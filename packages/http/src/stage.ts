import type { AgentEvent, Emit, SslDataEvent, Stage } from '@agentsight/events';
import { redactForStore, redactHttp } from '@agentsight/redact';
import { Conn } from './conn.js';
import type { HttpStats } from './session.js';

export interface HttpStageOptions {
  /**
   * Replace secrets by a fingerprint (auth headers, cookies, key-like query parameters, and
   * key-like fields and values in bodies, SSE and WebSocket messages). Default true.
   */
  redact?: boolean;
  /** Body bytes kept per message (decoded); beyond, the body is cut and `body_truncated` set. Default 16 MiB. */
  maxBodyBytes?: number;
  /** A connection with no data for this long is flushed and forgotten. Default 300 s. */
  idleTimeoutS?: number;
  /** Largest head or trailer block. Default 64 KiB. */
  maxHeadBytes?: number;
  /** How long a hole in the sequence numbers is waited for before it counts as lost. Default 2 s. */
  reorderWaitMs?: number;
  /** Out-of-order pieces held per direction before a hole counts as lost. Default 256. */
  reorderMaxPending?: number;
}

export type { HttpStats };

const RETIRED_MAX = 4096;

/**
 * HTTP reassembly as a pipeline stage: `ssl`/`data` events in, `http` events out
 * (`request`, `response`, `sse`, `ws`, `unparsed`); every other event passes through. For
 * the client side of TLS, `write` carries requests and `read` responses. The stage keeps
 * the table of connections (conn.ts); each speaks HTTP/1.x (conn-h1.ts), HTTP/2
 * (conn-h2.ts) or, once upgraded, WebSocket (conn-ws.ts); bodies are body.ts's.
 */
export class HttpStage implements Stage {
  readonly opts: Required<HttpStageOptions>;
  readonly stats: HttpStats = { requests: 0, responses: 0, sse: 0, ws: 0, unparsed: 0, holes: 0, connections: 0 };
  #emit: Emit;
  #conns = new Map<string, Conn>();
  /** Where dropped connections had got to, so a reused connection resumes without a hole. */
  #retired = new Map<string, { write: number; read: number }>();
  #latestTs = 0;
  #writes = 0;

  constructor(opts: HttpStageOptions, emit: Emit) {
    this.opts = {
      redact: opts.redact ?? true,
      maxBodyBytes: opts.maxBodyBytes ?? 16 * 1024 * 1024,
      idleTimeoutS: opts.idleTimeoutS ?? 300,
      maxHeadBytes: opts.maxHeadBytes ?? 64 * 1024,
      reorderWaitMs: opts.reorderWaitMs ?? 2000,
      reorderMaxPending: opts.reorderMaxPending ?? 256,
    };
    this.#emit = emit;
    // Every http event leaves a connection through here: the one place secrets are taken out.
    this.#connEmit = this.opts.redact ? (ev) => emit(redactHttp(ev)) : emit;
  }

  #connEmit: Emit;

  /** Connections currently tracked. */
  get connections(): number {
    return this.#conns.size;
  }

  /** Bytes held across all connections (bodies being assembled, reorder buffers, heads). */
  get heldBytes(): number {
    let n = 0;
    for (const c of this.#conns.values()) n += c.heldBytes();
    return n;
  }

  write(ev: AgentEvent): void {
    // What passes through (argv, stdio, calls of a capture made with --no-redact) is
    // redacted too: as-http's output holds no secret, whatever the input.
    if (ev.src !== 'ssl') {
      this.#emit(this.opts.redact ? redactForStore(ev).ev : ev);
      return;
    }
    if (ev.type === 'lost') {
      this.#emit(ev);
      // Something was dropped somewhere: holes being waited on will not fill.
      for (const c of this.#conns.values()) c.skipHoles('capture reported loss');
      return;
    }
    if (ev.type !== 'data') {
      this.#emit(ev);
      return;
    }
    const e = ev as SslDataEvent;
    if (e.ts > this.#latestTs) this.#latestTs = e.ts;
    let c = this.#conns.get(e.conn);
    if (!c) {
      const prev = this.#retired.get(e.conn);
      this.#retired.delete(e.conn);
      c = new Conn(e.conn, this.opts, this.stats, this.#connEmit, prev);
      this.#conns.set(e.conn, c);
      this.stats.connections++;
    }
    c.push(e);
    // Idle connections in a capture file: judged by event time, since a file is read
    // far faster than it was recorded.
    if ((++this.#writes & 1023) === 0) this.#sweep(this.#latestTs, (c) => c.lastTs);
  }

  end(): void {
    for (const c of [...this.#conns.values()]) this.#drop(c, 'end of input');
  }

  tick(now: number): void {
    const waitUs = this.opts.reorderWaitMs * 1000;
    for (const c of this.#conns.values()) c.skipStaleHoles(now, waitUs);
    this.#sweep(now, (c) => c.lastWall);
  }

  #sweep(now: number, last: (c: Conn) => number): void {
    const limit = this.opts.idleTimeoutS * 1e6;
    for (const c of [...this.#conns.values()]) if (now - last(c) > limit * c.idleFactor) this.#drop(c, 'idle timeout');
  }

  #drop(c: Conn, reason: string): void {
    c.finish(reason);
    this.#conns.delete(c.id);
    this.#retired.set(c.id, c.nextSeqs());
    if (this.#retired.size > RETIRED_MAX) this.#retired.delete(this.#retired.keys().next().value!);
  }
}
