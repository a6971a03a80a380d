// What `agentsight top --json` prints: one document per snapshot. The interfaces are what
// the code builds; TOP_SCHEMA is the contract for scripts (checked against real snapshots
// in the tests, with ajv). Times are integer µs since the epoch, like every event's `ts`.

/** Figures every row that stands for LLM use carries. */
export interface Usage {
  calls: number;
  tool_calls: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  /** USD from list prices; null when none of the calls' models has a known price. */
  cost_usd: number | null;
}

export interface AgentRow extends Usage {
  /** The agent's process: the topmost process of its tree that made LLM calls. */
  pid: number;
  name: string;
  cmd: string;
  state: 'running' | 'exited';
  start_ts: number;
  last_ts: number;
  /** The model of its latest call. */
  model: string | null;
  models: string[];
  /** Sums over its live processes; null when none was sampled. */
  cpu_pct: number | null;
  rss_kb: number | null;
  /** Distinct files opened, renamed or removed; distinct endpoints connected to. */
  files: number;
  net: number;
  processes: number;
  live_processes: number;
}

export interface ProcessRow extends Usage {
  pid: number;
  ppid: number | null;
  /** The agent (its pid) the process belongs to. */
  agent: number;
  name: string;
  cmd: string;
  state: 'running' | 'exited';
  exit_code: number | null;
  start_ts: number;
  last_ts: number;
  model: string | null;
  cpu_pct: number | null;
  rss_kb: number | null;
  files: number;
  net: number;
}

export interface FileRow {
  path: string;
  agent: number;
  pids: number[];
  opens: number;
  /** Opens for writing, renames and removals. */
  writes: number;
  failed: number;
  last_ts: number;
}

export interface NetRow {
  /** addr:port, [addr]:port, or a unix socket path. */
  endpoint: string;
  /** The host name LLM calls over it were addressed to. */
  host: string | null;
  agent: number;
  pids: number[];
  connects: number;
  calls: number;
  failed: number;
  last_ts: number;
}

export interface ModelRow extends Usage {
  model: string;
  provider: string;
  agents: number;
  last_ts: number;
}

/** The capture's own figures: the monitor's `meta`/`stats`, or top's own when it captures. */
export interface CaptureStats {
  ts: number;
  cpu_pct: number | null;
  rss_kb: number | null;
  /** Records the kernel could not deliver. */
  lost: number;
  store_bytes: number | null;
}

export interface Snapshot {
  version: 1;
  ts: number;
  source: { kind: 'store'; path: string } | { kind: 'live'; comm: string | null };
  /** Events before this time are not counted (the store's window; the start of a live capture). */
  since_ts: number;
  monitor: CaptureStats | null;
  totals: Usage & { agents: number; processes: number; lost: number };
  agents: AgentRow[];
  processes: ProcessRow[];
  files: FileRow[];
  network: NetRow[];
  models: ModelRow[];
}

const int = { type: 'integer', minimum: 0 } as const;
const ts = int;
const num = { type: 'number', minimum: 0 } as const;
const nullable = (s: object) => ({ anyOf: [s, { type: 'null' }] });
const pids = { type: 'array', items: int } as const;
const USAGE = {
  calls: int,
  tool_calls: int,
  errors: int,
  input_tokens: int,
  output_tokens: int,
  cost_usd: nullable(num),
};
const row = (props: Record<string, unknown>) => ({
  type: 'object',
  additionalProperties: false,
  required: Object.keys(props),
  properties: props,
});
const state = { enum: ['running', 'exited'] };

/** JSON Schema (draft-07) of a Snapshot: what `agentsight top --json` prints, one per line. */
export const TOP_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://agentsight.dev/schemas/top.json',
  title: 'agentsight top snapshot',
  ...row({
    version: { const: 1 },
    ts,
    source: {
      oneOf: [
        row({ kind: { const: 'store' }, path: { type: 'string' } }),
        row({ kind: { const: 'live' }, comm: nullable({ type: 'string' }) }),
      ],
    },
    since_ts: ts,
    monitor: nullable(
      row({
        ts,
        cpu_pct: nullable(num),
        rss_kb: nullable(int),
        lost: int,
        store_bytes: nullable(int),
      }),
    ),
    totals: row({ ...USAGE, agents: int, processes: int, lost: int }),
    agents: {
      type: 'array',
      items: row({
        ...USAGE,
        pid: int,
        name: { type: 'string' },
        cmd: { type: 'string' },
        state,
        start_ts: ts,
        last_ts: ts,
        model: nullable({ type: 'string' }),
        models: { type: 'array', items: { type: 'string' } },
        cpu_pct: nullable(num),
        rss_kb: nullable(int),
        files: int,
        net: int,
        processes: int,
        live_processes: int,
      }),
    },
    processes: {
      type: 'array',
      items: row({
        ...USAGE,
        pid: int,
        ppid: nullable(int),
        agent: int,
        name: { type: 'string' },
        cmd: { type: 'string' },
        state,
        exit_code: nullable({ type: 'integer' }),
        start_ts: ts,
        last_ts: ts,
        model: nullable({ type: 'string' }),
        cpu_pct: nullable(num),
        rss_kb: nullable(int),
        files: int,
        net: int,
      }),
    },
    files: {
      type: 'array',
      items: row({ path: { type: 'string' }, agent: int, pids, opens: int, writes: int, failed: int, last_ts: ts }),
    },
    network: {
      type: 'array',
      items: row({
        endpoint: { type: 'string' },
        host: nullable({ type: 'string' }),
        agent: int,
        pids,
        connects: int,
        calls: int,
        failed: int,
        last_ts: ts,
      }),
    },
    models: {
      type: 'array',
      items: row({ ...USAGE, model: { type: 'string' }, provider: { type: 'string' }, agents: int, last_ts: ts }),
    },
  }),
} as const;
