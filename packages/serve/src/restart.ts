// A long-running writer (agentsight monitor) starting over a store an earlier run of it
// wrote: what that run left (did it stop, or die, and when), and the rows it left open.
import fs from 'node:fs';
import Database from 'better-sqlite3';

export interface PreviousRun {
  /** The `run` of its meta start event, when it named one. */
  run?: string;
  startTs: number;
  /** Its meta stop event's time: it stopped cleanly. */
  stopTs?: number;
  /** The newest event in the store. */
  lastTs: number;
}

/** The last run `tool` recorded in the store (its meta run, and stop if it got that far), or null. */
export function previousRun(db: Database.Database, tool: string): PreviousRun | null {
  const last = db
    .prepare(
      `SELECT id, ts, type, json FROM events WHERE src = 'meta' AND type IN ('run', 'start', 'stop')
         AND json_extract(json, '$.tool') = ? ORDER BY id DESC LIMIT 2`,
    )
    .all(tool) as Array<{ id: number; ts: number; type: string; json: string }>;
  // Its run event (`start` in stores written before runs had one).
  const start = last.find((r) => r.type === 'run' || r.type === 'start');
  if (!start) return null;
  const stop = last[0]!.type === 'stop' && last[0]!.id > start.id ? last[0] : undefined;
  const { m } = db.prepare('SELECT max(ts) m FROM events').get() as { m: number };
  const run = (JSON.parse(start.json) as { run?: unknown }).run;
  return {
    ...(typeof run === 'string' ? { run } : {}),
    startTs: start.ts,
    ...(stop ? { stopTs: stop.ts } : {}),
    lastTs: m,
  };
}

/**
 * Before a Store opens `file` again (it loads the processes still running from it): the
 * previous run of `tool`, and the processes it left running that are gone now, ended at
 * `endTs` (their exits happened while nobody watched). Processes still alive stay open: the
 * new run's snapshot of them continues their rows. Null for a new store.
 */
export function takeOver(
  file: string,
  tool: string,
  o: { endTs: number; alive: (pid: number) => boolean },
): PreviousRun | null {
  if (!fs.existsSync(file) || fs.statSync(file).size === 0) return null;
  const db = new Database(file, { fileMustExist: true });
  try {
    if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").get()) return null;
    const prev = previousRun(db, tool);
    const open = db.prepare('SELECT rid, pid FROM processes WHERE end_ts IS NULL').all() as Array<{
      rid: number;
      pid: number;
    }>;
    const end = db.prepare('UPDATE processes SET end_ts = ? WHERE rid = ?');
    db.transaction(() => {
      for (const p of open) if (!o.alive(p.pid)) end.run(o.endTs, p.rid);
    })();
    return prev;
  } finally {
    db.close();
  }
}
