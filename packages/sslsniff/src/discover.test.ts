import t from 'tap';
import { Discovery, decodeMapRecord, isMapRecord, pathFromComponents } from './discover.js';
import { encodeHeader, F_HELD, KIND_MAP } from './record.js';
import type { TlsTarget } from './targets.js';

/** A KIND_MAP record as tls_exec_watch writes it. */
function mapRecord(o: {
  pid: number;
  comm: string;
  ino: number;
  dev: number;
  gen: number;
  path: string;
  held?: boolean;
}): Buffer {
  const comps = Buffer.from(
    o.path
      .split('/')
      .filter(Boolean)
      .reverse()
      .map((c) => `${c}\0`)
      .join(''),
  );
  const b = encodeHeader(
    {
      ts: 1,
      conn: o.ino.toString(16),
      seq: o.gen * 2 ** 32 + o.dev,
      latNs: 0,
      pid: o.pid,
      tid: o.pid,
      uid: 0,
      len: comps.length,
      off: 0,
      cap: 0,
      ret: 0,
      fd: 0,
      kind: KIND_MAP,
      dir: 0,
      lib: 0,
      flags: o.held ? F_HELD : 0,
      comm: o.comm,
    },
    comps,
  );
  return b;
}

t.test("pathFromComponents reverses pathwalk.h's leaf-first components", async (t) => {
  t.equal(pathFromComponents(Buffer.from('node\0bin\0usr\0')), '/usr/bin/node');
  t.equal(pathFromComponents(Buffer.alloc(0)), '/');
});

t.test('decodeMapRecord: pid, comm, kernel key, path, held', async (t) => {
  const rec = mapRecord({
    pid: 42,
    comm: 'claude',
    ino: 0x1234,
    dev: 0x800001,
    gen: 7,
    path: '/root/.local/share/claude/versions/2.1.197',
    held: true,
  });
  t.ok(isMapRecord(rec));
  const m = decodeMapRecord(rec);
  t.equal(m.pid, 42);
  t.equal(m.comm, 'claude');
  t.equal(m.path, '/root/.local/share/claude/versions/2.1.197');
  t.equal(m.held, true);
  t.equal(m.key.readUInt32LE(0), 0x800001, 'dev first');
  t.equal(m.key.readUInt32LE(4), 7, 'then the generation');
  t.equal(Number(m.key.readBigUInt64LE(8)), 0x1234, 'then the inode');
  t.equal(m.ino, 0x1234n);
});

t.test('Discovery: each file looked at once, attached when it carries TLS, held processes resumed', async (t) => {
  const found: string[] = [];
  const attached: TlsTarget[] = [];
  const known: string[] = [];
  const resumed: number[] = [];
  const d = new Discovery({
    find: (p) => {
      found.push(p);
      return p.endsWith('/agent')
        ? { path: p, lib: 'boringssl', symbols: [{ name: 'SSL_write', offset: 16, method: 'heuristic' }] }
        : null;
    },
    attach: (tg) => {
      attached.push(tg);
      return 1;
    },
    markKnown: (k) => known.push(k.toString('hex')),
    resume: (pid) => resumed.push(pid),
  });
  // A pid that does not exist: the path is taken as the host's.
  const pid = 0x7ffffff0;
  d.handle(mapRecord({ pid, comm: 'agent', ino: 1, dev: 1, gen: 0, path: '/opt/agent', held: true }));
  d.handle(mapRecord({ pid, comm: 'agent', ino: 1, dev: 1, gen: 0, path: '/opt/agent', held: true }));
  d.handle(mapRecord({ pid, comm: 'true', ino: 2, dev: 1, gen: 0, path: '/bin/true' }));
  t.same(found, ['/opt/agent', '/bin/true'], 'looked at once each');
  t.same(
    attached.map((x) => x.path),
    ['/opt/agent'],
    'only the TLS one attached',
  );
  t.equal(known.length, 3, 'every report marks the file known again');
  t.same(resumed, [pid, pid], 'held processes resumed, the unheld one not signalled');
  t.same(d.stats, { files: 2, hooked: 1, held: 2, maxHoldMs: d.stats.maxHoldMs, skipped: 0 });
  d.close();
  d.handle(mapRecord({ pid, comm: 'x', ino: 3, dev: 1, gen: 0, path: '/opt/x', held: true }));
  t.same(found.length, 2, 'closing: nothing more looked at');
  t.same(resumed.length, 3, '... but the held process is let go');
});

t.test('Discovery: a process not captured is let go; its file neither looked at nor marked known', async (t) => {
  const found: string[] = [];
  const known: string[] = [];
  const resumed: number[] = [];
  const d = new Discovery({
    find: (p) => {
      found.push(p);
      return null;
    },
    attach: () => 0,
    markKnown: (k) => known.push(k.toString('hex')),
    resume: (pid) => resumed.push(pid),
    skip: (m) => m.comm === 'denied',
  });
  const pid = 0x7ffffff2;
  d.handle(mapRecord({ pid, comm: 'denied', ino: 5, dev: 1, gen: 0, path: '/opt/tool', held: true }));
  t.same([found, known.length, resumed], [[], 0, [pid]]);
  // the same file, run later by a captured process
  d.handle(mapRecord({ pid, comm: 'agent', ino: 5, dev: 1, gen: 0, path: '/opt/tool', held: true }));
  t.same([found, known.length], [['/opt/tool'], 1]);
  t.equal(d.stats.skipped, 1);
});

t.test('Discovery: a failing look still releases the process', async (t) => {
  const resumed: number[] = [];
  const d = new Discovery({
    find: () => {
      throw new Error('unreadable');
    },
    attach: () => 0,
    markKnown: () => {},
    resume: (pid) => resumed.push(pid),
  });
  d.handle(mapRecord({ pid: 0x7ffffff1, comm: 'x', ino: 9, dev: 1, gen: 0, path: '/x', held: true }));
  t.same(resumed, [0x7ffffff1]);
});

t.test('findTlsTargetCached: a large binary looked at once, the same answer from the cache', async (t) => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { findTlsTarget, findTlsTargetCached } = await import('./targets.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tlscache-'));
  const old = process.env.AGENTSIGHT_CACHE_DIR;
  process.env.AGENTSIGHT_CACHE_DIR = dir;
  t.teardown(() => {
    if (old === undefined) delete process.env.AGENTSIGHT_CACHE_DIR;
    else process.env.AGENTSIGHT_CACHE_DIR = old;
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const node = fs.realpathSync(process.execPath);
  const first = findTlsTargetCached(node);
  t.ok(
    fs.readdirSync(dir).some((f) => f.startsWith('tls-target-')),
    'stored',
  );
  t.same(findTlsTargetCached(node), first, 'same answer');
  t.same(first, findTlsTarget(node), 'as the uncached look');
});
