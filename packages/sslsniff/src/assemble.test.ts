import crypto from 'node:crypto';
import { decodePayload, type SslDataEvent, type SslHandshakeEvent, validateEvent } from '@agentsight/events';
import t from 'tap';
import { Assembler, type SslDataHead, type SslOut, sslDataHeadJson } from './assemble.js';
import {
  CHUNK,
  decodeHeader,
  encodeHeader,
  F_CAPPED,
  F_FAULT,
  HDR_SIZE,
  KIND_DATA,
  KIND_HANDSHAKE,
  type RecordHeader,
} from './record.js';

function hdr(over: Partial<RecordHeader>): RecordHeader {
  return {
    ts: 1_000_000_000,
    conn: '5600aa00',
    seq: 0,
    latNs: 12_345,
    pid: 100,
    tid: 101,
    uid: 0,
    len: 0,
    off: 0,
    cap: 0,
    ret: 0,
    fd: -1,
    kind: KIND_DATA,
    dir: 1,
    lib: 1,
    flags: 0,
    comm: 'curl',
    ...over,
  };
}

/** The records the BPF side writes for one call of `bytes` (CHUNK-sized pieces). */
function records(h: Partial<RecordHeader>, bytes: Buffer, cap = bytes.length): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < cap || (cap === 0 && off === 0); off += CHUNK) {
    out.push(encodeHeader(hdr({ ...h, len: bytes.length, cap, off }), bytes.subarray(off, Math.min(off + CHUNK, cap))));
    if (cap === 0) break;
  }
  return out;
}

function collect(opts = {}) {
  const evs: SslOut[] = [];
  const a = new Assembler((e) => evs.push(e), opts);
  return { a, evs, data: () => evs.filter((e): e is SslDataEvent => e.type === 'data') };
}

t.test('header round-trips through the record layout', async (t) => {
  const h = hdr({ seq: 7, len: 123456, off: 16384, cap: 123456, ret: -1, fd: 2_000_000, flags: 3, comm: 'python3.11' });
  const b = encodeHeader(h, Buffer.from('xyz'));
  t.equal(b.length, HDR_SIZE + 3);
  t.same(decodeHeader(b), h);
  t.equal(decodeHeader(encodeHeader(hdr({ fd: -1 }))).fd, -1, 'an unknown socket stays -1');
  // 64-bit fields past 32 bits: a user-space address with its high half, times past 2^32 ns.
  const big = hdr({ conn: '7fff0000a0b0', ts: 86_400 * 30 * 1e9 + 123, seq: 2 ** 33 + 5, latNs: 2 ** 32 + 7 });
  t.same(decodeHeader(encodeHeader(big)), big, 'high halves kept');
  t.equal(decodeHeader(encodeHeader(hdr({ conn: '1000000a' }))).conn, '1000000a', 'low half not padded when alone');
  t.equal(
    decodeHeader(encodeHeader(hdr({ conn: '10000000a' }))).conn,
    '10000000a',
    'low half padded under a high half',
  );
  // The caches behind the strings: names of one length, addresses sharing a slot, alternating.
  const seq = [
    ['abcd', '5000'],
    ['abce', '5400'],
    ['abcd', '5000'],
    ['', '15000'],
    ['abce', '5400'],
    ['abcd', '105400'],
  ];
  t.same(
    seq.map(([comm, conn]) => {
      const d = decodeHeader(encodeHeader(hdr({ comm, conn })));
      return [d.comm, d.conn];
    }),
    seq,
    'each record its own name and address',
  );
});

t.test('a call in one record becomes one valid data event', async (t) => {
  const { a, evs } = collect();
  const body = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  for (const r of records({ seq: 0 }, body)) a.push(r);
  t.equal(evs.length, 1);
  const ev = evs[0] as SslDataEvent;
  t.equal(validateEvent(ev), null);
  t.equal(ev.conn, '100:5600aa00');
  t.equal(ev.dir, 'write');
  t.equal(ev.seq, 0);
  t.equal(ev.len, body.length);
  t.equal(ev.lib, 'openssl');
  t.equal(ev.comm, 'curl');
  t.equal(ev.latency_us, 12);
  t.notOk(ev.truncated);
  t.same(decodePayload(ev), body);
});

t.test('pieces of a large call are joined, byte-exact, binary-safe', async (t) => {
  const { a, evs, data } = collect();
  const body = crypto.randomBytes(5 * CHUNK + 777);
  const recs = records({ dir: 0, seq: 3 }, body);
  t.equal(recs.length, 6);
  for (const r of recs) a.push(r);
  t.equal(evs.length, 1);
  const ev = data()[0]!;
  t.equal(ev.enc, 'base64');
  t.equal(ev.dir, 'read');
  t.equal(ev.seq, 3);
  t.equal(
    crypto.createHash('sha256').update(decodePayload(ev)).digest('hex'),
    crypto.createHash('sha256').update(body).digest('hex'),
  );
  t.equal(a.pending, 0);
});

t.test('calls of different threads interleaved in the ring stay apart', async (t) => {
  const { a, data } = collect();
  const b1 = Buffer.alloc(3 * CHUNK, 'a');
  const b2 = Buffer.alloc(2 * CHUNK + 5, 'b');
  const r1 = records({ tid: 1, conn: '1', ts: 5 }, b1);
  const r2 = records({ tid: 2, conn: '2', ts: 6 }, b2);
  for (const r of [r1[0], r2[0], r1[1], r2[1], r2[2], r1[2]]) a.push(r!);
  const evs = data();
  t.equal(evs.length, 2);
  t.same(
    evs.map((e) => [e.tid, decodePayload(e).equals(e.tid === 1 ? b1 : b2)]),
    [
      [2, true],
      [1, true],
    ],
  );
});

t.test('a lost tail is emitted as truncated when the thread moves on', async (t) => {
  const { a, data } = collect();
  const body = Buffer.alloc(3 * CHUNK, 'x');
  const recs = records({ ts: 10, seq: 0 }, body);
  a.push(recs[0]!);
  a.push(recs[1]!);
  for (const r of records({ ts: 20, seq: 1 }, Buffer.from('next'))) a.push(r);
  const evs = data();
  t.equal(evs.length, 2);
  t.equal(evs[0]!.truncated, true);
  t.equal(evs[0]!.len, 3 * CHUNK);
  t.equal(decodePayload(evs[0]!).length, 2 * CHUNK, 'what arrived is kept');
  t.equal(decodePayload(evs[1]!).toString(), 'next');
  t.equal(a.stats.truncated, 1);
});

t.test('a missing middle piece keeps only the contiguous prefix', async (t) => {
  const { a, data } = collect();
  const body = crypto.randomBytes(3 * CHUNK);
  const recs = records({}, body);
  a.push(recs[0]!);
  a.push(recs[2]!);
  const ev = data()[0]!;
  t.equal(ev.truncated, true);
  t.same(decodePayload(ev), body.subarray(0, CHUNK));
});

t.test('unreadable user memory and the per-call cap mark the call truncated', async (t) => {
  const { a, data } = collect();
  a.push(encodeHeader(hdr({ len: 10, cap: 10, flags: F_FAULT })));
  const big = Buffer.alloc(CHUNK + 100, 'z');
  for (const r of records({ ts: 2, flags: F_CAPPED }, Buffer.alloc(5 * CHUNK, 'z'), CHUNK + 100)) a.push(r);
  const [f, c] = data();
  t.equal(f!.truncated, true);
  t.equal(decodePayload(f!).length, 0);
  t.equal(c!.truncated, true);
  t.equal(c!.len, 5 * CHUNK);
  t.same(decodePayload(c!), big);
});

t.test('pieces that stop arriving are flushed by tick after the timeout', async (t) => {
  let now = 0;
  const { a, data } = collect({ now: () => now, pieceTimeoutMs: 1000 });
  a.push(records({}, Buffer.alloc(2 * CHUNK, 'q'))[0]!);
  a.tick();
  t.equal(data().length, 0);
  now = 1500;
  a.tick();
  t.equal(data().length, 1);
  t.equal(data()[0]!.truncated, true);
  // A later piece of the flushed call is an orphan, not a new call.
  a.push(records({}, Buffer.alloc(2 * CHUNK, 'q'))[1]!);
  t.equal(a.stats.orphans, 1);
  t.equal(data().length, 1);
});

t.test('connection ids change when an SSL object starts a new session', async (t) => {
  const { a, evs } = collect();
  const hs = (ret: number, ts: number) => encodeHeader(hdr({ kind: KIND_HANDSHAKE, ret, ts }));
  a.push(hs(1, 1));
  for (const r of records({ ts: 2, seq: 0 }, Buffer.from('a'))) a.push(r);
  for (const r of records({ ts: 3, seq: 1 }, Buffer.from('b'))) a.push(r);
  // Same pointer, new handshake: a new connection.
  a.push(hs(1, 4));
  for (const r of records({ ts: 5, seq: 0 }, Buffer.from('c'))) a.push(r);
  // The handshake record was lost, but the kernel restarted the sequence: also new.
  for (const r of records({ ts: 6, seq: 0 }, Buffer.from('d'))) a.push(r);
  const conns = evs.map((e) => `${e.type}:${e.conn}`);
  t.same(conns, [
    'handshake:100:5600aa00',
    'data:100:5600aa00',
    'data:100:5600aa00',
    'handshake:100:5600aa00.1',
    'data:100:5600aa00.1',
    'data:100:5600aa00.2',
  ]);
  const h = evs[0] as SslHandshakeEvent;
  t.equal(validateEvent(h), null);
  t.equal(h.ret, 1);
  // A different process with the same pointer value is a different connection.
  for (const r of records({ ts: 7, pid: 200, seq: 0 }, Buffer.from('e'))) a.push(r);
  t.equal(evs.at(-1)!.conn, '200:5600aa00');
});

t.test('a connection prefix names connections apart from another run of the same process and object', async (t) => {
  const { a, evs } = collect({ connPrefix: 'r2/' });
  const hs = encodeHeader(hdr({ kind: KIND_HANDSHAKE, ret: 1, ts: 1 }));
  a.push(hs);
  for (const r of records({ ts: 2, seq: 0 }, Buffer.from('a'))) a.push(r);
  a.push(encodeHeader(hdr({ kind: KIND_HANDSHAKE, ret: 1, ts: 3 })));
  t.same(
    evs.map((e) => e.conn),
    ['r2/100:5600aa00', 'r2/100:5600aa00', 'r2/100:5600aa00.1'],
  );
  t.equal(validateEvent(evs[1]!), null);
});

t.test('flush emits what is held', async (t) => {
  const { a, data } = collect();
  a.push(records({}, Buffer.alloc(2 * CHUNK, 'w'))[0]!);
  a.flush();
  t.equal(data().length, 1);
  t.equal(a.pending, 0);
});

t.test('the hand-written head JSON is JSON.stringify of the head, for every kind of call', async (t) => {
  const heads: SslDataHead[] = [];
  const a = new Assembler(() => {}, {
    emitData: (h) => {
      heads.push({ ...h });
    },
  });
  const comms = ['curl', 'python3', 'we "quote"', 'back\\slash', 'ctl\u0001\t', 'ünï😀', '', 'x'.repeat(15)];
  let n = 0;
  for (const comm of comms) {
    for (const dir of [0, 1]) {
      for (const [flags, cut] of [
        [0, false],
        [F_CAPPED, false],
        [0, true],
      ] as const) {
        const body = crypto.randomBytes(40);
        const recs = records(
          {
            comm,
            dir,
            pid: 4000 + n,
            tid: 4000 + n,
            conn: (0xdeadbeef00 + n).toString(16),
            seq: n % 3,
            ts: 1_000_000_000 + n * 7_777_777,
            latNs: n * 999,
            flags,
            fd: [-1, 0, 5, 1023][n % 4]!,
          },
          body,
        );
        a.push(cut ? recs[0]!.subarray(0, HDR_SIZE + 40 - 5) : recs[0]!); // a short record: truncated
        n++;
      }
    }
  }
  a.flush();
  t.equal(heads.length, n);
  t.ok(heads.some((h) => h.truncated) && heads.some((h) => !h.truncated), 'truncated and whole calls');
  t.ok(
    heads.some((h) => h.fd === 0) && heads.some((h) => h.fd === undefined),
    'with a socket fd (0 included) and without',
  );
  const differ = heads.filter((h) => sslDataHeadJson(h) !== JSON.stringify(h));
  t.same(differ, [], `${heads.length} heads serialise as JSON.stringify does`);
});

t.test('head JSON: times at the edges of the microsecond part', async (t) => {
  const base: SslDataHead = {
    v: 1,
    ts: 0,
    src: 'ssl',
    type: 'data',
    pid: 1,
    tid: 1,
    comm: 'c',
    conn: '1:a',
    dir: 'read',
    seq: 0,
    len: 0,
    lib: 'openssl',
    latency_us: 0,
  };
  for (const ts of [
    0,
    1,
    999_999,
    1_000_000,
    1_000_001,
    1_795_701_876_000_000,
    1_795_701_876_000_001,
    1_795_701_876_099_999,
    1_795_701_876_100_000,
    1_795_701_876_999_999,
    2 ** 53 - 1,
  ]) {
    t.equal(sslDataHeadJson({ ...base, ts }), JSON.stringify({ ...base, ts }), `ts ${ts}`);
  }
});

t.test('idle connections are forgotten by tick, the last one used included', async (t) => {
  let now = 0;
  const { a, evs } = collect({ now: () => now, connIdleMs: 1000 });
  const hs = (ts: number) => encodeHeader(hdr({ kind: KIND_HANDSHAKE, ret: 1, ts }));
  a.push(hs(1));
  for (const r of records({ ts: 2, seq: 0 }, Buffer.from('a'))) a.push(r);
  a.push(hs(3)); // a new session: ids go on with .1
  for (const r of records({ ts: 4, seq: 0 }, Buffer.from('b'))) a.push(r);
  now = 500;
  a.tick(); // not idle yet
  for (const r of records({ ts: 5, seq: 1 }, Buffer.from('c'))) a.push(r);
  now = 2000;
  a.tick(); // idle since 500: forgotten
  for (const r of records({ ts: 6, seq: 0 }, Buffer.from('d'))) a.push(r);
  t.same(
    evs.filter((e) => e.type === 'data').map((e) => e.conn),
    ['100:5600aa00', '100:5600aa00.1', '100:5600aa00.1', '100:5600aa00'],
    'after the idle time, a fresh connection',
  );
});
