// The five views as tables: their columns, the keys they sort by, and how a snapshot reads
// as text. The terminal UI and --plain draw the same cells, so what a script reads is what
// a person sees.
import type { AgentRow, FileRow, ModelRow, NetRow, ProcessRow, Snapshot } from './schema.js';

export const VIEWS = ['agents', 'processes', 'files', 'network', 'models'] as const;
export type ViewName = (typeof VIEWS)[number];

export const SORT_KEYS = [
  'cost',
  'tokens',
  'calls',
  'tools',
  'errors',
  'cpu',
  'rss',
  'files',
  'net',
  'opens',
  'writes',
  'connects',
  'recent',
  'pid',
  'name',
] as const;
export type SortKey = (typeof SORT_KEYS)[number];

type Value = number | string | null;

export interface Column<R> {
  title: string;
  /** The sort key this column shows, if it is one. */
  sort?: SortKey;
  align: 'left' | 'right';
  /** Narrow terminals drop the columns of highest rank first (0: never). */
  rank: number;
  /** The column that takes what width is left (the command, the path). */
  flex?: boolean;
  cell: (r: R, now: number) => string;
}

interface ViewSpec<R> {
  columns: Column<R>[];
  /** Sort values; a key missing here is not offered in this view. */
  sortBy: Partial<Record<SortKey, (r: R) => Value>>;
  defaultSort: SortKey;
}

// ------------------------------------------------------------------ cell formats

/** 1234 → 1.2k, 1234567 → 1.2M. */
export function count(n: number): string {
  if (n < 1000) return String(n);
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 1 : 0)}k`;
  if (n < 1e9) return `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)}M`;
  return `${(n / 1e9).toFixed(1)}G`;
}

export function usd(n: number | null): string {
  if (n === null) return '-';
  return n < 10 ? `$${n.toFixed(4)}` : `$${n.toFixed(2)}`;
}

/** kB → 312M, 1.2G. */
export function kb(n: number | null): string {
  if (n === null) return '-';
  if (n < 1024) return `${n}K`;
  if (n < 1024 * 1024) return `${Math.round(n / 1024)}M`;
  return `${(n / 1024 / 1024).toFixed(1)}G`;
}

export function pct(n: number | null): string {
  return n === null ? '-' : n.toFixed(1);
}

/** How long ago, from µs timestamps: 3s, 5m, 2h, 4d. */
export function ago(ts: number, now: number): string {
  const s = Math.max(0, Math.round((now - ts) / 1e6));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

// ------------------------------------------------------------------ the views

type UsageLike = Pick<AgentRow, 'calls' | 'tool_calls' | 'errors' | 'input_tokens' | 'output_tokens' | 'cost_usd'>;
const tokens = (r: UsageLike) => r.input_tokens + r.output_tokens;

const usageColumns = <R extends UsageLike>(): Column<R>[] => [
  { title: 'CALLS', sort: 'calls', align: 'right', rank: 0, cell: (r) => count(r.calls) },
  { title: 'TOOLS', sort: 'tools', align: 'right', rank: 3, cell: (r) => count(r.tool_calls) },
  { title: 'ERR', sort: 'errors', align: 'right', rank: 2, cell: (r) => count(r.errors) },
  { title: 'IN', sort: 'tokens', align: 'right', rank: 0, cell: (r) => count(r.input_tokens) },
  { title: 'OUT', sort: 'tokens', align: 'right', rank: 1, cell: (r) => count(r.output_tokens) },
  { title: 'COST', sort: 'cost', align: 'right', rank: 0, cell: (r) => usd(r.cost_usd) },
];
const usageSorts = <R extends UsageLike>(): ViewSpec<R>['sortBy'] => ({
  cost: (r) => r.cost_usd ?? -1,
  tokens,
  calls: (r) => r.calls,
  tools: (r) => r.tool_calls,
  errors: (r) => r.errors,
});

const AGENTS: ViewSpec<AgentRow> = {
  columns: [
    { title: 'PID', sort: 'pid', align: 'right', rank: 0, cell: (r) => String(r.pid) },
    { title: 'AGENT', sort: 'name', align: 'left', rank: 0, cell: (r) => r.name.slice(0, 20) },
    { title: 'MODEL', align: 'left', rank: 2, cell: (r) => (r.model ?? '-').slice(0, 28) },
    ...usageColumns<AgentRow>(),
    { title: 'CPU%', sort: 'cpu', align: 'right', rank: 1, cell: (r) => pct(r.cpu_pct) },
    { title: 'RSS', sort: 'rss', align: 'right', rank: 1, cell: (r) => kb(r.rss_kb) },
    { title: 'FILES', sort: 'files', align: 'right', rank: 3, cell: (r) => count(r.files) },
    { title: 'NET', sort: 'net', align: 'right', rank: 3, cell: (r) => count(r.net) },
    { title: 'PROCS', align: 'right', rank: 4, cell: (r) => `${r.live_processes}/${r.processes}` },
    { title: 'STATE', align: 'left', rank: 2, cell: (r) => (r.state === 'running' ? 'run' : 'exit') },
    { title: 'LAST', sort: 'recent', align: 'right', rank: 4, cell: (r, now) => ago(r.last_ts, now) },
    { title: 'COMMAND', align: 'left', rank: 5, flex: true, cell: (r) => r.cmd },
  ],
  sortBy: {
    ...usageSorts<AgentRow>(),
    cpu: (r) => r.cpu_pct ?? -1,
    rss: (r) => r.rss_kb ?? -1,
    files: (r) => r.files,
    net: (r) => r.net,
    recent: (r) => r.last_ts,
    pid: (r) => -r.pid,
    name: (r) => r.name,
  },
  defaultSort: 'cost',
};

const PROCESSES: ViewSpec<ProcessRow> = {
  columns: [
    { title: 'PID', sort: 'pid', align: 'right', rank: 0, cell: (r) => String(r.pid) },
    { title: 'PPID', align: 'right', rank: 4, cell: (r) => (r.ppid === null ? '-' : String(r.ppid)) },
    { title: 'AGENT', align: 'right', rank: 2, cell: (r) => String(r.agent) },
    { title: 'NAME', sort: 'name', align: 'left', rank: 0, cell: (r) => r.name.slice(0, 20) },
    { title: 'CPU%', sort: 'cpu', align: 'right', rank: 0, cell: (r) => pct(r.cpu_pct) },
    { title: 'RSS', sort: 'rss', align: 'right', rank: 0, cell: (r) => kb(r.rss_kb) },
    ...usageColumns<ProcessRow>(),
    { title: 'FILES', sort: 'files', align: 'right', rank: 3, cell: (r) => count(r.files) },
    { title: 'NET', sort: 'net', align: 'right', rank: 3, cell: (r) => count(r.net) },
    {
      title: 'STATE',
      align: 'left',
      rank: 2,
      cell: (r) => (r.state === 'running' ? 'run' : r.exit_code === null ? 'exit' : `exit ${r.exit_code}`),
    },
    { title: 'LAST', sort: 'recent', align: 'right', rank: 4, cell: (r, now) => ago(r.last_ts, now) },
    { title: 'COMMAND', align: 'left', rank: 5, flex: true, cell: (r) => r.cmd },
  ],
  sortBy: {
    ...usageSorts<ProcessRow>(),
    cpu: (r) => r.cpu_pct ?? -1,
    rss: (r) => r.rss_kb ?? -1,
    files: (r) => r.files,
    net: (r) => r.net,
    recent: (r) => r.last_ts,
    pid: (r) => -r.pid,
    name: (r) => r.name,
  },
  defaultSort: 'cpu',
};

const FILES: ViewSpec<FileRow> = {
  columns: [
    { title: 'AGENT', align: 'right', rank: 1, cell: (r) => String(r.agent) },
    { title: 'OPENS', sort: 'opens', align: 'right', rank: 0, cell: (r) => count(r.opens) },
    { title: 'WRITES', sort: 'writes', align: 'right', rank: 0, cell: (r) => count(r.writes) },
    { title: 'FAIL', sort: 'errors', align: 'right', rank: 2, cell: (r) => count(r.failed) },
    {
      title: 'PIDS',
      align: 'left',
      rank: 3,
      cell: (r) => r.pids.slice(0, 3).join(',') + (r.pids.length > 3 ? '…' : ''),
    },
    { title: 'LAST', sort: 'recent', align: 'right', rank: 2, cell: (r, now) => ago(r.last_ts, now) },
    { title: 'PATH', sort: 'name', align: 'left', rank: 0, flex: true, cell: (r) => r.path },
  ],
  sortBy: {
    opens: (r) => r.opens,
    writes: (r) => r.writes,
    errors: (r) => r.failed,
    recent: (r) => r.last_ts,
    name: (r) => r.path,
  },
  defaultSort: 'recent',
};

const NETWORK: ViewSpec<NetRow> = {
  columns: [
    { title: 'AGENT', align: 'right', rank: 1, cell: (r) => String(r.agent) },
    { title: 'CONNECTS', sort: 'connects', align: 'right', rank: 0, cell: (r) => count(r.connects) },
    { title: 'CALLS', sort: 'calls', align: 'right', rank: 0, cell: (r) => count(r.calls) },
    { title: 'FAIL', sort: 'errors', align: 'right', rank: 2, cell: (r) => count(r.failed) },
    {
      title: 'PIDS',
      align: 'left',
      rank: 3,
      cell: (r) => r.pids.slice(0, 3).join(',') + (r.pids.length > 3 ? '…' : ''),
    },
    { title: 'LAST', sort: 'recent', align: 'right', rank: 2, cell: (r, now) => ago(r.last_ts, now) },
    { title: 'ENDPOINT', sort: 'name', align: 'left', rank: 0, cell: (r) => r.endpoint },
    { title: 'HOST', align: 'left', rank: 1, flex: true, cell: (r) => r.host ?? '' },
  ],
  sortBy: {
    connects: (r) => r.connects,
    calls: (r) => r.calls,
    errors: (r) => r.failed,
    recent: (r) => r.last_ts,
    name: (r) => r.endpoint,
  },
  defaultSort: 'calls',
};

const MODELS: ViewSpec<ModelRow> = {
  columns: [
    { title: 'MODEL', sort: 'name', align: 'left', rank: 0, cell: (r) => r.model.slice(0, 36) },
    { title: 'PROVIDER', align: 'left', rank: 1, cell: (r) => r.provider.slice(0, 16) },
    ...usageColumns<ModelRow>(),
    { title: 'AGENTS', align: 'right', rank: 2, cell: (r) => String(r.agents) },
    { title: 'LAST', sort: 'recent', align: 'right', rank: 2, cell: (r, now) => ago(r.last_ts, now) },
  ],
  sortBy: { ...usageSorts<ModelRow>(), recent: (r) => r.last_ts, name: (r) => r.model },
  defaultSort: 'cost',
};

const SPECS: { [V in ViewName]: ViewSpec<RowOf<V>> } = {
  agents: AGENTS,
  processes: PROCESSES,
  files: FILES,
  network: NETWORK,
  models: MODELS,
};

export type RowOf<V extends ViewName> = Snapshot[V][number];

/** The sort keys a view offers, in the order `s` cycles through them. */
export function sortKeysOf(view: ViewName): SortKey[] {
  const by = SPECS[view].sortBy;
  return SORT_KEYS.filter((k) => by[k] !== undefined);
}

/** `key` if the view offers it, else the view's default. */
export function sortFor(view: ViewName, key: SortKey | undefined): SortKey {
  return key && SPECS[view].sortBy[key] ? key : SPECS[view].defaultSort;
}

/**
 * Rows in order: biggest first for figures, a→z for names (`reverse` flips). Ties keep a
 * stable order by the view's identity, so rows do not jump between refreshes.
 */
export function sortRows<V extends ViewName>(
  view: V,
  rows: RowOf<V>[],
  key: SortKey | undefined,
  reverse = false,
): RowOf<V>[] {
  const spec = SPECS[view] as unknown as ViewSpec<RowOf<V>>;
  const get = spec.sortBy[sortFor(view, key)]!;
  const ident = (r: RowOf<V>) => JSON.stringify([(r as { agent?: number }).agent, ...Object.values(r).slice(0, 2)]);
  const sign = reverse ? -1 : 1;
  return [...rows].sort((a, b) => {
    const x = get(a);
    const y = get(b);
    let d: number;
    if (typeof x === 'string' || typeof y === 'string') d = String(x).localeCompare(String(y));
    else d = (y ?? -1) - (x ?? -1);
    return sign * d || ident(a).localeCompare(ident(b));
  });
}

export interface Cell {
  text: string;
  /** This column is the one the rows are sorted by. */
  sorted: boolean;
}

export interface Table {
  header: Cell[];
  lines: string[][];
  widths: number[];
  aligns: Array<'left' | 'right'>;
}

/**
 * A view's rows as cells, columns dropped (highest rank first) until they fit `width`
 * (no limit when undefined), the flexible column cut to what is left.
 */
export function table<V extends ViewName>(
  view: V,
  rows: RowOf<V>[],
  opts: { sort: SortKey | undefined; now: number; width?: number },
): Table {
  const spec = SPECS[view] as unknown as ViewSpec<RowOf<V>>;
  const sort = sortFor(view, opts.sort);
  let cols = spec.columns;
  const cells = (cs: Column<RowOf<V>>[]) => rows.map((r) => cs.map((c) => c.cell(r, opts.now)));
  const widthsOf = (cs: Column<RowOf<V>>[], body: string[][]) =>
    cs.map((c, i) => Math.max(c.title.length, ...body.map((l) => l[i]!.length)));
  let body = cells(cols);
  let widths = widthsOf(cols, body);
  const total = (ws: number[], cs: Column<RowOf<V>>[]) =>
    ws.reduce((a, w, i) => a + (cs[i]!.flex ? cs[i]!.title.length : w), 0) + ws.length - 1;
  if (opts.width !== undefined) {
    const max = opts.width;
    while (total(widths, cols) > max) {
      const worst = Math.max(...cols.map((c) => c.rank));
      if (worst === 0) break;
      const i = cols.map((c) => c.rank).lastIndexOf(worst);
      cols = cols.filter((_, j) => j !== i);
      body = body.map((l) => l.filter((_, j) => j !== i));
      widths = widths.filter((_, j) => j !== i);
    }
    const f = cols.findIndex((c) => c.flex);
    if (f >= 0) {
      const rest = max - (total(widths, cols) - cols[f]!.title.length);
      widths[f] = Math.max(cols[f]!.title.length, Math.min(widths[f]!, rest));
      body = body.map((l) =>
        l.map((c, j) => (j === f && c.length > widths[f]! ? c.slice(0, widths[f]! - 1) + '…' : c)),
      );
    }
  }
  return {
    header: cols.map((c) => ({ text: c.title, sorted: c.sort === sort })),
    lines: body,
    widths,
    aligns: cols.map((c) => c.align),
  };
}

/** One cell padded to its column. The last column is not padded on the right. */
export function pad(text: string, width: number, align: 'left' | 'right', last = false): string {
  if (align === 'right') return text.padStart(width);
  return last ? text : text.padEnd(width);
}

/** A table as lines of text. */
export function tableLines(t: Table): string[] {
  const line = (cells: string[]) =>
    cells.map((c, i) => pad(c, t.widths[i]!, t.aligns[i]!, i === cells.length - 1)).join(' ');
  return [line(t.header.map((h) => h.text)), ...t.lines.map(line)];
}

/** The summary line over every view. */
export function totalsLine(s: Snapshot): string {
  const t = s.totals;
  return [
    `agents ${t.agents}`,
    `processes ${t.processes}`,
    `calls ${count(t.calls)}`,
    `tools ${count(t.tool_calls)}`,
    `errors ${count(t.errors)}`,
    `tokens in ${count(t.input_tokens)} out ${count(t.output_tokens)}`,
    `cost ${usd(t.cost_usd)}`,
    `lost ${count(t.lost)}`,
  ].join('  ');
}

/** Where the rows come from, and the capture's own figures when known. */
export function sourceLine(s: Snapshot): string {
  const src =
    s.source.kind === 'store' ? `store ${s.source.path}` : `live capture of ${s.source.comm ?? 'every process'}`;
  const m = s.monitor;
  const stats = m
    ? `  ${s.source.kind === 'store' ? 'monitor' : 'capture'}: cpu ${pct(m.cpu_pct)}% rss ${kb(m.rss_kb)} lost ${count(m.lost)}${m.store_bytes !== null ? ` store ${kb(Math.round(m.store_bytes / 1024))}` : ''}`
    : '';
  return `agentsight top  ${new Date(s.ts / 1000).toISOString().slice(11, 19)}Z  ${src}${stats}`;
}

/** A snapshot as --plain prints it: source, totals, the view's table (no width limit). */
export function plainText(s: Snapshot, view: ViewName, sort?: SortKey, reverse = false): string {
  const rows = sortRows(view, s[view] as RowOf<typeof view>[], sort, reverse);
  const t = table(view, rows, { sort, now: s.ts });
  return [sourceLine(s), totalsLine(s), `${view} by ${sortFor(view, sort)}`, ...tableLines(t)].join('\n') + '\n';
}

/** Every view's rows in the order `sort` gives (each view's default where it lacks the key). */
export function sortedSnapshot(s: Snapshot, sort?: SortKey, reverse = false): Snapshot {
  const out = { ...s };
  for (const v of VIEWS) (out as Record<ViewName, unknown>)[v] = sortRows(v, s[v] as RowOf<typeof v>[], sort, reverse);
  return out;
}
