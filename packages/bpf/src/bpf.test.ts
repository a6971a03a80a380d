// Kernel tests of the loader: real libbpf, real BPF programs, as root. The object is
// bpf/test_loader.bpf.o (built by `make build`).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import t from 'tap';
import {
  BpfError,
  BpfObject,
  checkPrivileges,
  effectiveCaps,
  ensureTracefs,
  possibleCpus,
  raiseMemlock,
  uprobeMultiSupported,
} from './index.js';
import { explain } from './log.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const OBJ = path.join(ROOT, 'bpf/test_loader.bpf.o');
const LIBC = fs
  .readFileSync('/proc/self/maps', 'utf8')
  .split('\n')
  .map((l) => l.split(/\s+/)[5])
  .find((p) => p && /\/libc\.so\.6$/.test(p))!;

const libc = koffi.load('libc.so.6');
const labs = libc.func('long labs(long)');
const getppid = libc.func('int getppid()');
const dlsym = libc.func('void *dlsym(void *handle, const char *name)');

interface Rec {
  magic: bigint;
  arg: bigint;
  cookie: bigint;
  tgid: number;
  flag: number;
  tag: string;
  kind: number;
}
function decode(b: Buffer): Rec {
  return {
    magic: b.readBigUInt64LE(0),
    arg: b.readBigInt64LE(8),
    cookie: b.readBigUInt64LE(16),
    tgid: b.readUInt32LE(24),
    flag: b[28]!,
    tag: b.subarray(29, 37).toString('utf8').replace(/\0+$/, ''),
    kind: b[37]!,
  };
}
const tick = (ms = 50) => new Promise((r) => setTimeout(r, ms));

t.test('explain picks the reason out of a libbpf log', async (t) => {
  const log = [
    "libbpf: prog 'test_bad': BPF program load failed: Permission denied",
    "libbpf: prog 'test_bad': -- BEGIN PROG LOAD LOG --",
    '0: R1=ctx(off=0,imm=0) R10=fp0',
    '; return *v;',
    '6: (79) r0 = *(u64 *)(r0 +0)',
    "R0 invalid mem access 'map_value_or_null'",
    'processed 7 insns (limit 1000000) max_states_per_insn 0 total_states 0 peak_states 0 mark_read 0',
    '-- END PROG LOAD LOG --',
    "libbpf: prog 'test_bad': failed to load: -13",
  ];
  t.equal(explain(log), "verifier rejected program test_bad: R0 invalid mem access 'map_value_or_null'");
  t.equal(
    explain(['libbpf: elf: failed to open x: No such file or directory']),
    'elf: failed to open x: No such file or directory',
  );
  t.equal(explain([]), undefined);
  t.equal(
    explain([
      "libbpf: prog 'tls_x': BPF program load failed: Operation not permitted",
      "libbpf: prog 'tls_x': failed to load: -1",
      "libbpf: failed to load object 'x.bpf.o'",
    ]),
    "prog 'tls_x': BPF program load failed: Operation not permitted",
    'the program the kernel refused, not the object',
  );
});

const why =
  process.getuid?.() !== 0 ? 'needs root (real eBPF)' : !fs.existsSync(OBJ) ? `${OBJ} not built (run make build)` : '';
if (why) {
  t.test(`kernel tests of @agentsight/bpf`, { skip: why }, async () => {});
} else {
  t.test('privileges and kernel features are present here', async (t) => {
    t.doesNotThrow(() => checkPrivileges());
    t.ok(possibleCpus() >= 1);
    // Lifting RLIMIT_MEMLOCK needs CAP_SYS_RESOURCE (some containers drop it); kernels since
    // 5.11 charge BPF memory to the cgroup, so loading works either way, as the tests below show.
    const canRaise =
      ((effectiveCaps() >> 24n) & 1n) === 1n ||
      /^Max locked memory\s+unlimited/m.test(fs.readFileSync('/proc/self/limits', 'utf8'));
    t.equal(raiseMemlock(), canRaise, `RLIMIT_MEMLOCK ${canRaise ? 'lifted' : 'left alone without CAP_SYS_RESOURCE'}`);
    // Mounts tracefs when it is missing (as a tool using tp/ programs would), then finds it.
    const dir = ensureTracefs();
    t.ok(fs.existsSync(`${dir}/events/syscalls`), `tracefs at ${dir}`);
  });

  t.test('open fails with one line naming the file', async (t) => {
    const e = t.throws(() => BpfObject.open('/nonexistent/x.bpf.o')) as unknown as BpfError;
    t.type(e, BpfError);
    t.match(e.message, /^open \/nonexistent\/x\.bpf\.o: No such file or directory/);
    t.notMatch(e.message, /\n/);
  });

  t.test('rodata, uprobe with cookie, tp_btf, maps, ring buffer, detach', async (t) => {
    t.throws(
      () => BpfObject.open(OBJ, { rodata: { nope: 1 } }),
      /no read-only global named nope \(have: targ_tgid, magic, flag, tag\)/,
    );
    const obj = BpfObject.open(OBJ, {
      rodata: { targ_tgid: process.pid, magic: 0x1122334455667788n, flag: true, tag: 'hello' },
    });
    t.teardown(() => obj.close());
    t.throws(() => obj.attach('test_sys_enter'), /load the object before attaching/);
    obj.setMapMaxEntries('rb', 1 << 20);
    obj.load();
    t.throws(() => obj.setMapMaxEntries('rb', 1 << 21), /before load/);
    t.same(
      obj
        .programs()
        .map((p) => p.name)
        .sort(),
      ['test_bad', 'test_sys_enter', 'test_uprobe'],
    );

    const up = obj.attachUprobe('test_uprobe', { path: LIBC, func: 'labs', cookie: 0xc0ffeen, pid: process.pid });
    const tp = obj.attach('test_sys_enter');
    t.equal(obj.links, 2);
    const recs: Rec[] = [];
    const ring = obj.ringBuffer('rb', (b) => {
      t.equal(b.length, 40);
      recs.push(decode(b));
    });

    labs(-7);
    labs(12345);
    getppid();
    for (let i = 0; i < 40 && recs.length < 3; i++) await tick(25);
    t.same(
      recs.map((r) => [r.kind, r.arg]),
      [
        [1, -7n],
        [1, 12345n],
        [2, 110n],
      ],
      'records in call order',
    );
    for (const r of recs) {
      t.equal(r.magic, 0x1122334455667788n);
      t.equal(r.tgid, process.pid);
      t.equal(r.flag, 1);
      t.equal(r.tag, 'hello');
    }
    t.equal(recs[0]!.cookie, 0xc0ffeen, 'attach cookie reaches the program');
    t.equal(ring.records, 3);

    // Maps: the program adds arg into kv[arg & 15] when the key exists.
    const kv = obj.map('kv');
    const key = Buffer.alloc(4);
    key.writeUInt32LE(5);
    t.equal(kv.lookup(key), null);
    kv.update(key, Buffer.alloc(8));
    labs(5 + 16 * 3);
    t.equal(kv.lookup(key)!.readBigUInt64LE(0), 53n);
    t.ok(kv.delete(key));
    t.notOk(kv.delete(key));
    t.throws(() => kv.update(Buffer.alloc(3), Buffer.alloc(8)), /key is 3 bytes, want 4/);
    const perCpu = obj.map('hits').lookupPerCpu(Buffer.alloc(4));
    t.equal(perCpu.length, possibleCpus());
    t.equal(
      perCpu.reduce((s, b) => s + b.readBigUInt64LE(0), 0n),
      4n,
      'per-CPU counters sum to the hits',
    );

    // Detach: no more records from the uprobe.
    await tick(50);
    up.destroy();
    tp.destroy();
    t.equal(obj.links, 0);
    const before = ring.records;
    labs(1);
    getppid();
    await tick(100);
    t.equal(ring.records, before, 'nothing after detach');
  });

  t.test('a flood is consumed in bounded batches without starving the event loop', async (t) => {
    const obj = BpfObject.open(OBJ, { rodata: { targ_tgid: process.pid } });
    t.teardown(() => obj.close());
    obj.setMapMaxEntries('rb', 4 << 20);
    obj.load();
    obj.attachUprobe('test_uprobe', { path: LIBC, func: 'labs', pid: process.pid });
    const N = 20000;
    let got = 0;
    let sum = 0n;
    const ring = obj.ringBuffer(
      'rb',
      (b) => {
        got++;
        sum += b.readBigInt64LE(8);
      },
      { batchBytes: 4096 },
    );
    ring.pause();
    for (let i = 1; i <= N; i++) labs(i);
    let turns = 0;
    let midway = 0;
    const counter = setInterval(() => {
      turns++;
      if (got > 0 && got < N) midway++;
    }, 0);
    ring.resume();
    for (let i = 0; i < 200 && got < N; i++) await tick(20);
    clearInterval(counter);
    t.equal(got, N, 'every record delivered');
    t.equal(sum, BigInt((N * (N + 1)) / 2));
    t.ok(ring.yields >= 50, `batches were cut short (${ring.yields} yields)`);
    t.ok(midway >= 1, `timers ran while the ring was being drained (${midway} of ${turns} turns)`);
  });

  t.test('records cross the end of a small ring many times, whole and in order', async (t) => {
    const obj = BpfObject.open(OBJ, { rodata: { targ_tgid: process.pid } });
    t.teardown(() => obj.close());
    obj.setMapMaxEntries('rb', 4096); // one page: the smallest ring there is
    obj.load();
    obj.attachUprobe('test_uprobe', { path: LIBC, func: 'labs', pid: process.pid });
    const kept: Buffer[] = [];
    const ring = obj.ringBuffer('rb', (b) => {
      kept.push(b);
    });
    const BURST = 50; // 50 records of 48 bytes: more than half the ring, so positions wrap
    const ROUNDS = 30;
    for (let r = 0; r < ROUNDS; r++) {
      for (let i = 0; i < BURST; i++) labs(r * BURST + i + 1);
      for (let k = 0; k < 100 && kept.length < (r + 1) * BURST; k++) await tick(5);
    }
    t.equal(kept.length, ROUNDS * BURST, `every record, through ${Math.floor((ROUNDS * BURST * 48) / 4096)} wraps`);
    // Records are copies by default: holding them past the callback is safe.
    const args = kept.map((b) => Number(b.readBigInt64LE(8)));
    t.same(
      args,
      Array.from({ length: ROUNDS * BURST }, (_, i) => i + 1),
      'in order, each intact after the ring reused its memory',
    );
    t.equal(ring.records, ROUNDS * BURST);
  });

  t.test('view mode hands out the ring itself; busy polling takes a stream without a wakeup per record', async (t) => {
    const obj = BpfObject.open(OBJ, { rodata: { targ_tgid: process.pid } });
    t.teardown(() => obj.close());
    obj.setMapMaxEntries('rb', 4096);
    obj.load();
    obj.attachUprobe('test_uprobe', { path: LIBC, func: 'labs', pid: process.pid });
    const seen: number[] = [];
    const views: Buffer[] = [];
    const ring = obj.ringBuffer(
      'rb',
      (b) => {
        seen.push(Number(b.readBigInt64LE(8)));
        views.push(b);
      },
      { view: true, busyPollMs: 5 },
    );
    const N = 2000;
    // A steady stream: a few records per millisecond for a while. The producer never runs more
    // than 40 records (half the one-page ring) ahead, so a stalled event loop on a loaded CI host
    // cannot overflow the ring and turn this into a test of loss.
    for (let i = 1; i <= N; i++) {
      labs(i);
      if (i % 10 === 0) await tick(1);
      for (let k = 0; k < 1000 && i - seen.length >= 40; k++) await tick(1);
    }
    for (let k = 0; k < 100 && seen.length < N; k++) await tick(10);
    t.same(
      seen,
      Array.from({ length: N }, (_, i) => i + 1),
      'every record, in order',
    );
    t.ok(ring.polls > 0, `looked again on the timer while data flowed (${ring.polls} polls)`);
    t.ok(ring.waits < N / 4, `far fewer epoll waits (${ring.waits}) than records (${N})`);
    // The views share the ring's memory, which later records overwrote.
    const stale = views.filter((b, i) => Number(b.readBigInt64LE(8)) !== i + 1).length;
    t.ok(stale > 0, `views were not copies (${stale} of ${N} now show later records)`);
  });

  t.test('a load under a storm of signals succeeds (the verifier quits when one is pending)', async (t) => {
    // proc.bpf.o: verifying it takes long enough for signals to land (test_loader's is short).
    const big = path.join(ROOT, 'bpf/proc.bpf.o');
    // SIGCHLD has a handler here (libuv's, once a child is spawned), so each one is pending.
    const storm = spawn('bash', ['-c', 'while kill -CHLD $0 2>/dev/null; do :; done', String(process.pid)], {
      stdio: 'ignore',
    });
    t.teardown(() => storm.kill('SIGKILL'));
    await tick(100);
    for (let i = 0; i < 3; i++) {
      const obj = BpfObject.open(big);
      try {
        t.doesNotThrow(() => obj.load(), `load ${i + 1}`);
      } finally {
        obj.close();
      }
    }
  });

  t.test('detachAll detaches in parallel, and nothing fires after', async (t) => {
    const obj = BpfObject.open(OBJ, { rodata: { targ_tgid: process.pid } });
    t.teardown(() => obj.close());
    obj.load();
    for (let i = 0; i < 4; i++)
      obj.attachUprobe('test_uprobe', { path: LIBC, func: 'labs', pid: process.pid, cookie: i });
    let got = 0;
    const ring = obj.ringBuffer('rb', () => {
      got++;
    });
    labs(1);
    for (let i = 0; i < 40 && got < 4; i++) await tick(25);
    t.equal(got, 4, 'four probes on one function: four records');
    await obj.detachAll();
    t.equal(obj.links, 0);
    labs(2);
    await tick(100);
    t.equal(ring.records, 4, 'nothing after detachAll');
  });

  t.test("reuseMap: a second object's program works on the first object's map", async (t) => {
    const owner = BpfObject.open(OBJ, { rodata: { targ_tgid: process.pid } });
    t.teardown(() => owner.close());
    owner.load();
    const user = BpfObject.open(OBJ, { rodata: { targ_tgid: process.pid } });
    t.teardown(() => user.close());
    user.reuseMap('kv', owner.map('kv').fd);
    user.load();
    t.throws(() => user.reuseMap('kv', owner.map('kv').fd), /before load/);
    // The owner seeds a key; the second object's uprobe adds into it; the owner sees the sum.
    const key = Buffer.alloc(4);
    key.writeUInt32LE(7);
    owner.map('kv').update(key, Buffer.alloc(8));
    user.attachUprobe('test_uprobe', { path: LIBC, func: 'labs', pid: process.pid });
    labs(7 + 16);
    t.equal(owner.map('kv').lookup(key)?.readBigUInt64LE(0), 23n, 'one map behind both objects');
    // The map outlives the object that created it while another holds it.
    owner.close();
    labs(7 + 32);
    t.equal(user.map('kv').lookup(key)?.readBigUInt64LE(0), 62n);

    // A map of another shape is refused, in one line; so is an fd that is no map.
    const other = BpfObject.open(OBJ, { rodata: { targ_tgid: process.pid } });
    t.teardown(() => other.close());
    t.throws(
      () => other.reuseMap('kv', user.map('hits').fd),
      /^map kv: cannot reuse fd \d+: it is type 6, key 4, value 8, 1 entries; .*test_loader\.bpf\.o wants type 1, key 4, value 8, 16 entries$/,
    );
    t.throws(() => other.reuseMap('kv', 0), /^map kv: fd 0 is not a BPF map/);
    other.setMapMaxEntries('kv', 17);
    t.throws(() => other.reuseMap('kv', user.map('kv').fd), /17 entries/);
  });

  t.test(
    'uprobe_multi: one link, a probe per offset with its own cookie; detached in one go',
    { skip: uprobeMultiSupported() ? false : `kernel ${os.release()} has no uprobe_multi (6.6+)` },
    async (t) => {
      t.equal(uprobeMultiSupported('6.5.0'), false);
      t.equal(uprobeMultiSupported('6.6.1-foo'), process.arch === 'x64');
      // labs' file offset in libc, from where it is mapped in this process.
      const addr = koffi.address(dlsym(null, 'labs'));
      let offset = -1;
      for (const l of fs.readFileSync('/proc/self/maps', 'utf8').split('\n')) {
        const f = l.split(/\s+/);
        if (f[5] !== LIBC) continue;
        const [a, b] = f[0]!.split('-').map((x) => BigInt('0x' + x));
        if (addr >= a! && addr < b!) offset = Number(addr - a! + BigInt('0x' + f[2]));
      }
      t.ok(offset > 0, `labs at file offset 0x${offset.toString(16)}`);
      const obj = BpfObject.open(OBJ, { rodata: { targ_tgid: process.pid } });
      t.teardown(() => obj.close());
      obj.setUprobeMulti('test_uprobe');
      obj.load();
      t.throws(() => obj.setUprobeMulti('test_uprobe'), /before load/);
      // Twice the same offset: two probes, told apart by their cookies.
      const link = obj.attachUprobeMulti('test_uprobe', {
        path: LIBC,
        offsets: [offset, offset],
        cookies: [7, 9],
        pid: process.pid,
      });
      t.equal(obj.links, 1);
      const recs: Rec[] = [];
      const ring = obj.ringBuffer('rb', (b) => recs.push(decode(b)));
      labs(-3);
      for (let i = 0; i < 40 && recs.length < 2; i++) await tick(25);
      t.same(
        recs.map((r) => [r.arg, r.cookie]).sort((x, y) => Number(x[1]! - y[1]!)),
        [
          [-3n, 7n],
          [-3n, 9n],
        ],
      );
      t.throws(
        () => obj.attachUprobeMulti('test_uprobe', { path: '/nonexistent/lib.so', offsets: [0x1000] }),
        /uprobe\.multi test_uprobe to \/nonexistent\/lib\.so \(1 offsets\): No such file or directory/,
      );
      t.throws(() => obj.attachUprobeMulti('test_uprobe', { path: LIBC, offsets: [] }), /no offsets/);
      const t0 = performance.now();
      await link.destroyAsync();
      t.equal(obj.links, 0);
      t.comment(`detached in ${(performance.now() - t0).toFixed(0)} ms`);
      labs(4);
      await tick(100);
      t.equal(ring.records, 2, 'nothing after detach');
    },
  );

  t.test('verifier rejection becomes one line naming program and reason', async (t) => {
    const obj = BpfObject.open(OBJ);
    t.teardown(() => obj.close());
    obj.setAutoload('test_bad', true);
    const e = t.throws(() => obj.load()) as unknown as BpfError;
    t.match(e.message, /^load .*test_loader\.bpf\.o: .*\(verifier rejected program test_bad: .*map_value_or_null/);
    t.notMatch(e.message, /\n/);
    t.ok(e.log.length > 3, 'full libbpf log kept on the error');
  });

  t.test('attaching to a missing file fails with the path', async (t) => {
    const obj = BpfObject.open(OBJ);
    t.teardown(() => obj.close());
    obj.load();
    t.throws(
      () => obj.attachUprobe('test_uprobe', { path: '/nonexistent/lib.so', offset: 0x1000 }),
      /uprobe test_uprobe to \/nonexistent\/lib\.so:0x1000: No such file or directory/,
    );
    obj.close();
    obj.close();
    t.throws(() => obj.map('kv'), /closed/);
  });
}
