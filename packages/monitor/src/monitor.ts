// `agentsight monitor`: the whole pipeline of `agentsight exec`, on every process of the host
// and for as long as it runs, into one SQLite store that the UI, `report --store` and `top`
// read directly. The capture is TracePipeline with no target (host-wide, following every
// exec); this file adds the store and its bounds, the record of its own runs (start, stop,
// gaps, what it costs), the UI, and the samples of the agents' processes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  type AgentEvent,
  type Emit,
  type MetaEvent,
  type MetaStatsEvent,
  nowUs,
  SCHEMA_VERSION,
  type Stage,
} from '@agentsight/events';
import { TracePipeline } from '@agentsight/exec';
import { MetricsSampler } from '@agentsight/proc';
import {
  defaultAssetsDir,
  Retention,
  type RetentionResult,
  type Server,
  Store,
  serve,
  storeBytes,
  takeOver,
} from '@agentsight/serve';
import { discoverRunning, systemTlsLibraries, type TlsTarget } from '@agentsight/sslsniff';
import { gapEvent } from './gap.js';
import { acquireLock } from './lock.js';
import { RecentSet } from './recent.js';

/** The `tool` of the monitor's meta events: how a later run finds the previous one. */
export const TOOL = 'agentsight monitor';
export const DB_NAME = 'agentsight.db';
const LOCK_NAME = 'monitor.pid';

export interface MonitorOptions {
  /** Store directory: DIR/agentsight.db (created 0700; the database 0600). */
  dir: string;
  /** Bound on the store's content in bytes (0: none). */
  maxBytes: number;
  /** Events older than this are deleted (ms; 0: kept). */
  maxAgeMs: number;
  /** Seconds between meta stats events (0: none). */
  statsIntervalS: number;
  /** Seconds between CPU/memory samples of processes that made LLM calls (0: none). */
  metricsIntervalS: number;
  files: boolean;
  net: boolean;
  stdio: boolean;
  redact: boolean;
  correlate: boolean;
  /** Stages after the merge (an OTLP exporter). */
  tail?: Array<(emit: Emit) => Stage>;
  /** Given every event the store is given (the fleet sink of --clickhouse). */
  also?: (ev: AgentEvent) => void;
  /** Serve the UI on this address while running; none when undefined. */
  server?: { host: string; port: number; token?: string; assets?: string };
  /** The command line, for the meta run event. */
  command: string[];
  /** Seconds between retention passes (default 10). */
  retentionIntervalS?: number;
  warn: (m: string) => void;
  info: (m: string) => void;
}

export interface MonitorStats {
  events: number;
  lostRecords: number;
  storeBytes: number;
  /** Retention passes that deleted something, and how many events they deleted. */
  retention: { passes: number; deleted: number };
}

/** Is `pid` running? */
function alive(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}`);
}

export class Monitor {
  readonly store: Store;
  readonly dbPath: string;
  readonly run: string;
  readonly startTs: number;
  server: Server | undefined;
  readonly #pipeline: TracePipeline;
  readonly #opts: MonitorOptions;
  readonly #release: () => void;
  readonly #retention: Retention | undefined;
  readonly #timers: NodeJS.Timeout[] = [];
  #retentionTimer: NodeJS.Timeout | undefined;
  // Processes that made LLM calls: the agents whose CPU and memory are sampled. Bounded, the
  // oldest forgotten first; an exit removes its pid.
  readonly #agents = new RecentSet<number>(1024);
  readonly #sampler = new MetricsSampler();
  #events = 0;
  #cpu = process.cpuUsage();
  #cpuAt = performance.now();
  #stopped = false;
  readonly stats: MonitorStats = { events: 0, lostRecords: 0, storeBytes: 0, retention: { passes: 0, deleted: 0 } };
  /** Resolves once the TLS probes are detached after stop (see TracePipeline.detached). */
  detached: Promise<void> = Promise.resolve();

  private constructor(opts: MonitorOptions, release: () => void) {
    this.#opts = opts;
    this.#release = release;
    this.dbPath = path.join(opts.dir, DB_NAME);
    this.startTs = nowUs();
    // Ids of connections (and so of HTTP exchanges and LLM calls) are unique across runs.
    this.run = Math.floor(this.startTs / 1000).toString(36);
    const prev = takeOver(this.dbPath, TOOL, { endTs: this.startTs, alive });
    // Committed twice a second: the live feed's budget is a second, a kill loses at most that
    // much more, and each commit is a write of the log that a quiet host should not pay ten
    // times a second.
    this.store = new Store(this.dbPath, { shrinkable: true, commitMs: 500 });
    try {
      this.#retention =
        opts.maxBytes || opts.maxAgeMs
          ? new Retention(this.store, { maxBytes: opts.maxBytes, maxAgeUs: opts.maxAgeMs * 1000 })
          : undefined;
      const gap = gapEvent(prev, this.startTs, TOOL);
      if (gap) {
        this.#put(gap);
        const s = Math.round((gap.to - gap.from) / 1e6);
        opts.info(
          `not watching for ${s} s before this start (${gap.reason === 'crash' ? 'the last run died' : 'stopped'})`,
        );
      }
      // The same run event exec and record write: the store's runs and sessions read it.
      this.#put(this.#meta('run', { host: os.hostname(), command: opts.command.join(' ') }));
      this.store.commit();
      this.#pipeline = TracePipeline.start({
        tlsTargets: this.#tlsTargets(),
        files: opts.files,
        net: opts.net,
        stdio: opts.stdio,
        redact: opts.redact,
        correlate: opts.correlate,
        // Sampled here, only for the agents: every process of the host every few seconds
        // would cost more than everything else when nothing happens.
        metricsIntervalS: 0,
        connPrefix: `${this.run}/`,
        // Records are taken at least every 100 ms and moved on every 250 ms: within the UI's
        // live-feed budget (1 s), and a few wakeups a second rather than a hundred when
        // nothing happens.
        tlsFlushMs: 100,
        tickMs: 250,
        emit: (ev) => this.#capture(ev),
        tail: opts.tail ?? [],
        warn: opts.warn,
        info: opts.info,
      });
    } catch (e) {
      this.store.close();
      throw e;
    }
  }

  /** Open (or create) the store under `opts.dir`, record the gap since the last run, start capturing. */
  static async start(opts: MonitorOptions): Promise<Monitor> {
    if (!fs.existsSync(opts.dir)) {
      fs.mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
      fs.chmodSync(opts.dir, 0o700);
    }
    const release = acquireLock(path.join(opts.dir, LOCK_NAME));
    let m: Monitor;
    try {
      m = new Monitor(opts, release);
    } catch (e) {
      release();
      throw e;
    }
    try {
      await m.#startServer();
    } catch (e) {
      await m.stop();
      throw e;
    }
    m.#startTimers();
    return m;
  }

  /** The system TLS libraries, and every TLS file a process running now has mapped. */
  #tlsTargets(): TlsTarget[] {
    const seen = new Set<string>();
    const out: TlsTarget[] = [];
    for (const t of [...systemTlsLibraries(), ...discoverRunning()]) {
      let key = t.path;
      try {
        const st = fs.statSync(t.path);
        key = `${st.dev}:${st.ino}`;
      } catch {
        /* attaching reports it */
      }
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(t);
    }
    return out;
  }

  async #startServer(): Promise<void> {
    const s = this.#opts.server;
    if (!s) return;
    try {
      this.server = await serve(this.store, {
        host: s.host,
        port: s.port,
        ...(s.token ? { token: s.token } : {}),
        assets: s.assets ?? defaultAssetsDir(),
        log: this.#opts.warn,
      });
      this.#opts.info(`web UI: ${this.server.url}`);
    } catch (e) {
      // Watching matters more than the view: a port in use costs the UI, not the capture.
      this.#opts.warn(`web UI not served (${s.host}:${s.port}: ${(e as Error).message}); capturing all the same`);
    }
  }

  #startTimers(): void {
    const every = (s: number, fn: () => void) => {
      const t = setInterval(fn, s * 1000);
      t.unref();
      this.#timers.push(t);
    };
    if (this.#opts.statsIntervalS > 0) every(this.#opts.statsIntervalS, () => this.#statsEvent());
    if (this.#opts.metricsIntervalS > 0) every(this.#opts.metricsIntervalS, () => this.#sample());
    if (this.#retention) {
      this.retain();
      every(this.#opts.retentionIntervalS ?? 10, () => this.retain());
    }
  }

  #meta(type: string, extra: Record<string, unknown> = {}): MetaEvent {
    return { v: SCHEMA_VERSION, ts: nowUs(), src: 'meta', type, tool: TOOL, run: this.run, ...extra };
  }

  #put(ev: AgentEvent): void {
    this.#opts.also?.(ev);
    // A store that failed (a full disk) takes nothing more; onFailure told the caller.
    if (this.store.failure) return;
    try {
      this.store.insert(ev);
      this.#events++;
    } catch {
      /* see onFailure */
    }
  }

  /** Called once if a write to the store fails (a full disk): the monitor should then stop. */
  onFailure(fn: (e: Error) => void): void {
    this.store.onFailure(fn);
  }

  /** Every event the pipeline makes. */
  #capture(ev: AgentEvent): void {
    if (ev.src === 'llm' && ev.type === 'call' && ev.pid !== undefined) this.#agents.add(ev.pid);
    else if (ev.src === 'proc' && ev.type === 'exit') this.#agents.delete(ev.pid);
    this.#put(ev);
  }

  #sample(): void {
    if (!this.#agents.size) return;
    for (const m of this.#sampler.sample([...this.#agents])) {
      this.#put({ v: SCHEMA_VERSION, ts: nowUs(), src: 'proc', type: 'metrics', ...m } as AgentEvent);
    }
  }

  /** What the monitor costs now (CPU since the last call). */
  #statsEvent(): MetaStatsEvent {
    const now = performance.now();
    const cpu = process.cpuUsage(this.#cpu);
    const wallUs = (now - this.#cpuAt) * 1000;
    this.#cpu = process.cpuUsage();
    this.#cpuAt = now;
    this.stats.events = this.#events;
    this.stats.lostRecords = this.#pipeline.lost.records;
    this.stats.storeBytes = storeBytes(this.dbPath);
    const ev: MetaStatsEvent = {
      v: SCHEMA_VERSION,
      ts: nowUs(),
      src: 'meta',
      type: 'stats',
      tool: TOOL,
      cpu_pct: wallUs > 0 ? Math.round(((cpu.user + cpu.system) / wallUs) * 1000) / 10 : 0,
      rss_kb: Math.round(process.memoryUsage.rss() / 1024),
      lost_records: this.stats.lostRecords,
      store_bytes: this.stats.storeBytes,
      events: this.#events,
    };
    this.#put(ev);
    return ev;
  }

  /** One retention pass now; another follows shortly while more is due. */
  retain(): RetentionResult | undefined {
    if (!this.#retention || this.#stopped) return undefined;
    const r = this.#retention.run(nowUs());
    if (r.deleted) {
      this.stats.retention.passes++;
      this.stats.retention.deleted += r.deleted;
    }
    if (r.more && !this.#retentionTimer) {
      this.#retentionTimer = setTimeout(() => {
        this.#retentionTimer = undefined;
        this.retain();
      }, 50);
      this.#retentionTimer.unref();
    }
    return r;
  }

  /**
   * Stop capturing: everything captured is stored, with the meta stop event; the TLS probes
   * are detached in the background (await `detached`). Idempotent.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    if (this.#retentionTimer) clearTimeout(this.#retentionTimer);
    try {
      const st = this.#pipeline?.stop();
      if (!this.store.failure) {
        this.#statsEvent();
        this.#put(this.#meta('stop', { lost_records: st?.lost.records ?? 0, events: this.#events + 1 }));
      }
    } finally {
      await this.server?.close();
      this.store.close();
      this.#release();
      this.detached = this.#pipeline?.detached ?? Promise.resolve();
    }
  }
}
