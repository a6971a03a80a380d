// `agentsight monitor` left running (root, real eBPF): first idle, its own CPU with no agent
// running (target under 1% of a core); then SOAK_MINUTES (default 30; BENCH_SMOKE: a few
// seconds) of agents starting and exiting every couple of seconds (curl and a python script on
// the system libssl, against the local mock LLM), into a store bounded small so retention runs
// all along. Reported: the monitor's RSS at the start and the end of the soak (flat within
// 10%), records lost (0), the store's size against its bound, the calls stored against those
// served, and the CPU. What the exec hooks cost other processes is the discover bench's.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMockLlm } from '@agentsight/mock-llm';
import { openStoreReadOnly } from '@agentsight/serve';
import { startMonitor, storeEvents, storeFile } from '../lib/monitor.js';
import { SMOKE, size } from './smoke.js';

const MINUTES = size('SOAK_MINUTES', 30, 0.25);
const IDLE_S = size('SOAK_IDLE_S', 60, 5);
const MAX_SIZE_MB = size('SOAK_MAX_SIZE_MB', 16, 4);
const EVERY_MS = 2000;

if (process.geteuid?.() !== 0) {
  console.log('skipped: needs root (loads eBPF programs)');
  process.exit(0);
}
const CLK_TCK = 100;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'soakbench-'));
const dir = path.join(tmp, 'store');
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));

/** CPU seconds (user + system) a process has used so far. */
function cpuS(pid: number): number {
  const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}
/** VmRSS counts the BPF ring buffers' mappings (the TLS ring's 64 MiB twice, the kernel maps
 * its data area two times in a row): RssAnon is the monitor's own memory, the one to keep flat. */
const mem = (pid: number) => {
  const st = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(st)?.[1] ?? Number.NaN);
  return { kb: kb('RssAnon'), rss: kb('VmRSS') };
};

/** One number from the store (the monitor keeps writing meanwhile). */
function fromStore(sql: string): number {
  const db = openStoreReadOnly(storeFile(dir));
  try {
    return (db.prepare(sql).get() as { n: number | null }).n ?? 0;
  } finally {
    db.close();
  }
}

const served: number[] = [];
const mock = await startMockLlm({
  script: () => {
    served.push(Date.now());
    return { text: 'ok', usage: { input_tokens: 20, output_tokens: 2 } };
  },
});
const mon = startMonitor(dir, ['--no-server', '--stats-interval', '10', '--max-size', `${MAX_SIZE_MB}M`]);
try {
  await mon.ready;

  // Idle: no agent of ours. What else runs on the host still execs, exits and connects, and
  // is seen and stored: in windows, the monitor's CPU against the events it stored, fitted
  // to a line whose value at zero events is the floor (timers and polls) and whose slope is
  // what one event of the rest of the host costs.
  const windows: Array<{ pct: number; evs: number }> = [];
  const WIN_S = IDLE_S / 12;
  const idleEvents0 = fromStore('SELECT max(id) n FROM events');
  const c0 = cpuS(mon.pid);
  const w0 = performance.now();
  for (let i = 0; i < 12; i++) {
    const e = fromStore('SELECT max(id) n FROM events');
    const c = cpuS(mon.pid);
    const w = performance.now();
    await new Promise((r) => setTimeout(r, WIN_S * 1000));
    const s = (performance.now() - w) / 1000;
    windows.push({ pct: ((cpuS(mon.pid) - c) / s) * 100, evs: (fromStore('SELECT max(id) n FROM events') - e) / s });
  }
  const idleS = (performance.now() - w0) / 1000;
  const idlePct = ((cpuS(mon.pid) - c0) / idleS) * 100;
  const idleEvents = fromStore('SELECT max(id) n FROM events') - idleEvents0;
  const fit = (() => {
    const n = windows.length;
    const mx = windows.reduce((a, w) => a + w.evs, 0) / n;
    const my = windows.reduce((a, w) => a + w.pct, 0) / n;
    const sxx = windows.reduce((a, w) => a + (w.evs - mx) ** 2, 0);
    if (sxx === 0) return null;
    const slope = windows.reduce((a, w) => a + (w.evs - mx) * (w.pct - my), 0) / sxx;
    return { floor: my - slope * mx, usPerEvent: slope * 1e4 };
  })();

  // The soak: an agent every EVERY_MS, alternately curl (one call) and python (three calls on
  // one connection), each a new process that exits.
  const PY = `
import http.client, json, ssl, sys
c = http.client.HTTPSConnection("127.0.0.1", int(sys.argv[1]), context=ssl.create_default_context(), timeout=20)
for i in range(3):
    c.request("POST", "/v1/messages", json.dumps({"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "soak %d" % i}]}), {"content-type": "application/json"})
    c.getresponse().read()
`;
  const running = new Set<Promise<void>>();
  let agents = 0;
  let failures = 0;
  const startAgent = () => {
    const py = agents % 2 === 1;
    const [cmd, args] = py
      ? ['/usr/bin/python3', ['-c', PY, String(mock.port)]]
      : [
          'curl',
          [
            '-sS',
            '--cacert',
            mock.caPath,
            `${mock.url}/v1/messages`,
            '-H',
            'content-type: application/json',
            '-d',
            '{"model":"claude-haiku-4-5","max_tokens":8,"messages":[{"role":"user","content":"soak"}]}',
          ],
        ];
    agents++;
    const p = new Promise<void>((resolve) => {
      const c = spawn(cmd as string, args as string[], {
        stdio: 'ignore',
        env: { ...process.env, SSL_CERT_FILE: mock.caPath },
      });
      c.on('exit', (code) => {
        if (code !== 0) failures++;
        resolve();
      });
    });
    running.add(p);
    void p.then(() => running.delete(p));
  };
  const soakMs = MINUTES * 60_000;
  const rss: Array<{ at: number; kb: number; rss: number }> = [];
  const s0 = performance.now();
  const c1 = cpuS(mon.pid);
  const timer = setInterval(startAgent, EVERY_MS);
  const sampler = setInterval(() => rss.push({ at: performance.now() - s0, ...mem(mon.pid) }), 5000);
  rss.push({ at: 0, ...mem(mon.pid) });
  await new Promise((r) => setTimeout(r, soakMs));
  clearInterval(timer);
  await Promise.all(running);
  rss.push({ at: performance.now() - s0, ...mem(mon.pid) });
  clearInterval(sampler);
  const soakPct = ((cpuS(mon.pid) - c1) / ((performance.now() - s0) / 1000)) * 100;
  // What is still on its way to the store (ordering window, commit interval).
  await new Promise((r) => setTimeout(r, 2000));
  const stats = storeEvents(dir, 'meta', 'stats');
  const last = stats.at(-1);
  const oldest = fromStore('SELECT min(ts) n FROM events');
  const calls = storeEvents(dir, 'llm', 'call').filter((c) => c.host === `127.0.0.1:${mock.port}`);
  // Calls served after the oldest event retention kept must all be there (+1 s of slack).
  const due = served.filter((ms) => ms * 1000 > oldest + 1e6).length;
  const kept = calls.filter((c) => c.timing.start > oldest + 1e6).length;
  await mon.stop('SIGTERM');
  const maxStore = Math.max(...stats.map((s) => s.store_bytes));
  // Medians of the samples after warm-up (10-30% of the soak) and of its last 20%: one sample
  // is as much the garbage collector's timing as the monitor's memory.
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const part = (from: number, to: number) =>
    median(
      rss
        .slice(Math.floor(rss.length * from), Math.max(Math.floor(rss.length * from) + 1, Math.floor(rss.length * to)))
        .map((r) => r.kb),
    );
  const startKb = part(0.1, 0.3);
  const endKb = part(0.8, 1);
  const mb = (kb: number) => (kb / 1024).toFixed(1);
  const peak = Math.max(...rss.map((r) => r.kb));

  console.log(
    `idle (${IDLE_S} s, no agent of ours): monitor CPU ${idlePct.toFixed(2)}% of a core, storing ${(idleEvents / idleS).toFixed(1)} events/s of the rest of the host (its execs, exits, connects)`,
  );
  if (fit)
    console.log(
      `  over ${windows.length} windows: ${Math.max(0, fit.floor).toFixed(2)}% of a core at no event (target < 1%), +${fit.usPerEvent.toFixed(0)} us of CPU per event`,
    );
  console.log(
    `soak ${MINUTES} min: ${agents} agents (curl, python) started and exited, one every ${EVERY_MS / 1000} s${failures ? `, ${failures} failed` : ''}; ${served.length} calls served`,
  );
  console.log(
    `  calls stored: ${kept} of the ${due} served since the oldest event retention kept${kept === due ? ' (all)' : ''}`,
  );
  console.log(
    `  monitor memory (RssAnon, medians): ${mb(startKb)} MiB after warm-up, ${mb(endKb)} MiB at the end (${(((endKb - startKb) / startKb) * 100).toFixed(1)}%; target within 10%); ${mb(rss[0]!.kb)} MiB at start, peak ${mb(peak)} MiB; VmRSS ${mb(rss.at(-1)!.rss)} MiB with the ring buffers' mappings`,
  );
  console.log(`  records lost: ${last?.lost_records ?? 'unknown'}`);
  console.log(
    `  store: at most ${(maxStore / 2 ** 20).toFixed(1)} MiB on disk against --max-size ${MAX_SIZE_MB}M; ${stats.length} stats events`,
  );
  console.log(`  monitor CPU during the soak: ${soakPct.toFixed(1)}% of a core`);
  console.log('  what following exec costs other processes: see the discover bench');
  if (SMOKE) console.log('  (smoke run: figures from a few seconds, not a soak)');
  const bad = [
    last?.lost_records ? 'records lost' : '',
    kept < due ? 'calls missing' : '',
    maxStore > MAX_SIZE_MB * 2 ** 20 * 1.25 ? 'store over its bound' : '',
  ].filter(Boolean);
  if (bad.length) {
    console.log(`${SMOKE ? 'over target' : 'FAILED'}: ${bad.join(', ')}`);
    // A smoke run only shows the bench still runs (test/bench.test.ts); the figures are make bench's.
    if (!SMOKE) process.exitCode = 1;
  }
} finally {
  if (mon.child.exitCode === null) await mon.stop('SIGKILL');
  await mock.close();
}
