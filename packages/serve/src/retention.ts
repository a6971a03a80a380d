// Keeping a store that never stops growing (agentsight monitor) within a size and an age:
// the oldest events go first, with the rows derived from them, a bounded batch at a time so
// that the one process that both captures and stores is never held up for long.
import fs from 'node:fs';
import type Database from 'better-sqlite3';
import type { Store } from './store.js';

export interface RetentionOptions {
  /** Bytes the store's content may take (its used pages); 0 or undefined: no bound. */
  maxBytes?: number;
  /** Events older than this (µs) are deleted; 0 or undefined: no bound. */
  maxAgeUs?: number;
  /** Events deleted per pass at most (default 20000): a pass runs on the capture's thread. */
  batch?: number;
  /** Once over maxBytes, delete down to this share of it (default 0.9), so passes are rare. */
  lowWater?: number;
}

export interface RetentionResult {
  /** Events deleted by this pass. */
  deleted: number;
  /** More is due: run another pass soon. */
  more: boolean;
  /** The store's content after the pass (used pages, bytes). */
  usedBytes: number;
  /** Rows older than this (µs) are gone from every table; undefined when nothing was deleted. */
  cutoff?: number;
}

// Rows derived from events, by the time (@cut) before which they are old: a new derived table
// gets a row here. Processes still running are kept however old (their row is still being updated), and
// with them what they touched.
const DERIVED: Array<{ table: string; sql: string }> = [
  { table: 'calls', sql: 'DELETE FROM calls WHERE start_ts < @cut' },
  {
    table: 'touches',
    sql: `DELETE FROM touches WHERE rid IN
      (SELECT rid FROM processes WHERE start_ts < @cut AND end_ts IS NOT NULL AND end_ts < @cut)`,
  },
  { table: 'processes', sql: 'DELETE FROM processes WHERE start_ts < @cut AND end_ts IS NOT NULL AND end_ts < @cut' },
  { table: 'activity', sql: 'DELETE FROM activity WHERE t < @cut' },
  { table: 'metrics', sql: 'DELETE FROM metrics WHERE ts < @cut' },
  { table: 'links', sql: 'DELETE FROM links WHERE ts < @cut' },
];

/** Bytes the store's content takes: its pages in use (free pages are reused before the file grows). */
export function usedBytes(store: Store): number {
  const pages = store.db.pragma('page_count', { simple: true }) as number;
  const free = store.db.pragma('freelist_count', { simple: true }) as number;
  const size = store.db.pragma('page_size', { simple: true }) as number;
  return (pages - free) * size;
}

/** Bytes the store's files take on disk: the database and its write-ahead log. */
export function storeBytes(file: string): number {
  let n = 0;
  for (const f of [file, `${file}-wal`]) {
    try {
      n += fs.statSync(f).size;
    } catch {
      /* not there */
    }
  }
  return n;
}

export class Retention {
  readonly #store: Store;
  readonly #opts: Required<RetentionOptions>;
  readonly #oldest: Database.Statement;
  readonly #tsAtId: Database.Statement;
  readonly #victims: Database.Statement;
  readonly #derived: Array<Database.Statement>;
  readonly #incremental: boolean;

  constructor(store: Store, opts: RetentionOptions) {
    this.#store = store;
    this.#opts = {
      maxBytes: opts.maxBytes ?? 0,
      maxAgeUs: opts.maxAgeUs ?? 0,
      batch: opts.batch ?? 20000,
      lowWater: opts.lowWater ?? 0.9,
    };
    const db = store.db;
    // The write-ahead log is part of the size on disk: truncated back to this after a
    // checkpoint instead of keeping its high-water mark.
    if (this.#opts.maxBytes) {
      const limit = Math.max(1 << 20, Math.min(64 << 20, Math.floor(this.#opts.maxBytes / 16)));
      db.pragma(`journal_size_limit = ${limit}`);
      // And checkpointed once it holds that much (SQLite's default, 1000 pages, is 4 MiB: more
      // than a small bound allows).
      const page = db.pragma('page_size', { simple: true }) as number;
      db.pragma(`wal_autocheckpoint = ${Math.max(100, Math.floor(limit / page))}`);
    }
    this.#incremental = (db.pragma('auto_vacuum', { simple: true }) as number) === 2;
    this.#oldest = db.prepare('SELECT min(id) lo, max(id) hi FROM events');
    this.#tsAtId = db.prepare('SELECT ts FROM events WHERE id >= ? ORDER BY id LIMIT 1');
    // The oldest events by time, at most a batch: the ids, and the time of the newest of them.
    this.#victims = db.prepare('SELECT id, ts, src, type FROM events WHERE ts < ? ORDER BY ts LIMIT ?');
    this.#derived = DERIVED.map((d) => db.prepare(d.sql));
  }

  /** One pass: delete what is too old or over the size, oldest first, a batch at most. */
  run(nowUs: number): RetentionResult {
    const store = this.#store;
    const { maxBytes, maxAgeUs, batch, lowWater } = this.#opts;
    let cut = maxAgeUs ? nowUs - maxAgeUs : Number.NEGATIVE_INFINITY;
    let used = maxBytes ? usedBytes(store) : 0;
    if (maxBytes && used > maxBytes) {
      // Ids grow with time; the share of them to delete is the share of bytes over the low
      // water mark (events and the rows derived from them scale together).
      const { lo, hi } = this.#oldest.get() as { lo: number | null; hi: number | null };
      if (lo !== null && hi !== null) {
        const share = (used - maxBytes * lowWater) / used;
        const at = this.#tsAtId.get(lo + Math.ceil((hi - lo + 1) * share)) as { ts: number } | undefined;
        // Past the newest event: everything goes, and one more microsecond.
        cut = Math.max(cut, at ? at.ts : nowUs + 1);
      }
    }
    if (!Number.isFinite(cut)) return { deleted: 0, more: false, usedBytes: used };
    store.commit();
    const victims = this.#victims.all(cut, batch) as Array<{ id: number; ts: number; src: string; type: string }>;
    if (!victims.length) return { deleted: 0, more: false, usedBytes: used };
    // A batch cut short: the derived rows go only as far as the events did.
    const more = victims.length === batch;
    const upTo = more ? victims.at(-1)!.ts : cut;
    const db = store.db;
    const gone = new Map<string, number>();
    db.transaction(() => {
      const del = db.prepare('DELETE FROM events WHERE id = ?');
      for (const v of victims) {
        del.run(v.id);
        const k = `${v.src}/${v.type}`;
        gone.set(k, (gone.get(k) ?? 0) + 1);
      }
      for (const d of this.#derived) d.run({ cut: upTo });
    })();
    for (const [k, n] of gone) {
      const left = (store.counts.get(k) ?? 0) - n;
      if (left > 0) store.counts.set(k, left);
      else store.counts.delete(k);
    }
    // Hand the freed pages back to the file system (a store created shrinkable), and
    // the log back to its limit.
    if (this.#incremental) db.pragma('incremental_vacuum');
    db.pragma('wal_checkpoint(TRUNCATE)');
    used = maxBytes ? usedBytes(store) : 0;
    return {
      deleted: victims.length,
      more: more || (maxBytes > 0 && used > maxBytes),
      usedBytes: used,
      cutoff: upTo,
    };
  }
}
