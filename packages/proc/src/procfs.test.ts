import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { commWords, descendants, MetricsSampler, parseStat, processTable, readInfo } from './procfs.js';

t.test('parseStat: comm with spaces and parentheses', async (t) => {
  const line =
    '4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 98765 10000000 512 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0';
  const s = parseStat(line)!;
  t.equal(s.pid, 4242);
  t.equal(s.comm, 'my (odd) name');
  t.equal(s.state, 'S');
  t.equal(s.ppid, 1);
  t.equal(s.utime, 250);
  t.equal(s.stime, 50);
  t.equal(s.threads, 3);
  t.equal(s.starttime, 98765);
  t.equal(s.rss, 512);
  t.equal(parseStat('garbage'), null);
});

t.test('descendants: breadth first from the roots, roots that do not exist ignored', async (t) => {
  const table = new Map([
    [1, { ppid: 0 }],
    [10, { ppid: 1 }],
    [11, { ppid: 10 }],
    [12, { ppid: 10 }],
    [13, { ppid: 12 }],
    [20, { ppid: 1 }],
  ]);
  t.same(descendants(table, [10]), [10, 11, 12, 13]);
  t.same(descendants(table, [99]), []);
  t.same(descendants(table, [12, 10]), [12, 10, 13, 11]);
});

t.test('commWords: 15 bytes, NUL padded, little endian', async (t) => {
  const [a, b] = commWords('claude');
  t.equal(a, 0x656475616c63n);
  t.equal(b, 0n);
  const [c, d] = commWords('a-very-long-process-name');
  const raw = Buffer.alloc(16);
  raw.writeBigUInt64LE(c, 0);
  raw.writeBigUInt64LE(d, 8);
  t.equal(raw.toString('latin1'), 'a-very-long-pro\0', 'cut at 15 bytes like the kernel');
});

t.test('this process in /proc: table, info, metrics', async (t) => {
  const table = processTable();
  t.equal(table.get(process.pid)?.ppid, process.ppid);
  const info = readInfo(process.pid)!;
  t.equal(info.cwd, process.cwd());
  t.equal(info.filename, fs.realpathSync(process.execPath));
  t.ok(
    info.argv.some((a) => a.endsWith('procfs.test.js')),
    'argv from cmdline',
  );
  const m = new MetricsSampler();
  const first = m.sample([process.pid]);
  t.equal(first.length, 1);
  // Burn 300 ms of CPU, then compare with the process's own count over the same time: on a
  // busy machine the share is small, but both must agree (ticks are 10 ms).
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  const spent = () => {
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / 1000;
  };
  while (spent() < 300) {
    /* burn CPU so the next sample sees it */
  }
  const second = m.sample([process.pid])[0]!;
  const own = (spent() / (performance.now() - w0)) * 100;
  t.ok(
    Math.abs(second.cpu_pct - own) < 10,
    `busy loop shows as CPU (${second.cpu_pct}%; ${own.toFixed(1)}% by the process's own count)`,
  );
  t.ok(second.rss_kb > 10_000, 'node uses more than 10 MB');
  t.ok(second.threads >= 1);
  t.same(m.sample([2 ** 22 + 7]), [], 'a pid that does not exist is skipped');
});

t.test('/proc root is a parameter (for tests and containers)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fakeproc-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, '7'));
  fs.writeFileSync(path.join(dir, '7', 'stat'), '7 (x) R 3 7 7 0 -1 0 0 0 0 0 1 1 0 0 20 0 1 0 5 0 9 0');
  fs.writeFileSync(path.join(dir, '7', 'cmdline'), 'x\0--y\0');
  fs.writeFileSync(path.join(dir, '7', 'status'), 'Name:\tx\nUid:\t1000\t1000\t1000\t1000\n');
  const info = readInfo(7, dir)!;
  t.same(info.argv, ['x', '--y']);
  t.equal(info.uid, 1000);
  t.equal(info.ppid, 3);
  t.equal(info.cwd, undefined);
  t.same([...processTable(dir).keys()], [7]);
});
