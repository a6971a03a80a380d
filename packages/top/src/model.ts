// What `top` knows: every process seen (their tree, what they opened and connected to, their
// CPU and memory) and every LLM call, folded as events arrive, whether they come from the
// monitor's store or a capture of our own. Rows are built on demand (`snapshot`).
//
// An agent is the topmost process of a tree that made LLM calls: a tool an agent runs is
// one of its processes, and so is a sub-agent it starts (its calls count for the agent).
// Processes that are no part of any agent are followed only while they live (one of them
// may make its first call later); their details are capped, so a busy host costs little.
import path from 'node:path';
import type { AgentEvent, LlmCallEvent } from '@agentsight/events';
import { callCost, DEFAULT_PRICES, errorOf, type PriceTable, usageOf } from '@agentsight/llm';
import type {
  AgentRow,
  CaptureStats,
  FileRow,
  ModelRow,
  NetRow,
  ProcessRow,
  Snapshot,
  Usage as UsageRow,
} from './schema.js';

interface FileStat {
  opens: number;
  writes: number;
  failed: number;
  last: number;
}
interface NetStat {
  connects: number;
  calls: number;
  failed: number;
  host: string | null;
  last: number;
}
interface Acc {
  calls: number;
  tools: number;
  errors: number;
  inTok: number;
  outTok: number;
  cost: number;
  priced: number;
}

interface Proc extends Acc {
  pid: number;
  ppid: number | null;
  comm: string;
  argv: string[];
  start: number;
  end?: number;
  exitCode?: number;
  cpu: number | null;
  rss: number | null;
  model: string | null;
  files: Map<string, FileStat>;
  net: Map<string, NetStat>;
  /** Socket fd → endpoint, to name the host an LLM call over that socket went to. */
  fds: Map<number, string>;
  last: number;
  /** Made LLM calls itself. */
  llm: boolean;
}

interface ModelAcc extends Acc {
  model: string;
  provider: string;
  agents: Set<number>;
  last: number;
}

/** Details kept per process: small for processes that are no part of an agent. */
const CAPS = { files: 2000, net: 256, fds: 256, idleFiles: 64, idleNet: 32 };
/** Exited processes kept (those of agents, for their totals), oldest dropped first. */
const MAX_EXITED = 5000;

// O_WRONLY | O_RDWR: an open for writing.
const O_ACCMODE_WRITE = 3;
// -EINPROGRESS: a non-blocking connect under way, not a failure.
const EINPROGRESS = -115;

/** Interpreters whose script, not themselves, names the program. */
const INTERPRETERS = /^(node|nodejs|bun|deno|python[0-9.]*|ruby|perl|php|sh|bash|dash|zsh)$/;

/** What to call a process: its script for an interpreter (`node sdk-agent.js`), else its comm. */
export function displayName(comm: string, argv: string[]): string {
  const exe = argv[0] ? path.basename(argv[0]) : comm;
  if (INTERPRETERS.test(comm) || INTERPRETERS.test(exe)) {
    for (let i = 1; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === '-m' || a === '-c' || a === '-e') return a === '-m' && argv[i + 1] ? argv[i + 1]! : comm;
      if (a.startsWith('-')) continue;
      return path.basename(a);
    }
  }
  return comm;
}

const zero = (): Acc => ({ calls: 0, tools: 0, errors: 0, inTok: 0, outTok: 0, cost: 0, priced: 0 });

function addAcc(into: Acc, from: Acc): void {
  into.calls += from.calls;
  into.tools += from.tools;
  into.errors += from.errors;
  into.inTok += from.inTok;
  into.outTok += from.outTok;
  into.cost += from.cost;
  into.priced += from.priced;
}

function usageRow(a: Acc): UsageRow {
  return {
    calls: a.calls,
    tool_calls: a.tools,
    errors: a.errors,
    input_tokens: a.inTok,
    output_tokens: a.outTok,
    cost_usd: a.priced ? Math.round(a.cost * 1e6) / 1e6 : null,
  };
}

function endpoint(addr: string | undefined, port: number | undefined, family: string): string {
  if (addr === undefined) return family;
  if (port === undefined) return addr;
  return addr.includes(':') ? `[${addr}]:${port}` : `${addr}:${port}`;
}

/**
 * The endpoint a call to `host` (name or address, with its port or 443) went over when the
 * socket is not known: the address itself, else the latest connection to that port.
 */
function endpointOfHost(net: Map<string, NetStat>, host: string | undefined): string | undefined {
  if (!host) return undefined;
  const m = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(host);
  if (!m) return undefined;
  const port = m[2] ?? '443';
  const direct = `${m[1]}:${port}`;
  if (net.has(direct)) return direct;
  let best: string | undefined;
  let last = -1;
  for (const [ep, s] of net) {
    if (ep.endsWith(`:${port}`) && s.last > last) {
      last = s.last;
      best = ep;
    }
  }
  return best;
}

/**
 * Keep a map near `cap` entries: past a quarter over, the least recently used go, down to
 * `cap` (in bulk, so that a process touching files without end costs a sort now and then,
 * not a scan per file).
 */
function capped<V extends { last: number }>(m: Map<string, V>, cap: number): void {
  if (m.size <= cap + (cap >> 2)) return;
  const old = [...m].sort((a, b) => a[1].last - b[1].last).slice(0, m.size - cap);
  for (const [k] of old) m.delete(k);
}

export interface TopModelOptions {
  prices?: PriceTable;
}

export interface MetricsSample {
  pid: number;
  cpu_pct: number;
  rss_kb: number;
}

export class TopModel {
  readonly #procs = new Map<number, Proc>();
  readonly #models = new Map<string, ModelAcc>();
  readonly #prices: PriceTable;
  /** Exited pids in the order they exited (kept for their agents' totals). */
  readonly #exited: number[] = [];
  #lost = 0;
  #stats: CaptureStats | null = null;
  /** Time of the newest event folded in. */
  lastTs = 0;
  /** Events folded in. */
  events = 0;

  constructor(opts: TopModelOptions = {}) {
    this.#prices = opts.prices ?? DEFAULT_PRICES;
  }

  #proc(pid: number, ts: number, comm?: string): Proc {
    let p = this.#procs.get(pid);
    if (!p) {
      p = {
        pid,
        ppid: null,
        comm: comm ?? String(pid),
        argv: [],
        start: ts,
        cpu: null,
        rss: null,
        model: null,
        files: new Map(),
        net: new Map(),
        fds: new Map(),
        last: ts,
        llm: false,
        ...zero(),
      };
      this.#procs.set(pid, p);
    }
    return p;
  }

  /** The agent a process belongs to: its topmost ancestor (or itself) that made LLM calls. */
  agentOf(pid: number, memo?: Map<number, number | null>): number | null {
    const cached = memo?.get(pid);
    if (cached !== undefined) return cached;
    let top: number | null = null;
    const seen = new Set<number>();
    for (let p = this.#procs.get(pid); p && !seen.has(p.pid); p = p.ppid ? this.#procs.get(p.ppid) : undefined) {
      seen.add(p.pid);
      if (p.llm) top = p.pid;
    }
    memo?.set(pid, top);
    return top;
  }

  /** Fold one event in. */
  add(ev: AgentEvent): void {
    this.events++;
    if (ev.ts > this.lastTs) this.lastTs = ev.ts;
    const e = ev as unknown as Record<string, any>;
    if (ev.type === 'lost' && typeof e.records === 'number') {
      this.#lost += e.records;
      return;
    }
    if (ev.src === 'meta' && ev.type === 'stats') {
      const n = (k: string) => (typeof e[k] === 'number' ? (e[k] as number) : null);
      this.#stats = {
        ts: ev.ts,
        cpu_pct: n('cpu_pct'),
        rss_kb: n('rss_kb'),
        // `lost_records` (agentsight monitor's meta/stats); `lost` as a fallback.
        lost: n('lost_records') ?? n('lost') ?? 0,
        store_bytes: n('store_bytes'),
      };
      return;
    }
    if (ev.src === 'llm' && ev.type === 'call') return this.#call(ev as LlmCallEvent);
    if (ev.src === 'llm' && ev.type === 'delta' && typeof e.pid === 'number') {
      // A call under way (streamed output): its process is an agent from now, counted when it ends.
      const p = this.#proc(e.pid, ev.ts, ev.comm);
      p.llm = true;
      p.last = Math.max(p.last, ev.ts);
      return;
    }
    if (ev.src !== 'proc' || typeof e.pid !== 'number') return;
    const pid = e.pid as number;
    switch (ev.type) {
      case 'fork':
      case 'exec':
      case 'snapshot': {
        let p = this.#procs.get(pid);
        // A fork of a pid thought alive: its exit was missed; a new process.
        if (p && (ev.type === 'fork' || p.end !== undefined)) {
          this.#forget(pid);
          p = undefined;
        }
        p = this.#proc(pid, ev.type === 'snapshot' ? (e.start_ts ?? ev.ts) : ev.ts, e.comm);
        if (typeof e.ppid === 'number' && e.ppid > 0) p.ppid = e.ppid;
        if (e.comm) p.comm = e.comm;
        if (Array.isArray(e.argv)) p.argv = e.argv;
        else if (ev.type === 'fork') {
          // A fork runs its parent's program until it execs.
          const parent = this.#procs.get(e.ppid);
          if (parent) p.argv = parent.argv;
        }
        p.last = ev.ts;
        return;
      }
      case 'exit': {
        const p = this.#procs.get(pid);
        if (!p || p.end !== undefined) return;
        p.end = ev.ts;
        p.last = ev.ts;
        if (typeof e.exit_code === 'number') p.exitCode = e.exit_code;
        else if (typeof e.signal === 'number') p.exitCode = 128 + e.signal;
        this.#retire(p);
        return;
      }
      case 'metrics': {
        const p = this.#procs.get(pid);
        if (p && p.end === undefined) {
          p.cpu = e.cpu_pct;
          p.rss = e.rss_kb;
        }
        return;
      }
      case 'open':
      case 'unlink':
      case 'rename': {
        const p = this.#proc(pid, ev.ts, ev.comm);
        const n = ev.type === 'open' && e.count ? e.count + 1 : 1;
        const target = ev.type === 'rename' && e.to ? `${e.path} -> ${e.to}` : String(e.path);
        const write = ev.type !== 'open' || (Number(e.flags) & O_ACCMODE_WRITE) !== 0;
        let f = p.files.get(target);
        if (!f) {
          f = { opens: 0, writes: 0, failed: 0, last: ev.ts };
          p.files.set(target, f);
          capped(p.files, this.#isAgentTree(p) ? CAPS.files : CAPS.idleFiles);
        }
        if (ev.type === 'open') f.opens += n;
        if (write) f.writes += n;
        if (e.ret < 0) f.failed += n;
        f.last = ev.ts;
        p.last = ev.ts;
        return;
      }
      case 'connect': {
        const p = this.#proc(pid, ev.ts, ev.comm);
        const ep = endpoint(e.addr, e.port, e.family);
        let s = p.net.get(ep);
        if (!s) {
          s = { connects: 0, calls: 0, failed: 0, host: null, last: ev.ts };
          p.net.set(ep, s);
          capped(p.net, this.#isAgentTree(p) ? CAPS.net : CAPS.idleNet);
        }
        s.connects++;
        if (e.ret < 0 && e.ret !== EINPROGRESS) s.failed++;
        s.last = ev.ts;
        if (typeof e.fd === 'number') {
          p.fds.set(e.fd, ep);
          if (p.fds.size > CAPS.fds) p.fds.delete(p.fds.keys().next().value as number);
        }
        p.last = ev.ts;
        return;
      }
    }
  }

  #isAgentTree(p: Proc): boolean {
    return this.agentOf(p.pid) !== null;
  }

  #call(c: LlmCallEvent): void {
    const pid = c.pid ?? 0;
    const p = this.#proc(pid, c.timing?.start ?? c.ts, c.comm);
    p.llm = true;
    const u = usageOf(c);
    const cost = callCost(c, this.#prices);
    const a: Acc = {
      calls: 1,
      tools: c.response?.tool_calls?.length ?? 0,
      errors: errorOf(c) ? 1 : 0,
      inTok: u.input ?? 0,
      outTok: u.output ?? 0,
      cost: cost ?? 0,
      priced: cost === undefined ? 0 : 1,
    };
    addAcc(p, a);
    if (c.model) p.model = c.model;
    p.last = Math.max(p.last, c.ts);
    const ep = (c.fd !== undefined ? p.fds.get(c.fd) : undefined) ?? endpointOfHost(p.net, c.host);
    const s = ep ? p.net.get(ep) : undefined;
    if (s) {
      s.calls++;
      if (c.host) s.host = c.host.replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
      s.last = Math.max(s.last, c.ts);
    }
    const model = c.model ?? '(unknown)';
    const key = `${c.provider}\0${model}`;
    let m = this.#models.get(key);
    if (!m) {
      m = { model, provider: c.provider, agents: new Set(), last: c.ts, ...zero() };
      this.#models.set(key, m);
    }
    addAcc(m, a);
    m.last = Math.max(m.last, c.ts);
    const agent = this.agentOf(pid);
    if (agent !== null) m.agents.add(agent);
  }

  /** An exited process: kept while it counts for an agent, else forgotten. */
  #retire(p: Proc): void {
    if (!this.#isAgentTree(p)) {
      this.#forget(p.pid);
      return;
    }
    p.cpu = null;
    p.rss = null;
    p.fds.clear();
    this.#exited.push(p.pid);
    while (this.#exited.length > MAX_EXITED) {
      const old = this.#exited.shift()!;
      const q = this.#procs.get(old);
      if (q && q.end !== undefined) this.#forget(old);
    }
  }

  #forget(pid: number): void {
    this.#procs.delete(pid);
  }

  /** Processes of agents still running: the ones whose CPU and memory to sample. */
  livePids(): number[] {
    const memo = new Map<number, number | null>();
    const out: number[] = [];
    for (const p of this.#procs.values())
      if (p.end === undefined && this.agentOf(p.pid, memo) !== null) out.push(p.pid);
    return out;
  }

  /**
   * CPU and memory read from /proc for `asked` pids at `ts`: those that gave no sample are
   * gone (their exit was not seen: a capture that started late, a store written elsewhere).
   */
  sampled(asked: number[], samples: MetricsSample[], ts: number): void {
    const got = new Set<number>();
    for (const s of samples) {
      const p = this.#procs.get(s.pid);
      if (!p || p.end !== undefined) continue;
      got.add(s.pid);
      p.cpu = s.cpu_pct;
      p.rss = s.rss_kb;
    }
    for (const pid of asked) {
      const p = this.#procs.get(pid);
      if (p && p.end === undefined && !got.has(pid)) {
        p.end = ts;
        this.#retire(p);
      }
    }
  }

  /** Set the capture's own figures (top's, when it captures itself). */
  setStats(s: CaptureStats): void {
    this.#stats = s;
  }

  get lost(): number {
    return this.#lost;
  }

  /** Every view's rows, unsorted. */
  snapshot(ts: number, source: Snapshot['source'], sinceTs: number): Snapshot {
    const memo = new Map<number, number | null>();
    const agents = new Map<number, { acc: Acc; row: AgentRow; files: Set<string>; net: Set<string> }>();
    const processes: ProcessRow[] = [];
    const files = new Map<string, FileRow>();
    const network = new Map<string, NetRow>();
    for (const p of this.#procs.values()) {
      const agent = this.agentOf(p.pid, memo);
      if (agent === null) continue;
      const running = p.end === undefined;
      const name = displayName(p.comm, p.argv);
      const cmd = p.argv.length ? p.argv.join(' ') : p.comm;
      const fileCount = p.files.size;
      processes.push({
        ...usageRow(p),
        pid: p.pid,
        ppid: p.ppid,
        agent,
        name,
        cmd,
        state: running ? 'running' : 'exited',
        exit_code: p.exitCode ?? null,
        start_ts: p.start,
        last_ts: p.last,
        model: p.model,
        cpu_pct: running ? p.cpu : null,
        rss_kb: running ? p.rss : null,
        files: fileCount,
        net: p.net.size,
      });
      let a = agents.get(agent);
      if (!a) {
        const root = this.#procs.get(agent)!;
        a = {
          acc: zero(),
          files: new Set(),
          net: new Set(),
          row: {
            ...usageRow(zero()),
            pid: agent,
            name: displayName(root.comm, root.argv),
            cmd: root.argv.length ? root.argv.join(' ') : root.comm,
            state: root.end === undefined ? 'running' : 'exited',
            start_ts: root.start,
            last_ts: 0,
            model: null,
            models: [],
            cpu_pct: null,
            rss_kb: null,
            files: 0,
            net: 0,
            processes: 0,
            live_processes: 0,
          },
        };
        agents.set(agent, a);
      }
      addAcc(a.acc, p);
      const r = a.row;
      r.processes++;
      if (running) r.live_processes++;
      if (running && p.cpu !== null) r.cpu_pct = Math.round(((r.cpu_pct ?? 0) + p.cpu) * 10) / 10;
      if (running && p.rss !== null) r.rss_kb = (r.rss_kb ?? 0) + p.rss;
      if (p.last > r.last_ts) r.last_ts = p.last;
      if (p.model && !r.models.includes(p.model)) r.models.push(p.model);
      for (const [target, f] of p.files) {
        a.files.add(target);
        const key = `${agent}\0${target}`;
        const row = files.get(key);
        if (row) {
          row.opens += f.opens;
          row.writes += f.writes;
          row.failed += f.failed;
          row.last_ts = Math.max(row.last_ts, f.last);
          if (!row.pids.includes(p.pid)) row.pids.push(p.pid);
        } else
          files.set(key, {
            path: target,
            agent,
            pids: [p.pid],
            opens: f.opens,
            writes: f.writes,
            failed: f.failed,
            last_ts: f.last,
          });
      }
      for (const [ep, s] of p.net) {
        a.net.add(ep);
        const key = `${agent}\0${ep}`;
        const row = network.get(key);
        if (row) {
          row.connects += s.connects;
          row.calls += s.calls;
          row.failed += s.failed;
          row.host ??= s.host;
          row.last_ts = Math.max(row.last_ts, s.last);
          if (!row.pids.includes(p.pid)) row.pids.push(p.pid);
        } else
          network.set(key, {
            endpoint: ep,
            host: s.host,
            agent,
            pids: [p.pid],
            connects: s.connects,
            calls: s.calls,
            failed: s.failed,
            last_ts: s.last,
          });
      }
    }
    const agentRows: AgentRow[] = [];
    const total = zero();
    for (const a of agents.values()) {
      Object.assign(a.row, usageRow(a.acc));
      a.row.files = a.files.size;
      a.row.net = a.net.size;
      // The model of the agent's latest call: its own, or the newest of its processes'.
      const root = this.#procs.get(a.row.pid)!;
      a.row.model = root.model ?? a.row.models[a.row.models.length - 1] ?? null;
      addAcc(total, a.acc);
      agentRows.push(a.row);
    }
    const models: ModelRow[] = [...this.#models.values()].map((m) => ({
      ...usageRow(m),
      model: m.model,
      provider: m.provider,
      agents: m.agents.size,
      last_ts: m.last,
    }));
    return {
      version: 1,
      ts,
      source,
      since_ts: sinceTs,
      monitor: this.#stats,
      totals: { ...usageRow(total), agents: agentRows.length, processes: processes.length, lost: this.#lost },
      agents: agentRows,
      processes,
      files: [...files.values()],
      network: [...network.values()],
      models,
    };
  }
}
