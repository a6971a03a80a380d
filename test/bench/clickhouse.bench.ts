// Rows per second into ClickHouse (Debian's clickhouse-server, started here on temp dirs)
// through the fleet sink: rows through the on-disk buffer and the official client's
// JSONEachRow inserts, counted by ClickHouse itself at the end.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent } from '@agentsight/events';
import { ClickHouseSink, haveClickHouse, openFleet, queryJSON, startClickHouse } from '@agentsight/fleet';
import { size } from './smoke.js';

const N = size('BENCH_ROWS', 200_000, 2000);
if (!haveClickHouse()) {
  console.log('skipped: no clickhouse-server (make deps)');
  process.exit(0);
}
const ch = await startClickHouse();
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chbench-'));
try {
  await ch.start();
  const sink = new ClickHouseSink({ url: ch.url, bufferDir: dir, host: 'bench', machineId: 'bench' });
  const T0 = 1_764_150_000_000_000;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) {
    sink.write({
      v: 1,
      ts: T0 + i,
      src: 'proc',
      type: 'exec',
      pid: 1000 + (i % 64),
      ppid: 1,
      comm: 'node',
      filename: '/usr/bin/node',
      argv: ['node', 'agent.js', String(i)],
    } as unknown as AgentEvent);
    // Yield now and then so the sender runs alongside the input, as in a live stream.
    if (i % 5000 === 4999) await new Promise((r) => setImmediate(r));
  }
  const st = await sink.shutdown(300_000);
  const s = (performance.now() - t0) / 1000;
  const n = Number((queryJSON(ch.url, 'SELECT count() AS n FROM agentsight_events')[0] as { n: string }).n);
  if (n !== N || st.sent !== N) throw new Error(`sent ${st.sent}, ClickHouse has ${n}, want ${N}`);
  console.log(`rows into ClickHouse 18.16 (proc/exec events, batches of 5000): ${N} rows in ${s.toFixed(2)} s`);
  console.log(`  ${Math.round(N / s)} rows/s, ${st.inserts} inserts`);
  // as-serve --clickhouse's first page: the API's query, without HTTP in between.
  const fq = openFleet(ch.url);
  const ms = async (f: () => Promise<unknown>) => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const a = performance.now();
      await f();
      times.push(performance.now() - a);
    }
    return times.sort((x, y) => x - y)[2]!.toFixed(1);
  };
  const first = await ms(() => fq.events({ limit: 100 }));
  const byHost = await ms(() => fq.events({ hosts: ['bench'], limit: 100, order: 'desc' }));
  await fq.client.close();
  console.log(
    `first page of 100 events over ${N} rows (median of 5): ${first} ms; newest first, by host: ${byHost} ms`,
  );
} finally {
  await ch.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
