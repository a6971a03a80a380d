// Where top's events come from: the store of a running monitor (read-only, followed by
// rowid), or else a capture of its own through the same pipeline `agentsight record` runs.
import fs from 'node:fs';
import { type AgentEvent, nowUs } from '@agentsight/events';
import { recordTraced } from '@agentsight/exec';
import { StoreTail } from '@agentsight/serve';

/** Where `agentsight monitor` keeps its store. */
export const DEFAULT_STORE = '/var/lib/agentsight/agentsight.db';

export type SourceChoice = { kind: 'store'; path: string } | { kind: 'live'; comm?: string };

/** Does a process other than us hold `file` open (a monitor writing its store)? */
export function hasWriter(file: string, procRoot = '/proc'): boolean {
  let real: string;
  try {
    real = fs.realpathSync(file);
  } catch {
    return false;
  }
  let pids: string[];
  try {
    pids = fs.readdirSync(procRoot).filter((d) => /^\d+$/.test(d) && Number(d) !== process.pid);
  } catch {
    return false;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(`${procRoot}/${pid}/fd/${fd}`) === real) return true;
      } catch {
        /* closed meanwhile */
      }
    }
  }
  return false;
}

/** A choice the command line made that cannot be followed (exit status 2). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * `--store PATH` reads that store; `-c COMM` captures live; neither: the default store if
 * a monitor has it open, else a live capture of every process.
 */
export function chooseSource(opts: { store?: string; comm?: string }, defaultStore = DEFAULT_STORE): SourceChoice {
  if (opts.store !== undefined && opts.comm !== undefined)
    throw new UsageError('--store reads what a monitor captured; -c COMM is for a capture of its own: not both');
  if (opts.store !== undefined) {
    if (!fs.existsSync(opts.store)) throw new UsageError(`--store ${opts.store}: no such file`);
    return { kind: 'store', path: opts.store };
  }
  if (opts.comm === undefined && fs.existsSync(defaultStore) && hasWriter(defaultStore))
    return { kind: 'store', path: defaultStore };
  return { kind: 'live', ...(opts.comm !== undefined ? { comm: opts.comm } : {}) };
}

/** A stream of events into `sink`, until stopped. */
export interface Feed {
  /** Resolves once events flow (the capture attached; the store opened). */
  start(): Promise<void>;
  /** Resolves once what was there at the start is read (the store's window; at once for a live capture). */
  readonly caughtUp: Promise<void>;
  stop(): Promise<void>;
}

// What top reads of a store: processes, LLM calls, the monitor's stats, and loss reports.
const STORE_SRCS = ['proc', 'llm', 'meta'] as const;
const STORE_TYPES = ['lost'] as const;

/** Follows a store: the processes alive at the start of the window, then every event since. */
export class StoreFeed implements Feed {
  readonly #tail: StoreTail;
  readonly #sink: (evs: AgentEvent[]) => void;
  readonly #sinceUs: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  caughtUp: Promise<void> = Promise.resolve();

  constructor(
    file: string,
    sinceUs: number,
    sink: (evs: AgentEvent[]) => void,
    readonly pollMs = 250,
  ) {
    this.#tail = new StoreTail(file, { sinceUs, srcs: STORE_SRCS, types: STORE_TYPES });
    this.#sink = sink;
    this.#sinceUs = sinceUs;
  }

  get bytes(): number {
    return this.#tail.bytes();
  }

  /** Read what is new, at most `batches` × 5000 events (the rest on the next poll). */
  poll(batches = 4): number {
    let n = 0;
    for (let i = 0; i < batches; i++) {
      const evs = this.#tail.poll(5000);
      if (evs.length) this.#sink(evs);
      n += evs.length;
      if (evs.length < 5000) break;
    }
    return n;
  }

  async start(): Promise<void> {
    this.#sink(this.#tail.processesBefore(this.#sinceUs));
    // The window's history (an hour of a busy host is millions of events), a slice at a time
    // so that the view is drawn, keys are read and signals served meanwhile.
    this.caughtUp = (async () => {
      while (!this.#stopped && this.poll(1) === 5000) await new Promise((r) => setImmediate(r));
      if (!this.#stopped) this.#timer = setInterval(() => this.poll(), this.pollMs);
    })();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.caughtUp.catch(() => undefined);
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    this.#tail.close();
  }
}

export interface LiveOptions {
  comm?: string;
  sink: (evs: AgentEvent[]) => void;
  warn: (m: string) => void;
  info: (m: string) => void;
}

/** Captures itself: the `record` pipeline over every process, or those named `comm`. */
export class LiveFeed implements Feed {
  #stop!: () => void;
  readonly #until = new Promise<void>((r) => {
    this.#stop = r;
  });
  #run: Promise<{ detached: Promise<void> }> | undefined;
  readonly since = nowUs();
  readonly caughtUp: Promise<void> = Promise.resolve();
  readonly #opts: LiveOptions;

  constructor(opts: LiveOptions) {
    this.#opts = opts;
  }

  async start(): Promise<void> {
    const o = this.#opts;
    let failed: unknown;
    // Attached when recordTraced first awaits (the pipeline starts synchronously): a failure
    // to attach (privilege, kernel) has rejected it by the next turn.
    this.#run = recordTraced(o.comm !== undefined ? { comm: o.comm } : {}, this.#until, {
      emit: (ev) => o.sink([ev]),
      files: true,
      net: true,
      // What top shows needs neither stdio nor the correlation; each costs CPU on a busy host.
      stdio: false,
      correlate: false,
      raw: false,
      redact: true,
      // top samples the processes of agents itself, not every process the capture follows.
      metricsIntervalS: 0,
      // An agent shows from its first streamed tokens, not when its first call ends.
      liveDeltas: true,
      warn: o.warn,
      info: o.info,
    });
    this.#run.catch((e: unknown) => {
      failed = e ?? new Error('capture failed');
    });
    await new Promise((r) => setImmediate(r));
    if (failed) throw failed;
  }

  async stop(): Promise<void> {
    this.#stop();
    const r = await this.#run?.catch(() => undefined);
    await r?.detached;
  }
}
