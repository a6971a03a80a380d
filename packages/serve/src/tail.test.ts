import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent } from '@agentsight/events';
import t from 'tap';
import { Store } from './store.js';
import { StoreTail } from './tail.js';

const ev = (e: Record<string, unknown>) => ({ v: 1, tid: e.pid, comm: 'x', ...e }) as unknown as AgentEvent;

t.test('follows a store another connection writes, by rowid, from a time, by source', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-tail-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'agentsight.db');
  const w = new Store(file);
  w.insert(ev({ ts: 10, src: 'proc', type: 'exec', pid: 5, ppid: 1, uid: 0, filename: '/bin/a', argv: ['a', '-x'] }));
  w.insert(ev({ ts: 11, src: 'proc', type: 'exec', pid: 6, ppid: 1, uid: 0, filename: '/bin/b', argv: ['b'] }));
  w.insert(ev({ ts: 12, src: 'proc', type: 'exit', pid: 6, exit_code: 0 }));
  w.insert(ev({ ts: 20, src: 'ssl', type: 'handshake', pid: 5, conn: 'c', lib: 'openssl', ret: 1 }));
  w.insert(ev({ ts: 21, src: 'proc', type: 'open', pid: 5, path: '/etc/hosts', flags: 0, ret: 3 }));
  w.commit();

  const all = new StoreTail(file);
  t.same(
    all.poll().map((e) => e.ts),
    [10, 11, 12, 20, 21],
    'from the beginning, in order',
  );
  t.same(all.poll(), [], 'nothing new');
  all.close();

  const tail = new StoreTail(file, { sinceUs: 15, srcs: ['proc'] });
  t.same(
    tail.poll().map((e) => [e.ts, e.type]),
    [[21, 'open']],
    'from a time on, only the sources asked for',
  );
  t.same(
    tail.processesBefore(15).map((e) => [e.pid, e.argv, e.filename]),
    [[5, ['a', '-x'], '/bin/a']],
    'processes running at the start of the window, exited ones left out',
  );
  w.insert(ev({ ts: 30, src: 'proc', type: 'exit', pid: 5, exit_code: 1 }));
  w.insert(ev({ ts: 31, src: 'llm', type: 'delta', pid: 5, id: 'x', kind: 'text', text: 'hi', conn: 'c' }));
  w.commit();
  t.same(
    tail.poll(1).map((e) => e.ts),
    [30],
    'what the writer committed since, a batch at a time',
  );
  t.same(tail.poll(), [], 'other sources skipped');
  const lost = new StoreTail(file, { sinceUs: 15, srcs: ['llm'], types: ['open'] });
  t.same(
    lost.poll().map((e) => e.type),
    ['open', 'delta'],
    'sources or types',
  );
  lost.close();
  t.ok(tail.bytes() > 0, 'size on disk');
  t.throws(() => tail.db.prepare('DELETE FROM events').run(), 'read-only');
  tail.close();

  const late = new StoreTail(file, { sinceUs: 1000 });
  t.same(late.poll(), [], 'a window after the last event: starts at the end');
  w.insert(ev({ ts: 2000, src: 'proc', type: 'exit', pid: 7 }));
  w.commit();
  t.same(
    late.poll().map((e) => e.ts),
    [2000],
  );
  late.close();
  w.close();

  const other = path.join(dir, 'other.db');
  fs.writeFileSync(other, '');
  t.throws(() => new StoreTail(other), /not an agentsight store/);
  t.throws(() => new StoreTail(path.join(dir, 'missing.db')));
});
