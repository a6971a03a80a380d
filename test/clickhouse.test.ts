// Many hosts, one place: three as-clickhouse processes, each as its own host (--host-name,
// its own buffer), ship to one ClickHouse (Debian's clickhouse-server, started here on temp
// dirs). ClickHouse is stopped mid-run and restarted: every row arrives, once.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { haveClickHouse, queryJSON, startClickHouse } from '@agentsight/fleet';
import t from 'tap';
import { ROOT } from './lib/run.js';

t.setTimeout(240_000);
t.test('three hosts, one ClickHouse, stopped and restarted mid-run', async (t) => {
  if (!haveClickHouse()) {
    t.fail('clickhouse-server is not installed: make deps');
    return;
  }
  const ch = await startClickHouse();
  t.teardown(() => ch.close());
  await ch.start();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chtest-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const HOSTS = ['alpha', 'beta', 'gamma'];
  const PER_PHASE = 200;

  const procs = HOSTS.map((h) => {
    const c = spawn(
      process.execPath,
      [
        path.join(ROOT, 'dist/tools/as-clickhouse.js'),
        '--url',
        ch.url,
        '--host-name',
        h,
        '--machine-id',
        `${h}-id`,
        '--buffer-dir',
        path.join(tmp, h),
        '--batch-rows',
        '50',
        '--batch-delay-ms',
        '100',
      ],
      { stdio: ['pipe', 'ignore', 'pipe'] },
    );
    let err = '';
    c.stderr.on('data', (d) => {
      err += d;
    });
    const done = new Promise<{ code: number | null; err: string }>((r) => c.on('close', (code) => r({ code, err })));
    return { h, c, done };
  });
  let seq = 0;
  const send = (phase: string) => {
    for (const p of procs) {
      const lines = [];
      if (phase === 'a') lines.push({ v: 1, ts: Date.now() * 1000, src: 'meta', type: 'run', run: `${p.h}-run` });
      for (let i = 0; i < PER_PHASE; i++)
        lines.push({
          v: 1,
          ts: Date.now() * 1000 + seq++,
          src: 'meta',
          type: 'stats',
          cpu_pct: 0.5,
          rss_kb: 90_000,
          lost_records: 0,
          store_bytes: 0,
          pid: 1000 + i,
          comm: 'node',
          phase,
        });
      p.c.stdin.write(`${lines.map((l) => JSON.stringify(l)).join('\n')}\n`);
    }
  };
  const count = (where = '') =>
    Number((queryJSON(ch.url, `SELECT count() AS n FROM agentsight_events ${where}`)[0] as { n: string }).n);

  send('a');
  // The table is the sinks' to create: until the first insert it is not there.
  const countSoFar = () => {
    try {
      return count();
    } catch {
      return 0;
    }
  };
  for (let i = 0; i < 100 && countSoFar() < 3 * (PER_PHASE + 1); i++) await new Promise((r) => setTimeout(r, 200));
  t.equal(count(), 3 * (PER_PHASE + 1), 'rows from all three hosts arrive while ClickHouse is up');

  await ch.stop();
  send('b'); // while ClickHouse is away: into each host's buffer
  await new Promise((r) => setTimeout(r, 1500));
  const buffered = HOSTS.map((h) => fs.readdirSync(path.join(tmp, h)).length);
  t.ok(
    buffered.every((n) => n > 0),
    `each host holds segments on disk while ClickHouse is away (${buffered})`,
  );
  await ch.start();
  send('c');
  for (const p of procs) p.c.stdin.end();
  const results = await Promise.all(procs.map((p) => p.done));
  for (const [i, r] of results.entries()) {
    t.equal(r.code, 0, `${HOSTS[i]} exits 0`);
    t.match(r.err, /retries/, `${HOSTS[i]} reports its retries`);
  }

  const per = queryJSON(
    ch.url,
    'SELECT host, machine_id, run, count() AS n, uniqExact(event) AS u FROM agentsight_events GROUP BY host, machine_id, run ORDER BY host',
  );
  t.same(
    per,
    HOSTS.map((h) => ({
      host: h,
      machine_id: `${h}-id`,
      run: `${h}-run`,
      n: String(3 * PER_PHASE + 1),
      u: String(3 * PER_PHASE + 1),
    })),
    'every event of every host, once, with its host, machine id and run',
  );
  t.equal(
    count("WHERE visitParamExtractString(event, 'phase') = 'b'"),
    3 * PER_PHASE,
    'the rows sent while away arrived',
  );

  // One UI over many hosts: as-serve --clickhouse answers from the fleet table, by host.
  const serve = spawn(
    process.execPath,
    [
      path.join(ROOT, 'dist/tools/as-serve.js'),
      '--port',
      '0',
      '--db',
      path.join(tmp, 'serve.db'),
      '--clickhouse',
      ch.url,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  t.teardown(() => {
    serve.kill('SIGTERM');
  });
  const base = await new Promise<string>((resolve, reject) => {
    let err = '';
    const timer = setTimeout(() => reject(new Error(`as-serve did not start: ${err}`)), 30_000);
    serve.stderr.on('data', (d) => {
      err += d;
      const m = /as-serve: (http:\/\/\S+)/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    serve.on('exit', (c) => reject(new Error(`as-serve exited ${c}: ${err}`)));
  });
  const get = async (p: string) => {
    const r = await fetch(new URL(p, base));
    return { status: r.status, body: (await r.json()) as Record<string, any> };
  };
  const hosts = await get('/api/hosts');
  t.same(
    hosts.body.hosts.map((h: { host: string; events: number }) => [h.host, h.events]),
    HOSTS.map((h) => [h, 3 * PER_PHASE + 1]),
    'as-serve lists the three hosts from ClickHouse',
  );
  const beta = await get('/api/events?host=beta&limit=1000');
  t.equal(beta.body.events.length, 3 * PER_PHASE + 1, 'events filtered to one host');
  t.ok(
    beta.body.events.every((e: { _host: string }) => e._host === 'beta'),
    'only that host',
  );
  const two = await get('/api/events?host=alpha,gamma&type=meta/run');
  t.same(two.body.events.map((e: { _host: string }) => e._host).sort(), ['alpha', 'gamma'], 'two hosts at once');
  t.equal((await get('/api/events?limit=x')).status, 400, 'a bad parameter is a 400');
  t.same(
    HOSTS.map((h) => fs.readdirSync(path.join(tmp, h)).length),
    [0, 0, 0],
    'buffers emptied',
  );
});
