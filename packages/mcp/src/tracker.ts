import {
  decodePayload,
  type Emit,
  type McpCallEvent,
  type McpNotificationEvent,
  type StdioDataEvent,
} from '@agentsight/events';
import { parseRpc, type RpcMessage } from './jsonrpc.js';
import { LineStreams } from './lines.js';

export type Side = 'client' | 'server';

export interface McpOptions {
  /** Requests waiting for a response, across all channels (oldest reported and dropped past it). */
  maxPending?: number;
  /** A request unanswered this long is reported without a result (ms). */
  timeoutMs?: number;
  maxLineBytes?: number;
}

/** Where a message was seen: enough to key pairing and to fill the event. */
export interface Where {
  transport: 'stdio' | 'http';
  /** Reported channel: the server pid for stdio, the connection for http. */
  channel: string;
  /** Pairing scope: requests and responses match by id within it. */
  scope: string;
  pid?: number;
  comm?: string;
}

interface Pending {
  where: Where;
  from: Side;
  id: string | number;
  method: string;
  params?: unknown;
  ts: number;
  /** Wall-clock µs when it was seen here: timeouts run on processing time, not event time,
   * so replaying an old capture does not expire everything at once. */
  seenAt: number;
}

/**
 * Pairs JSON-RPC requests with their responses and reports MCP calls and notifications.
 *
 * Over stdio the server is the process whose fd 0 carries requests in and whose fd 1
 * carries responses out: fd 0 reads are client->server, fd 1 writes server->client. The
 * same byte stream seen from the client's side (its writes to the child's stdin pipe) is
 * not on fd 0/1 of the client and so is not double counted. Requests may go either way
 * (sampling, roots/list go server->client); a response pairs with the request of the same
 * id sent the other way in the same scope.
 */
export class McpTracker {
  #emit: Emit;
  #pending = new Map<string, Pending>();
  #lines: LineStreams;
  readonly maxPending: number;
  readonly timeoutUs: number;
  calls = 0;
  notifications = 0;
  unmatched = 0;

  constructor(opts: McpOptions, emit: Emit) {
    this.#emit = emit;
    this.maxPending = opts.maxPending ?? 10000;
    this.timeoutUs = (opts.timeoutMs ?? 30 * 60 * 1000) * 1000;
    this.#lines = new LineStreams({ maxLine: opts.maxLineBytes });
  }

  /** A stdio data event: reassemble lines and read any JSON-RPC in them. */
  stdio(ev: StdioDataEvent): void {
    let from: Side;
    if (ev.fd === 0 && ev.dir === 'read') from = 'client';
    else if (ev.fd === 1 && ev.dir === 'write') from = 'server';
    else return;
    const key = `${ev.pid}:${ev.fd}:${ev.dir}`;
    let bytes: Buffer;
    try {
      bytes = decodePayload(ev);
    } catch {
      return;
    }
    const lines = this.#lines.push(key, bytes, ev.seq, Date.now() * 1000, ev.off ?? 0);
    const where: Where = {
      transport: 'stdio',
      channel: String(ev.pid),
      scope: `stdio:${ev.pid}`,
      pid: ev.pid,
      comm: ev.comm,
    };
    for (const line of lines) for (const m of parseRpc(line)) this.message(where, from, m, ev.ts);
  }

  /** One JSON-RPC message seen at time `ts` (µs), sent by `from`. */
  message(where: Where, from: Side, m: RpcMessage, ts: number): void {
    this.seen(ts);
    if (m.kind === 'notification') {
      this.notifications++;
      const ev: McpNotificationEvent = {
        v: 1,
        ts,
        src: 'mcp',
        type: 'notification',
        ...(where.pid !== undefined ? { pid: where.pid } : {}),
        ...(where.comm !== undefined ? { comm: where.comm } : {}),
        transport: where.transport,
        channel: where.channel,
        method: m.method,
        dir: from,
        ...(m.params !== undefined ? { params: m.params } : {}),
      };
      this.#emit(ev);
      return;
    }
    if (m.kind === 'request') {
      const key = `${where.scope}|${from}|${JSON.stringify(m.id)}`;
      const old = this.#pending.get(key);
      if (old) this.#report(old, undefined, 'request id reused before a response');
      this.#pending.delete(key);
      this.#pending.set(key, {
        where,
        from,
        id: m.id,
        method: m.method,
        params: m.params,
        ts,
        seenAt: Date.now() * 1000,
      });
      if (this.#pending.size > this.maxPending) {
        const [k, p] = this.#pending.entries().next().value as [string, Pending];
        this.#pending.delete(k);
        this.#report(p, undefined, 'evicted: too many pending requests');
      }
      return;
    }
    const requester: Side = from === 'server' ? 'client' : 'server';
    const key = `${where.scope}|${requester}|${JSON.stringify(m.id)}`;
    const p = this.#pending.get(key);
    if (!p) {
      this.unmatched++;
      return;
    }
    this.#pending.delete(key);
    this.#report(p, { ts, result: m.result, error: m.error, hasResult: 'result' in m, hasError: 'error' in m, where });
  }

  #report(
    p: Pending,
    r:
      | { ts: number; result?: unknown; error?: unknown; hasResult: boolean; hasError: boolean; where: Where }
      | undefined,
    incomplete?: string,
  ): void {
    this.calls++;
    const tool =
      p.method === 'tools/call' &&
      typeof p.params === 'object' &&
      p.params !== null &&
      typeof (p.params as { name?: unknown }).name === 'string'
        ? (p.params as { name: string }).name
        : undefined;
    // Name the server process: for stdio the channel's pid; for http the requester's.
    const pid = p.where.pid ?? r?.where.pid;
    const comm = p.where.comm ?? r?.where.comm;
    const ev: McpCallEvent = {
      v: 1,
      ts: r?.ts ?? p.ts,
      src: 'mcp',
      type: 'call',
      ...(pid !== undefined ? { pid } : {}),
      ...(comm !== undefined ? { comm } : {}),
      transport: p.where.transport,
      channel: p.where.channel,
      rpc_id: p.id,
      method: p.method,
      ...(tool !== undefined ? { tool } : {}),
      ...(p.params !== undefined ? { params: p.params } : {}),
      ...(r?.hasResult ? { result: r.result } : {}),
      ...(r?.hasError ? { error: r.error } : {}),
      ...(r ? { duration_ms: Math.max(0, (r.ts - p.ts) / 1000) } : {}),
      start_ts: p.ts,
      ...(p.from === 'server' ? { from: 'server' as const } : {}),
      ...(incomplete ? { incomplete } : {}),
    };
    this.#emit(ev);
  }

  /** Report requests unanswered for longer than the timeout. */
  tick(nowUs: number): void {
    for (const [k, p] of this.#pending) {
      if (nowUs - p.seenAt < this.timeoutUs) break; // insertion order = age order
      this.#pending.delete(k);
      this.#report(p, undefined, 'no response within timeout');
    }
    this.#lines.expire(nowUs - this.timeoutUs);
  }

  /** End of input: lines without a final newline are read; open requests reported. */
  end(): void {
    for (const [key, text] of this.#lines.flush()) {
      const [pid, fd] = key.split(':');
      const where: Where = { transport: 'stdio', channel: pid!, scope: `stdio:${pid}`, pid: Number(pid) };
      for (const m of parseRpc(text)) this.message(where, fd === '0' ? 'client' : 'server', m, this.#lastTs);
    }
    for (const p of this.#pending.values()) this.#report(p, undefined, 'no response before end of input');
    this.#pending.clear();
  }

  #lastTs = 0;
  /** The latest event time seen, so end-of-input reports carry a sensible ts. */
  seen(ts: number): void {
    if (ts > this.#lastTs) this.#lastTs = ts;
  }

  get pending(): number {
    return this.#pending.size;
  }
}
