// The whole agentsight pipeline in one process: the same capture objects and stages the
// standalone tools use (as-sslsniff, as-proc, as-stdiocap | as-http | as-merge --correlate),
// chained in memory. The standalone tools and `agentsight exec` therefore produce the
// same events for the same run.

import fs from 'node:fs';
import { ProcessFilter, type SelectorOptions } from '@agentsight/agents';
import { type AgentEvent, chain, type Emit, nowUs, SCHEMA_VERSION, type Stage, TimeOrder } from '@agentsight/events';
import { HttpStage } from '@agentsight/http';
import { MergeStage } from '@agentsight/llm';
import { bpfObjectPath, MetricsSampler, ProcEvents, readInfo, TraceSession } from '@agentsight/proc';
import { RedactStage } from '@agentsight/redact';
import { findTlsTargetCached, SslSniffer, summaryLine, type TlsTarget } from '@agentsight/sslsniff';
import { StdioAssembler } from '@agentsight/stdiocap';
import { CorrelateStage } from '@agentsight/trace';
import { BlindTls, uncapturedTls } from './blind.js';

export interface PipelineOptions {
  /** `exec`: the agent, held at its gate; traced from its exec on. */
  gatedPid?: number;
  /** `record`: processes already running (and their descendants). */
  pids?: number[];
  /** `record`: processes with this name, now or when they exec (and their descendants). */
  comm?: string;
  /** `record` of a container target: every process in this cgroup, now and later (@agentsight/container resolveTarget). */
  cgroup?: { id: number; level: number; dir: string };
  /** Files carrying the TLS library the agent uses (see findTlsTargetCached). */
  tlsTargets: TlsTarget[];
  files?: boolean;
  net?: boolean;
  stdio?: boolean;
  /** Also keep the raw `ssl`/`data` events (large; lets as-http re-parse the capture). */
  raw?: boolean;
  redact?: boolean;
  correlate?: boolean;
  /** Also emit `llm`/`delta` events as streamed output arrives (a live view sees a call under way). */
  liveDeltas?: boolean;
  /** Seconds between `proc`/`metrics` samples; 0 for none. */
  metricsIntervalS?: number;
  /**
   * --allow/--deny: only these processes' events are kept (and what a process not selected
   * runs is not hooked for it). The same options object `agentsight monitor` passes.
   */
  select?: SelectorOptions;
  /** Before every TLS connection id, so ids stay unique in a store that outlives the run (agentsight monitor). */
  connPrefix?: string;
  /**
   * How often TLS records are taken at the latest (ms, default 10): a long-running capture
   * that can wait longer wakes less often when nothing happens.
   */
  tlsFlushMs?: number;
  /** How often events held for ordering move on through the stages (ms, default 100). */
  tickMs?: number;
  /** Where every event ends up. */
  emit: Emit;
  /** Extra stages after the merge (e.g. an OTLP exporter), in order. */
  tail?: Array<(emit: Emit) => Stage>;
  warn?: (msg: string) => void;
  info?: (msg: string) => void;
}

export interface PipelineStats {
  tls: string;
  /** Processes whose TLS could not be captured that connected somewhere: one line each. */
  uncaptured: string[];
  lost: { records: number; bytes: number };
}

/**
 * Loads and attaches every capture, without releasing the agent: call `release` on the
 * gated child after `start` returns, so its first instruction is already traced.
 */
export class TracePipeline {
  readonly head: Stage;
  /** The capture rings are drained in turn; this puts their events back in time order. */
  readonly #order: TimeOrder;
  readonly sniffer: SslSniffer | undefined;
  readonly proc: TraceSession;
  readonly stdio: TraceSession | undefined;
  readonly procEvents: ProcEvents;
  readonly #stdioAsm: StdioAssembler | undefined;
  readonly #sampler = new MetricsSampler();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #opts: PipelineOptions;
  #stopped = false;
  lost = { records: 0, bytes: 0 };
  readonly #blind = new BlindTls();
  /** --allow/--deny, applied where every capture's events come in. */
  readonly filter: ProcessFilter;
  /** Per program file: why its TLS cannot be captured, or null. */
  readonly #blindFiles = new Map<string, string | null>();

  private constructor(opts: PipelineOptions) {
    this.#opts = opts;
    const sink: Emit = (ev) => {
      if (ev.type === 'lost' && typeof (ev as { records?: number }).records === 'number') {
        this.lost.records += (ev as { records: number }).records;
        this.lost.bytes += (ev as { bytes: number }).bytes;
      }
      opts.emit(ev);
    };
    const stages: Array<(emit: Emit) => Stage> = [
      (emit) => new HttpStage({ redact: opts.redact ?? true }, emit),
      (emit) => new MergeStage({ live: opts.liveDeltas ?? false }, emit),
    ];
    // as-http took the secrets out of HTTP; stdio, argv and the MCP calls merged from stdio
    // still carry theirs. Everything after this point (correlation, export, capture, UI) is clean.
    if (opts.redact ?? true) stages.push((emit) => new RedactStage(emit));
    if (opts.correlate ?? true) stages.push((emit) => new CorrelateStage({}, emit));
    stages.push(...(opts.tail ?? []));
    this.head = chain(stages, sink);
    this.#order = new TimeOrder({ windowMs: 250 }, (ev) => this.head.write(ev));
    this.filter = new ProcessFilter(opts.select ?? {});
    const filter = this.filter;
    const feed: Emit = (ev) => {
      if (!filter.filter(ev)) return;
      this.#blind.see(ev);
      this.#order.write(ev);
    };

    // Each program the tree runs is looked at once: one whose TLS cannot be captured is said now.
    this.procEvents = new ProcEvents((ev) => {
      if (ev.type === 'exec') this.#onExec(ev as AgentEvent & { pid: number; filename: string; comm: string });
      feed(ev);
    });
    const targets = {
      ...(opts.gatedPid ? { trackFromExec: [opts.gatedPid] } : {}),
      ...(opts.pids?.length ? { pids: opts.pids } : {}),
      ...(opts.comm ? { comm: opts.comm } : {}),
      ...(opts.cgroup ? { cgroup: opts.cgroup } : {}),
    };
    const onLost = (ev: AgentEvent) => feed(ev);
    this.proc = TraceSession.start({
      ...targets,
      object: bpfObjectPath('proc.bpf.o'),
      rodata: { no_files: opts.files === false, no_net: opts.net === false },
      lostSrc: 'proc',
      onRecord: (rec) => this.procEvents.record(rec),
      onLost,
    });
    try {
      for (const pid of this.proc.existing) {
        const info = readInfo(pid);
        if (info) this.procEvents.snapshot(info);
        try {
          this.#checkBlind(pid, info?.comm ?? String(pid), fs.readlinkSync(`/proc/${pid}/exe`));
        } catch {
          /* gone, or a kernel thread */
        }
      }
      if (opts.stdio ?? true) {
        const asm = new StdioAssembler(feed);
        this.#stdioAsm = asm;
        this.stdio = TraceSession.start({
          ...targets,
          object: bpfObjectPath('stdiocap.bpf.o'),
          lostSrc: 'stdio',
          onRecord: (rec) => asm.record(rec),
          onLost,
        });
      }
      // Even with no TLS file known yet: a program the agent starts may bring its own (discover).
      {
        // The TLS filter is the tree proc follows (the same kernel map, kept on fork/exec/exit),
        // not one pid: agents relaunch themselves and make their calls from children.
        const tree = this.proc.all ? {} : { trackedMapFd: this.proc.obj.map('tracked').fd };
        const sniffer = new SslSniffer({
          targets: opts.tlsTargets,
          ...tree,
          // Stopping waits for the probes' detach: a grace period per link, not per function.
          uprobeMulti: true,
          ...(opts.connPrefix ? { connPrefix: opts.connPrefix } : {}),
          ...(opts.tlsFlushMs !== undefined ? { flushMs: opts.tlsFlushMs } : {}),
          // Programs and libraries the tree maps from now on (a launcher starting the real
          // agent, node or Bun started by a script, python loading libssl) are hooked before
          // they run, the way the agent's own executable was at start.
          discover: {
            ...(opts.comm ? { watchComm: opts.comm } : {}),
            ...(filter.empty ? {} : { skip: (m: { pid: number }) => !filter.allowsAfterExec(m.pid) }),
          },
          emit: (ev) => {
            if (!filter.filter(ev)) return;
            if (opts.raw && ev.type === 'data') sink(ev);
            feed(ev);
          },
          warn: opts.warn,
          info: opts.info,
        });
        this.sniffer = sniffer;
        if (!sniffer.attach())
          opts.warn?.(
            'no TLS function could be hooked yet: LLM calls are seen only from programs the agent starts that carry their own TLS',
          );
        sniffer.start();
      }
    } catch (e) {
      this.stop();
      throw e;
    }
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms);
      t.unref();
      this.#timers.push(t);
    };
    every(opts.tickMs ?? 100, () => this.tick());
    const interval = opts.metricsIntervalS ?? 5;
    if (interval > 0) every(interval * 1000, () => this.sample());
  }

  #onExec(ev: { pid: number; filename: string; comm: string }): void {
    if (this.#stopped) return;
    let exe: string | undefined;
    try {
      exe = fs.readlinkSync(`/proc/${ev.pid}/exe`);
    } catch {
      exe = ev.filename.startsWith('/') ? ev.filename : undefined;
    }
    if (exe) this.#checkBlind(ev.pid, ev.comm, exe);
  }

  /** Find out (once per file) whether a program has a TLS stack we cannot see into. */
  #checkBlind(pid: number, comm: string, exe: string): void {
    let why = this.#blindFiles.get(exe);
    if (why === undefined) {
      try {
        // Cached on disk for large files: a long-running capture restarted looks again at
        // every program running, and scanning a 200 MB binary takes a second.
        why = findTlsTargetCached(exe)?.symbols.length ? null : uncapturedTls(exe);
      } catch {
        why = null;
      }
      // Bounded for a capture that runs for days on a host that builds new programs all day.
      if (this.#blindFiles.size >= 4096) this.#blindFiles.clear();
      this.#blindFiles.set(exe, why);
    }
    if (why && !this.#blind.has(pid)) {
      this.#blind.mark(pid, comm, why);
      this.#opts.warn?.(
        `pid ${pid} ${comm}: its TLS cannot be captured (${why}; no SSL_read/SSL_write to hook): its LLM calls will be missing; its connections are still recorded`,
      );
    }
  }

  static start(opts: PipelineOptions): TracePipeline {
    return new TracePipeline(opts);
  }

  sample(): void {
    for (const m of this.#sampler.sample([...this.procEvents.live.keys()])) {
      this.#order.write({ v: SCHEMA_VERSION, ts: nowUs(), src: 'proc', type: 'metrics', ...m } as AgentEvent);
    }
  }

  tick(): void {
    if (this.#stopped) return;
    this.sniffer?.tick();
    this.#stdioAsm?.tick();
    const now = nowUs();
    this.#order.tick(now);
    this.head.tick?.(now);
  }

  /**
   * Resolves once the TLS probes are detached and their object closed (see stop). Await it
   * before exiting: otherwise the exit hook detaches them one by one, synchronously.
   */
  detached: Promise<void> = Promise.resolve();

  /**
   * End the capture: switch the TLS probes off, drain every ring, flush every stage. The
   * output is complete when this returns; detaching the TLS probes (an RCU grace period
   * each, seconds in all under load) goes on in the background: await `detached`.
   * Idempotent.
   */
  stop(): PipelineStats {
    let tls = 'no TLS capture';
    if (this.#stopped) return { tls, lost: this.lost, uncaptured: this.#blind.lines() };
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    const errs: unknown[] = [];
    const attempt = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        errs.push(e);
      }
    };
    attempt(() => {
      if (this.sniffer) {
        const { kernel, user } = this.sniffer.quiesce();
        tls = summaryLine(kernel, user);
      }
    });
    attempt(() => this.stdio?.stop());
    attempt(() => this.#stdioAsm?.end());
    attempt(() => this.proc.stop());
    attempt(() => this.procEvents.end());
    attempt(() => this.#order.end());
    attempt(() => this.head.end());
    for (const e of errs) this.#opts.warn?.(`stopping: ${(e as Error).message}`);
    if (this.sniffer) {
      this.detached = this.sniffer
        .detachAsync()
        .catch((e: unknown) => this.#opts.warn?.(`detaching TLS probes: ${(e as Error).message}`));
    }
    return { tls, lost: this.lost, uncaptured: this.#blind.lines() };
  }
}
