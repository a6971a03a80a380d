// The read side over the fleet table, for a UI that browses many hosts: the events list and
// the LLM calls, filterable by host, in the JSON shapes of as-serve's /api/events and
// /api/calls (plus each row's host). ClickHouse 18.16 has no query parameters
// ({name:Type} came in 19.x), so values are checked and quoted here, in one place.
import { type ClickHouseClient, ClickHouseLogLevel, createClient } from '@clickhouse/client';
import { checkTable, DEFAULT_TABLE } from './schema.js';

type Row = Record<string, unknown>;

/** A ClickHouse string literal. */
export function quote(s: string): string {
  return `'${s.replace(/[\\']/g, (c) => `\\${c}`)}'`;
}

function uint(n: number | undefined, what: string): number | undefined {
  if (n === undefined) return undefined;
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${what}: want a non-negative integer`);
  return n;
}

export interface FleetFilter {
  /** Only these hosts (any of them). */
  hosts?: string[];
  src?: string[];
  type?: string[];
  pid?: number;
  /** Times, µs since the epoch, inclusive. */
  from?: number;
  to?: number;
  /** Substring of the event's JSON. */
  q?: string;
  limit?: number;
  /** From the `next` of the previous page. */
  cursor?: string;
  order?: 'asc' | 'desc';
}

export interface FleetEventPage {
  events: Array<Row & { _host: string; ts: number }>;
  next: string | null;
}

export interface FleetCall {
  id: unknown;
  host: string;
  start_ts: number;
  end_ts: number;
  pid: number;
  comm: string;
  provider?: unknown;
  model?: unknown;
  status?: unknown;
  tokens_in?: unknown;
  tokens_out?: unknown;
}

export class FleetQueries {
  readonly table: string;
  constructor(
    readonly client: ClickHouseClient,
    table = DEFAULT_TABLE,
  ) {
    this.table = checkTable(table);
  }

  private async rows(sql: string): Promise<Row[]> {
    const r = await this.client.query({ query: sql, format: 'JSONEachRow' });
    return (await r.json()) as Row[];
  }

  /** The hosts in the table, with their machine ids, event counts and time spans. */
  async hosts(): Promise<
    Array<{ host: string; machine_id: string; events: number; first_ts: number; last_ts: number }>
  > {
    const rows = await this.rows(
      `SELECT host, any(machine_id) AS machine_id, count() AS events, min(ts) AS first_ts, max(ts) AS last_ts FROM ${this.table} GROUP BY host ORDER BY host`,
    );
    return rows.map((r) => ({
      host: String(r.host),
      machine_id: String(r.machine_id),
      events: Number(r.events),
      first_ts: Number(r.first_ts),
      last_ts: Number(r.last_ts),
    }));
  }

  private where(f: FleetFilter, desc: boolean): string[] {
    const w: string[] = [];
    if (f.hosts?.length) w.push(`host IN (${f.hosts.map(quote).join(', ')})`);
    if (f.src?.length) w.push(`src IN (${f.src.map(quote).join(', ')})`);
    if (f.type?.length) {
      // As in as-serve: bare types (exec) and src/type pairs (proc/exec).
      const parts = f.type.map((t) => {
        const i = t.indexOf('/');
        return i < 0 ? `type = ${quote(t)}` : `(src = ${quote(t.slice(0, i))} AND type = ${quote(t.slice(i + 1))})`;
      });
      w.push(`(${parts.join(' OR ')})`);
    }
    if (uint(f.pid, 'pid') !== undefined) w.push(`pid = ${f.pid}`);
    if (uint(f.from, 'from') !== undefined) w.push(`ts >= ${f.from}`);
    if (uint(f.to, 'to') !== undefined) w.push(`ts <= ${f.to}`);
    if (f.q) w.push(`positionCaseInsensitive(event, ${quote(f.q)}) > 0`);
    if (f.cursor) {
      // Keyset paging on the sort key (ts, host, the event's hash): no row twice, none skipped.
      const m = /^(\d+)\.(\d+)\.(.*)$/s.exec(f.cursor);
      if (!m) throw new Error('cursor: not one this API gave');
      const [, ts, h, host] = m as unknown as [string, string, string, string];
      const op = desc ? '<' : '>';
      w.push(
        `(ts ${op} ${ts} OR (ts = ${ts} AND (host ${op} ${quote(host)} OR (host = ${quote(host)} AND sipHash64(event) ${op} ${h}))))`,
      );
    }
    return w;
  }

  /** A page of events, in time order (or newest first), each with its host as `_host`. */
  async events(f: FleetFilter = {}): Promise<FleetEventPage> {
    const limit = Math.min(uint(f.limit, 'limit') ?? 100, 1000) || 100;
    const desc = f.order === 'desc';
    const w = this.where(f, desc);
    const dir = desc ? 'DESC' : 'ASC';
    const rows = await this.rows(
      `SELECT host, ts, toString(sipHash64(event)) AS h, event FROM ${this.table} ${w.length ? `WHERE ${w.join(' AND ')}` : ''} ORDER BY ts ${dir}, host ${dir}, sipHash64(event) ${dir} LIMIT ${limit + 1}`,
    );
    const more = rows.length > limit;
    const page = rows.slice(0, limit);
    const events = page.map((r) => ({
      _host: String(r.host),
      ...(JSON.parse(String(r.event)) as Row),
      ts: Number(r.ts),
    }));
    const last = page[page.length - 1];
    return { events, next: more && last ? `${last.ts}.${last.h}.${last.host}` : null };
  }

  /** A page of LLM calls (llm/call events), in time order, with their host. */
  async calls(
    f: Omit<FleetFilter, 'src' | 'type' | 'order'> = {},
  ): Promise<{ calls: FleetCall[]; next: string | null }> {
    const page = await this.events({ ...f, src: ['llm'], type: ['call'], order: 'asc', limit: f.limit ?? 200 });
    const calls = page.events.map((ev) => {
      const usage = (ev.usage ?? {}) as Row;
      return {
        id: ev.id,
        host: ev._host,
        start_ts:
          typeof (ev.timing as Row | undefined)?.start === 'number' ? ((ev.timing as Row).start as number) : ev.ts,
        end_ts: ev.ts,
        pid: Number(ev.pid ?? 0),
        comm: String(ev.comm ?? ''),
        provider: ev.provider,
        model: ev.model,
        status: ev.status,
        tokens_in: usage.input_tokens,
        tokens_out: usage.output_tokens,
      };
    });
    return { calls, next: page.next };
  }
}

/** Queries over the ClickHouse at url (its HTTP interface), through the official client. */
export function openFleet(url: string, table?: string): FleetQueries {
  // Failures reach the caller as errors; the client's own log would repeat them.
  return new FleetQueries(createClient({ url, log: { level: ClickHouseLogLevel.OFF } }), table);
}
