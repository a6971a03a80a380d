// Reading a store back: its events in the order they were stored (agentsight report --store
// answers over them as over a capture file).
import fs from 'node:fs';
import type { AgentEvent } from '@agentsight/events';
import Database from 'better-sqlite3';

/**
 * Open a store to read while another process may be writing it (write-ahead logging lets
 * both). Throws an Error naming the file when it is missing or not a store.
 */
export function openStoreReadOnly(file: string): Database.Database {
  if (!fs.existsSync(file)) throw new Error(`${file}: no such store`);
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    db.prepare('SELECT 1 FROM events LIMIT 1').get();
  } catch (e) {
    db.close();
    throw new Error(`${file}: not an agentsight store (${(e as Error).message})`);
  }
  return db;
}

/** Every event of the store, oldest stored first. Rows that are not valid JSON are skipped. */
export function* storedEvents(db: Database.Database, opts: { afterId?: number } = {}): Generator<AgentEvent> {
  const rows = db.prepare('SELECT json FROM events WHERE id > ? ORDER BY id').iterate(opts.afterId ?? 0) as Iterable<{
    json: string;
  }>;
  for (const r of rows) {
    try {
      yield JSON.parse(r.json) as AgentEvent;
    } catch {
      /* not written by a Store */
    }
  }
}
