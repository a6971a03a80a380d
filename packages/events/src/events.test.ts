import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import t from 'tap';
import {
  type AgentEvent,
  chain,
  decodePayload,
  EventWriter,
  encodePayload,
  formatEvent,
  monoToWallUs,
  nowUs,
  readEvents,
  validateEvent,
} from './index.js';

// A seeded PRNG so failures reproduce.
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const ev = (extra: Record<string, unknown> = {}): AgentEvent =>
  ({ v: 1, ts: 1764150000000000, src: 'meta', type: 'note', ...extra }) as AgentEvent;

t.test('payload round-trips bytes exactly', async (t) => {
  const cases: Buffer[] = [
    Buffer.alloc(0),
    Buffer.from('plain ascii'),
    Buffer.from('multi-byte: héllo wörld ✓ 😀 中文'),
    Buffer.from([0xff, 0xfe, 0x00, 0x80]),
    Buffer.from('valid start then \xff', 'latin1'),
    Buffer.from([0xe2, 0x82]), // a UTF-8 sequence cut short
    randomBytes(4096),
  ];
  for (const b of cases) {
    const p = encodePayload(b);
    const back = decodePayload(JSON.parse(JSON.stringify(p)));
    t.ok(back.equals(b), `round trip of ${b.length} bytes (${p.enc})`);
  }
  t.equal(encodePayload(Buffer.from('héllo')).enc, 'utf8');
  t.equal(encodePayload(Buffer.from([0xc3])).enc, 'base64');
  t.equal(encodePayload(Buffer.from([0xc3])).data, 'ww==');
  // A view into a larger buffer encodes only its own bytes.
  const big = Buffer.from('xxHELLOxx');
  t.same(encodePayload(big.subarray(2, 7)), { data: 'HELLO', enc: 'utf8' });
});

t.test('validator accepts good events and names the bad field', async (t) => {
  t.equal(validateEvent(ev()), null);
  t.equal(
    validateEvent({
      v: 1,
      ts: 1,
      src: 'ssl',
      type: 'data',
      pid: 1,
      tid: 1,
      comm: 'x',
      conn: 'c',
      dir: 'read',
      seq: 0,
      len: 2,
      data: 'aGk=',
      enc: 'base64',
      lib: 'openssl',
    }),
    null,
  );
  t.match(validateEvent([1]), /not a JSON object \(array\)/);
  t.match(validateEvent(3), /not a JSON object \(number\)/);
  t.match(validateEvent(null), /not a JSON object \(null\)/);
  t.match(validateEvent({ ts: 1, src: 'x', type: 'y' }), /schema version/);
  t.match(validateEvent({ v: 1, ts: 1.5, src: 'x', type: 'y' }), /^ts:/);
  t.match(validateEvent({ v: 1, ts: 1, src: '', type: 'y' }), /^src:/);
  t.match(
    validateEvent({
      v: 1,
      ts: 1,
      src: 'ssl',
      type: 'data',
      pid: 1,
      tid: 1,
      comm: 'x',
      conn: 'c',
      dir: 'read',
      seq: 0,
      len: 2,
      data: 'aGk=',
      enc: 'hex',
      lib: 'openssl',
    }),
    /enc/,
  );
  t.match(
    validateEvent({
      v: 1,
      ts: 1,
      src: 'ssl',
      type: 'data',
      pid: 1,
      tid: 1,
      comm: 'x',
      conn: 'c',
      dir: 'read',
      seq: 0,
      len: 2,
      data: '%%',
      enc: 'base64',
      lib: 'openssl',
    }),
    /base64/,
  );
  t.match(
    validateEvent({ v: 1, ts: 1, src: 'proc', type: 'exec', pid: 1, ppid: 0, uid: 0, comm: 'sh', filename: '/bin/sh' }),
    /argv/,
  );
  t.match(validateEvent({ v: 1, ts: 1, src: 'x', type: 'y', pid: '12' }), /^pid/);
  // Unknown src/type: envelope only, so newer producers don't break older consumers.
  t.equal(validateEvent({ v: 1, ts: 1, src: 'future', type: 'thing', extra: [1] }), null);
});

function collect(input: string | Buffer, opts: Parameters<typeof readEvents>[2] = {}, chunking?: () => number) {
  const s = new PassThrough();
  const got: Array<{ ev: AgentEvent; line: number }> = [];
  const errs: string[] = [];
  const done = readEvents(s, (e, line) => got.push({ ev: e, line }), {
    name: 'cap.ndjson',
    onError: (m) => errs.push(m),
    ...opts,
  });
  const buf = Buffer.isBuffer(input) ? input : Buffer.from(input);
  if (!chunking) s.end(buf);
  else {
    let i = 0;
    while (i < buf.length) {
      const n = Math.max(1, chunking());
      s.write(buf.subarray(i, i + n));
      i += n;
    }
    s.end();
  }
  return done.then(
    (r) => ({ got, errs, r }),
    (e) => ({ got, errs, r: null, err: e as Error }),
  );
}

t.test('meta/run names its run; meta/stop may name the run it ends', async (t) => {
  const run = { v: 1, ts: 1, src: 'meta', type: 'run', run: 'h:1:2', host: 'h', command: 'claude -p x' };
  t.equal(validateEvent(run), null);
  t.match(validateEvent({ ...run, run: undefined }), /meta\/run: run: want str/);
  t.match(validateEvent({ ...run, host: 7 }), /host/);
  t.equal(validateEvent({ v: 1, ts: 2, src: 'meta', type: 'stop', run: 'h:1:2' }), null);
  t.equal(validateEvent({ v: 1, ts: 2, src: 'meta', type: 'stop', tool: 'as-proc' }), null, 'a tool’s own stop');
  t.match(validateEvent({ v: 1, ts: 2, src: 'meta', type: 'stop', run: 5 }), /run/);
});

t.test('reader: malformed lines reported with line numbers, good lines pass unchanged', async (t) => {
  const good = [ev({ a: 1 }), ev({ text: 'héllo 😀', n: [1, 2] }), ev({ last: true })];
  const tenMb = 'x'.repeat(10 * 1024 * 1024);
  const lines = [
    formatEvent(good[0]!),
    '{"v":1,"ts":1,"src":"meta","ty\n', // truncated JSON
    '[1,2,3]\n', // not an object
    formatEvent(ev({ big: tenMb })), // a 10 MB line that is fine
    `{"v":1,"ts":1,"src":"meta","type":"x","big":"${tenMb}\n`, // a 10 MB line cut short
    Buffer.concat([
      Buffer.from('{"v":1,"ts":1,"src":"meta","type":"x","s":"'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}\n'),
    ]),
    '\n', // blank lines are ignored
    formatEvent(good[1]!),
    '"just a string"\n',
    formatEvent(good[2]!).trimEnd(), // no final newline
  ];
  const input = Buffer.concat(lines.map((l) => (Buffer.isBuffer(l) ? l : Buffer.from(l))));
  for (const [name, chunking] of [
    ['one piece', undefined],
    [
      'random chunks',
      (() => {
        const r = prng(7);
        return () => Math.floor(r() * 70000);
      })(),
    ],
    [
      '1-byte-ish chunks',
      (() => {
        const r = prng(3);
        return () => 1 + Math.floor(r() * 3000);
      })(),
    ],
  ] as const) {
    const { got, errs, r } = await collect(input, {}, chunking as (() => number) | undefined);
    t.same(
      errs,
      [
        'cap.ndjson:2: invalid JSON: ' + errs[0]!.split('invalid JSON: ')[1],
        'cap.ndjson:3: not a JSON object (array)',
        'cap.ndjson:5: invalid JSON: ' + errs[2]!.split('invalid JSON: ')[1],
        'cap.ndjson:6: invalid UTF-8',
        'cap.ndjson:9: not a JSON object (string)',
      ],
      `${name}: errors`,
    );
    t.same(
      got.map((g) => g.line),
      [1, 4, 8, 10],
      `${name}: good line numbers`,
    );
    t.same(got[0]!.ev, good[0]);
    t.equal((got[1]!.ev as any).big.length, tenMb.length);
    t.same(got[2]!.ev, good[1]);
    t.same(got[3]!.ev, good[2]);
    t.same(r, { lines: 10, events: 4, errors: 5 });
  }
});

t.test('reader: strict mode stops at the first bad line', async (t) => {
  const { got, err } = (await collect(formatEvent(ev()) + 'nope\n' + formatEvent(ev()), { strict: true })) as any;
  t.equal(got.length, 1);
  t.match(err.message, /^cap\.ndjson:2: invalid JSON/);
  t.equal(err.lineNo, 2);
});

t.test('reader: over-long lines are skipped and reported, the rest goes on', async (t) => {
  const long = formatEvent(ev({ pad: 'y'.repeat(5000) }));
  const { got, errs } = await collect(
    long + formatEvent(ev({ ok: 1 })) + long,
    { maxLineBytes: 1000 },
    (() => {
      const r = prng(11);
      return () => 1 + Math.floor(r() * 1500);
    })(),
  );
  t.same(errs, [
    'cap.ndjson:1: line longer than 1000 bytes, skipped',
    'cap.ndjson:3: line longer than 1000 bytes, skipped',
  ]);
  t.same(
    got.map((g) => g.line),
    [2],
  );
});

t.test('writer: one whole line per event, full/drained reflect backpressure', async (t) => {
  const s = new PassThrough({ highWaterMark: 16 });
  const w = new EventWriter(s);
  t.equal(w.full, false);
  w.write(ev({ n: 1 }));
  t.equal(w.flush(), false, 'past the high-water mark');
  t.equal(w.full, true);
  let drained = false;
  const p = w.drained().then(() => {
    drained = true;
  });
  const text = s.read().toString();
  await p;
  t.ok(drained);
  t.same(JSON.parse(text), ev({ n: 1 }));
  t.ok(text.endsWith('\n') && text.indexOf('\n') === text.length - 1);
});

t.test('writer: batches whole lines, flushes on the next turn and past 64 KiB', async (t) => {
  const chunks: string[] = [];
  const s = new PassThrough({ highWaterMark: 1 << 24 });
  s.on('data', (d) => chunks.push(d.toString()));
  const w = new EventWriter(s);
  for (let i = 0; i < 3; i++) w.write(ev({ i }));
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  t.equal(chunks.length, 1, 'three events, one write');
  t.equal(chunks[0]!.split('\n').length, 4);
  chunks.length = 0;
  const pad = 'p'.repeat(1000);
  for (let i = 0; i < 200; i++) w.write(ev({ i, pad }));
  await w.drained();
  await new Promise((r) => setImmediate(r));
  const text = chunks.join('');
  t.equal(text.split('\n').length, 201, 'every line arrives');
  t.ok(chunks.length >= 3 && chunks.length < 20, `batched into ${chunks.length} writes`);
  for (const c of chunks) t.ok(c.endsWith('\n'), 'each write ends on a whole line');
  t.equal(w.count, 203);
});

t.test('writer: writePayload is write() of the event with its payload, for any bytes and size', async (t) => {
  const chunks: Buffer[] = [];
  const s = new PassThrough({ highWaterMark: 1 << 26 });
  s.on('data', (d: Buffer) => chunks.push(d));
  const w = new EventWriter(s);
  const head = (i: number) => ({
    v: 1,
    ts: 1700000000000000 + i,
    src: 'ssl',
    type: 'data',
    pid: 7,
    comm: 'curl "x"',
    i,
  });
  const r = prng(5);
  const payloads = [
    Buffer.alloc(0),
    Buffer.from('GET / HTTP/1.1\r\nHost: a\r\n\r\n{"k":"v\\n\u0001"} é 😀'),
    Buffer.from([0xff, 0xfe, 0x00, 0x80]), // not UTF-8
    Buffer.from(Array.from({ length: 3 << 20 }, () => [0x22, 0x5c, 0x0a, 0x41, 0x7f][Math.floor(r() * 5)]!)), // 3 MiB, dense in escapes
    Buffer.alloc(200_000, 'z'),
  ];
  const want: unknown[] = [];
  payloads.forEach((p, i) => {
    w.writePayload(head(i), p);
    want.push({ ...head(i), ...encodePayload(p) });
    w.write(ev({ after: i }));
    want.push(ev({ after: i }));
  });
  w.writePayload({}, Buffer.from('bare'));
  want.push(encodePayload(Buffer.from('bare')));
  w.writePayload('{"src":"ssl"}', Buffer.from([0x80]));
  want.push({ src: 'ssl', ...encodePayload(Buffer.from([0x80])) });
  await w.drained();
  await new Promise((res) => setImmediate(res));
  const lines = Buffer.concat(chunks).toString('utf8').split('\n');
  t.equal(lines.pop(), '', 'ends with a newline');
  t.same(
    lines.map((l) => JSON.parse(l)),
    want,
    'the same events, in order',
  );
  t.same(decodePayload(JSON.parse(lines[6]!)), payloads[3], '3 MiB of escapes round-trip byte-exact');
  t.equal(w.count, 12);
});

t.test('clock: monotonic kernel time maps to wall-clock microseconds', async (t) => {
  // Bracketed by Date.now() on both sides, so a loaded machine pausing this test between the
  // reads cannot fail it; the 20 ms allow for the two clocks' own disagreement.
  const before = Date.now() * 1000;
  const mono = process.hrtime.bigint();
  const wall = monoToWallUs(mono);
  const after = Date.now() * 1000;
  t.ok(Number.isSafeInteger(wall));
  t.ok(
    wall > before - 20_000 && wall < after + 20_000,
    `between the Date.now() before and after, give or take 20 ms (${wall - before} µs after the first)`,
  );
  t.equal(monoToWallUs(mono + 1_000_000n) - wall, 1000, '1 ms later is 1000 µs later');
  // Numbers (the ring's records) and BigInts give the same µs, at every ns of a µs.
  for (let k = 0n; k < 2000n; k += 37n)
    t.equal(monoToWallUs(Number(mono + k)), monoToWallUs(mono + k), `+${k} ns as a number`);
  const b2 = Date.now() * 1000;
  const now = nowUs();
  t.ok(now > b2 - 20_000 && now < Date.now() * 1000 + 20_000, 'nowUs agrees with Date.now');
  // jq's `.ts/1e6|todate` needs seconds since the epoch: check the magnitude.
  t.ok(wall / 1e6 > 1.7e9 && wall / 1e6 < 4e9);
});

t.test('chain: stages feed each other in order and end in order', async (t) => {
  const out: string[] = [];
  const upper = (emit: (e: AgentEvent) => void) => ({
    write: (e: AgentEvent) => emit({ ...e, type: e.type.toUpperCase() } as AgentEvent),
    end: () => emit(ev({ type: 'END1' })),
  });
  const tag = (emit: (e: AgentEvent) => void) => ({
    write: (e: AgentEvent) => emit({ ...e, type: e.type + '!' } as AgentEvent),
    end: () => emit(ev({ type: 'END2' })),
  });
  const s = chain([upper, tag], (e) => out.push(e.type));
  s.write(ev({ type: 'a' }));
  s.end();
  t.same(out, ['A!', 'END1!', 'END2']);
});

t.test('TimeOrder: events from several sources come out in ts order, bounded', async (t) => {
  const { TimeOrder } = await import('./order.js');
  const out: number[] = [];
  const o = new TimeOrder({ windowMs: 100, maxEvents: 1000 }, (e) => out.push(e.ts));
  const r = prng(5);
  const base = 1_000_000_000;
  const want: number[] = [];
  // Two sources, each in order, read in bursts that overlap in time.
  for (let burst = 0; burst < 50; burst++) {
    for (let i = 0; i < 20; i++) {
      const ts = base + burst * 1000 + Math.floor(r() * 900);
      want.push(ts);
      o.write(ev({ ts }));
    }
  }
  o.tick(base + 10_000 + 100_000); // 10 ms of events, all older than the 100 ms window
  t.equal(o.held, 1000 - out.length);
  o.end();
  t.same(
    out,
    [...want].sort((a, b) => a - b),
    'sorted by ts',
  );
  // Equal timestamps keep their arrival order; the bound releases the oldest at once.
  const seen: string[] = [];
  const b = new TimeOrder({ windowMs: 1000, maxEvents: 2 }, (e) => seen.push((e as any).k));
  b.write(ev({ ts: 5, k: 'a' }));
  b.write(ev({ ts: 5, k: 'b' }));
  b.write(ev({ ts: 1, k: 'c' }));
  t.same(seen, ['c'], 'over the bound: the oldest goes at once');
  b.tick(5 + 999_999);
  t.same(seen, ['c'], 'still within the window');
  b.tick(5 + 1_000_000);
  t.same(seen, ['c', 'a', 'b']);
});

t.test('an llm/call names an API the consumers know', async (t) => {
  const call = {
    v: 1,
    ts: 1,
    src: 'llm',
    type: 'call',
    id: 'c',
    provider: 'anthropic',
    api: 'anthropic.messages',
    model: 'm',
    request: {},
    response: { text: '', tool_calls: [] },
    usage: {},
    status: 200,
    timing: { start: 1, duration_ms: 1 },
    conn: 'k',
    req: 'r',
  };
  t.equal(validateEvent(call), null);
  t.match(validateEvent({ ...call, api: '' }), /^llm\/call: api: want one of anthropic\.messages, /);
  t.match(validateEvent({ ...call, api: 'cohere.chat' }), /api: want one of/);
});
