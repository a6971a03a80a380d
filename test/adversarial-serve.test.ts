// Adversarial: as-serve killed (kill -9, SIGINT) at random points of a large ingest and
// restarted on the same store stores every event exactly once; a full disk is one line on
// stderr and exit 1, with what was stored before kept.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mockSession } from '@agentsight/serve';
import Database from 'better-sqlite3';
import t from 'tap';
import { startTool } from './lib/run.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-serve-adv-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const STACK = /^\s+at /m;

function capture(file: string, sessions: number, agentPid = 100): number {
  let start = 1_790_000_000_000_000 + agentPid * 1_000_000_000;
  const out: string[] = [];
  for (let i = 0; i < sessions; i++) {
    const s = mockSession({ start, agentPid: agentPid + i });
    for (const e of s.events) out.push(JSON.stringify(e));
    start = s.facts.end + 1000;
  }
  fs.writeFileSync(file, out.join('\n') + '\n');
  return out.length;
}

/** as-serve on `files`; `stop(p, err)` decides when to signal it. Resolves with its exit and stderr. */
function serve(
  db: string,
  files: string[],
  stop: (kill: (s: NodeJS.Signals) => void, err: string) => void,
): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = startTool('as-serve', ['--db', db, '--port', '0', ...files]);
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.stderr!.on('data', (d) => {
      err += d;
      stop((s) => p.kill(s), err);
    });
    p.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stderr: err });
    });
  });
}

function counts(db: string): { n: number; distinct: number } {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare('SELECT count(*) n, count(DISTINCT json) distinct_ FROM events').get() as {
      n: number;
      distinct_: number;
    } as never;
  } finally {
    d.close();
  }
}

t.test('kill -9 and SIGINT at random points of an ingest, then a restart: every event exactly once', async (t) => {
  const cap = path.join(dir, 'cap.ndjson');
  const total = capture(cap, 400);
  const db = path.join(dir, 'k.db');
  for (const [i, sig] of (['SIGKILL', 'SIGINT', 'SIGKILL', 'SIGTERM'] as const).entries()) {
    const delay = Math.floor(Math.random() * 600);
    let sent = false;
    const r = await serve(db, [cap], (kill, err) => {
      if (!sent && /\(store /.test(err)) {
        sent = true;
        setTimeout(() => kill(sig), delay);
      }
    });
    t.notMatch(r.stderr, STACK, `run ${i}: no stack trace`);
    if (sig === 'SIGKILL') t.equal(r.signal, 'SIGKILL', `run ${i}: killed after ${delay} ms`);
    else t.equal(r.code, 0, `run ${i}: ${sig} after ${delay} ms exits 0 (${r.signal}): ${r.stderr}`);
  }
  const done = await serve(db, [cap], (kill, err) => {
    if (/events stored/.test(err)) kill('SIGTERM');
  });
  t.equal(done.code, 0);
  const c = counts(db) as unknown as { n: number; distinct_: number };
  t.equal(c.n, total, 'every event stored');
  t.equal(c.distinct_, total, 'none twice');
});

t.test('a full disk: one line, exit 1, what was stored before kept; a restart with room resumes', async (t) => {
  if (process.getuid?.() !== 0) {
    t.fail('mounting a tmpfs needs root: run the suite as root');
    return;
  }
  const mnt = path.join(dir, 'full');
  fs.mkdirSync(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
  t.teardown(() => {
    try {
      execFileSync('umount', [mnt]);
    } catch {
      /* gone */
    }
  });
  const small = path.join(dir, 'small.ndjson');
  const big = path.join(dir, 'big.ndjson');
  const nSmall = capture(small, 10);
  const nBig = capture(big, 400, 5000);
  const db = path.join(mnt, 's.db');
  const r = await serve(db, [small, big], () => {
    /* runs until it fails */
  });
  t.equal(r.code, 1, 'exit 1');
  t.notMatch(r.stderr, STACK, 'no stack trace');
  const m = new RegExp(
    `as-serve: ${db.replace(/[.]/g, '\\.')}: database or disk is full; the (\\d+) events stored before it are kept\\n`,
  ).exec(r.stderr);
  t.ok(m, `the one-line error: ${r.stderr}`);
  t.equal(r.stderr.split('\n').filter((l) => /disk is full/.test(l)).length, 1, 'one line');
  const kept = Number(m?.[1]);
  t.ok(kept >= nSmall, 'at least the first file was stored');
  // Room again: the store is moved to a disk with space and the run finishes.
  const db2 = path.join(dir, 's.db');
  for (const f of fs.readdirSync(mnt)) fs.copyFileSync(path.join(mnt, f), path.join(dir, f));
  t.equal((counts(db2) as unknown as { n: number }).n, kept, 'what it said was kept is in the store');
  const again = await serve(db2, [small, big], (kill, err) => {
    if (/big\.ndjson: \d+ events stored/.test(err)) kill('SIGTERM');
  });
  t.equal(again.code, 0);
  const c = counts(db2) as unknown as { n: number; distinct_: number };
  t.equal(c.n, nSmall + nBig);
  t.equal(c.distinct_, nSmall + nBig);
});
