import fs from 'node:fs';
import type { AgentEvent, LlmCallEvent, LlmDeltaEvent, TraceLinkEvent } from '@agentsight/events';
import { usageOf } from '@agentsight/llm';
import { redactForStore } from '@agentsight/redact';
import Database from 'better-sqlite3';

// The store is SQLite (better-sqlite3, synchronous, in-process): captures of millions of
// events stay on disk, queries page through indexes instead of loading the capture, and
// the file survives restarts. Raw events are kept (redacted) in `events`; the views read
// small derived tables maintained at ingest (`calls`, `processes`, `touches`, `metrics`,
// `links`) so that opening a page never scans the raw log.

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events(
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, src TEXT NOT NULL, type TEXT NOT NULL,
  pid INTEGER, comm TEXT, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ev_ts ON events(ts);
CREATE INDEX IF NOT EXISTS ev_src_type_ts ON events(src, type, ts);
CREATE INDEX IF NOT EXISTS ev_pid_ts ON events(pid, ts);
CREATE TABLE IF NOT EXISTS calls(
  id TEXT PRIMARY KEY, event_id INTEGER, ts INTEGER, start_ts INTEGER, end_ts INTEGER,
  pid INTEGER, comm TEXT, provider TEXT, api TEXT, model TEXT, status INTEGER, stream INTEGER,
  ttft_ms REAL, duration_ms REAL, input_tokens INTEGER, output_tokens INTEGER,
  cache_read INTEGER, cache_write INTEGER, tool_calls TEXT, preview TEXT, partial TEXT,
  state TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS calls_start ON calls(start_ts);
CREATE INDEX IF NOT EXISTS calls_pid ON calls(pid, start_ts);
CREATE TABLE IF NOT EXISTS processes(
  rid INTEGER PRIMARY KEY, pid INTEGER NOT NULL, ppid INTEGER, uid INTEGER, comm TEXT,
  filename TEXT, argv TEXT, cwd TEXT, start_ts INTEGER NOT NULL, end_ts INTEGER,
  exit_code INTEGER, signal INTEGER, snapshot INTEGER NOT NULL DEFAULT 0,
  opens INTEGER NOT NULL DEFAULT 0, conns INTEGER NOT NULL DEFAULT 0, fileops INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS proc_pid ON processes(pid, start_ts);
CREATE INDEX IF NOT EXISTS proc_start ON processes(start_ts);
CREATE TABLE IF NOT EXISTS touches(
  rid INTEGER NOT NULL, kind TEXT NOT NULL, target TEXT NOT NULL, count INTEGER NOT NULL,
  first_ts INTEGER NOT NULL, failed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(rid, kind, target)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS activity(
  t INTEGER NOT NULL, pid INTEGER NOT NULL, type TEXT NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY(t, pid, type)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS metrics(ts INTEGER NOT NULL, pid INTEGER NOT NULL, cpu REAL, rss_kb INTEGER);
CREATE INDEX IF NOT EXISTS metrics_ts ON metrics(ts);
CREATE TABLE IF NOT EXISTS links(
  id INTEGER PRIMARY KEY, ts INTEGER, kind TEXT, src_ref TEXT, dst TEXT, confidence REAL, reasons TEXT, event_id INTEGER);
CREATE INDEX IF NOT EXISTS links_src ON links(src_ref);
CREATE TABLE IF NOT EXISTS sources(
  dev INTEGER NOT NULL, ino INTEGER NOT NULL, path TEXT, lines INTEGER NOT NULL, size INTEGER NOT NULL,
  PRIMARY KEY(dev, ino));
`;

export interface StoreOptions {
  /** Commit at least this often so live viewers see new events (default 100 ms). */
  commitMs?: number;
  /** Commit after this many events even if the timer has not fired (default 5000). */
  batch?: number;
  /**
   * A new file is created so that pages freed by deletes can be handed back to the file
   * system (auto_vacuum = INCREMENTAL, see retention.ts): a store bounded in size by deleting
   * its oldest events then also shrinks on disk. Has no effect on an existing file.
   */
  shrinkable?: boolean;
}

type Stmt = Database.Statement;

/** Granularity of the activity rollup (µs). */
export const ACTIVITY_US = 100_000;

/** The event store: one SQLite file, written by one process (as-serve). */
export class Store {
  readonly db: Database.Database;
  readonly path: string;
  #pending = 0;
  #inTx = false;
  #timer: NodeJS.Timeout | undefined;
  #commitMs: number;
  #batch: number;
  #listeners = new Set<(lastId: number) => void>();
  /** Live process row per pid (the one not yet exited). */
  #current = new Map<number, number>();
  #s: Record<string, Stmt>;
  // What processes touched, summed in memory between commits: a build opening the same
  // headers thousands of times costs one upsert per file per commit, not one per open.
  #touches = new Map<
    string,
    { rid: number; kind: string; target: string; count: number; first: number; failed: number }
  >();
  #bumps = new Map<number, [number, number, number]>();
  #activity = new Map<string, { t: number; pid: number; type: string; n: number }>();
  /** Events per `src/type`, kept up to date so the header's counts never scan the log. */
  readonly counts = new Map<string, number>();
  lastId = 0;
  #failure: Error | undefined;
  #failureListeners = new Set<(e: Error) => void>();
  /** The file being ingested: its position is written in every commit, with its rows. */
  #source: { dev: number; ino: number; path: string; size: number; lines: number; dirty: boolean } | undefined;

  constructor(path: string, opts: StoreOptions = {}) {
    this.path = path;
    if (path !== ':memory:') {
      // Captures hold prompts and tool output: the database is as private as the capture.
      const fd = fs.openSync(path, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
      fs.fchmodSync(fd, 0o600);
      fs.closeSync(fd);
    }
    this.db = new Database(path);
    // Only before the first table exists.
    if (opts.shrinkable) this.db.pragma('auto_vacuum = INCREMENTAL');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('cache_size = -65536');
    this.db.exec(SCHEMA);
    this.#commitMs = opts.commitMs ?? 100;
    this.#batch = opts.batch ?? 20000;
    const p = (sql: string) => this.db.prepare(sql);
    this.#s = {
      insEvent: p('INSERT INTO events(ts, src, type, pid, comm, json) VALUES (?, ?, ?, ?, ?, ?)'),
      upCall: p(`INSERT INTO calls(id, event_id, ts, start_ts, end_ts, pid, comm, provider, api, model, status, stream,
          ttft_ms, duration_ms, input_tokens, output_tokens, cache_read, cache_write, tool_calls, preview, partial, state)
        VALUES (@id, @event_id, @ts, @start_ts, @end_ts, @pid, @comm, @provider, @api, @model, @status, @stream,
          @ttft_ms, @duration_ms, @input_tokens, @output_tokens, @cache_read, @cache_write, @tool_calls, @preview, NULL, @state)
        ON CONFLICT(id) DO UPDATE SET event_id=excluded.event_id, ts=excluded.ts, start_ts=excluded.start_ts,
          end_ts=excluded.end_ts, pid=excluded.pid, comm=excluded.comm, provider=excluded.provider, api=excluded.api,
          model=excluded.model, status=excluded.status, stream=excluded.stream, ttft_ms=excluded.ttft_ms,
          duration_ms=excluded.duration_ms, input_tokens=excluded.input_tokens, output_tokens=excluded.output_tokens,
          cache_read=excluded.cache_read, cache_write=excluded.cache_write, tool_calls=excluded.tool_calls,
          preview=excluded.preview, partial=NULL, state=excluded.state`),
      delta: p(`INSERT INTO calls(id, ts, start_ts, pid, comm, partial, state) VALUES (?, ?, ?, ?, ?, ?, 'streaming')
        ON CONFLICT(id) DO UPDATE SET partial = coalesce(partial, '') || excluded.partial, ts = excluded.ts
        WHERE state = 'streaming'`),
      newProc: p(`INSERT INTO processes(pid, ppid, uid, comm, filename, argv, cwd, start_ts, snapshot)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      execProc: p(`UPDATE processes SET ppid = coalesce(?, ppid), uid = coalesce(?, uid), comm = ?, filename = ?,
        argv = ?, cwd = coalesce(?, cwd) WHERE rid = ?`),
      exitProc: p('UPDATE processes SET end_ts = ?, exit_code = ?, signal = ?, ppid = coalesce(ppid, ?) WHERE rid = ?'),
      touch: p(`INSERT INTO touches(rid, kind, target, count, first_ts, failed) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(rid, kind, target) DO UPDATE SET count = count + excluded.count, failed = failed + excluded.failed`),
      bumps: p('UPDATE processes SET opens = opens + ?, conns = conns + ?, fileops = fileops + ? WHERE rid = ?'),
      activity: p(`INSERT INTO activity(t, pid, type, n) VALUES (?, ?, ?, ?)
        ON CONFLICT(t, pid, type) DO UPDATE SET n = n + excluded.n`),
      metric: p('INSERT INTO metrics(ts, pid, cpu, rss_kb) VALUES (?, ?, ?, ?)'),
      link: p('INSERT INTO links(ts, kind, src_ref, dst, confidence, reasons, event_id) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    };
    this.lastId = (this.db.prepare('SELECT max(id) m FROM events').get() as { m: number | null }).m ?? 0;
    for (const r of this.db.prepare('SELECT src, type, count(*) n FROM events GROUP BY src, type').all() as Array<{
      src: string;
      type: string;
      n: number;
    }>) {
      this.counts.set(`${r.src}/${r.type}`, r.n);
    }
    for (const r of this.db
      .prepare('SELECT pid, max(rid) rid FROM processes WHERE end_ts IS NULL GROUP BY pid')
      .all() as Array<{ pid: number; rid: number }>) {
      this.#current.set(r.pid, r.rid);
    }
  }

  /** Called (after commit) with the id of the newest stored event. */
  onCommit(fn: (lastId: number) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Store one event (redacted) and update the derived tables. */
  insert(ev: AgentEvent): number {
    this.#begin();
    let id: number;
    try {
      const { json, ev: clean } = redactForStore(ev);
      id = Number(this.#s.insEvent!.run(ev.ts, ev.src, ev.type, ev.pid ?? null, ev.comm ?? null, json).lastInsertRowid);
      this.#derive(clean, id);
    } catch (e) {
      throw this.#fail(e);
    }
    this.lastId = id;
    const key = `${ev.src}/${ev.type}`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
    if (++this.#pending >= this.#batch) this.commit();
    return id;
  }

  #begin(): void {
    if (this.#failure) throw this.#failure;
    if (this.#inTx) return;
    this.db.exec('BEGIN');
    this.#inTx = true;
    // A failed commit was handed to #fail, which tells onFailure: nothing to throw here.
    this.#timer = setTimeout(() => {
      try {
        this.commit();
      } catch {
        /* see onFailure */
      }
    }, this.#commitMs);
  }

  commit(): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (!this.#inTx) return;
    try {
      this.#flushTouches();
      this.#writeSource();
      this.db.exec('COMMIT');
    } catch (e) {
      throw this.#fail(e);
    }
    this.#inTx = false;
    this.#pending = 0;
    for (const fn of this.#listeners) fn(this.lastId);
  }

  /**
   * A write failed (a full disk, an I/O error): the open transaction is rolled back, so the
   * store holds exactly what earlier commits wrote (rows and file positions together), and
   * every later write throws the same error. Returns the error to throw.
   */
  #fail(e: unknown): Error {
    if (this.#failure) return this.#failure;
    this.#failure = e instanceof Error ? e : new Error(String(e));
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#inTx) {
      try {
        this.db.exec('ROLLBACK');
      } catch {
        /* already rolled back by SQLite */
      }
      this.#inTx = false;
    }
    this.#touches.clear();
    this.#bumps.clear();
    this.#activity.clear();
    try {
      this.lastId = (this.db.prepare('SELECT max(id) m FROM events').get() as { m: number | null }).m ?? 0;
    } catch {
      /* keep */
    }
    for (const fn of this.#failureListeners) fn(this.#failure);
    return this.#failure;
  }

  /** The error that stopped the store from writing, once one did. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Called once, when a write fails (also one made by the commit timer). */
  onFailure(fn: (e: Error) => void): void {
    this.#failureListeners.add(fn);
  }

  close(): void {
    if (!this.#failure) {
      try {
        this.commit();
      } catch {
        /* told through onFailure */
      }
    }
    this.db.close();
  }

  #touch(
    rid: number,
    kind: string,
    target: string,
    count: number,
    ts: number,
    failed: number,
    bump: 0 | 1 | 2,
    pid?: number,
  ): void {
    if (pid !== undefined) {
      // The Timeline's file/network ticks, rolled up per 100 ms so a whole capture's
      // activity is summed from thousands of rows, not millions of events.
      const t = ts - (ts % ACTIVITY_US);
      const akey = `${t}\0${pid}\0${kind}`;
      const a = this.#activity.get(akey);
      if (a) a.n += count;
      else this.#activity.set(akey, { t, pid, type: kind, n: count });
    }
    const key = `${rid}\0${kind}\0${target}`;
    const cur = this.#touches.get(key);
    if (cur) {
      cur.count += count;
      cur.failed += failed;
    } else this.#touches.set(key, { rid, kind, target, count, first: ts, failed });
    const b = this.#bumps.get(rid) ?? [0, 0, 0];
    b[bump] += bump === 0 ? count : 1;
    this.#bumps.set(rid, b);
  }

  #flushTouches(): void {
    const s = this.#s;
    for (const x of this.#touches.values()) s.touch!.run(x.rid, x.kind, x.target, x.count, x.first, x.failed);
    for (const [rid, [o, c, f]] of this.#bumps) s.bumps!.run(o, c, f, rid);
    for (const a of this.#activity.values()) s.activity!.run(a.t, a.pid, a.type, a.n);
    this.#touches.clear();
    this.#bumps.clear();
    this.#activity.clear();
  }

  #proc(pid: number, ts: number, comm: string | undefined): number {
    let rid = this.#current.get(pid);
    if (rid === undefined) {
      // First sight of a process mid-life (started before capture, events lost): a row
      // so that what it touched is still attributed.
      rid = Number(this.#s.newProc!.run(pid, null, null, comm ?? null, null, null, null, ts, 0).lastInsertRowid);
      this.#current.set(pid, rid);
    }
    return rid;
  }

  #derive(ev: AgentEvent, eventId: number): void {
    const s = this.#s;
    switch (`${ev.src}/${ev.type}`) {
      case 'proc/fork':
      case 'proc/exec':
      case 'proc/snapshot': {
        const e = ev as unknown as {
          pid: number;
          ppid?: number;
          uid?: number;
          comm: string;
          filename?: string;
          argv?: string[];
          cwd?: string;
          start_ts?: number;
        };
        const argv = e.argv ? JSON.stringify(e.argv) : null;
        const cur = this.#current.get(e.pid);
        if (ev.type === 'exec' && cur !== undefined) {
          s.execProc!.run(e.ppid ?? null, e.uid ?? null, e.comm, e.filename ?? null, argv, e.cwd ?? null, cur);
        } else if (ev.type === 'snapshot' && cur !== undefined) {
          s.execProc!.run(e.ppid ?? null, e.uid ?? null, e.comm, e.filename ?? null, argv, e.cwd ?? null, cur);
        } else {
          // A fork of a pid we think is alive means we missed its exit: a new process.
          const start = ev.type === 'snapshot' ? (e.start_ts ?? ev.ts) : ev.ts;
          const rid = Number(
            s.newProc!.run(
              e.pid,
              e.ppid ?? null,
              e.uid ?? null,
              e.comm,
              e.filename ?? null,
              argv,
              e.cwd ?? null,
              start,
              ev.type === 'snapshot' ? 1 : 0,
            ).lastInsertRowid,
          );
          this.#current.set(e.pid, rid);
        }
        break;
      }
      case 'proc/exit': {
        const e = ev as unknown as {
          pid: number;
          comm: string;
          exit_code?: number;
          signal?: number;
          duration_ms?: number;
          ppid?: number;
        };
        let rid = this.#current.get(e.pid);
        if (rid === undefined) {
          const start = e.duration_ms !== undefined ? Math.round(ev.ts - e.duration_ms * 1000) : ev.ts;
          rid = Number(s.newProc!.run(e.pid, e.ppid ?? null, null, e.comm, null, null, null, start, 0).lastInsertRowid);
        }
        s.exitProc!.run(ev.ts, e.exit_code ?? null, e.signal ?? null, e.ppid ?? null, rid);
        this.#current.delete(e.pid);
        break;
      }
      case 'proc/open': {
        const e = ev as unknown as { pid: number; path: string; ret: number; count?: number };
        const rid = this.#proc(e.pid, ev.ts, ev.comm);
        const n = e.count ? e.count + 1 : 1;
        this.#touch(rid, 'open', e.path, n, ev.ts, e.ret < 0 ? n : 0, 0, e.pid);
        break;
      }
      case 'proc/connect':
      case 'proc/bind':
      case 'proc/listen': {
        const e = ev as unknown as { pid: number; family: string; addr?: string; port?: number; ret: number };
        const rid = this.#proc(e.pid, ev.ts, ev.comm);
        const target =
          e.addr === undefined
            ? e.family
            : e.port !== undefined
              ? e.addr.includes(':')
                ? `[${e.addr}]:${e.port}`
                : `${e.addr}:${e.port}`
              : e.addr;
        // -EINPROGRESS is a non-blocking connect under way, not a failure.
        this.#touch(rid, ev.type, target, 1, ev.ts, e.ret < 0 && e.ret !== -115 ? 1 : 0, 1, e.pid);
        break;
      }
      case 'proc/unlink':
      case 'proc/rename': {
        const e = ev as unknown as { pid: number; path: string; to?: string; ret: number };
        const rid = this.#proc(e.pid, ev.ts, ev.comm);
        this.#touch(rid, ev.type, e.to ? `${e.path} -> ${e.to}` : e.path, 1, ev.ts, e.ret < 0 ? 1 : 0, 2, e.pid);
        break;
      }
      case 'proc/metrics': {
        const e = ev as unknown as { pid: number; cpu_pct: number; rss_kb: number };
        s.metric!.run(ev.ts, e.pid, e.cpu_pct, e.rss_kb);
        break;
      }
      case 'llm/call': {
        const c = ev as LlmCallEvent;
        const text = c.response?.text ?? '';
        // Counted one way whatever the API (cached input in input_tokens), so that sums and
        // costs compare across providers.
        const u = usageOf(c);
        s.upCall!.run({
          id: c.id,
          event_id: eventId,
          ts: c.ts,
          start_ts: c.timing?.start ?? c.ts,
          end_ts: c.timing ? Math.round(c.timing.start + c.timing.duration_ms * 1000) : c.ts,
          pid: c.pid ?? null,
          comm: c.comm ?? null,
          provider: c.provider,
          api: c.api,
          model: c.model ?? null,
          status: c.status,
          stream: c.request?.stream ? 1 : 0,
          ttft_ms: c.timing?.ttft_ms ?? null,
          duration_ms: c.timing?.duration_ms ?? null,
          input_tokens: u.input ?? null,
          output_tokens: u.output ?? null,
          cache_read: u.cache_read ?? null,
          cache_write: u.cache_write ?? null,
          tool_calls: JSON.stringify(c.response?.tool_calls ?? []),
          preview: text.slice(0, 300),
          state: c.error !== undefined || c.status >= 400 ? 'error' : c.incomplete ? 'incomplete' : 'done',
        });
        break;
      }
      case 'llm/delta': {
        const d = ev as LlmDeltaEvent;
        s.delta!.run(d.id, d.ts, d.ts, d.pid ?? null, d.comm ?? null, d.kind === 'text' ? d.text : '');
        break;
      }
      case 'trace/link': {
        const l = ev as TraceLinkEvent;
        s.link!.run(l.ts, l.kind, l.from, JSON.stringify(l.to), l.confidence, JSON.stringify(l.reasons), eventId);
        break;
      }
    }
  }

  // ------------------------------------------------------------- ingest bookkeeping

  /** Lines of the file with this identity already stored (0 when new). */
  sourceLines(dev: number, ino: number, size: number): number {
    const r = this.db.prepare('SELECT lines, size FROM sources WHERE dev = ? AND ino = ?').get(dev, ino) as
      | { lines: number; size: number }
      | undefined;
    // A file that shrank was truncated and rewritten: start over.
    if (!r || size < r.size) return 0;
    return r.lines;
  }

  /**
   * Start storing the file with this identity; `lines` of it are stored already. Until
   * endSource, each commit also writes the position given to sourceAt, in the same
   * transaction as the rows, so whenever the process dies a restart resumes exactly after
   * the last line stored: nothing twice, nothing lost.
   */
  beginSource(dev: number, ino: number, path: string, size: number, lines: number): void {
    this.commit();
    this.#source = { dev, ino, path, size, lines, dirty: true };
  }

  /** Lines up to `lines` of the current source are stored (or being stored in this transaction). */
  sourceAt(lines: number): void {
    const src = this.#source;
    if (!src || src.lines === lines || !this.db.open) return;
    this.#begin();
    src.lines = lines;
    src.dirty = true;
  }

  endSource(): void {
    // Closed by a stop while the file was read: close() committed the rows and position.
    if (!this.db.open) {
      this.#source = undefined;
      return;
    }
    if (this.#source?.dirty) this.#begin();
    this.commit();
    this.#source = undefined;
  }

  #writeSource(): void {
    const src = this.#source;
    if (!src?.dirty) return;
    this.db
      .prepare(`INSERT INTO sources(dev, ino, path, lines, size) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT(dev, ino) DO UPDATE SET path = excluded.path, lines = excluded.lines, size = excluded.size`)
      .run(src.dev, src.ino, src.path, src.lines, src.size);
    src.dirty = false;
  }
}
