import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent } from '@agentsight/events';
import t from 'tap';
import { SegmentBuffer } from './buffer.js';
import { toRow } from './schema.js';
import { ClickHouseSink } from './sink.js';
import { haveClickHouse, queryJSON, startClickHouse } from './testing.js';

const ev = (i: number): AgentEvent =>
  ({
    v: 1,
    ts: 1_764_000_000_000_000 + i,
    src: 'proc',
    type: 'exec',
    pid: 100 + i,
    comm: 'node',
    filename: '/bin/x',
  }) as unknown as AgentEvent;

t.test('rows carry the host, the run, the columns and the whole event', async (t) => {
  const r = toRow(ev(1), { host: 'h1', machineId: 'm1', run: 'r1' });
  t.match(r, {
    day: '2025-11-24',
    host: 'h1',
    machine_id: 'm1',
    run: 'r1',
    src: 'proc',
    type: 'exec',
    pid: 101,
    comm: 'node',
  });
  t.same(JSON.parse(r.event), ev(1));
});

t.test('the buffer drops the oldest segments over its bound, counts them, and keeps its files 0600', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetbuf-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const b = new SegmentBuffer(dir, 250);
  const line = 'x'.repeat(99);
  const s1 = b.append([line]);
  b.append([line]);
  t.equal(b.droppedRows, 0);
  t.equal(fs.statSync(s1.file).mode & 0o777, 0o600);
  b.append([line, line]); // 400 bytes: over, the oldest go (never the newest)
  t.equal(b.droppedRows, 2);
  t.equal(b.length, 1);
  t.equal(b.rows, 2);
  // A new process on the same directory finds what is left.
  const again = new SegmentBuffer(dir, 250);
  t.equal(again.rows, 2);
  const s = again.append([line], again.oldest());
  t.equal(again.length, 2, 'the segment being sent is not dropped');
  again.done(again.oldest()!);
  again.done(s);
  t.equal(fs.readdirSync(dir).length, 0);
});

t.test(
  'into a real ClickHouse, across a restart, nothing lost',
  { skip: !haveClickHouse() && 'no clickhouse-server: make deps' },
  async (t) => {
    const ch = await startClickHouse();
    t.teardown(() => ch.close());
    await ch.start();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetsink-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const sink = new ClickHouseSink({
      url: ch.url,
      bufferDir: dir,
      batchRows: 10,
      batchDelayMs: 50,
      host: 'h1',
      machineId: 'm1',
      minBackoffMs: 50,
      maxBackoffMs: 200,
    });
    sink.write({ v: 1, ts: 1_763_999_999_000_000, src: 'meta', type: 'run', run: 'r1' } as unknown as AgentEvent);
    for (let i = 0; i < 25; i++) sink.write(ev(i));
    await new Promise((r) => setTimeout(r, 1000));
    t.equal(sink.stats.sent, 26, 'sent while up');
    await ch.stop();
    for (let i = 25; i < 60; i++) sink.write(ev(i));
    await new Promise((r) => setTimeout(r, 800));
    t.ok(sink.stats.retries > 0, 'retried while down');
    t.ok(sink.buffer.rows > 0, 'held on disk while down');
    await ch.start();
    const st = await sink.shutdown(20_000);
    t.match(st, { rows: 61, sent: 61, dropped: 0, buffered: 0 });
    const rows = queryJSON(
      ch.url,
      'SELECT count() AS n, uniqExact(ts) AS u, any(host) AS h, anyLast(run) AS r FROM agentsight_events',
    ) as { n: string; u: string; h: string; r: string }[];
    t.match(rows[0], { n: '61', u: '61', h: 'h1', r: 'r1' });
    t.equal(fs.readdirSync(dir).length, 0, 'buffer emptied');
  },
);

t.test('ClickHouse away past the bound: the oldest rows dropped, counted, the rest kept on disk', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fleetdrop-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const warned: string[] = [];
  const sink = new ClickHouseSink({
    url: 'http://127.0.0.1:9',
    warn: (m) => warned.push(m),
    bufferDir: dir,
    batchRows: 10,
    maxBufferBytes: 20_000,
    minBackoffMs: 20,
    maxBackoffMs: 50,
  });
  for (let i = 0; i < 500; i++) sink.write(ev(i));
  const st = await sink.shutdown(300);
  t.equal(st.sent, 0);
  t.ok(st.dropped > 0, `dropped ${st.dropped}`);
  t.ok(st.buffered > 0, `kept ${st.buffered}`);
  t.equal(st.dropped + st.buffered, 500, 'every row is sent, kept or counted as dropped');
  t.ok(sink.buffer.bytes <= 20_000, 'within the bound');
  t.match(warned.join('\n'), /dropping oldest rows/);
  t.ok(st.retries > 0);
});
