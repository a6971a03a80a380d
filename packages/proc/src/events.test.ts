import { type AgentEvent, validateEvent } from '@agentsight/events';
import t from 'tap';
import { ProcEvents } from './events.js';

// Minimal record builders (layouts as in bpf/proc.bpf.c).
function hdr(kind: number, pid: number, comm: string, size: number, ts = 1_000_000n, ppid = 1): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32LE(kind, 0);
  b.writeUInt32LE(pid, 4);
  b.writeUInt32LE(pid, 8);
  b.writeUInt32LE(ppid, 12);
  b.writeBigUInt64LE(ts, 16);
  b.write(comm, 24);
  return b;
}
function open(pid: number, p: string, flags = 0, ret = 3, base?: string | null): Buffer {
  const b = hdr(4, pid, 'x', 64 + 256 + 640);
  b.writeUInt32LE(1, 40);
  b.writeInt32LE(ret, 44);
  b.writeUInt32LE(flags, 48);
  b.writeUInt16LE(Buffer.byteLength(p), 52);
  b.write(p, 64);
  if (base !== undefined) {
    b.writeUInt8(base === null ? 0x81 : 0x80, 60);
    if (base) {
      const w = Buffer.from(
        base
          .split('/')
          .filter(Boolean)
          .reverse()
          .map((c) => c + '\0')
          .join(''),
      );
      b.writeUInt16LE(w.length, 56);
      w.copy(b, 64 + 256);
    }
  }
  return b;
}
function exit(pid: number, status: number): Buffer {
  const b = hdr(3, pid, 'x', 72, 2_000_000n);
  b.writeUInt32LE(status, 40);
  b.writeBigUInt64LE(1_234_567n, 48);
  return b;
}
function fork(child: number, parent: number): Buffer {
  return hdr(2, child, 'x', 40, 1_000_000n, parent);
}

function collect(opts = {}) {
  const evs: AgentEvent[] = [];
  const p = new ProcEvents((e) => evs.push(e), { toWallUs: (ns) => Number(ns / 1000n), ...opts });
  return { p, evs };
}

t.test('every event is valid against the contract', async (t) => {
  const { p, evs } = collect();
  p.record(fork(5, 4));
  p.record(open(5, '/etc/passwd'));
  p.record(exit(5, 0));
  t.equal(evs.length, 3);
  for (const e of evs) t.equal(validateEvent(e), null, `${e.type} valid`);
});

t.test('noisy opens fold per process into one event per group, at exit', async (t) => {
  const { p, evs } = collect();
  p.record(open(5, '/etc/ld.so.cache', 0o2000000));
  p.record(open(5, '/lib/x86_64-linux-gnu/libc.so.6', 0o2000000));
  p.record(open(5, '/lib/x86_64-linux-gnu/libm.so.6', 0o2000000));
  p.record(open(5, '/proc/self/status'));
  p.record(open(5, '/home/u/notes.md'));
  p.record(open(6, '/proc/cpuinfo'));
  t.same(
    evs.map((e) => (e as { path?: string }).path),
    ['/home/u/notes.md'],
    'only the real open is out before exit',
  );
  p.record(exit(5, 0));
  const folded = evs.filter((e) => (e as { folded?: boolean }).folded);
  t.same(folded.map((e) => [(e as { path: string }).path, (e as { count: number }).count]).sort(), [
    ['/etc/ld.so.cache', 1],
    ['/lib/x86_64-linux-gnu', 2],
    ['/proc', 1],
  ]);
  t.equal(evs[evs.length - 1]!.type, 'exit', 'folded opens come before the exit of their process');
  t.ok(folded.every((e) => e.pid === 5));
  p.end();
  t.equal(evs.filter((e) => e.pid === 6).length, 1, 'end() flushes processes still running');
});

t.test('--all-files reports noisy opens as they come', async (t) => {
  const { p, evs } = collect({ allFiles: true });
  p.record(open(5, '/proc/self/status'));
  t.equal(evs.length, 1);
  t.notOk((evs[0] as { folded?: boolean }).folded);
});

t.test('relative path: kernel base wins; a child falls back on its parent cwd', async (t) => {
  const { p, evs } = collect();
  p.snapshot({ pid: 4, ppid: 1, comm: 'sh', argv: ['sh'], cwd: '/srv/app', starttime: 0 });
  p.record(open(4, 'data/in.csv', 0, 3, '/tmp/work'));
  p.record(fork(5, 4));
  p.record(open(5, 'out.csv', 0o1101, 3, null));
  const paths = evs.filter((e) => e.type === 'open').map((e) => (e as { path: string }).path);
  t.same(paths, ['/tmp/work/data/in.csv', '/srv/app/out.csv']);
});

t.test('exit status: code or signal, duration in ms', async (t) => {
  const { p, evs } = collect();
  p.record(exit(5, 3 << 8));
  p.record(exit(6, 9));
  p.record(exit(7, 11 | 0x80));
  t.match(evs[0], { type: 'exit', exit_code: 3, duration_ms: 1.235 });
  t.notOk('signal' in evs[0]!);
  t.match(evs[1], { signal: 9 });
  t.notOk('exit_code' in evs[1]!);
  t.match(evs[2], { signal: 11, core_dumped: true });
});

t.test('a record that does not decode is counted, not thrown', async (t) => {
  const { p, evs } = collect();
  p.record(Buffer.alloc(10));
  p.record(hdr(99, 1, 'x', 40));
  p.record(hdr(3, 1, 'x', 50)); // an exit record cut short
  t.equal(p.malformed, 3);
  t.equal(evs.length, 0);
});

t.test('exec and snapshot name the agent a process is (packages/agents)', async (t) => {
  const { p, evs } = collect();
  const rec = (pid: number, filename: string, argv: string[], comm: string) => ({
    kind: 1,
    pid,
    tid: pid,
    ppid: 1,
    ts: 1_000_000n,
    comm,
    uid: 1000,
    oldPid: pid,
    filename,
    cwdTruncated: false,
    argv,
    argvTruncated: false,
  });
  p.exec(rec(20, '/usr/local/bin/gemini', ['node', '/usr/local/bin/gemini', '-p', 'hi'], 'node'));
  p.exec(rec(21, '/usr/bin/ls', ['ls'], 'ls'));
  p.snapshot({
    pid: 22,
    ppid: 1,
    comm: 'claude',
    argv: ['claude'],
    filename: '/home/u/.local/share/claude/versions/2.1.197',
    starttime: 0,
  });
  const by = (pid: number) => evs.find((e) => e.pid === pid) as AgentEvent & { agent?: { id: string; via: string } };
  t.same(by(20).agent, { id: 'gemini-cli', name: 'Gemini CLI', via: 'argv' });
  t.notOk('agent' in by(21), 'not an agent: no field');
  t.same(by(22).agent, { id: 'claude-code', name: 'Claude Code', via: 'path' });
  for (const e of evs) t.equal(validateEvent(e), null);
});
