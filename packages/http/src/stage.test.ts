import { spawnSync } from 'node:child_process';
import zlib from 'node:zlib';
import { type AgentEvent, decodePayload, type Payload, type SslDataEvent } from '@agentsight/events';
import t from 'tap';
import { HttpStage, type HttpStageOptions } from './stage.js';
import { prng, runHttp, splitPoints, sslEvents } from './synth.js';

type Ev = Record<string, any>;

/** A conversation on one connection: request and response bytes, in the order given. */
class Conv {
  events: SslDataEvent[] = [];
  seq = { write: 0, read: 0 };
  ts = 1_700_000_000_000_000;
  constructor(readonly conn = 'c1') {}
  send(dir: 'write' | 'read', bytes: string | Buffer, cuts?: number[]): this {
    const b = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
    const evs = sslEvents(b, { conn: this.conn, dir, seq: this.seq[dir], ts: this.ts, stepUs: 1000, cuts });
    this.seq[dir] += evs.length;
    this.ts += 1000 * evs.length + 1000;
    this.events.push(...evs);
    return this;
  }
  req(b: string | Buffer, cuts?: number[]): this {
    return this.send('write', b, cuts);
  }
  res(b: string | Buffer, cuts?: number[]): this {
    return this.send('read', b, cuts);
  }
  run(opts: HttpStageOptions = {}): Ev[] {
    return runHttp(this.events, opts) as Ev[];
  }
}

const body = (e: Ev): Buffer => (e.data === undefined ? Buffer.alloc(0) : decodePayload(e as unknown as Payload));
const of = (evs: Ev[], type: string) => evs.filter((e) => e.src === 'http' && e.type === type);
const POST = (path: string, b: string, extra = '') =>
  `POST ${path} HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n${extra}\r\n${b}`;
const OK = (b: string, extra = '') =>
  `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n${extra}\r\n${b}`;

t.test('content-length request and response on a keep-alive connection', async (t) => {
  const evs = new Conv()
    .req(POST('/v1/a', '{"a":1}'))
    .res(OK('{"r":1}'))
    .req('GET /v1/b?x=1 HTTP/1.1\r\nHost: api.example.com\r\n\r\n')
    .res(OK('second'))
    .run();
  const reqs = of(evs, 'request');
  const ress = of(evs, 'response');
  t.equal(reqs.length, 2);
  t.equal(ress.length, 2);
  t.match(reqs[0], {
    method: 'POST',
    path: '/v1/a',
    host: 'api.example.com',
    id: 'c1#0',
    body_size: 7,
    protocol: 'HTTP/1.1',
    pid: 4242,
    comm: 'agent',
    conn: 'c1',
  });
  t.equal(body(reqs[0]!).toString(), '{"a":1}');
  t.match(reqs[1], { method: 'GET', path: '/v1/b?x=1', id: 'c1#1', body_size: 0 });
  t.notOk('data' in reqs[1]!, 'no body, no data');
  t.match(ress[0], { req: 'c1#0', status: 200, reason: 'OK', body_size: 7 });
  t.equal(body(ress[1]!).toString(), 'second');
  t.equal(ress[1]!.req, 'c1#1');
  t.ok(ress[0]!.latency_ms > 0, 'latency measured from the end of the request');
  t.equal(ress[0]!.latency_ms, (ress[0]!.ts - reqs[0]!.ts) / 1000);
  t.ok(reqs[0]!.start_ts <= reqs[0]!.ts);
  t.equal(ress[0]!.headers['content-type'], 'application/json');
});

t.test('pipelined requests in one chunk pair with responses in order', async (t) => {
  const evs = new Conv()
    .req(POST('/1', 'one') + POST('/2', 'two') + 'GET /3 HTTP/1.1\r\nHost: h\r\n\r\n')
    .res(OK('r1') + OK('r2') + OK('r3'))
    .run();
  t.same(
    of(evs, 'request').map((e) => [e.path, body(e).toString()]),
    [
      ['/1', 'one'],
      ['/2', 'two'],
      ['/3', ''],
    ],
  );
  t.same(
    of(evs, 'response').map((e) => [e.req, body(e).toString()]),
    [
      ['c1#0', 'r1'],
      ['c1#1', 'r2'],
      ['c1#2', 'r3'],
    ],
  );
});

t.test('a response captured before its request (a reader thread) still answers it', async (t) => {
  const sse = (n: number) =>
    'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n' +
    `10\r\ndata: answer ${n}\n\n\r\n0\r\n\r\n`;
  const c = new Conv().req(POST('/1', 'one')).res(sse(1));
  const at = c.events.length;
  c.req(POST('/2', 'two')).res(sse(2), [80]).req(POST('/3', 'three')).res(sse(3));
  // The second request's write returned after the first bytes of its answer were read:
  // the capture has them first, stamped earlier.
  const [req2, head2] = [c.events[at]!, c.events[at + 1]!];
  c.events.splice(at, 2, { ...head2, ts: req2.ts - 1 }, req2);
  const evs = c.run();
  t.same(
    of(evs, 'response').map((e) => [e.req, e.status, e.incomplete]),
    [
      ['c1#0', 200, undefined],
      ['c1#1', 200, undefined],
      ['c1#2', 200, undefined],
    ],
    'each response answers its own request',
  );
  t.same(
    of(evs, 'sse').map((e) => [e.req, e.data]),
    [
      ['c1#0', 'answer 1'],
      ['c1#1', 'answer 2'],
      ['c1#2', 'answer 3'],
    ],
  );
  t.ok(
    of(evs, 'response').every((e) => e.latency_ms >= 0),
    'latency never negative',
  );
  // A server that speaks first (nothing asked): its bytes are parsed at the end all the same.
  const first = new Conv('c2').res(OK('hello')).run();
  t.same(
    of(first, 'response').map((e) => [e.req, body(e).toString()]),
    [['c2#?', 'hello']],
  );
});

t.test('chunked bodies with extensions and trailers', async (t) => {
  const res =
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n' +
    '5;name=value;other="q"\r\nhello\r\n' +
    '1\r\n \r\n' +
    'A  \r\n0123456789\r\n' +
    '0\r\nX-Checksum: abc\r\nx-other: 1\r\n\r\n';
  const evs = new Conv()
    .req('GET / HTTP/1.1\r\nHost: h\r\n\r\n')
    .res(res)
    .req('GET /next HTTP/1.1\r\nHost: h\r\n\r\n')
    .res(OK('after'))
    .run();
  const [r1, r2] = of(evs, 'response');
  t.equal(body(r1!).toString(), 'hello 0123456789');
  t.equal(r1!.body_size, 16);
  t.same(r1!.trailers, { 'x-checksum': 'abc', 'x-other': '1' });
  t.equal(body(r2!).toString(), 'after', 'the next message parses after the trailers');
  // A chunked request body too.
  const evs2 = new Conv()
    .req('POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n')
    .res(OK(''))
    .run();
  t.equal(body(of(evs2, 'request')[0]!).toString(), 'abc');
  t.notOk(of(evs2, 'request')[0]!.trailers, 'no trailers, no field');
});

t.test('a response without length ends at close: reported incomplete at end of input or idle timeout', async (t) => {
  const evs = new Conv()
    .req('GET / HTTP/1.1\r\nHost: h\r\n\r\n')
    .res('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nsome ')
    .res('more')
    .run();
  const [r] = of(evs, 'response');
  t.equal(body(r!).toString(), 'some more');
  t.equal(r!.incomplete, 'end of input');
  t.equal(r!.protocol, 'HTTP/1.0');

  // Idle timeout through tick(): the connection is flushed and forgotten.
  const out: Ev[] = [];
  const st = new HttpStage({ idleTimeoutS: 1 }, (e) => out.push(e));
  for (const e of new Conv().req('GET / HTTP/1.1\r\nHost: h\r\n\r\n').res('HTTP/1.1 200 OK\r\n\r\npartial').events)
    st.write(e);
  t.equal(of(out, 'response').length, 0, 'nothing before the timeout');
  t.equal(st.connections, 1);
  st.tick(Date.now() * 1000 + 5e6);
  t.equal(st.connections, 0, 'connection dropped');
  t.equal(of(out, 'response')[0]?.incomplete, 'idle timeout');
  t.equal(body(of(out, 'response')[0]!).toString(), 'partial');
});

t.test('interim 1xx responses are skipped; HEAD, 204 and 304 have no body', async (t) => {
  const evs = new Conv()
    .req('POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n')
    .res('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n')
    .req('hi')
    .res(OK('done'))
    .req(
      'HEAD /h HTTP/1.1\r\nHost: h\r\n\r\nDELETE /d HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\nGET /last HTTP/1.1\r\nHost: h\r\n\r\n',
    )
    .res(
      'HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' +
        'HTTP/1.1 204 No Content\r\n\r\n' +
        'HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n' +
        OK('tail'),
    )
    .run();
  const ress = of(evs, 'response');
  t.same(
    ress.map((r) => [r.req, r.status, r.body_size]),
    [
      ['c1#0', 200, 4],
      ['c1#1', 200, 0],
      ['c1#2', 204, 0],
      ['c1#3', 304, 0],
      ['c1#4', 200, 4],
    ],
  );
  t.equal(body(of(evs, 'request')[0]!).toString(), 'hi');
});

t.test(
  'upgrade: 101 is reported; WebSocket is read as messages (ws.test.ts), other protocols are not parsed',
  async (t) => {
    const masked = Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x69, 0x67, 0x6f, 0x68, 0x6e]); // "hello" masked
    const evs = new Conv()
      .req('GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')
      .req(masked) // sent before the 101 was read: held, then parsed as WebSocket
      .res(
        Buffer.concat([
          Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n'),
          Buffer.from([0x81, 2, 0x68, 0x69]),
        ]),
      )
      .req(masked)
      .run();
    t.same(
      evs.map((e) => e.type),
      ['request', 'response', 'ws', 'ws', 'ws'],
    );
    t.same(
      of(evs, 'ws').map((e) => [e.from, e.opcode, body(e).toString()]),
      [
        ['client', 'text', 'hello'],
        ['server', 'text', 'hi'],
        ['client', 'text', 'hello'],
      ],
    );

    const other = new Conv()
      .req('GET /x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: chat/1\r\n\r\n')
      .res('HTTP/1.1 101 Switching Protocols\r\nUpgrade: chat/1\r\nConnection: Upgrade\r\n\r\n')
      .req(masked)
      .res(masked)
      .req(masked)
      .run();
    t.equal(of(other, 'request').length, 1);
    t.match(of(other, 'response'), [{ status: 101, req: 'c1#0' }]);
    const un = of(other, 'unparsed');
    t.equal(un.length, 1, 'reported once');
    t.match(un[0]!.reason, /upgraded to chat\/1/);

    // An upgrade the server refuses: what the client sent meanwhile is parsed after all.
    const evs2 = new Conv()
      .req('GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n')
      .req('GET /after HTTP/1.1\r\nHost: h\r\n\r\n')
      .res(OK('no upgrade') + OK('after'))
      .run();
    t.same(
      of(evs2, 'request').map((e) => e.path),
      ['/ws', '/after'],
    );
    t.same(
      of(evs2, 'response').map((e) => e.req),
      ['c1#0', 'c1#1'],
    );
    t.equal(of(evs2, 'unparsed').length, 0);
  },
);

t.test(
  'content encodings: gzip, deflate (zlib and raw), br, zstd decoded; corrupt or unknown reported raw',
  async (t) => {
    const text = JSON.stringify({ msg: 'héllo wörld '.repeat(200) });
    const cases: Array<[string, Buffer]> = [
      ['gzip', zlib.gzipSync(text)],
      ['deflate', zlib.deflateSync(text)],
      ['deflate', zlib.deflateRawSync(text)],
      ['br', zlib.brotliCompressSync(text)],
    ];
    // zstd: Node 20 cannot make it; the zstd CLI (an APT package the Makefile installs) can.
    const zstd = spawnSync('zstd', ['-q', '-c'], { input: text });
    if (zstd.status === 0) cases.push(['zstd', zstd.stdout]);
    else t.fail('zstd CLI missing (apt-get install zstd): zstd decoding untested');
    for (const [ce, enc] of cases) {
      const res = Buffer.concat([
        Buffer.from(`HTTP/1.1 200 OK\r\nContent-Encoding: ${ce}\r\nContent-Length: ${enc.length}\r\n\r\n`),
        enc,
      ]);
      const r = of(
        new Conv()
          .req('GET / HTTP/1.1\r\nHost: h\r\n\r\n')
          .res(res, splitPoints(res.length, prng(enc.length), 50))
          .run(),
        'response',
      )[0]!;
      t.equal(body(r).toString(), text, `${ce} decoded`);
      t.equal(r.body_size, Buffer.byteLength(text));
      t.equal(r.raw_size, enc.length, `${ce} raw size kept`);
      t.notOk(r.decode_error);
    }
    const zstdish = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 1, 2, 3]);
    for (const [ce, enc, why] of [
      ['zstd', zstdish, /zstd/],
      ['gzip', Buffer.from('not gzip at all'), /gzip/],
      ['compress', Buffer.from('xx'), /not supported/],
    ] as const) {
      const res = Buffer.concat([
        Buffer.from(`HTTP/1.1 200 OK\r\nContent-Encoding: ${ce}\r\nContent-Length: ${enc.length}\r\n\r\n`),
        enc,
      ]);
      const r = of(new Conv().req('GET / HTTP/1.1\r\nHost: h\r\n\r\n').res(res).run(), 'response')[0]!;
      t.match(r.decode_error, why, `${ce}: decode error reported`);
      t.ok(body(r).equals(enc), `${ce}: raw bytes kept`);
      t.equal(r.raw_size, enc.length);
    }
  },
);

t.test('SSE: one event per message as it arrives, ttft on the first, final response has the count', async (t) => {
  const sse =
    'event: message_start\ndata: {"a":1}\n\n: comment\n\nevent: delta\ndata: line1\ndata: line2\nid: 7\nretry: 1500\n\ndata: [DONE]\n\n';
  const chunked =
    'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n' +
    sse.length.toString(16) +
    '\r\n' +
    sse +
    '\r\n0\r\n\r\n';
  const out: Ev[] = [];
  const st = new HttpStage({}, (e) => out.push(JSON.parse(JSON.stringify(e))));
  const conv = new Conv().req(POST('/v1/messages', '{}')).res(chunked, [130, 160, 200]);
  for (const e of conv.events) st.write(e);
  st.end();
  const sses = of(out, 'sse');
  t.same(
    sses.map((e) => [e.n, e.event, e.data]),
    [
      [0, 'message_start', '{"a":1}'],
      [1, 'delta', 'line1\nline2'],
      [2, undefined, '[DONE]'],
    ],
  );
  t.equal(sses[1]!.id, '7');
  t.equal(sses[1]!.retry, 1500);
  t.ok(typeof sses[0]!.ttft_ms === 'number' && sses[0]!.ttft_ms > 0, 'ttft on the first');
  t.notOk('ttft_ms' in sses[1]!, 'only on the first');
  t.ok(sses[0]!.ts < sses[2]!.ts, 'messages are emitted as their bytes arrive, not at the end');
  const r = of(out, 'response')[0]!;
  t.equal(r.sse_count, 3);
  t.notOk('data' in r, 'no body on an SSE response');
  t.equal(r.body_size, sse.length);
  t.ok(out.indexOf(r) > out.indexOf(sses[2]!), 'response after its messages');
});

t.test('an event-stream response that holds no SSE message keeps its body', async (t) => {
  const err = '{"error":{"type":"overloaded_error","message":"Overloaded"}}';
  const evs = new Conv()
    .req(POST('/v1/messages', '{}'))
    .res(`HTTP/1.1 529 Overloaded\r\nContent-Type: text/event-stream\r\nContent-Length: ${err.length}\r\n\r\n${err}`)
    .run();
  const r = of(evs, 'response')[0]!;
  t.equal(r.sse_count, 0);
  t.equal(body(r).toString(), err);
  t.equal(of(evs, 'sse').length, 0);
  const ok = new Conv()
    .req(POST('/v1/messages', '{}'))
    .res(`HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 10\r\n\r\ndata: x\n\n`)
    .run();
  t.notOk('data' in of(ok, 'response')[0]!, 'a real stream still has no body');
});

t.test('SSE over gzip is decoded incrementally', async (t) => {
  const msgs = Array.from({ length: 50 }, (_, i) => `data: {"i":${i},"pad":"${'x'.repeat(i * 7)}"}\n\n`);
  // Flush after each message, as a streaming server does.
  const gz = zlib.createGzip();
  const parts: Buffer[] = [];
  gz.on('data', (b: Buffer) => parts.push(b));
  for (const m of msgs) {
    gz.write(m);
    await new Promise<void>((r) => gz.flush(zlib.constants.Z_SYNC_FLUSH, () => r()));
  }
  await new Promise<void>((r) => gz.end(r));
  const enc = Buffer.concat(parts);
  const res = Buffer.concat([
    Buffer.from(
      `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\nContent-Length: ${enc.length}\r\n\r\n`,
    ),
    enc,
  ]);
  const evs = new Conv()
    .req('GET /s HTTP/1.1\r\nHost: h\r\n\r\n')
    .res(res, splitPoints(res.length, prng(3), 200))
    .run();
  const sses = of(evs, 'sse');
  t.equal(sses.length, 50);
  t.same(
    sses.map((e) => JSON.parse(e.data).i),
    [...Array(50).keys()],
  );
  t.ok(new Set(sses.map((e) => e.ts)).size > 5, 'spread over the stream');
  t.equal(of(evs, 'response')[0]!.raw_size, enc.length);
});

t.test('events reordered within the window give the same output', async (t) => {
  const conv = new Conv()
    .req(POST('/a', 'x'.repeat(300)), splitPoints(400, prng(1), 40))
    .res(OK('y'.repeat(500)), splitPoints(600, prng(2), 40));
  const inOrder = conv.run();
  const rnd = prng(9);
  for (let round = 0; round < 20; round++) {
    // Local shuffles, as per-CPU buffers produce: swap neighbours at random.
    const shuffled = conv.events.slice();
    for (let i = 0; i + 1 < shuffled.length; i++)
      if (rnd() < 0.4) [shuffled[i], shuffled[i + 1]] = [shuffled[i + 1]!, shuffled[i]!];
    t.same(runHttp(shuffled), inOrder, `round ${round}`);
  }
});

t.test('a lost event: the message is reported incomplete and the next one parses', async (t) => {
  const conv = new Conv().req(POST('/a', 'aaaa')).res(OK('first part')).req(POST('/b', 'bbbb')).res(OK('second'));
  // Drop the response to /a.
  const lostIdx = conv.events.findIndex((e) => e.dir === 'read');
  const events = conv.events.filter((_, i) => i !== lostIdx);
  const evs = runHttp(events) as Ev[];
  t.same(
    of(evs, 'request').map((e) => e.path),
    ['/a', '/b'],
  );
  const ress = of(evs, 'response');
  t.equal(ress.length, 1);
  t.equal(body(ress[0]!).toString(), 'second', 'resynchronised at the next response');
  t.equal(ress[0]!.req, 'c1#1', 'paired with its own request, not the one whose answer was lost');

  // Loss mid-body with the size known (a piece marked truncated): skipped exactly.
  const big = 'z'.repeat(100);
  const c2 = new Conv()
    .req('GET / HTTP/1.1\r\nHost: h\r\n\r\n')
    .res(OK(big), [80, 130])
    .req('GET /n HTTP/1.1\r\nHost: h\r\n\r\n')
    .res(OK('next'));
  const piece = c2.events.find((e) => e.dir === 'read' && e.seq === 1)!;
  piece.truncated = true;
  piece.data = piece.data.slice(0, 10);
  const evs2 = runHttp(c2.events) as Ev[];
  const [r1, r2] = of(evs2, 'response');
  t.equal(r1!.body_size, 60, 'body minus the 40 lost bytes');
  t.equal(r1!.raw_size, undefined);
  t.match(r1!.incomplete, /lost 40 body bytes/);
  t.equal(body(r2!).toString(), 'next', 'the connection goes on in step');
});

t.test('ssl/lost skips a hole at once; other events pass through untouched', async (t) => {
  const conv = new Conv().req(POST('/a', 'aaaa')).res(OK('one')).req(POST('/b', 'bbbb')).res(OK('two'));
  const firstRes = conv.events.findIndex((e) => e.dir === 'read');
  const events: AgentEvent[] = conv.events.filter((_, i) => i !== firstRes);
  const lost = { v: 1, ts: 1, src: 'ssl', type: 'lost', records: 1, bytes: 100 } as AgentEvent;
  const meta = {
    v: 1,
    ts: 2,
    src: 'proc',
    type: 'exec',
    pid: 1,
    ppid: 0,
    uid: 0,
    comm: 'x',
    filename: '/x',
    argv: [],
  } as AgentEvent;
  const out: Ev[] = [];
  const st = new HttpStage({}, (e) => out.push(e));
  events.splice(3, 0, lost, meta);
  for (const e of events.slice(0, 5)) st.write(e);
  t.ok(out.includes(lost as Ev) && out.includes(meta as Ev), 'passed through as the same objects');
  for (const e of events.slice(5)) st.write(e);
  t.same(
    of(out, 'response').map((e) => body(e).toString()),
    ['two'],
    'second response parsed without waiting for end()',
  );
  st.end();
});

t.test('non-HTTP connections are reported once and skipped', async (t) => {
  // HTTP/2 is parsed (h2.test.ts); a broken HTTP/2 connection is reported once.
  const h2 = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]);
  const cont = Buffer.from([0, 0, 1, 9, 4, 0, 0, 0, 1, 0x82]);
  const evs = new Conv()
    .req(h2, [3, 10])
    .res(Buffer.from([0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x10, 0]))
    .req(cont)
    .req(Buffer.alloc(1000, 7))
    .run();
  t.equal(evs.length, 1);
  t.match(evs[0], {
    type: 'unparsed',
    reason: /HTTP\/2 \(client side\): CONTINUATION without a header block/,
    conn: 'c1',
  });

  const bin = new Conv('b1')
    .req(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]))
    .res(Buffer.from([0x16, 3, 3, 0, 0x5a]))
    .req(Buffer.alloc(100, 0xff))
    .run();
  t.equal(bin.length, 1, 'one report for the connection, both directions');
  t.match(bin[0]!.reason, /not an HTTP\/1 request: binary data/);
});

t.test('a parse error resynchronises at the next message', async (t) => {
  const evs = new Conv()
    .req(POST('/a', 'a'))
    .res(OK('1'))
    .req('GET /bad HTTP/1.1\r\nHost h-without-colon\r\n\r\n')
    .res('HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n')
    .req(POST('/c', 'c'))
    .res('HTTP/1.1 200 OK\r\nContent-Length: zz\r\n\r\ngarbage')
    .res(OK('3'))
    .run();
  t.same(
    of(evs, 'request').map((e) => e.path),
    ['/a', '/c'],
  );
  const un = of(evs, 'unparsed');
  t.equal(un.length, 2);
  t.match(un[0]!.reason, /parse error \(request\): bad header line/);
  t.match(un[1]!.reason, /parse error \(response\): bad content-length/);
  t.same(
    of(evs, 'response').map((e) => [e.status, body(e).toString()]),
    [
      [200, '1'],
      [400, ''],
      [200, '3'],
    ],
  );
});

t.test('limits: body truncated at --max-body-mb, oversized head rejected', async (t) => {
  const big = 'b'.repeat(5000);
  const r = of(
    new Conv().req('GET / HTTP/1.1\r\nHost: h\r\n\r\n').res(OK(big), [100, 2000]).run({ maxBodyBytes: 1000 }),
    'response',
  )[0]!;
  t.equal(body(r).length, 1000);
  t.equal(r.body_size, 5000, 'the real size is still reported');
  t.equal(r.body_truncated, true);
  const huge = `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${'q'.repeat(70000)}\r\n\r\n`;
  const evs = new Conv().req(huge).req('GET /ok HTTP/1.1\r\nHost: h\r\n\r\n').run();
  t.match(of(evs, 'unparsed')[0]!.reason, /head larger than/);
  t.same(
    of(evs, 'request').map((e) => e.path),
    ['/ok'],
  );
});

t.test('secrets are redacted with a stable fingerprint; --no-redact keeps them', async (t) => {
  const req =
    'POST /v1beta/models/g:streamGenerateContent?alt=sse&key=AIzaSECRET HTTP/1.1\r\nHost: g.example\r\nAuthorization: Bearer sk-secret\r\n' +
    'x-api-key: sk-ant-1\r\nx-goog-api-key: AIzaSECRET\r\nCookie: a=b\r\nContent-Length: 0\r\n\r\n';
  const res = 'HTTP/1.1 200 OK\r\nSet-Cookie: s=1\r\nSet-Cookie: t=2\r\nContent-Length: 0\r\n\r\n';
  const evs = new Conv().req(req).res(res).req(req).res(res).run();
  const [a, b] = of(evs, 'request');
  const text = JSON.stringify(evs);
  for (const s of ['sk-secret', 'sk-ant-1', 'AIzaSECRET', 'a=b', 's=1', 't=2'])
    t.notOk(text.includes(s), `${s} not in output`);
  t.match(a!.headers.authorization, /^\[REDACTED sha256:[0-9a-f]{8}\]$/);
  t.equal(a!.headers.authorization, b!.headers.authorization, 'same key, same fingerprint');
  t.not(a!.headers.authorization, a!.headers['x-api-key'], 'different keys differ');
  t.equal(
    new URL(a!.path, 'http://x').searchParams.get('key'),
    a!.headers['x-goog-api-key'],
    'query key and header fingerprint alike',
  );
  t.equal(new URL(a!.path, 'http://x').searchParams.get('alt'), 'sse', 'other parameters kept');
  t.equal(of(evs, 'response')[0]!.headers['set-cookie'].split('\n').length, 2);
  const raw = new Conv().req(req).res(res).run({ redact: false });
  t.equal(of(raw, 'request')[0]!.headers.authorization, 'Bearer sk-secret');
  t.match(of(raw, 'request')[0]!.path, /key=AIzaSECRET/);
});

t.test('secrets in bodies, SSE and WebSocket messages are redacted; --no-redact keeps them', async (t) => {
  const tavily = 'tvly-dev-Q1w2E3r4T5y6U7i8O9p0AsDfGhJk';
  const github = 'ghp_' + 'a1B2c3D4e5'.repeat(3) + 'f6G7h8';
  const anthropic = 'sk-ant-api03-' + 'x9Y8z7W6v5'.repeat(9) + 'abAA';
  const reqBody = JSON.stringify({
    model: 'm',
    messages: [{ role: 'user', content: `use ${github}` }],
    tools: [{ name: 'search', input: { api_key: tavily, query: 'q' } }],
  });
  const sse = `data: {"type":"response.created","response":{"instructions":"key ${anthropic}"}}\n\ndata: {"delta":"hello"}\n\n`;
  const mask = (b: Buffer) =>
    Buffer.concat([Buffer.from([0x81, 0x80 | 126, b.length >> 8, b.length & 255, 0, 0, 0, 0]), b]);
  const wsText = Buffer.from(JSON.stringify({ type: 'response.create', apiKey: tavily }));
  const conv = () =>
    new Conv()
      .req(POST('/v1/messages', reqBody))
      .res(
        `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: ${Buffer.byteLength(sse)}\r\n\r\n${sse}`,
      )
      .req('GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n')
      .res('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')
      .req(mask(wsText));
  const evs = conv().run();
  const text = JSON.stringify(evs);
  for (const k of [tavily, github, anthropic]) t.notOk(text.includes(k), `${k.slice(0, 8)}… not in output`);
  const rq = JSON.parse(body(of(evs, 'request')[0]!).toString());
  t.match(
    rq.tools[0].input.api_key,
    /^\[REDACTED sha256:[0-9a-f]{8}\]$/,
    'the body is still JSON, the key field fingerprinted',
  );
  t.equal(rq.tools[0].input.query, 'q');
  t.equal(
    JSON.parse(body(of(evs, 'ws')[0]!).toString()).apiKey,
    rq.tools[0].input.api_key,
    'same key, same fingerprint',
  );
  t.equal(of(evs, 'sse')[1]!.data, '{"delta":"hello"}');
  const raw = JSON.stringify(conv().run({ redact: false }));
  for (const k of [tavily, github, anthropic]) t.ok(raw.includes(k), `--no-redact keeps ${k.slice(0, 8)}…`);
});

t.test('any split of the same bytes parses the same', async (t) => {
  const sse = 'event: a\r\ndata: é€😀 multi-byte\r\n\r\ndata: x\rdata: y\r\r\n'.repeat(5);
  const sseRes = `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n${Buffer.byteLength(sse).toString(16)};ext=1\r\n${sse}\r\n0\r\nT: v\r\n\r\n`;
  const reqs = Buffer.from(POST('/a', '{"q":"ü"}') + 'GET /b HTTP/1.1\r\nHost: h\r\n\r\n');
  const ress = Buffer.concat([Buffer.from(sseRes), Buffer.from(OK('plain ü'))]);
  const strip = (evs: Ev[]) => evs.map(({ ts, start_ts, latency_ms, ttft_ms, ...rest }) => rest);
  const whole = strip(new Conv().req(reqs).res(ress).run());
  t.equal(whole.length, 2 + 1 + 10 + 1);
  for (let seed = 1; seed <= 200; seed++) {
    const rnd = prng(seed);
    const max = 1 + Math.floor(rnd() * 40);
    const got = strip(
      new Conv()
        .req(reqs, splitPoints(reqs.length, rnd, max))
        .res(ress, splitPoints(ress.length, rnd, max))
        .run(),
    );
    t.same(got, whole, `seed ${seed}`);
    if (t.passing() === false) break;
  }
});

t.test('a connection picked up mid-way resynchronises; a dropped connection resumes in step', async (t) => {
  const conv = new Conv().req(POST('/a', 'aaaa')).res(OK('one')).req(POST('/b', 'bbbb')).res(OK('two'));
  const tailOnly = conv.events.filter((e) => !(e.seq === 0));
  const evs = runHttp(tailOnly) as Ev[];
  t.same(
    of(evs, 'request').map((e) => e.path),
    ['/b'],
  );
  t.same(
    of(evs, 'response').map((e) => body(e).toString()),
    ['two'],
  );

  const out: Ev[] = [];
  const st = new HttpStage({ idleTimeoutS: 1 }, (e) => out.push(e));
  const half = conv.events.length / 2;
  for (const e of conv.events.slice(0, half)) st.write(e);
  st.tick(Date.now() * 1000 + 5e6);
  t.equal(st.connections, 0);
  for (const e of conv.events.slice(half)) st.write(e);
  st.end();
  t.same(
    of(out, 'response').map((e) => body(e).toString()),
    ['one', 'two'],
  );
  t.equal(of(out, 'unparsed').length, 0);
});
