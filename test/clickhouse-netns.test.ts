// Three "hosts" as network namespaces on this machine (each its own UTS name, so the host
// identity is its own, not overridden), each reaching one ClickHouse in the root namespace
// over a veth pair, as a remote host would over the network.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { haveClickHouse, queryJSON, startClickHouse } from '@agentsight/fleet';
import t from 'tap';
import { ROOT } from './lib/run.js';

t.setTimeout(180_000);

const ip = (...a: string[]) => {
  const r = spawnSync('ip', a, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${a.join(' ')}: ${r.stderr}`);
};

t.test('three network namespaces ship to one ClickHouse', async (t) => {
  if (process.geteuid?.() !== 0) {
    t.fail('needs root (ip netns add)');
    return;
  }
  if (!haveClickHouse()) {
    t.fail('clickhouse-server is not installed: make deps');
    return;
  }
  // Listening on every IPv4 address: the root ends of the veth pairs included.
  const ch = await startClickHouse({ host: '0.0.0.0' });
  t.teardown(() => ch.close());
  await ch.start();
  const port = new URL(ch.url).port;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chnetns-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const tag = `asch${process.pid % 100000}`;
  const N = 100;
  const hosts = [1, 2, 3].map((i) => ({ i, ns: `${tag}-${i}`, name: `${tag}-host${i}`, veth: `${tag}v${i}` }));
  const b = (process.pid % 200) + 20; // a /24 of our own under 10.(b).0.0
  for (const h of hosts) {
    ip('netns', 'add', h.ns);
    t.teardown(() => {
      spawnSync('ip', ['link', 'del', h.veth]);
      spawnSync('ip', ['netns', 'del', h.ns]);
    });
    ip('link', 'add', h.veth, 'type', 'veth', 'peer', 'name', `${h.veth}p`);
    ip('link', 'set', `${h.veth}p`, 'netns', h.ns);
    ip('addr', 'add', `10.${b}.${h.i}.1/24`, 'dev', h.veth);
    ip('link', 'set', h.veth, 'up');
    ip('-n', h.ns, 'addr', 'add', `10.${b}.${h.i}.2/24`, 'dev', `${h.veth}p`);
    ip('-n', h.ns, 'link', 'set', `${h.veth}p`, 'up');
    ip('-n', h.ns, 'link', 'set', 'lo', 'up');
  }
  const events = (h: (typeof hosts)[number]) =>
    `${Array.from({ length: N }, (_, k) => JSON.stringify({ v: 1, ts: Date.now() * 1000 + k, src: 'meta', type: 'stats', cpu_pct: 0.5, rss_kb: 90_000, lost_records: 0, store_bytes: 0, pid: k, comm: 'node', ns: h.ns })).join('\n')}\n`;
  const runs = hosts.map(
    (h) =>
      new Promise<{ code: number | null; err: string }>((resolve) => {
        // Its own UTS namespace: hostname() inside is this "host"'s name.
        const c = spawn(
          'ip',
          [
            'netns',
            'exec',
            h.ns,
            'unshare',
            '--uts',
            'sh',
            '-c',
            `hostname ${h.name} && exec "$0" "$@"`,
            process.execPath,
            path.join(ROOT, 'dist/tools/as-clickhouse.js'),
            '--url',
            `http://10.${b}.${h.i}.1:${port}`,
            '--buffer-dir',
            path.join(tmp, h.ns),
          ],
          { stdio: ['pipe', 'ignore', 'pipe'] },
        );
        let err = '';
        c.stderr.on('data', (d) => {
          err += d;
        });
        c.on('close', (code) => resolve({ code, err }));
        c.stdin.end(events(h));
      }),
  );
  // And a real capture in one of them: agentsight exec --clickhouse, its run under its own host.
  const h1 = hosts[0]!;
  const exec = spawnSync(
    'ip',
    [
      'netns',
      'exec',
      h1.ns,
      'unshare',
      '--uts',
      'sh',
      '-c',
      `hostname ${h1.name} && exec "$0" "$@"`,
      process.execPath,
      path.join(ROOT, 'dist/tools/agentsight.js'),
      'exec',
      '--no-server',
      '-q',
      '-o',
      path.join(tmp, 'cap.ndjson'),
      '--clickhouse',
      `http://10.${b}.${h1.i}.1:${port}`,
      '--',
      'sh',
      '-c',
      'exit 0',
    ],
    { encoding: 'utf8', timeout: 120_000, env: { ...process.env, XDG_STATE_HOME: path.join(tmp, 'state') } },
  );
  t.equal(exec.status, 0, `agentsight exec --clickhouse in ${h1.ns} exits 0 (${exec.stderr.trim().slice(-500)})`);
  for (const [k, r] of (await Promise.all(runs)).entries())
    t.equal(r.code, 0, `${hosts[k]!.ns} exits 0 (${r.err.trim()})`);
  const per = queryJSON(
    `http://127.0.0.1:${port}`,
    `SELECT host, count() AS n, uniqExact(visitParamExtractString(event, 'ns')) AS nss FROM agentsight_events WHERE run = '' GROUP BY host ORDER BY host`,
  );
  t.same(
    per,
    hosts.map((h) => ({ host: h.name, n: String(N), nss: '1' })),
    'each namespace arrives under its own host name, all of its rows',
  );
  const cap = fs
    .readFileSync(path.join(tmp, 'cap.ndjson'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { src: string; type: string; run?: string; host?: string });
  const run = cap.find((e) => e.src === 'meta' && e.type === 'run')!;
  t.equal(run.host, h1.name, 'the capture names its namespace host');
  const got = queryJSON(
    `http://127.0.0.1:${port}`,
    `SELECT host, count() AS n, countIf(src = 'proc' AND type = 'exec') AS execs FROM agentsight_events WHERE run = '${run.run}' GROUP BY host`,
  );
  t.same(
    got,
    [
      {
        host: h1.name,
        n: String(cap.length),
        execs: String(cap.filter((e) => e.src === 'proc' && e.type === 'exec').length),
      },
    ],
    'every event of the capture, under its run and host',
  );
});
