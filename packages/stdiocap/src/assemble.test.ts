import { type AgentEvent, decodePayload, type StdioDataEvent, validateEvent } from '@agentsight/events';
import t from 'tap';
import { StdioAssembler } from './assemble.js';

const SF_FAULT = 1,
  SF_LAST = 2,
  SF_CAPPED = 4;

// A piece as bpf/stdiocap.bpf.c writes it: 40-byte header, then fd, dir, seq, len, off, size, flags, data.
function piece(o: {
  pid?: number;
  fd?: number;
  dir?: 0 | 1;
  seq: number;
  len: number;
  off: number;
  data: Buffer;
  flags: number;
}): Buffer {
  const b = Buffer.alloc(72 + o.data.length);
  b.writeUInt32LE(6, 0);
  b.writeUInt32LE(o.pid ?? 10, 4);
  b.writeUInt32LE(o.pid ?? 10, 8);
  b.writeUInt32LE(1, 12);
  b.writeBigUInt64LE(5_000_000n + BigInt(o.off), 16);
  b.write('server', 24);
  b.writeUInt32LE(o.fd ?? 1, 40);
  b.writeUInt32LE(o.dir ?? 1, 44);
  b.writeBigUInt64LE(BigInt(o.seq), 48);
  b.writeUInt32LE(o.len, 56);
  b.writeUInt32LE(o.off, 60);
  b.writeUInt32LE(o.data.length, 64);
  b.writeUInt32LE(o.flags, 68);
  o.data.copy(b, 72);
  return b;
}

/** Split a call's bytes into kernel-sized pieces. */
function pieces(data: Buffer, seq: number, size = 8192, extra = 0): Buffer[] {
  const out: Buffer[] = [];
  for (let off = 0; off < data.length; off += size) {
    const d = data.subarray(off, off + size);
    out.push(
      piece({ seq, len: data.length, off, data: d, flags: (off + d.length >= data.length ? SF_LAST : 0) | extra }),
    );
  }
  return out;
}

function collect() {
  const evs: StdioDataEvent[] = [];
  const a = new StdioAssembler((e: AgentEvent) => evs.push(e as StdioDataEvent), {
    toWallUs: (ns) => Number(ns / 1000n),
    staleUs: 1000,
  });
  return { a, evs };
}

t.test('a large write arrives whole, byte exact, binary safe', async (t) => {
  const { a, evs } = collect();
  const data = Buffer.alloc(100_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
  for (const p of pieces(data, 0)) a.record(p);
  t.equal(evs.length, 1);
  const e = evs[0]!;
  t.equal(validateEvent(e), null);
  t.equal(e.enc, 'base64');
  t.equal(e.len, 100_000);
  t.notOk(e.truncated);
  t.ok(decodePayload(e).equals(data));
  t.equal(e.ts, 5000, 'time of the first piece');
});

t.test('small text calls: one event each, seq kept', async (t) => {
  const { a, evs } = collect();
  a.record(piece({ seq: 0, len: 4, off: 0, data: Buffer.from('{}\n\n'), flags: SF_LAST }));
  a.record(piece({ seq: 1, len: 2, off: 0, data: Buffer.from('ok'), flags: SF_LAST, fd: 0, dir: 0 }));
  t.same(
    evs.map((e) => [e.seq, e.fd, e.dir, e.data, e.enc]),
    [
      [0, 1, 'write', '{}\n\n', 'utf8'],
      [1, 0, 'read', 'ok', 'utf8'],
    ],
  );
});

t.test('pieces of calls on different streams interleave without mixing', async (t) => {
  const { a, evs } = collect();
  const x = Buffer.alloc(20000, 'x');
  const y = Buffer.alloc(20000, 'y');
  const px = pieces(x, 0);
  const py = pieces(y, 0).map((b) => {
    b.writeUInt32LE(11, 4);
    return b;
  });
  for (let i = 0; i < px.length; i++) {
    a.record(px[i]!);
    a.record(py[i]!);
  }
  t.equal(evs.length, 2);
  t.same(evs.map((e) => [e.pid, e.data.length]).sort(), [
    [10, 20000],
    [11, 20000],
  ]);
  t.ok(evs.every((e) => /^(x+|y+)$/.test(e.data)));
});

t.test('ring full mid-call: the call is reported truncated when the next call comes', async (t) => {
  const { a, evs } = collect();
  const data = Buffer.alloc(30000, 'a');
  const ps = pieces(data, 4);
  a.record(ps[0]!);
  a.record(ps[1]!); // then the kernel could not output piece 2: rest counted as lost
  t.equal(evs.length, 0, 'held while its tail may still come');
  a.record(piece({ seq: 5, len: 3, off: 0, data: Buffer.from('end'), flags: SF_LAST }));
  t.equal(evs.length, 2);
  t.match(evs[0], { seq: 4, len: 30000, truncated: true });
  t.equal(evs[0]!.data.length, 16384);
  t.match(evs[1], { seq: 5, data: 'end' });
  t.notOk(evs[1]!.truncated);
});

t.test('a call whose head was lost is dropped (the kernel counted it)', async (t) => {
  const { a, evs } = collect();
  const ps = pieces(Buffer.alloc(20000, 'b'), 0);
  a.record(ps[1]!);
  a.record(ps[2]!);
  t.equal(evs.length, 0);
});

t.test('stale partial calls are flushed by tick and end', async (t) => {
  const { a, evs } = collect();
  const ps = pieces(Buffer.alloc(20000, 'c'), 0);
  a.record(ps[0]!);
  a.tick(Date.now() * 1000 + 10_000);
  t.equal(evs.length, 1);
  t.ok(evs[0]!.truncated);
  const qs = pieces(Buffer.alloc(20000, 'd'), 1);
  a.record(qs[0]!);
  a.end();
  t.equal(evs.length, 2);
});

t.test('capped and faulted calls are marked truncated', async (t) => {
  const { a, evs } = collect();
  a.record(piece({ seq: 0, len: 10, off: 0, data: Buffer.from('12345'), flags: SF_LAST | SF_CAPPED }));
  a.record(piece({ seq: 1, len: 5, off: 0, data: Buffer.alloc(5), flags: SF_LAST | SF_FAULT }));
  t.same(
    evs.map((e) => e.truncated),
    [true, true],
  );
  t.equal(evs[0]!.len, 10, 'len is what the call moved, not what was kept');
});

t.test('malformed records are counted', async (t) => {
  const { a, evs } = collect();
  a.record(Buffer.alloc(30));
  const p = piece({ seq: 0, len: 3, off: 0, data: Buffer.from('abc'), flags: SF_LAST });
  p.writeUInt32LE(99, 64); // claims more data than it has
  a.record(p);
  t.equal(a.malformed, 2);
  t.equal(evs.length, 0);
});

t.test('payloads handed over as bytes (emitData) make the same events once written', async (t) => {
  const { PassThrough } = await import('node:stream');
  const { EventWriter } = await import('@agentsight/events');
  const out = new PassThrough({ highWaterMark: 1 << 26 });
  const chunks: Buffer[] = [];
  out.on('data', (d: Buffer) => chunks.push(d));
  const w = new EventWriter(out);
  const opts = { toWallUs: (ns: bigint) => Number(ns / 1000n), staleUs: 1000 };
  const viaBytes = new StdioAssembler((e) => w.write(e), {
    ...opts,
    emitData: (h, b) => {
      w.writePayload(h, b);
    },
  });
  const objects: AgentEvent[] = [];
  const viaObjects = new StdioAssembler((e) => objects.push(e), opts);
  const calls = [
    Buffer.from('{"jsonrpc":"2.0","id":1}\n'),
    Buffer.from([0, 0xff, 0xfe]),
    Buffer.alloc(20_000, 'é'),
    Buffer.alloc(0),
  ];
  calls.forEach((c, seq) => {
    for (const p of pieces(c, seq)) {
      viaBytes.record(p);
      viaObjects.record(p);
    }
  });
  // A call whose tail never comes: truncated, in both.
  const cut = pieces(Buffer.alloc(9000, 'x'), 9);
  viaBytes.record(cut[0]!);
  viaObjects.record(cut[0]!);
  viaBytes.end();
  viaObjects.end();
  await w.drained();
  await new Promise((r) => setImmediate(r));
  const lines = Buffer.concat(chunks)
    .toString('utf8')
    .trimEnd()
    .split('\n')
    .map((l) => JSON.parse(l));
  t.equal(objects.length, 4, 'three calls with bytes and the cut one (an empty read makes no piece)');
  t.same(lines, objects, 'the same events');
  t.ok(
    objects.some((e) => (e as StdioDataEvent).truncated),
    'the cut call is marked',
  );
});
