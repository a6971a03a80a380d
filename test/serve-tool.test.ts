// The as-serve command: loads rotated and gzipped captures oldest first, skips what an
// earlier run stored (the store survives restarts), and shows a live stdin stream.

import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { mockSession } from '@agentsight/serve';
import t from 'tap';
import { getJson, ROOT } from './serve-fixture.js';

const TOOL = path.join(ROOT, 'dist/tools/as-serve.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-serve-tool-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Running {
  proc: ChildProcess;
  url: string;
  stderr: () => string;
  stop(): Promise<number | null>;
}

/** Start as-serve on a free port; resolves with its URL once it has loaded its files. */
function start(args: string[], opts: { stdin?: boolean; waitFor?: RegExp } = {}): Promise<Running> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [TOOL, '--port', '0', ...args], {
      stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });
    let err = '';
    let url = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`as-serve did not start: ${err}`));
    }, 20_000);
    const check = () => {
      const m = /as-serve: (http:\/\/\S+)/.exec(err);
      if (m) url = m[1]!;
      if (url && (!opts.waitFor || opts.waitFor.test(err))) {
        clearTimeout(timer);
        resolve({
          proc,
          url,
          stderr: () => err,
          stop: () =>
            new Promise((res) => {
              proc.once('exit', (c) => res(c));
              proc.kill('SIGTERM');
            }),
        });
      }
    };
    proc.stderr!.on('data', (d) => {
      err += d;
      check();
    });
    proc.on('exit', (c) => {
      clearTimeout(timer);
      if (!url) reject(new Error(`as-serve exited ${c}: ${err}`));
    });
  });
}

const lines = (evs: unknown[]) => evs.map((e) => JSON.stringify(e)).join('\n') + '\n';

t.test('rotated and gzipped files load oldest first; a restart stores nothing twice', async (t) => {
  const a = mockSession({ start: 1_790_000_000_000_000, agentPid: 100 });
  const b = mockSession({ start: a.facts.end + 1000, agentPid: 200 });
  const c = mockSession({ start: b.facts.end + 1000, agentPid: 300 });
  const cap = path.join(dir, 'cap.ndjson');
  fs.writeFileSync(`${cap}.2.gz`, zlib.gzipSync(lines(a.events)));
  fs.writeFileSync(`${cap}.1`, lines(b.events));
  fs.writeFileSync(cap, lines(c.events));
  const db = path.join(dir, 'r.db');
  const total = a.events.length + b.events.length + c.events.length;

  let s = await start(['--db', db, cap], { waitFor: new RegExp(`${cap.replace(/[.]/g, '\\.')}: \\d+ events stored`) });
  let st = await getJson(`${s.url}api/stats`);
  t.equal(st.body.events, total, 'all three files');
  const first = await getJson(`${s.url}api/events?limit=1`);
  t.equal(first.body.events[0]._id, 1);
  t.equal(first.body.events[0].ts, a.events[0]!.ts, 'the oldest rotation was stored first');
  const sess = await getJson(`${s.url}api/sessions`);
  t.same(
    sess.body.sessions.map((x: { pid: number }) => x.pid),
    [300, 200, 100],
    'one session per file, newest first',
  );
  t.equal(await s.stop(), 0, 'SIGTERM: exit 0');

  // More lines appended to the live file since: only those are new.
  const d = mockSession({ start: c.facts.end + 1000, agentPid: 400 });
  fs.appendFileSync(cap, lines(d.events));
  s = await start(['--db', db, cap], {
    waitFor: new RegExp(`${cap.replace(/[.]/g, '\\.')}: \\d+ events stored, \\d+ already stored`),
  });
  st = await getJson(`${s.url}api/stats`);
  t.equal(st.body.events, total + d.events.length, 'a restart adds only what is new');
  t.match(s.stderr(), new RegExp(`${d.events.length} events stored, ${c.events.length} already stored`));
  t.equal(await s.stop(), 0);
  t.equal(fs.statSync(db).mode & 0o777, 0o600, 'store is 0600');
});

t.test('stdin: events piped in show up in the API while stdin is still open', async (t) => {
  const s = await start(['--db', path.join(dir, 'live.db')], { stdin: true });
  const m = mockSession({ start: 1_790_000_000_000_000 });
  s.proc.stdin!.write(lines(m.events.slice(0, 10)));
  const t0 = Date.now();
  let n = 0;
  while (Date.now() - t0 < 10_000) {
    n = (await getJson(`${s.url}api/stats`)).body.events;
    if (n === 10) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  // Visible while stdin is still open: the tool streams rather than waiting for the end.
  t.equal(n, 10, `visible after ${Date.now() - t0} ms, stdin still open`);
  s.proc.stdin!.write('{"not an event"}\n');
  s.proc.stdin!.end(lines(m.events.slice(10)));
  await new Promise((r) => setTimeout(r, 500));
  t.equal(
    (await getJson(`${s.url}api/stats`)).body.events,
    m.events.length,
    'the rest; a bad line is reported and skipped',
  );
  t.match(s.stderr(), /<stdin>:\d+: invalid JSON/);
  t.equal((await getJson(`${s.url}api/stats`)).status, 200, 'still serving after stdin ended');
  t.equal(await s.stop(), 0);
});

t.test('usage errors exit 2', async (t) => {
  const r = await new Promise<{ code: number | null; err: string }>((resolve) => {
    const p = spawn(process.execPath, [TOOL, '--port', '70000', '--db', path.join(dir, 'u.db')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('exit', (code) => resolve({ code, err }));
  });
  t.equal(r.code, 2);
  t.match(r.err, /--port/);
  // -p is a pid everywhere else: here it is a usage error naming --port, never a port.
  const p = await new Promise<{ code: number | null; err: string }>((resolve) => {
    const c = spawn(process.execPath, [TOOL, '-p', '0', '--db', path.join(dir, 'p.db')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    c.stderr.on('data', (d) => {
      err += d;
    });
    c.on('exit', (code) => resolve({ code, err }));
  });
  t.equal(p.code, 2, p.err);
  t.match(p.err, /-p: as-serve has no -p .*--port/);
  t.notOk(fs.existsSync(path.join(dir, 'p.db')), 'nothing created');
});

t.test('--correlate: the correlation stage links tool calls while storing', async (t) => {
  const m = mockSession({ start: 1_790_000_000_000_000, agentPid: 700 });
  const cap = path.join(dir, 'corr.ndjson');
  fs.writeFileSync(cap, lines(m.events));
  const s = await start(['--db', path.join(dir, 'corr.db'), '--correlate', cap], {
    waitFor: /corr\.ndjson: \d+ events stored/,
  });
  const links = await getJson(`${s.url}api/events?src=trace&type=link&limit=100`);
  const tp = links.body.events.filter((e: { kind: string }) => e.kind === 'tool_process');
  t.equal(tp.length, 2, 'one tool_process link per tool call');
  const d = await getJson(`${s.url}api/calls/${encodeURIComponent(m.facts.callIds[1]!)}`);
  t.equal(d.body.tools[0].how, 'link', 'the API uses the link');
  t.same(
    d.body.tools[0].processes.map((p: { pid: number }) => p.pid).sort(),
    [m.facts.failingPid, m.facts.failingPid + 1],
    'the failing command and its shell',
  );
  t.equal(await s.stop(), 0);
});
