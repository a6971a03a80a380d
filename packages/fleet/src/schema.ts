// The fleet table: one row per event, from every host that ships to this ClickHouse. This is
// the one home of the schema (man/as-clickhouse.1 shows it). Types are those ClickHouse 18.16
// (Debian bookworm's) has: no DateTime64, so time is the event's own integer microseconds.
import type { AgentEvent } from '@agentsight/events';

export const DEFAULT_TABLE = 'agentsight_events';

/** Table names go into SQL text: a plain identifier, optionally database-qualified. */
export function checkTable(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$/.test(name))
    throw new Error(`table name ${JSON.stringify(name)}: want NAME or DATABASE.NAME (letters, digits, _)`);
  return name;
}

export function createTableSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${checkTable(table)} (
  day Date,
  host String,
  machine_id String,
  run String,
  ts UInt64,
  src String,
  type String,
  pid UInt32,
  comm String,
  event String
) ENGINE = MergeTree
PARTITION BY toYYYYMMDD(day)
ORDER BY (host, ts)`;
}

export interface FleetRow {
  day: string;
  host: string;
  machine_id: string;
  run: string;
  ts: number;
  src: string;
  type: string;
  pid: number;
  comm: string;
  /** The whole event as NDJSON (the schema's one line), so nothing is lost to the columns. */
  event: string;
}

export interface RowIdentity {
  host: string;
  machineId: string;
  run: string;
}

export function toRow(ev: AgentEvent, id: RowIdentity): FleetRow {
  const ts = Number.isSafeInteger(ev.ts) && ev.ts >= 0 ? ev.ts : 0;
  return {
    day: new Date(Math.floor(ts / 1000)).toISOString().slice(0, 10),
    host: id.host,
    machine_id: id.machineId,
    run: id.run,
    ts,
    src: String(ev.src),
    type: String(ev.type),
    pid: typeof ev.pid === 'number' && ev.pid >= 0 ? ev.pid : 0,
    comm: typeof ev.comm === 'string' ? ev.comm : '',
    event: JSON.stringify(ev),
  };
}
