import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent } from '@agentsight/events';
import { Store } from '@agentsight/serve';
import t from 'tap';
import { chooseSource, hasWriter, StoreFeed } from './source.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-top-src-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
const ev = (e: Record<string, unknown>) => ({ v: 1, tid: e.pid, comm: 'x', ...e }) as unknown as AgentEvent;

t.test('which source: --store, -c, the default store when a process holds it open, else live', async (t) => {
  const db = path.join(dir, 'agentsight.db');
  fs.writeFileSync(db, '');
  const none = path.join(dir, 'none.db');
  t.same(chooseSource({ store: db }), { kind: 'store', path: db });
  t.throws(() => chooseSource({ store: none }), { name: 'UsageError', message: /none\.db: no such file/ });
  t.throws(() => chooseSource({ store: db, comm: 'claude' }), /not both/);
  t.same(chooseSource({ comm: 'claude' }, db), { kind: 'live', comm: 'claude' }, '-c: always a capture');
  t.same(chooseSource({}, none), { kind: 'live' }, 'no default store');
  t.same(chooseSource({}, db), { kind: 'live' }, 'a default store nobody has open: stale');
  t.notOk(hasWriter(db), 'we ourselves do not count');
  // A process holding the store open, as the monitor does.
  const holder = spawn('sh', ['-c', 'exec 3<"$0"; echo open; exec sleep 30', db], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  t.teardown(() => holder.kill('SIGKILL'));
  await new Promise((r) => holder.stdout!.once('data', r));
  t.ok(hasWriter(db), 'held open by another process');
  t.same(chooseSource({}, db), { kind: 'store', path: db });
  t.notOk(hasWriter(none), 'a file that does not exist');
  t.notOk(hasWriter(db, path.join(dir, 'no-proc')), 'no /proc');
});

t.test('StoreFeed: the processes running at the window start, the window, then what is committed', async (t) => {
  const db = path.join(dir, 'feed.db');
  const w = new Store(db);
  const now = Date.now() * 1000;
  w.insert(ev({ ts: now - 10e6, src: 'proc', type: 'exec', pid: 5, ppid: 1, uid: 0, filename: '/a', argv: ['a'] }));
  w.insert(ev({ ts: now - 9e6, src: 'proc', type: 'open', pid: 5, path: '/old', flags: 0, ret: 3 }));
  w.insert(ev({ ts: now - 1e6, src: 'proc', type: 'open', pid: 5, path: '/new', flags: 0, ret: 3 }));
  w.insert(ev({ ts: now - 1e6, src: 'http', type: 'unparsed', conn: 'c', reason: 'x', bytes: 1 }));
  w.commit();
  const got: AgentEvent[] = [];
  const feed = new StoreFeed(db, now - 5e6, (evs) => got.push(...evs), 20);
  await feed.start();
  await feed.caughtUp;
  t.same(
    got.map((e) => [e.type, (e as { path?: string }).path ?? null]),
    [
      ['snapshot', null],
      ['open', '/new'],
    ],
    'the process known from the table, the window read, http left out',
  );
  t.ok(feed.bytes > 0);
  w.insert(ev({ ts: now, src: 'llm', type: 'delta', pid: 5, id: 'x', kind: 'text', text: 'hi', conn: 'c' }));
  w.insert(ev({ ts: now, src: 'ssl', type: 'lost', records: 2, bytes: 10 }));
  w.commit();
  const until = Date.now() + 5000;
  while (got.length < 4 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  t.same(
    got.slice(2).map((e) => e.type),
    ['delta', 'lost'],
    'followed: llm events and loss reports',
  );
  await feed.stop();
  w.close();
});

t.test('StoreFeed: a long window is read a slice at a time; stop during the catch-up', async (t) => {
  const db = path.join(dir, 'long.db');
  const w = new Store(db);
  const now = Date.now() * 1000;
  for (let i = 0; i < 12_000; i++)
    w.insert(ev({ ts: now - 1e6 + i, src: 'proc', type: 'open', pid: 5, path: `/f${i}`, flags: 0, ret: 3 }));
  w.close();
  const batches: number[] = [];
  const feed = new StoreFeed(db, now - 5e6, (evs) => batches.push(evs.length), 20);
  await feed.start();
  await feed.caughtUp;
  t.same(batches, [0, 5000, 5000, 2000], 'no process before the window; then slices');
  await feed.stop();
  const stopped = new StoreFeed(db, now - 5e6, () => {}, 20);
  await stopped.start();
  await stopped.stop();
  t.pass('stopped while catching up');
});
