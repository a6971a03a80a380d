import type {
  AgentEvent,
  HttpRequestEvent,
  LlmCallEvent,
  LostEvent,
  McpCallEvent,
  ProcConnectEvent,
  ProcExecEvent,
  ProcExitEvent,
  ProcFileOpEvent,
  ProcOpenEvent,
  ProcSnapshotEvent,
  TraceAlertEvent,
  TraceLinkEvent,
} from '@agentsight/events';
import { callCost, DEFAULT_PRICES, messagesOf, type PriceTable, systemOf, usageOf } from '@agentsight/llm';
import { type CallSession, type RunInfo, SessionTracker } from '@agentsight/trace';

/** Token totals, counted the normalized way (input includes cached input, output reasoning). */
export interface TokenCounts {
  input: number;
  output: number;
  cache_read: number;
  cache_write: number;
  reasoning: number;
}

export interface TokenRow extends TokenCounts {
  key: string;
  calls: number;
  errors: number;
  /** USD, estimated; null when no price is known for some call in the row. */
  cost: number | null;
  unpriced: number;
}

export interface ProcessRow {
  pid: number;
  ppid: number | null;
  comm: string;
  argv: string[];
  start: number;
  end: number | null;
  exit_code: number | null;
  signal: number | null;
  duration_ms: number | null;
  cwd?: string;
  /** The agent session it worked for (a tool's process). */
  session?: string;
}

export interface Summary {
  first_ts: number | null;
  last_ts: number | null;
  events: number;
  llm_calls: number;
  llm_errors: number;
  incomplete_calls: number;
  tokens: TokenCounts;
  cost_usd: number | null;
  models: string[];
  tool_calls: Record<string, number>;
  mcp_calls: number;
  processes: number;
  files_written: number;
  hosts: string[];
  lost_records: number;
  lost_bytes: number;
}

export interface Prompt {
  ts: number;
  id: string;
  model: string | null;
  pid?: number;
  comm?: string;
  system: string | null;
  prompt: string;
}

export interface AlertRow {
  ts: number;
  severity: TraceAlertEvent['severity'];
  rule: string;
  message: string;
  pid?: number;
  session?: string;
}

// Devices and kernel interfaces (/dev/null, a tty, /proc/self/…) are opened for writing all
// the time and are not files the agent wrote; /dev/shm is a real (tmpfs) file system.
const notAFile = (p: string) =>
  (p.startsWith('/dev/') && !p.startsWith('/dev/shm/')) || p.startsWith('/proc/') || p.startsWith('/sys/');

const O_WRONLY = 0o1,
  O_RDWR = 0o2,
  O_CREAT = 0o100,
  O_TRUNC = 0o1000,
  O_APPEND = 0o2000;
const writes = (flags: number) => (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)) !== 0;

function zero(): TokenCounts {
  return { input: 0, output: 0, cache_read: 0, cache_write: 0, reasoning: 0 };
}

function countsOf(c: LlmCallEvent): TokenCounts {
  const u = usageOf(c);
  return {
    input: u.input ?? 0,
    output: u.output ?? 0,
    cache_read: u.cache_read ?? 0,
    cache_write: u.cache_write ?? 0,
    reasoning: u.reasoning ?? 0,
  };
}

/** What the user typed last: the text of the last user message, without the context the agent injected. */
function lastUserText(c: LlmCallEvent): string {
  const msgs = messagesOf(c.api, c.request?.messages);
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i]!;
    if (m.role !== 'user') continue;
    const t = m.parts
      .filter((p) => p.type === 'text' && !('injected' in p && p.injected))
      .map((p) => (p as { content: string }).content)
      .join('\n');
    if (t) return t;
  }
  return '';
}

/**
 * Accumulates what a capture says about an agent run. Holds per-call and per-process
 * rows (small next to the capture), never the raw events.
 */
export class Report {
  readonly prices: PriceTable;
  events = 0;
  first: number | null = null;
  last: number | null = null;
  calls: LlmCallEvent[] = [];
  mcp: McpCallEvent[] = [];
  procs = new Map<number, ProcessRow>();
  filesWritten: Array<{ ts: number; pid: number; op: string; path: string; to?: string }> = [];
  hosts = new Map<string, { first_ts: number; count: number; via: Set<string>; pids: Set<number> }>();
  lost = { records: 0, bytes: 0 };
  alerts: AlertRow[] = [];
  /** The session model shared with the store and OTLP: where each call belongs. */
  readonly tracker = new SessionTracker();
  readonly where = new Map<string, CallSession>();
  readonly runs: RunInfo[] = [];
  /** trace/link tool_process: the pids each tool call (its correlation key) ran. */
  readonly toolLinks = new Map<string, number[]>();

  constructor(prices: PriceTable = DEFAULT_PRICES) {
    this.prices = prices;
  }

  add(ev: AgentEvent): void {
    this.events++;
    if (this.first === null || ev.ts < this.first) this.first = ev.ts;
    if (this.last === null || ev.ts > this.last) this.last = ev.ts;
    const key = `${ev.src}/${ev.type}`;
    const where = this.tracker.observe(ev);
    for (const m of this.tracker.takeMoves()) {
      const p = this.procs.get(m.pid);
      if (p) p.session = m.session;
    }
    switch (key) {
      case 'meta/run':
        if (this.tracker.run) this.runs.push(this.tracker.run);
        break;
      case 'trace/link': {
        const l = ev as TraceLinkEvent;
        if (l.kind === 'tool_process') {
          const pids = (Array.isArray(l.to) ? l.to : [l.to])
            .map((x) => (typeof x === 'number' ? x : Number(String(x).replace(/^\D+/, ''))))
            .filter(Number.isFinite);
          this.toolLinks.set(l.from, [...(this.toolLinks.get(l.from) ?? []), ...pids]);
        }
        break;
      }
      case 'llm/call': {
        const c = ev as LlmCallEvent;
        this.calls.push(c);
        if (where) this.where.set(c.id, where);
        if (c.host) this.host(c.host, c.ts, 'llm', c.pid);
        break;
      }
      case 'mcp/call':
        this.mcp.push(ev as McpCallEvent);
        break;
      case 'proc/exec':
      case 'proc/snapshot': {
        const e = ev as ProcExecEvent | ProcSnapshotEvent;
        const prev = this.procs.get(e.pid);
        this.procs.set(e.pid, {
          pid: e.pid,
          ppid: e.ppid ?? prev?.ppid ?? null,
          comm: e.comm,
          argv: e.argv ?? [],
          start: key === 'proc/snapshot' ? ((e as ProcSnapshotEvent).start_ts ?? e.ts) : e.ts,
          end: null,
          exit_code: null,
          signal: null,
          duration_ms: null,
          cwd: e.cwd,
        });
        const session = this.tracker.sessionOfPid(e.pid);
        if (session) this.procs.get(e.pid)!.session = session;
        break;
      }
      case 'proc/exit': {
        const e = ev as ProcExitEvent;
        const p = this.procs.get(e.pid);
        if (p) {
          p.end = e.ts;
          p.exit_code = e.exit_code ?? null;
          p.signal = e.signal ?? null;
          p.duration_ms = e.duration_ms ?? (e.ts - p.start) / 1000;
        }
        break;
      }
      case 'proc/open': {
        const e = ev as ProcOpenEvent;
        if (e.ret >= 0 && writes(e.flags) && !notAFile(e.path))
          this.filesWritten.push({ ts: e.ts, pid: e.pid, op: 'open', path: e.path });
        break;
      }
      case 'proc/rename':
      case 'proc/unlink': {
        const e = ev as ProcFileOpEvent;
        if (e.ret >= 0 && !notAFile(e.path))
          this.filesWritten.push({ ts: e.ts, pid: e.pid, op: e.type, path: e.path, to: e.to });
        break;
      }
      case 'proc/connect': {
        const e = ev as ProcConnectEvent;
        // Unix sockets (nscd, dbus) are local plumbing, not hosts contacted.
        if (e.ret >= 0 || e.ret === -115 /* EINPROGRESS */) {
          if (e.addr && e.family === 'inet') this.host(`${e.addr}:${e.port}`, e.ts, 'connect', e.pid);
          else if (e.addr && e.family === 'inet6') this.host(`[${e.addr}]:${e.port}`, e.ts, 'connect', e.pid);
        }
        break;
      }
      case 'http/request': {
        const e = ev as HttpRequestEvent;
        if (e.host) this.host(e.host, e.ts, 'http', e.pid);
        break;
      }
      case 'trace/alert': {
        const e = ev as TraceAlertEvent;
        this.alerts.push({
          ts: e.ts,
          severity: e.severity,
          rule: e.rule,
          message: e.message,
          ...(e.pid !== undefined ? { pid: e.pid } : {}),
        });
        const session = this.tracker.sessionOfPid(e.pid);
        if (session) this.alerts[this.alerts.length - 1]!.session = session;
        break;
      }
      case 'ssl/lost':
      case 'proc/lost':
      case 'stdio/lost': {
        const e = ev as LostEvent;
        this.lost.records += e.records;
        this.lost.bytes += e.bytes;
        break;
      }
    }
  }

  private host(h: string, ts: number, via: string, pid?: number) {
    let r = this.hosts.get(h);
    if (!r) this.hosts.set(h, (r = { first_ts: ts, count: 0, via: new Set(), pids: new Set() }));
    r.count++;
    r.via.add(via);
    if (pid !== undefined) r.pids.add(pid);
  }

  costOf(c: LlmCallEvent): number | undefined {
    return callCost(c, this.prices);
  }

  /** Token and cost rows grouped by model, provider, process or day. */
  tokens(by: 'model' | 'provider' | 'process' | 'day'): TokenRow[] {
    const rows = new Map<string, TokenRow>();
    for (const c of this.calls) {
      const key =
        by === 'model'
          ? (c.model ?? '(unknown)')
          : by === 'provider'
            ? c.provider
            : by === 'process'
              ? `${c.comm ?? '?'}[${c.pid ?? '?'}]`
              : new Date(c.ts / 1000).toISOString().slice(0, 10);
      let r = rows.get(key);
      if (!r) rows.set(key, (r = { key, calls: 0, errors: 0, cost: 0, unpriced: 0, ...zero() }));
      r.calls++;
      if (c.status >= 400 || c.error) r.errors++;
      const n = countsOf(c);
      r.input += n.input;
      r.output += n.output;
      r.cache_read += n.cache_read;
      r.cache_write += n.cache_write;
      r.reasoning += n.reasoning;
      const cost = this.costOf(c);
      if (cost === undefined) r.unpriced++;
      else r.cost = (r.cost ?? 0) + cost;
    }
    for (const r of rows.values()) if (r.unpriced === r.calls) r.cost = null;
    return [...rows.values()].sort(
      (a, b) => (b.cost ?? 0) - (a.cost ?? 0) || b.calls - a.calls || a.key.localeCompare(b.key),
    );
  }

  summary(): Summary {
    const tokens = zero();
    let cost: number | null = null;
    const tools: Record<string, number> = {};
    let errors = 0,
      incomplete = 0;
    for (const c of this.calls) {
      const n = countsOf(c);
      tokens.input += n.input;
      tokens.output += n.output;
      tokens.cache_read += n.cache_read;
      tokens.cache_write += n.cache_write;
      tokens.reasoning += n.reasoning;
      const k = this.costOf(c);
      if (k !== undefined) cost = (cost ?? 0) + k;
      for (const tc of c.response?.tool_calls ?? []) tools[tc.name] = (tools[tc.name] ?? 0) + 1;
      if (c.status >= 400 || c.error) errors++;
      if (c.incomplete) incomplete++;
    }
    return {
      first_ts: this.first,
      last_ts: this.last,
      events: this.events,
      llm_calls: this.calls.length,
      llm_errors: errors,
      incomplete_calls: incomplete,
      tokens,
      cost_usd: cost,
      models: [...new Set(this.calls.map((c) => c.model ?? '(unknown)'))].sort(),
      tool_calls: tools,
      mcp_calls: this.mcp.length,
      processes: this.procs.size,
      files_written: new Set(this.filesWritten.map((f) => f.to ?? f.path)).size,
      hosts: [...this.hosts.keys()].sort(),
      lost_records: this.lost.records,
      lost_bytes: this.lost.bytes,
    };
  }

  audit() {
    return {
      processes: [...this.procs.values()].sort((a, b) => a.start - b.start),
      files: this.filesWritten,
      alerts: [...this.alerts].sort((a, b) => a.ts - b.ts),
      hosts: [...this.hosts.entries()].map(([host, r]) => ({
        host,
        first_ts: r.first_ts,
        count: r.count,
        via: [...r.via].sort(),
        pids: [...r.pids].sort((a, b) => a - b),
      })),
    };
  }

  prompts(): Prompt[] {
    return this.calls.map((c) => ({
      ts: c.ts,
      id: c.id,
      model: c.model,
      pid: c.pid,
      comm: c.comm,
      system:
        systemOf(c.request?.system)
          ?.map((p) => p.content)
          .join('\n') || null,
      prompt: lastUserText(c),
    }));
  }
}
