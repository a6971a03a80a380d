// `agentsight top`: a source of events into the model, CPU and memory sampled from /proc,
// and one of three outputs: the terminal UI, plain tables (`--plain`, or stdout not a
// terminal) or JSON documents, every interval or once.
import { type AgentEvent, nowUs } from '@agentsight/events';
import type { PriceTable } from '@agentsight/llm';
import { MetricsSampler } from '@agentsight/proc';
import { outsideCi } from './ci.js';
import { TopModel } from './model.js';
import type { Snapshot } from './schema.js';
import { type Feed, LiveFeed, type SourceChoice, StoreFeed } from './source.js';
import { plainText, type SortKey, sortedSnapshot, type ViewName } from './table.js';

export interface TopOptions {
  source: SourceChoice;
  mode: 'tui' | 'plain' | 'json';
  once: boolean;
  /** Seconds between samples and printed snapshots. */
  intervalS: number;
  /** Store: how far back to read (seconds). */
  sinceS: number;
  view: ViewName;
  sort?: SortKey;
  reverse: boolean;
  prices?: PriceTable;
  out: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  /** Resolves when we are asked to stop (signal, closed output). */
  stopped: Promise<unknown>;
  warn: (m: string) => void;
  info: (m: string) => void;
}

const sleep = (ms: number, until: Promise<unknown>) =>
  Promise.race([new Promise<void>((r) => setTimeout(r, ms).unref()), until.then(() => undefined)]);

/** Runs until stopped (or once); returns the exit status. */
export async function runTop(o: TopOptions): Promise<number> {
  const model = new TopModel(o.prices ? { prices: o.prices } : {});
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const fn of listeners) fn();
  };
  const sink = (evs: AgentEvent[]) => {
    for (const ev of evs) model.add(ev);
    changed();
  };
  // In the terminal UI, diagnostics would tear the screen: they are shown in it instead.
  const notes: string[] = [];
  const warn = o.mode === 'tui' ? (m: string) => void notes.push(m) : o.warn;
  const info = o.mode === 'tui' ? () => {} : o.info;

  let feed: Feed;
  let since: number;
  if (o.source.kind === 'store') {
    since = o.sinceS > 0 ? nowUs() - Math.round(o.sinceS * 1e6) : 0;
    feed = new StoreFeed(o.source.path, since, sink);
  } else {
    const live = new LiveFeed({ ...(o.source.comm !== undefined ? { comm: o.source.comm } : {}), sink, warn, info });
    since = live.since;
    feed = live;
  }
  const source: Snapshot['source'] =
    o.source.kind === 'store' ? { kind: 'store', path: o.source.path } : { kind: 'live', comm: o.source.comm ?? null };

  const sampler = new MetricsSampler();
  let cpuAt = { usage: process.cpuUsage(), at: performance.now() };
  let sampledAt = -Infinity;
  const sample = (force = false) => {
    // Two samples a moment apart (the timer, and --once's own) would give CPU over a few
    // milliseconds: a clock tick more or less reads as 0% or 100%.
    if (!force && performance.now() - sampledAt < (o.intervalS * 1000) / 2) return;
    sampledAt = performance.now();
    const pids = model.livePids();
    const now = nowUs();
    model.sampled(pids, sampler.sample(pids), now);
    if (o.source.kind === 'live') {
      // Our own cost is the capture's cost: shown where a monitor's would be.
      const usage = process.cpuUsage();
      const at = performance.now();
      const usedMs = (usage.user + usage.system - cpuAt.usage.user - cpuAt.usage.system) / 1000;
      const cpu = at > cpuAt.at ? Math.round((usedMs / (at - cpuAt.at)) * 1000) / 10 : null;
      cpuAt = { usage, at };
      model.setStats({
        ts: now,
        cpu_pct: cpu,
        rss_kb: Math.round(process.memoryUsage.rss() / 1024),
        lost: model.lost,
        store_bytes: null,
      });
    }
    changed();
  };
  const snapshot = () => model.snapshot(nowUs(), source, since);

  try {
    await feed.start();
  } catch (e) {
    await feed.stop().catch(() => undefined);
    throw e;
  }
  sample();
  const timer = setInterval(() => sample(), o.intervalS * 1000);
  timer.unref();
  try {
    if (o.mode === 'tui' && !o.once) {
      const { runTui } = await outsideCi(() => import('./tui.js'));
      await runTui({
        snapshot,
        subscribe: (fn) => {
          listeners.add(fn);
          return () => listeners.delete(fn);
        },
        notes: () => notes,
        view: o.view,
        ...(o.sort ? { sort: o.sort } : {}),
        reverse: o.reverse,
        out: o.out,
        stdin: o.stdin,
        stopped: o.stopped,
      });
      return 0;
    }
    // A snapshot of the whole window, not of what was read of it so far.
    await Promise.race([feed.caughtUp, o.stopped]);
    // The processes the window brought: first seen now, their CPU over their lifetime so far.
    if (o.source.kind === 'store') sample(true);
    // A live capture has nothing to show before it has watched for a while.
    if (o.source.kind === 'live') {
      await sleep(o.intervalS * 1000, o.stopped);
      sample();
    }
    let stopping = false;
    void o.stopped.then(() => {
      stopping = true;
    });
    for (;;) {
      if (stopping) break;
      const s = snapshot();
      const text =
        o.mode === 'json'
          ? JSON.stringify(sortedSnapshot(s, o.sort, o.reverse)) + '\n'
          : plainText(s, o.view, o.sort, o.reverse);
      o.out.write(o.once || o.mode === 'json' ? text : text + '\n');
      if (o.once) break;
      await sleep(o.intervalS * 1000, o.stopped);
    }
    return 0;
  } finally {
    clearInterval(timer);
    await feed.stop();
  }
}
