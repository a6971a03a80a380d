import fs from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { type AgentEvent, readEvents } from '@agentsight/events';
import type { Store } from './store.js';

export interface IngestResult {
  file: string;
  /** Events stored by this run. */
  events: number;
  /** Lines skipped because an earlier run already stored them. */
  skipped: number;
  errors: number;
}

/**
 * A capture FILE written with --rotate-mb has predecessors FILE.1 (newest) … FILE.N,
 * possibly gzipped later by logrotate. Returns them oldest first, then FILE itself, so the
 * store receives events in the order they were written.
 */
export function expandRotated(file: string): string[] {
  const dir = path.dirname(file);
  const base = path.basename(file);
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [file];
  }
  const rotated: Array<[number, string]> = [];
  const re = new RegExp(`^${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(\\d+)(\\.gz)?$`);
  for (const n of names) {
    const m = re.exec(n);
    if (m) rotated.push([Number(m[1]), path.join(dir, n)]);
  }
  rotated.sort((a, b) => b[0] - a[0]);
  return [...rotated.map((r) => r[1]), file];
}

function open(file: string): Readable {
  const s = fs.createReadStream(file, { highWaterMark: 256 * 1024 });
  return file.endsWith('.gz') ? s.pipe(zlib.createGunzip()) : s;
}

export interface IngestOptions {
  strict?: boolean;
  onError?: (msg: string) => void;
  /** Abort reading (e.g. on SIGINT). */
  signal?: AbortSignal;
  /** Where events go (default: the store); e.g. through a correlation stage first. */
  put?: (ev: AgentEvent) => void;
}

/**
 * Store the events of one NDJSON file (plain or .gz). Files are identified by device and
 * inode, so a second run skips what the first stored, a file that grew is resumed, and a
 * rotated file (same inode, new name) is not stored twice.
 */
export async function ingestFile(store: Store, file: string, opts: IngestOptions = {}): Promise<IngestResult> {
  const st = fs.statSync(file);
  // Only regular files have an identity worth remembering: a pipe's inode is reused.
  const regular = st.isFile();
  const done = regular ? store.sourceLines(st.dev, st.ino, st.size) : 0;
  const input = open(file);
  const abort = () => input.destroy();
  opts.signal?.addEventListener('abort', abort);
  const put =
    opts.put ??
    ((ev: AgentEvent) => {
      store.insert(ev);
    });
  let events = 0;
  let skipped = 0;
  if (regular) store.beginSource(st.dev, st.ino, file, st.size, done);
  try {
    const r = await readEvents(
      input,
      (ev, lineNo) => {
        if (lineNo <= done) {
          skipped++;
          return;
        }
        // The position first: the row and it then go in the same transaction.
        store.sourceAt(lineNo);
        put(ev);
        events++;
      },
      { name: file, strict: opts.strict, onError: opts.onError ? (m) => opts.onError!(m) : undefined },
    );
    // Lines after the last event (malformed ones) are done too.
    if (r.lines > done) store.sourceAt(r.lines);
    return { file, events, skipped, errors: r.errors };
  } finally {
    opts.signal?.removeEventListener('abort', abort);
    if (regular && !store.failure) store.endSource();
    else if (!store.failure && store.db.open) store.commit();
  }
}

/** Store events from a live stream (stdin of `as-http | as-merge | as-serve`). */
export async function ingestStream(
  store: Store,
  input: Readable,
  opts: IngestOptions & { name?: string } = {},
): Promise<IngestResult> {
  const put =
    opts.put ??
    ((ev: AgentEvent) => {
      store.insert(ev);
    });
  let events = 0;
  const r = await readEvents(
    input,
    (ev) => {
      put(ev);
      events++;
    },
    { name: opts.name ?? '<stdin>', strict: opts.strict, onError: opts.onError ? (m) => opts.onError!(m) : undefined },
  );
  store.commit();
  return { file: opts.name ?? '<stdin>', events, skipped: 0, errors: r.errors };
}
