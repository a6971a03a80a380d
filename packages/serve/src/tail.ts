import fs from 'node:fs';
import type { AgentEvent, ProcSnapshotEvent } from '@agentsight/events';
import type Database from 'better-sqlite3';
import { openStoreReadOnly } from './read.js';

// A reader that follows a store another process writes (as-serve, agentsight monitor):
// read-only, so it can never take the writer's lock for long or change a row, and
// incremental by rowid, so following a store of millions of events costs one indexed
// query per poll for what is new. The layout it reads is store.ts's.

export interface TailOptions {
  /** Start with the first event at or after this time (µs); 0: from the beginning. */
  sinceUs?: number;
  /** Only events of these sources, or of these types (all when neither is given). */
  srcs?: readonly string[];
  types?: readonly string[];
}

export class StoreTail {
  readonly db: Database.Database;
  readonly path: string;
  /** Id of the last event read. */
  lastId: number;
  readonly #next: Database.Statement;
  readonly #filter: readonly string[];

  constructor(file: string, opts: TailOptions = {}) {
    this.path = file;
    this.db = openStoreReadOnly(file);
    const since = opts.sinceUs ?? 0;
    const first = since
      ? (this.db.prepare('SELECT min(id) m FROM events WHERE ts >= ?').get(since) as { m: number | null }).m
      : 1;
    // Nothing in the window yet: start after what is there.
    this.lastId =
      first === null
        ? ((this.db.prepare('SELECT max(id) m FROM events').get() as { m: number | null }).m ?? 0)
        : first - 1;
    const list = (xs: readonly string[]) => xs.map(() => '?').join(', ');
    const srcs = opts.srcs ?? [];
    const types = opts.types ?? [];
    const which = [
      ...(srcs.length ? [`src IN (${list(srcs)})`] : []),
      ...(types.length ? [`type IN (${list(types)})`] : []),
    ];
    this.#next = this.db.prepare(
      `SELECT id, json FROM events WHERE id > ?${which.length ? ` AND (${which.join(' OR ')})` : ''} ORDER BY id LIMIT ?`,
    );
    this.#filter = [...srcs, ...types];
  }

  /** Up to `max` events stored since the last call, oldest first. */
  poll(max = 5000): AgentEvent[] {
    const rows = this.#next.all(this.lastId, ...this.#filter, max) as Array<{ id: number; json: string }>;
    const out: AgentEvent[] = [];
    for (const r of rows) {
      this.lastId = r.id;
      try {
        out.push(JSON.parse(r.json) as AgentEvent);
      } catch {
        /* the writer stores what it validated; a row that does not parse is skipped */
      }
    }
    return out;
  }

  /**
   * Processes that started before `beforeUs` and had not exited by then, as `snapshot`
   * events: what a reader starting mid-stream needs to know about processes whose start
   * it will not read.
   */
  processesBefore(beforeUs: number): ProcSnapshotEvent[] {
    const rows = this.db
      .prepare(
        `SELECT pid, ppid, uid, comm, filename, argv, cwd, start_ts FROM processes
         WHERE start_ts < ? AND (end_ts IS NULL OR end_ts >= ?) ORDER BY start_ts`,
      )
      .all(beforeUs, beforeUs) as Array<{
      pid: number;
      ppid: number | null;
      uid: number | null;
      comm: string | null;
      filename: string | null;
      argv: string | null;
      cwd: string | null;
      start_ts: number;
    }>;
    return rows.map((r) => {
      let argv: string[] = [];
      try {
        argv = r.argv ? (JSON.parse(r.argv) as string[]) : [];
      } catch {
        /* keep none */
      }
      return {
        v: 1,
        ts: r.start_ts,
        src: 'proc',
        type: 'snapshot',
        pid: r.pid,
        ppid: r.ppid ?? 0,
        ...(r.uid !== null ? { uid: r.uid } : {}),
        comm: r.comm ?? String(r.pid),
        ...(r.filename ? { filename: r.filename } : {}),
        argv,
        ...(r.cwd ? { cwd: r.cwd } : {}),
        start_ts: r.start_ts,
      };
    });
  }

  /** Size of the store on disk (database and its write-ahead log), bytes. */
  bytes(): number {
    let n = 0;
    for (const f of [this.path, `${this.path}-wal`]) {
      try {
        n += fs.statSync(f).size;
      } catch {
        /* no log */
      }
    }
    return n;
  }

  close(): void {
    this.db.close();
  }
}
