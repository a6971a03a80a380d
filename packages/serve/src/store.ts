import fs from 'node:fs';
import type {
  AgentEvent,
  LlmCallEvent,
  LlmDeltaEvent,
  MetaEvent,
  TraceAlertEvent,
  TraceLinkEvent,
} from '@agentsight/events';
import { costOf, DEFAULT_PRICES, type PriceTable, usageOf } from '@agentsight/llm';
import { redactForStore } from '@agentsight/redact';
import { type CallSession, SessionTracker } from '@agentsight/trace';
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
CREATE TABLE IF NOT EXISTS runs(
  id TEXT PRIMARY KEY, host TEXT, command TEXT, capture TEXT, start_ts INTEGER NOT NULL, end_ts INTEGER,
  stopped INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sessions(
  rid INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, run TEXT, agent TEXT, host TEXT, pid INTEGER,
  start_ts INTEGER NOT NULL, end_ts INTEGER NOT NULL, title TEXT, calls INTEGER NOT NULL DEFAULT 0,
  tool_calls INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0, alerts INTEGER NOT NULL DEFAULT 0,
  tokens_in INTEGER NOT NULL DEFAULT 0, tokens_out INTEGER NOT NULL DEFAULT 0, cost REAL,
  parent_session TEXT, parent_tool TEXT);
CREATE INDEX IF NOT EXISTS sessions_start ON sessions(start_ts);
CREATE INDEX IF NOT EXISTS sessions_parent ON sessions(parent_session);
CREATE TABLE IF NOT EXISTS session_tags(
  kind TEXT NOT NULL, value TEXT NOT NULL, session TEXT NOT NULL, PRIMARY KEY(kind, value, session)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tags_session ON session_tags(session);
CREATE TABLE IF NOT EXISTS alerts(
  id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, rule TEXT, severity TEXT, session TEXT, pid INTEGER, message TEXT);
CREATE INDEX IF NOT EXISTS alerts_ts ON alerts(ts);
CREATE INDEX IF NOT EXISTS alerts_session ON alerts(session);
CREATE TABLE IF NOT EXISTS tool_errors(ts INTEGER NOT NULL, session TEXT, tool TEXT NOT NULL, call TEXT);
CREATE INDEX IF NOT EXISTS tool_errors_ts ON tool_errors(ts);
CREATE TABLE IF NOT EXISTS search_text(id INTEGER PRIMARY KEY, text TEXT NOT NULL, kind TEXT, ref TEXT);
CREATE VIRTUAL TABLE IF NOT EXISTS search USING fts5(text, content='search_text', content_rowid='id');
CREATE TABLE IF NOT EXISTS sources(
  dev INTEGER NOT NULL, ino INTEGER NOT NULL, path TEXT, lines INTEGER NOT NULL, size INTEGER NOT NULL,
  PRIMARY KEY(dev, ino));
`;

export interface StoreOptions {
  /** Commit at least this often so live viewers see new events (default 100 ms). */
  commitMs?: number;
  /** Commit after this many events even if the timer has not fired (default 5000). */
  batch?: number;
  /** Prices for the stored cost of each call (default: @agentsight/llm's, over genai-prices). */
  prices?: PriceTable;
  /**
   * A new file is created so that pages freed by deletes can be handed back to the file
   * system (auto_vacuum = INCREMENTAL, see retention.ts): a store bounded in size by deleting
   * its oldest events then also shrinks on disk. Has no effect on an existing file.
   */
  shrinkable?: boolean;
}

/** Columns added after the first release, and added to a store written before them. */
const ADDED_COLUMNS: Array<[table: string, column: string, decl: string]> = [
  ['calls', 'session', 'TEXT'],
  ['calls', 'run', 'TEXT'],
  ['calls', 'prompt', 'TEXT'],
  ['calls', 'cost_usd', 'REAL'],
  ['processes', 'session', 'TEXT'],
];

type Stmt = Database.Statement;

/** Search rows per session: a row's id is its session's rowid times this, plus a count. */
export const SEARCH_SPAN = 2 ** 24;

/** Granularity of the activity rollup (µs). */
export const ACTIVITY_US = 100_000;

/** The event store: one SQLite file, written by one process (as-serve). */
export class Store {
  readonly db: Database.Database;
  readonly path: string;
  readonly prices: PriceTable;
  /** Which session, run and parent each call belongs to (the model report and OTLP share). */
  readonly sessions = new SessionTracker();
  /** The session of each live process row, for what it touches. */
  #ridSession = new Map<number, string>();
  /** (session, path) pairs already searchable: a build opening a file a thousand times indexes it once. */
  #indexed = new Set<string>();
  /** The next search row id per session (see #index). */
  #searchSeq = new Map<string, { next: number; end: number }>();
  #run: { id: string; last: number } | undefined;
  /** Search rows (id, text) stored but not yet in the FTS5 index (see #flushSearch). */
  #ftsPending = new Map<number, string>();
  #ftsAt = 0;
  #ftsTimer: NodeJS.Timeout | undefined;
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
    this.#migrate();
    this.prices = opts.prices ?? DEFAULT_PRICES;
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
      callSession: p('UPDATE calls SET session = ?, run = ?, prompt = ?, cost_usd = ? WHERE id = ?'),
      session: p(`INSERT INTO sessions(id, run, agent, host, pid, start_ts, end_ts, title, calls, tool_calls, errors,
          tokens_in, tokens_out, cost, parent_session, parent_tool)
        VALUES (@id, @run, @agent, @host, @pid, @start, @end, @title, 1, @tool_calls, @errors, @tokens_in, @tokens_out,
          @cost, @parent_session, @parent_tool)
        ON CONFLICT(id) DO UPDATE SET start_ts = min(start_ts, excluded.start_ts), end_ts = max(end_ts, excluded.end_ts),
          title = coalesce(title, excluded.title), calls = calls + 1, tool_calls = tool_calls + excluded.tool_calls,
          errors = errors + excluded.errors, tokens_in = tokens_in + excluded.tokens_in,
          tokens_out = tokens_out + excluded.tokens_out,
          cost = CASE WHEN excluded.cost IS NULL THEN cost ELSE coalesce(cost, 0) + excluded.cost END,
          agent = coalesce(agent, excluded.agent), run = coalesce(run, excluded.run), host = coalesce(host, excluded.host),
          pid = coalesce(pid, excluded.pid)`),
      tag: p('INSERT OR IGNORE INTO session_tags(kind, value, session) VALUES (?, ?, ?)'),
      toolError: p('INSERT INTO tool_errors(ts, session, tool, call) VALUES (?, ?, ?, ?)'),
      searchText: p('INSERT INTO search_text(id, text, kind, ref) VALUES (?, ?, ?, ?)'),
      fts: p('INSERT INTO search(rowid, text) VALUES (?, ?)'),
      sessionRid: p('SELECT rid FROM sessions WHERE id = ?'),
      searchMax: p('SELECT max(id) m FROM search_text WHERE id BETWEEN ? AND ?'),
      run: p(`INSERT INTO runs(id, host, command, capture, start_ts) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT(id) DO UPDATE SET stopped = 0`),
      runEnd: p('UPDATE runs SET end_ts = max(coalesce(end_ts, 0), ?) WHERE id = ? AND stopped = 0'),
      runStop: p('UPDATE runs SET end_ts = ?, stopped = 1 WHERE id = ?'),
      alert: p('INSERT INTO alerts(ts, rule, severity, session, pid, message) VALUES (?, ?, ?, ?, ?, ?)'),
      sessionAlert: p('UPDATE sessions SET alerts = alerts + 1 WHERE id = ?'),
      sessionError: p('UPDATE sessions SET errors = errors + 1 WHERE id = ?'),
      procSession: p('UPDATE processes SET session = ? WHERE rid = ?'),
      procOf: p('SELECT session, ppid, argv FROM processes WHERE rid = ?'),
      lastProc: p('SELECT max(rid) rid FROM processes WHERE pid = ?'),
      searchOfRef: p("SELECT id FROM search_text WHERE id BETWEEN ? AND ? AND kind = 'command' AND ref = ?"),
      ftsDelete: p("INSERT INTO search(search, rowid, text) VALUES ('delete', ?, ?)"),
      searchDelete: p('DELETE FROM search_text WHERE id = ?'),
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
    this.#restoreSessions();
  }

  /**
   * The session model's state from what is stored, so that an as-serve restart resuming a
   * capture mid-file puts its next calls in the sessions they belong to (a process-tree
   * session is keyed by its root pid and first call: without this it would start anew).
   */
  #restoreSessions(): void {
    const live = this.db
      .prepare(`SELECT p.rid, p.pid, p.ppid, p.comm, p.argv, p.session FROM processes p
        WHERE p.end_ts IS NULL AND p.rid = (SELECT max(rid) FROM processes q WHERE q.pid = p.pid)
        ORDER BY p.rid DESC LIMIT 65536`)
      .all() as Array<{
      rid: number;
      pid: number;
      ppid: number | null;
      comm: string | null;
      argv: string | null;
      session: string | null;
    }>;
    if (!live.length) return;
    const pids = JSON.stringify(live.map((p) => p.pid));
    const trees = this.db
      .prepare(`SELECT pid, id FROM sessions WHERE id LIKE 'pid:%' AND parent_session IS NULL
        AND pid IN (SELECT value FROM json_each(?)) ORDER BY start_ts`)
      .all(pids) as Array<{ pid: number; id: string }>;
    const current = this.db
      .prepare(`SELECT c.pid, c.session FROM calls c WHERE c.session IS NOT NULL AND c.rowid = (SELECT max(rowid) FROM calls d
        WHERE d.pid = c.pid AND d.session IS NOT NULL) AND c.pid IN (SELECT value FROM json_each(?))`)
      .all(pids) as Array<{ pid: number; session: string }>;
    const run = this.db.prepare('SELECT * FROM runs WHERE stopped = 0 ORDER BY start_ts DESC LIMIT 1').get() as
      | Record<string, unknown>
      | undefined;
    this.sessions.restore({
      procs: live.reverse().map((p) => ({
        pid: p.pid,
        ...(p.ppid != null ? { ppid: p.ppid } : {}),
        ...(p.comm != null ? { comm: p.comm } : {}),
        ...(p.argv != null ? { argv: JSON.parse(p.argv) as string[] } : {}),
      })),
      trees: trees.map((r) => [r.pid, r.id]),
      current: current.map((r) => [r.pid, r.session]),
      ...(run
        ? {
            run: {
              id: run.id as string,
              start: run.start_ts as number,
              ...(run.host != null ? { host: run.host as string } : {}),
              ...(run.command != null ? { command: run.command as string } : {}),
              ...(run.capture != null ? { capture: run.capture as string } : {}),
            },
          }
        : {}),
    });
    // The open Task/Agent calls and answered tool calls live in the calls themselves: the
    // live processes' recent calls are replayed (their sessions are already stored).
    const recent = this.db
      .prepare(`SELECT e.json FROM calls c JOIN events e ON e.id = c.event_id
        WHERE c.pid IN (SELECT value FROM json_each(?)) AND c.state != 'streaming'
        ORDER BY c.start_ts DESC, c.rowid DESC LIMIT 2000`)
      .all(pids) as Array<{ json: string }>;
    for (const r of recent.reverse()) {
      try {
        this.sessions.observe(JSON.parse(r.json) as AgentEvent);
      } catch {
        /* a row that no longer parses: its call is simply not replayed */
      }
    }
    this.sessions.takeMoves();
    for (const p of live) if (p.session) this.#ridSession.set(p.rid, p.session);
    if (run) this.#run = { id: run.id as string, last: (run.end_ts as number | null) ?? (run.start_ts as number) };
  }

  #migrate(): void {
    for (const [table, column, decl] of ADDED_COLUMNS) {
      const cols = this.db.prepare(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>;
      if (!cols.some((c) => c.name === column)) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${decl}`);
    }
    this.db.exec('CREATE INDEX IF NOT EXISTS calls_session ON calls(session, start_ts)');
    this.db.exec('CREATE INDEX IF NOT EXISTS proc_session ON processes(session, start_ts)');
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
    if (++this.#pending >= this.#batch) this.commit(false);
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
        this.commit(false);
      } catch {
        /* see onFailure */
      }
    }, this.#commitMs);
  }

  /**
   * Commit what is stored so far. `search` false (the store's own timer and batch commits)
   * lets new search rows wait for a larger batch (see #flushSearch).
   */
  commit(search = true): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (search && this.#ftsPending.size && !this.#inTx && !this.#failure && this.db.open) this.#begin();
    if (!this.#inTx) return;
    try {
      this.#flushSearch(search);
      this.#flushTouches();
      if (this.#run) this.#s.runEnd!.run(this.#run.last, this.#run.id);
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
    this.#ftsPending.clear();
    if (this.#ftsTimer) clearTimeout(this.#ftsTimer);
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
    if (this.#ftsTimer) clearTimeout(this.#ftsTimer);
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
    const session = this.#ridSession.get(rid);
    if (session) this.#index(session, kind === 'open' ? 'path' : kind, target, rid);
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

  /**
   * Add the waiting search rows to the FTS5 index. Each transaction that adds any writes
   * FTS5 segments that it later merges: at a commit every 100 ms that was a large part of
   * ingesting paths, so rows wait for 5000 of them or a second, whichever comes first.
   */
  #flushSearch(force: boolean): void {
    if (this.#ftsTimer) {
      clearTimeout(this.#ftsTimer);
      this.#ftsTimer = undefined;
    }
    const pending = this.#ftsPending;
    if (!pending.size) return;
    const now = performance.now();
    if (force || pending.size >= 5000 || now - this.#ftsAt >= 1000) {
      for (const [id, text] of pending) this.#s.fts!.run(id, text);
      pending.clear();
      this.#ftsAt = now;
      return;
    }
    // Quiet after this: the rows still go in within a second.
    this.#ftsTimer = setTimeout(() => {
      this.#ftsTimer = undefined;
      try {
        if (this.db.open && !this.#failure) this.commit(true);
      } catch {
        /* see onFailure */
      }
    }, 1000);
    this.#ftsTimer.unref();
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
    const where = this.sessions.observe(ev);
    this.#deriveRows(ev, eventId, where);
    // After the call's session row exists: what moves to it is indexed under it.
    for (const m of this.sessions.takeMoves()) this.#moveProc(m.pid, m.session);
  }

  #deriveRows(ev: AgentEvent, eventId: number, where: CallSession | undefined): void {
    const s = this.#s;
    if (this.#run && ev.ts > this.#run.last) this.#run.last = ev.ts;
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
        this.#procSession(e.pid, argv);
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
        this.#ridSession.delete(rid);
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
        if (where) this.#callSession(c, where);
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
      case 'trace/alert': {
        const a = ev as TraceAlertEvent;
        const session = this.sessions.sessionOfPid(a.pid) ?? null;
        s.alert!.run(a.ts, a.rule, a.severity, session, a.pid ?? null, a.message);
        if (session) s.sessionAlert!.run(session);
        break;
      }
      case 'meta/run': {
        const r = this.sessions.run;
        if (r) {
          s.run!.run(r.id, r.host ?? null, r.command ?? null, r.capture ?? null, r.start);
          this.#run = { id: r.id, last: ev.ts };
        }
        break;
      }
      case 'meta/stop': {
        const id = (ev as MetaEvent).run;
        if (typeof id === 'string') {
          s.runStop!.run(ev.ts, id);
          if (this.#run?.id === id) this.#run = undefined;
        }
        break;
      }
    }
  }

  // ------------------------------------------------------------- sessions

  /**
   * Make text searchable under a session, once per (session, kind, text). A row's id is its
   * session's rowid << SEARCH_SHIFT plus a count, so the sessions a word is in are read from
   * the index's row ids alone (no lookup per match: a word in every path of a million-event
   * store stays fast), and one session's matches are a row-id range.
   */
  #index(session: string, kind: string, text: string, ref: string | number): void {
    if (!text) return;
    const key = `${session}\0${kind}\0${text}`;
    if (this.#indexed.has(key)) return;
    if (this.#indexed.size > 500_000) this.#indexed.clear();
    this.#indexed.add(key);
    let seq = this.#searchSeq.get(session);
    if (!seq) {
      const r = this.#s.sessionRid!.get(session) as { rid: number } | undefined;
      if (!r) return;
      const lo = r.rid * SEARCH_SPAN;
      const max = (this.#s.searchMax!.get(lo, lo + SEARCH_SPAN - 1) as { m: number | null }).m;
      seq = { next: max === null ? lo : max + 1, end: lo + SEARCH_SPAN };
      this.#searchSeq.set(session, seq);
      if (this.#searchSeq.size > 100_000) this.#searchSeq.delete(this.#searchSeq.keys().next().value as string);
    }
    if (seq.next >= seq.end) return; // 16M rows for one session: the rest stays unsearchable
    const id = seq.next++;
    this.#s.searchText!.run(id, text, kind, String(ref));
    this.#ftsPending.set(id, text);
  }

  /** A process started or exec'd: the session it works for, where an agent's tool started it. */
  #procSession(pid: number, argv: string | null): void {
    const rid = this.#current.get(pid);
    const session = this.sessions.sessionOfPid(pid);
    if (rid === undefined || !session) return;
    this.#ridSession.set(rid, session);
    this.#s.procSession!.run(session, rid);
    if (argv) this.#index(session, 'command', (JSON.parse(argv) as string[]).join(' '), rid);
  }

  /**
   * A process's session was decided after it started (the tracker's moves): its row, live
   * or the latest one of its pid, goes to that session, and its command is searchable there.
   */
  #moveProc(pid: number, session: string): void {
    const rid = this.#current.get(pid) ?? (this.#s.lastProc!.get(pid) as { rid: number } | undefined)?.rid;
    if (rid === undefined) return;
    const p = this.#s.procOf!.get(rid) as { session: string | null; argv: string | null } | undefined;
    if (!p || p.session === session) return;
    this.#s.procSession!.run(session, rid);
    if (this.#current.get(pid) === rid) this.#ridSession.set(rid, session);
    if (!p.argv) return;
    const cmd = (JSON.parse(p.argv) as string[]).join(' ');
    const old = p.session ? (this.#s.sessionRid!.get(p.session) as { rid: number } | undefined) : undefined;
    if (old) {
      // Its command no longer finds the session it was first filed under.
      const lo = old.rid * SEARCH_SPAN;
      for (const r of this.#s.searchOfRef!.all(lo, lo + SEARCH_SPAN - 1, String(rid)) as Array<{ id: number }>) {
        if (!this.#ftsPending.delete(r.id)) this.#s.ftsDelete!.run(r.id, cmd);
        this.#s.searchDelete!.run(r.id);
      }
      this.#indexed.delete(`${p.session}\0command\0${cmd}`);
    }
    this.#index(session, 'command', cmd, rid);
  }

  #callSession(c: LlmCallEvent, w: CallSession): void {
    const s = this.#s;
    const u = usageOf(c);
    const cost = costOf(c.model, c.provider, u, this.prices, c.ts) ?? null;
    s.callSession!.run(w.session, w.run ?? null, w.prompt ?? null, cost, c.id);
    const start = c.timing?.start ?? c.ts;
    const tcs = c.response?.tool_calls ?? [];
    s.session!.run({
      id: w.session,
      run: w.run ?? null,
      agent: w.agent ?? null,
      host: this.sessions.run?.host ?? null,
      pid: w.pid ?? null,
      start,
      end: c.timing ? Math.round(c.timing.start + c.timing.duration_ms * 1000) : c.ts,
      title: w.prompt ? w.prompt.slice(0, 200) : null,
      tool_calls: tcs.length,
      errors: c.error !== undefined || c.status >= 400 ? 1 : 0,
      tokens_in: u.input ?? 0,
      tokens_out: u.output ?? 0,
      cost,
      parent_session: w.parent?.session ?? null,
      parent_tool: w.parent?.toolCall ?? null,
    });
    // Failed tool results are the session's errors (a child's exit code is not: agents probe
    // with commands expected to fail, and a tool's failure reaches the model as is_error).
    for (const name of w.toolErrors ?? []) {
      s.toolError!.run(start, w.session, name, c.id);
      s.sessionError!.run(w.session);
    }
    if (c.model) s.tag!.run('model', c.model, w.session);
    s.tag!.run('provider', c.provider, w.session);
    for (const tc of tcs) s.tag!.run('tool', tc.name, w.session);
    if (w.prompt) this.#index(w.session, 'prompt', w.prompt, c.id);
    if (c.response?.text) this.#index(w.session, 'response', c.response.text, c.id);
    for (const tc of tcs)
      this.#index(
        w.session,
        'tool',
        `${tc.name} ${typeof tc.arguments === 'string' ? tc.arguments : JSON.stringify(tc.arguments)}`,
        c.id,
      );
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
