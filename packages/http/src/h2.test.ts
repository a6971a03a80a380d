import http2 from 'node:http2';
import { createRequire } from 'node:module';
import net from 'node:net';
import zlib from 'node:zlib';
import { decodePayload, type Payload, type SslDataEvent } from '@agentsight/events';
import t from 'tap';
import { HpackDecoder, huffmanDecode, STATIC_TABLE } from './hpack.js';
import { prng, runHttp, splitPoints, sslEvents } from './synth.js';

type Ev = Record<string, any>;
const require = createRequire(import.meta.url);
// An independent HPACK encoder, as a reference for the decoder.
const hpackjs = require('hpack.js') as {
  compressor: {
    create(o: { table: { size: number } }): {
      write(h: Array<{ name: string; value: string; huffman?: boolean; neverIndex?: boolean }>): void;
      read(): Buffer | null;
    };
  };
};

function encode(
  c: ReturnType<typeof hpackjs.compressor.create>,
  headers: Array<[string, string]>,
  huffman: boolean,
): Buffer {
  c.write(headers.map(([name, value]) => ({ name, value, huffman })));
  const parts: Buffer[] = [];
  for (let b = c.read(); b; b = c.read()) parts.push(b);
  return Buffer.concat(parts);
}

t.test('HPACK: static table agrees with hpack.js; blocks from an independent encoder decode', async (t) => {
  const ref = require('hpack.js/lib/hpack/static-table.js') as { table: Array<{ name: string; value: string }> };
  t.same(
    STATIC_TABLE.map(([n, v]) => [n, v]),
    ref.table.map((e) => [e.name, e.value]),
  );
  const rnd = prng(5);
  for (const huffman of [false, true]) {
    const enc = hpackjs.compressor.create({ table: { size: 4096 } });
    const dec = new HpackDecoder();
    for (let i = 0; i < 200; i++) {
      // Repeats exercise the dynamic table; random values exercise eviction and Huffman.
      const headers: Array<[string, string]> = [
        [':method', 'POST'],
        [':path', `/v1/messages?i=${i % 7}`],
        [':authority', 'api.anthropic.com'],
        [
          'x-random',
          Array.from({ length: Math.floor(rnd() * 300) }, () => String.fromCharCode(32 + Math.floor(rnd() * 95))).join(
            '',
          ),
        ],
        ['content-type', 'application/json'],
        ['x-n', String(i)],
      ];
      t.same(dec.decode(encode(enc, headers, huffman)), headers, `block ${i} huffman=${huffman}`);
      if (!t.passing()) return;
    }
    t.ok(dec.tableEntries > 0, 'dynamic table in use');
  }
});

t.test('HPACK: RFC 7541 C.4 example (requests with Huffman)', async (t) => {
  const dec = new HpackDecoder();
  const hex = (s: string) => Buffer.from(s.replace(/\s/g, ''), 'hex');
  t.same(dec.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')), [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
  ]);
  t.same(dec.decode(hex('8286 84be 5886 a8eb 1064 9cbf')), [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':path', '/'],
    [':authority', 'www.example.com'],
    ['cache-control', 'no-cache'],
  ]);
  t.same(dec.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')), [
    [':method', 'GET'],
    [':scheme', 'https'],
    [':path', '/index.html'],
    [':authority', 'www.example.com'],
    ['custom-key', 'custom-value'],
  ]);
  t.equal(dec.tableSize, 164, 'table size as in the RFC');
  t.equal(huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff')).toString(), 'www.example.com');
  t.throws(() => huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f400')), /padding/);
  t.throws(() => dec.decode(hex('ff ff ff ff ff 0f')), /integer|index/);
  t.throws(() => dec.decode(hex('c8')), /not in the table/);
});

/**
 * A real HTTP/2 exchange between Node's http2 client and server (nghttp2 on both ends:
 * Huffman, dynamic table reuse, interleaved streams), tapped by a TCP relay that records
 * each direction's chunks as they passed, like SSL_read/SSL_write would see them.
 */
async function recordH2(
  run: (client: http2.ClientHttp2Session) => Promise<void>,
  handler: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
) {
  const server = http2.createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const chunks: Array<{ dir: 'write' | 'read'; data: Buffer }> = [];
  const relay = net.createServer((c) => {
    const up = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
    c.on('data', (d: Buffer) => {
      chunks.push({ dir: 'write', data: Buffer.from(d) });
      up.write(d);
    });
    up.on('data', (d: Buffer) => {
      chunks.push({ dir: 'read', data: Buffer.from(d) });
      c.write(d);
    });
    c.on('end', () => up.end());
    up.on('end', () => c.end());
    c.on('error', () => {});
    up.on('error', () => {});
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const client = http2.connect(`http://127.0.0.1:${(relay.address() as net.AddressInfo).port}`);
  try {
    await run(client);
  } finally {
    client.close();
    await new Promise((r) => setTimeout(r, 50));
    relay.close();
    server.close();
  }
  const seq = { write: 0, read: 0 };
  let ts = 1_700_000_000_000_000;
  const events: SslDataEvent[] = [];
  for (const c of chunks) {
    events.push(sslEvents(c.data, { conn: 'h2c', dir: c.dir, seq: seq[c.dir]++, ts })[0]!);
    ts += 1000;
  }
  return events;
}

function request(
  client: http2.ClientHttp2Session,
  path: string,
  body: string,
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const s = client.request({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/json',
      authorization: 'Bearer sk-h2-secret',
      'x-request-tag': 'same-every-time',
    });
    const parts: Buffer[] = [];
    let status = 0;
    s.on('response', (h) => {
      status = Number(h[':status']);
    });
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => resolve({ status, body: Buffer.concat(parts) }));
    s.on('error', reject);
    s.end(body);
  });
}

const SSE = (i: number) =>
  Array.from(
    { length: 8 },
    (_, k) => `event: delta\ndata: {"stream":${i},"k":${k},"text":"héllo ${'x'.repeat(k * 50)}"}\n\n`,
  );

t.test('HTTP/2: concurrent streams from a real client and server', async (t) => {
  const N = 6;
  const events = await recordH2(
    async (client) => {
      const results = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          request(
            client,
            i % 2 ? `/v1/messages?n=${i}` : '/v1/chat/completions',
            JSON.stringify({ i, model: 'm', stream: i % 2 === 1 }),
          ),
        ),
      );
      t.same(
        results.map((r) => r.status),
        Array(N).fill(200),
      );
    },
    (req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        const { i, stream } = JSON.parse(Buffer.concat(parts).toString()) as { i: number; stream: boolean };
        if (!stream) {
          const gz = zlib.gzipSync(JSON.stringify({ id: i, text: 'plain '.repeat(100) }));
          res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
          res.end(gz);
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        // Written with pauses so that streams interleave on the connection.
        const msgs = SSE(i);
        let k = 0;
        const next = () => {
          if (k < msgs.length) {
            res.write(msgs[k++]);
            setTimeout(next, 2);
          } else res.end();
        };
        next();
      });
    },
  );
  const out = runHttp(events) as Ev[];
  t.equal(out.filter((e) => e.type === 'unparsed').length, 0, 'nothing unparsed');
  const reqs = out.filter((e) => e.type === 'request');
  const ress = out.filter((e) => e.type === 'response');
  t.equal(reqs.length, N);
  t.equal(ress.length, N);
  const byId = new Map(reqs.map((r) => [r.id, r]));
  for (const r of reqs) {
    t.equal(r.protocol, 'h2');
    t.equal(r.method, 'POST');
    t.match(r.host, /^127\.0\.0\.1:\d+$/);
    t.match(r.headers.authorization, /^\[REDACTED sha256:/, 'redacted in h2 too');
    t.equal(r.headers['x-request-tag'], 'same-every-time', 'a header repeated through the dynamic table');
  }
  for (const res of ress) {
    const rq = byId.get(res.req)!;
    t.ok(rq, 'paired with a request of this connection');
    const { i, stream } = JSON.parse(decodePayload(rq as Payload).toString());
    t.equal(rq.path, stream ? `/v1/messages?n=${i}` : '/v1/chat/completions');
    if (stream) {
      const sses = out.filter((e) => e.type === 'sse' && e.req === res.req);
      t.same(
        sses.map((e) => `event: ${e.event}\ndata: ${e.data}\n\n`),
        SSE(i),
        `stream ${i}: every SSE message, in order`,
      );
      t.equal(res.sse_count, 8);
    } else {
      t.same(
        JSON.parse(decodePayload(res as Payload).toString()),
        { id: i, text: 'plain '.repeat(100) },
        `stream ${i}: gzip body decoded`,
      );
      t.ok(res.raw_size < res.body_size);
    }
  }
  const order = out.filter((e) => e.type === 'sse').map((e) => e.req);
  const runs = order.filter((r, k) => k === 0 || r !== order[k - 1]).length;
  t.ok(
    runs > new Set(order).size,
    `streams interleaved on the connection (${runs} runs over ${new Set(order).size} streams)`,
  );
  // The same bytes cut differently give the same events.
  const strip = (evs: Ev[]) => evs.map(({ ts, start_ts, latency_ms, ttft_ms, ...rest }) => rest);
  const whole = strip(out);
  for (let seed = 1; seed <= 10; seed++) {
    const rnd = prng(seed);
    const resplit: SslDataEvent[] = [];
    const seq = { write: 0, read: 0 };
    for (const e of events) {
      const b = decodePayload(e);
      for (const p of sslEvents(b, {
        conn: e.conn,
        dir: e.dir,
        seq: seq[e.dir],
        cuts: splitPoints(b.length, rnd, 1 + Math.floor(rnd() * 30)),
      })) {
        resplit.push(p);
        seq[e.dir]++;
      }
    }
    // Sort is by arrival: the pieces stay in the order of the original chunks.
    t.same(
      strip(runHttp(resplit) as Ev[])
        .map((e) => JSON.stringify(e))
        .sort(),
      whole.map((e) => JSON.stringify(e)).sort(),
      `split seed ${seed}`,
    );
  }
});

t.test('HTTP/2: a reset stream is reported incomplete; lost data is reported once', async (t) => {
  const events = await recordH2(
    async (client) => {
      await new Promise<void>((resolve) => {
        const s = client.request({ ':method': 'GET', ':path': '/slow' });
        s.on('response', () => {
          setTimeout(() => s.close(http2.constants.NGHTTP2_CANCEL), 20);
        });
        s.on('close', () => resolve());
        s.on('error', () => resolve());
        s.end();
      });
      await request(client, '/after', '{}');
    },
    (req, res) => {
      if (req.url === '/slow') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: first\n\n');
        return;
      }
      res.end('ok');
    },
  );
  const out = runHttp(events) as Ev[];
  const slow = out.find((e) => e.type === 'response' && out.find((r) => r.id === e.req)?.path === '/slow');
  t.match(slow, { status: 200, sse_count: 1, incomplete: /stream reset \(error code 8\)/ });
  const after = out.find((e) => e.type === 'response' && out.find((r) => r.id === e.req)?.path === '/after');
  t.equal(decodePayload(after as Payload).toString(), 'ok', 'other streams unaffected');

  // Drop one server chunk in the middle: the HPACK state is gone, reported once.
  const reads = events.filter((e) => e.dir === 'read');
  const lossy = events.filter((e) => e !== reads[2]);
  const out2 = runHttp(lossy) as Ev[];
  const un = out2.filter((e) => e.type === 'unparsed');
  t.equal(un.length, 1);
  t.match(un[0]!.reason, /HTTP\/2 \(server side\): capture lost data/);
});
