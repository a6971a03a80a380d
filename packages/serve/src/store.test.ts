import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent } from '@agentsight/events';
import t from 'tap';
import { Store } from './store.js';

const ev = (e: Record<string, unknown>) => ({ v: 1, tid: e.pid, comm: 'x', ...e }) as unknown as AgentEvent;
type Row = Record<string, any>;

t.test('processes: fork/exec/exit, pid reuse, activity before exec, exit without start', async (t) => {
  const s = new Store(':memory:');
  s.insert(ev({ ts: 10, src: 'proc', type: 'fork', pid: 5, ppid: 1 }));
  s.insert(ev({ ts: 11, src: 'proc', type: 'exec', pid: 5, ppid: 1, uid: 0, filename: '/bin/ls', argv: ['ls', '-l'] }));
  s.insert(ev({ ts: 12, src: 'proc', type: 'open', pid: 5, path: '/etc/passwd', flags: 0, ret: 3 }));
  s.insert(ev({ ts: 13, src: 'proc', type: 'open', pid: 5, path: '/etc/passwd', flags: 0, ret: 3, count: 2 }));
  s.insert(ev({ ts: 14, src: 'proc', type: 'open', pid: 5, path: '/nope', flags: 0, ret: -2 }));
  s.insert(ev({ ts: 15, src: 'proc', type: 'exit', pid: 5, exit_code: 0 }));
  // The same pid again: a new process, not the old row reopened.
  s.insert(ev({ ts: 20, src: 'proc', type: 'exec', pid: 5, ppid: 1, uid: 0, filename: '/bin/cat', argv: ['cat'] }));
  s.insert(ev({ ts: 30, src: 'proc', type: 'exit', pid: 9, exit_code: 3, duration_ms: 0.02 }));
  s.commit();
  const rows = s.db.prepare('SELECT * FROM processes ORDER BY rid').all() as Row[];
  t.equal(rows.length, 3);
  t.same(
    [rows[0].argv, rows[0].start_ts, rows[0].end_ts, rows[0].exit_code, rows[0].opens],
    [JSON.stringify(['ls', '-l']), 10, 15, 0, 5],
    'fork then exec is one process',
  );
  t.same(
    [rows[1].argv, rows[1].end_ts],
    [JSON.stringify(['cat']), null],
    'pid reused after exit: a new row, still running',
  );
  t.same(
    [rows[2].pid, rows[2].start_ts, rows[2].exit_code],
    [9, 10, 3],
    'exit of a process never seen starting: start from its duration',
  );
  const touches = s.db
    .prepare('SELECT target, count, failed FROM touches WHERE rid = ? ORDER BY target')
    .all(rows[0].rid) as Row[];
  t.same(
    touches,
    [
      { target: '/etc/passwd', count: 4, failed: 0 },
      { target: '/nope', count: 1, failed: 1 },
    ],
    'folded opens counted, failures marked',
  );
  t.equal(s.counts.get('proc/open'), 3);
  s.close();
});

t.test('calls: deltas build a streaming row that the finished call replaces', async (t) => {
  const s = new Store(':memory:');
  s.insert(ev({ ts: 1, src: 'llm', type: 'delta', pid: 7, id: 'c1', kind: 'text', text: 'Hel', conn: 'k' }));
  s.insert(ev({ ts: 2, src: 'llm', type: 'delta', pid: 7, id: 'c1', kind: 'thinking', text: 'hmm', conn: 'k' }));
  s.insert(ev({ ts: 3, src: 'llm', type: 'delta', pid: 7, id: 'c1', kind: 'text', text: 'lo', conn: 'k' }));
  s.commit();
  let r = s.db.prepare('SELECT * FROM calls').get() as Row;
  t.same([r.state, r.partial], ['streaming', 'Hello'], 'partial text, thinking kept out');
  s.insert(
    ev({
      ts: 9,
      src: 'llm',
      type: 'call',
      pid: 7,
      id: 'c1',
      provider: 'openai',
      api: 'openai.chat',
      model: 'gpt-4o',
      request: { stream: true },
      response: { text: 'Hello there', thinking: null, tool_calls: [], finish_reason: 'stop' },
      usage: { input_tokens: 5, output_tokens: 2 },
      status: 200,
      timing: { start: 1, ttft_ms: 1, duration_ms: 0.008 },
      conn: 'k',
      req: 'k#0',
    }),
  );
  s.insert(ev({ ts: 10, src: 'llm', type: 'delta', pid: 7, id: 'c1', kind: 'text', text: 'late', conn: 'k' }));
  s.commit();
  r = s.db.prepare('SELECT * FROM calls').get() as Row;
  t.same(
    [r.state, r.partial, r.preview, r.end_ts, r.input_tokens],
    ['done', null, 'Hello there', 9, 5],
    'finished: a late delta changes nothing',
  );
  s.close();
});

t.test('a reopened store knows its live processes, counts and last id', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-serve-store-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 's.db');
  let s = new Store(file);
  s.insert(ev({ ts: 1, src: 'proc', type: 'exec', pid: 5, ppid: 1, uid: 0, filename: '/bin/sh', argv: ['sh'] }));
  s.close();
  t.equal(fs.statSync(file).mode & 0o777, 0o600);
  s = new Store(file);
  t.equal(s.lastId, 1);
  t.equal(s.counts.get('proc/exec'), 1);
  s.insert(ev({ ts: 2, src: 'proc', type: 'exit', pid: 5, exit_code: 4 }));
  s.commit();
  const rows = s.db.prepare('SELECT exit_code FROM processes').all() as Row[];
  t.same(rows, [{ exit_code: 4 }], 'the exit after a restart closes the process started before it');
  s.close();
});

t.test('commits are announced; a timer commits a trickle of events', async (t) => {
  const s = new Store(':memory:', { commitMs: 20 });
  const seen: number[] = [];
  s.onCommit((id) => seen.push(id));
  s.insert(ev({ ts: 1, src: 'meta', type: 'start' }));
  await new Promise((r) => setTimeout(r, 60));
  t.same(seen, [1], 'committed by the timer, listeners told the last id');
  s.close();
});

t.test('peer: the connect behind a socket fd, as of a time (fd numbers are reused)', async (t) => {
  const { Queries } = await import('./query.js');
  const s = new Store(':memory:');
  const q = new Queries(s);
  s.insert(
    ev({ ts: 10, src: 'proc', type: 'connect', pid: 7, fd: 5, family: 'inet', addr: '10.0.0.1', port: 443, ret: 0 }),
  );
  s.insert(
    ev({
      ts: 20,
      src: 'proc',
      type: 'connect',
      pid: 7,
      fd: 5,
      family: 'inet6',
      addr: '2001:db8::1',
      port: 8443,
      ret: -115,
    }),
  );
  s.insert(
    ev({ ts: 30, src: 'proc', type: 'connect', pid: 7, fd: 5, family: 'inet', addr: '10.0.0.9', port: 443, ret: -111 }),
  );
  s.insert(
    ev({ ts: 31, src: 'proc', type: 'connect', pid: 8, fd: 6, family: 'inet', addr: '10.0.0.8', port: 443, ret: 0 }),
  );
  s.commit();
  t.same(
    q.peer(7, 5, 15),
    { fd: 5, family: 'inet', addr: '10.0.0.1', port: 443, ts: 10 },
    'the connect before the call',
  );
  t.same(
    q.peer(7, 5, 40),
    { fd: 5, family: 'inet6', addr: '2001:db8::1', port: 8443, ts: 20 },
    'the latest one, in progress counts, refused does not',
  );
  t.equal(q.peer(7, 5, 5), null, 'nothing before it');
  t.equal(q.peer(7, 6, 40), null, 'another fd of the process');
  t.equal(q.peer(8, 5, 40), null, "another process's fd");
});
