import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent } from '@agentsight/events';
import t, { type Test } from 'tap';
import { openStoreReadOnly, storedEvents } from './read.js';
import { previousRun, takeOver } from './restart.js';
import { Retention, storeBytes, usedBytes } from './retention.js';
import { Store } from './store.js';

const ev = (e: Record<string, unknown>) => ({ v: 1, comm: 'x', ...e }) as unknown as AgentEvent;
const DAY = 86_400e6;
const tmp = (t: Test) => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'retention-'));
  t.teardown(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
};
type Row = Record<string, any>;

/** A process with what it touched, a metrics sample and an LLM call, all at `ts`. */
function activity(s: Store, pid: number, ts: number, exit = true): void {
  s.insert(ev({ ts, src: 'proc', type: 'exec', pid, ppid: 1, uid: 0, filename: '/bin/x', argv: ['x'] }));
  s.insert(ev({ ts: ts + 1, src: 'proc', type: 'open', pid, path: `/f${pid}`, flags: 0, ret: 3 }));
  s.insert(ev({ ts: ts + 2, src: 'proc', type: 'metrics', pid, cpu_pct: 1, rss_kb: 10, threads: 1 }));
  s.insert(
    ev({
      ts: ts + 3,
      src: 'llm',
      type: 'call',
      pid,
      id: `c${pid}`,
      provider: 'anthropic',
      api: 'anthropic.messages',
      model: 'm',
      status: 200,
      request: {},
      response: { text: 'hi', tool_calls: [] },
      usage: {},
      timing: { start: ts + 3, duration_ms: 1 },
    }),
  );
  s.insert(
    ev({ ts: ts + 4, src: 'trace', type: 'link', kind: 'tool', from: `c${pid}`, to: pid, confidence: 1, reasons: [] }),
  );
  if (exit) s.insert(ev({ ts: ts + 5, src: 'proc', type: 'exit', pid, exit_code: 0 }));
}

const count = (s: Store, table: string) => (s.db.prepare(`SELECT count(*) n FROM ${table}`).get() as Row).n as number;

t.test('age: events and every derived row older than the bound go; running processes stay', async (t) => {
  const s = new Store(':memory:');
  const now = 100 * DAY;
  activity(s, 10, now - 40 * DAY); // too old
  activity(s, 11, now - 35 * DAY, false); // too old, but still running
  activity(s, 12, now - 1 * DAY); // recent
  s.commit();
  const before = s.counts.get('llm/call');
  const r = new Retention(s, { maxAgeUs: 30 * DAY }).run(now);
  t.equal(r.deleted, 11, 'the old events (6 + 5)');
  t.notOk(r.more);
  t.equal(r.cutoff, now - 30 * DAY);
  t.same(
    (s.db.prepare('SELECT DISTINCT pid FROM events WHERE pid IS NOT NULL ORDER BY pid').all() as Row[]).map(
      (x) => x.pid,
    ),
    [12],
    'events: only the recent ones',
  );
  t.same(
    (s.db.prepare('SELECT pid FROM processes ORDER BY pid').all() as Row[]).map((x) => x.pid),
    [11, 12],
    'processes: the ended old one is gone, the running one stays',
  );
  t.same(
    (s.db.prepare('SELECT target FROM touches ORDER BY target').all() as Row[]).map((x) => x.target),
    ['/f11', '/f12'],
    'what the deleted process touched went with it',
  );
  t.equal(count(s, 'calls'), 1, 'calls');
  t.equal(count(s, 'metrics'), 1, 'metrics');
  t.equal(count(s, 'links'), 1, 'links');
  t.equal((s.db.prepare('SELECT min(t) m FROM activity').get() as Row).m >= now - 30 * DAY, true, 'activity');
  t.equal(s.counts.get('llm/call'), before! - 2, 'the per-type counts follow');
  t.equal(s.counts.get('proc/exit'), 1);
  t.same(new Retention(s, { maxAgeUs: 30 * DAY }).run(now).deleted, 0, 'a second pass finds nothing');
});

t.test('size: the oldest go first, down under the bound, in bounded batches; the file shrinks', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 's.db');
  const s = new Store(file, { shrinkable: true });
  const pad = 'x'.repeat(2000);
  for (let i = 0; i < 4000; i++)
    s.insert(ev({ ts: 1000 + i, src: 'http', type: 'request', pid: 1, conn: 'c', id: `r${i}`, data: pad }));
  s.commit();
  const full = usedBytes(s);
  t.ok(full > 8 << 20, `the store holds ${full} bytes`);
  const max = 4 << 20;
  const ret = new Retention(s, { maxBytes: max, batch: 500 });
  let passes = 0;
  let r;
  do {
    r = ret.run(10_000);
    passes++;
  } while (r.more && passes < 100);
  t.ok(passes > 1, `batches of 500 (${passes} passes)`);
  t.ok(usedBytes(s) <= max, `under the bound: ${usedBytes(s)} <= ${max}`);
  t.ok(usedBytes(s) > max / 2, 'not emptied');
  const ids = (s.db.prepare('SELECT min(ts) lo, max(ts) hi FROM events').get() as Row) ?? {};
  t.equal(ids.hi, 1000 + 3999, 'the newest kept');
  t.ok(ids.lo > 1000, 'the oldest gone');
  s.commit();
  t.ok(storeBytes(file) < full, `the file gave the pages back: ${storeBytes(file)} < ${full}`);
  t.equal(
    s.counts.get('http/request'),
    (s.db.prepare('SELECT count(*) n FROM events').get() as Row).n,
    'counts follow',
  );
  s.close();
});

t.test('no bound, or an empty store: nothing to do', async (t) => {
  const s = new Store(':memory:');
  t.same(new Retention(s, {}).run(1e15), { deleted: 0, more: false, usedBytes: 0 });
  t.equal(new Retention(s, { maxAgeUs: DAY, maxBytes: 1 << 30 }).run(1e15).deleted, 0);
});

t.test('read back: every event in stored order, from a second process view while the writer runs', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'r.db');
  const s = new Store(file);
  for (let i = 0; i < 50; i++)
    s.insert(
      ev({
        ts: 5000 - i,
        src: 'meta',
        type: 'note',
        n: i,
        secret: 'sk-ant-api03-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      }),
    );
  s.commit();
  const db = openStoreReadOnly(file);
  const got = [...storedEvents(db)];
  t.same(
    got.map((e) => (e as unknown as Row).n),
    Array.from({ length: 50 }, (_, i) => i),
    'in the order stored, not by time',
  );
  t.notMatch(JSON.stringify(got), /sk-ant-api03-x{20}/, 'as stored: redacted');
  t.same([...storedEvents(db, { afterId: 48 })].length, 2, 'from an id on');
  db.close();
  s.close();
  t.throws(() => openStoreReadOnly(path.join(dir, 'none.db')), /no such store/);
  fs.writeFileSync(path.join(dir, 'junk.db'), '');
  t.throws(() => openStoreReadOnly(path.join(dir, 'junk.db')), /not an agentsight store/);
});

t.test('takeOver: the previous run, whether it stopped or died, and its processes that are gone ended', async (t) => {
  const dir = tmp(t);
  const file = path.join(dir, 'm.db');
  t.equal(takeOver(file, 'mon', { endTs: 1, alive: () => true }), null, 'no store yet');
  let s = new Store(file);
  s.insert(ev({ ts: 100, src: 'meta', type: 'start', tool: 'other', run: 'zz' }));
  s.close();
  t.equal(takeOver(file, 'mon', { endTs: 1, alive: () => true }), null, "another tool's runs are not ours");
  s = new Store(file);
  s.insert(ev({ ts: 200, src: 'meta', type: 'start', tool: 'mon', run: 'a' }));
  s.insert(ev({ ts: 210, src: 'proc', type: 'exec', pid: 7, ppid: 1, uid: 0, filename: '/x', argv: [] }));
  s.insert(ev({ ts: 211, src: 'proc', type: 'exec', pid: 8, ppid: 1, uid: 0, filename: '/y', argv: [] }));
  s.insert(ev({ ts: 250, src: 'meta', type: 'stats', tool: 'mon' }));
  s.close(); // no stop: it died
  t.same(takeOver(file, 'mon', { endTs: 300, alive: (pid) => pid === 8 }), { run: 'a', startTs: 200, lastTs: 250 });
  s = new Store(file);
  t.same(
    s.db.prepare('SELECT pid, end_ts FROM processes ORDER BY pid').all(),
    [
      { pid: 7, end_ts: 300 },
      { pid: 8, end_ts: null },
    ],
    'the gone process ended at the take-over, the live one still open',
  );
  s.insert(ev({ ts: 300, src: 'meta', type: 'start', tool: 'mon', run: 'b' }));
  s.insert(ev({ ts: 400, src: 'meta', type: 'stop', tool: 'mon', run: 'b' }));
  s.commit();
  t.same(previousRun(s.db, 'mon'), { run: 'b', startTs: 300, stopTs: 400, lastTs: 400 }, 'stopped cleanly');
  s.close();
});
