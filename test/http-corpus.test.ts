// as-http against the 42 recorded responses of ../shared/corpus/llm-streams. Each is
// framed as the real exchange (its .request.json POSTed to the API's path, then the .http
// bytes), fed as `ssl` events in one piece and split at seeded random byte boundaries:
// the events must be identical. What they carry is checked against independent readers:
// Node's own HTTP client (llhttp) fetching the same bytes from a replay server gives the
// de-chunked body and headers, and the openai SDK's SSE decoder gives the SSE messages.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { decodePayload, type Payload } from '@agentsight/events';
import { prng, runHttp, splitPoints, sslEvents } from '@agentsight/http';
import { _iterSSEMessages } from 'openai/core/streaming';
import t from 'tap';
import { CORPUS } from './lib/run.js';

type Ev = Record<string, any>;

interface Case {
  dir: string;
  name: string;
  base: string;
}

function cases(): Case[] {
  const out: Case[] = [];
  if (!fs.existsSync(CORPUS)) return out;
  for (const dir of fs.readdirSync(CORPUS).sort()) {
    const d = path.join(CORPUS, dir);
    if (!fs.statSync(d).isDirectory()) continue;
    for (const f of fs.readdirSync(d).sort())
      if (f.endsWith('.http')) out.push({ dir, name: f.slice(0, -5), base: path.join(d, f.slice(0, -5)) });
  }
  return out;
}

function requestBytes(c: Case, response: Buffer): Buffer {
  const body = fs.readFileSync(`${c.base}.request.json`);
  const exp = JSON.parse(fs.readFileSync(`${c.base}.expected.json`, 'utf8')) as { model?: string };
  const sse = /content-type: text\/event-stream/i.test(response.subarray(0, 2000).toString('latin1'));
  let host = 'api.openai.com';
  let p = c.dir === 'openai-responses' ? '/v1/responses' : '/v1/chat/completions';
  let auth = 'authorization: Bearer sk-proj-TESTKEY';
  if (c.dir === 'anthropic') {
    host = 'api.anthropic.com';
    p = '/v1/messages';
    auth = 'x-api-key: sk-ant-TESTKEY';
  }
  if (c.dir === 'gemini') {
    host = 'generativelanguage.googleapis.com';
    p = `/v1beta/models/${exp.model ?? 'gemini-2.5-flash'}:${sse ? 'streamGenerateContent?alt=sse&' : 'generateContent?'}key=AIzaTESTKEY`;
    auth = 'x-goog-api-key: AIzaTESTKEY';
  }
  return Buffer.concat([
    Buffer.from(
      `POST ${p} HTTP/1.1\r\nhost: ${host}\r\n${auth}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
    ),
    body,
  ]);
}

function feed(req: Buffer, res: Buffer, rnd?: () => number, max = 64): Ev[] {
  const w = sslEvents(req, {
    conn: 'k1',
    dir: 'write',
    cuts: rnd ? splitPoints(req.length, rnd, max) : undefined,
    ts: 1_700_000_000_000_000,
  });
  const r = sslEvents(res, {
    conn: 'k1',
    dir: 'read',
    cuts: rnd ? splitPoints(res.length, rnd, max) : undefined,
    ts: 1_700_000_001_000_000,
  });
  return runHttp([...w, ...r]) as Ev[];
}

/** Times depend on which event carried the last byte; everything else must not. */
const strip = (evs: Ev[]) => evs.map(({ ts, start_ts, latency_ms, ttft_ms, ...rest }) => rest);

/** Serve `bytes` once, byte for byte, and read them back with Node's HTTP client. */
async function reference(bytes: Buffer): Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }> {
  const server = net.createServer((s) => {
    s.once('data', () => s.end(bytes));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    return await new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/', agent: false, timeout: 10000 },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(parts) }));
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('reference fetch timed out')));
      req.on('error', reject);
      req.end('{}');
    });
  } finally {
    server.close();
  }
}

async function referenceSse(body: Buffer): Promise<Array<{ event: string | null; data: string }>> {
  const out: Array<{ event: string | null; data: string }> = [];
  for await (const m of _iterSSEMessages(new Response(body), new AbortController()))
    out.push({ event: m.event, data: m.data });
  return out;
}

/** Compress as a streaming server does: flushed every few hundred bytes. */
async function compress(ce: 'gzip' | 'deflate' | 'br', body: Buffer): Promise<Buffer> {
  const z = ce === 'gzip' ? zlib.createGzip() : ce === 'deflate' ? zlib.createDeflate() : zlib.createBrotliCompress();
  const parts: Buffer[] = [];
  z.on('data', (d: Buffer) => parts.push(d));
  for (let off = 0; off < body.length; off += 300) {
    z.write(body.subarray(off, off + 300));
    await new Promise<void>((r) =>
      z.flush(ce === 'br' ? zlib.constants.BROTLI_OPERATION_FLUSH : zlib.constants.Z_SYNC_FLUSH, () => r()),
    );
  }
  await new Promise<void>((r) => z.end(() => r()));
  return Buffer.concat(parts);
}

const all = cases();
if (all.length === 0)
  t.test('corpus', { skip: `corpus not found at ${CORPUS}: cannot run the corpus test` }, async () => {});
else t.equal(all.length, 42, 'the whole corpus');

for (const c of all) {
  t.test(`${c.dir}/${c.name}`, async (t) => {
    const res = fs.readFileSync(`${c.base}.http`);
    const req = requestBytes(c, res);
    const whole = feed(req, res);
    const ref = await reference(res);

    const [rq] = whole.filter((e) => e.type === 'request');
    const [rs] = whole.filter((e) => e.type === 'response');
    t.equal(whole.filter((e) => e.type === 'unparsed').length, 0, 'nothing unparsed');
    t.ok(rq && rs, 'one request and one response');
    t.equal(rs!.req, rq!.id, 'paired');
    t.ok(decodePayload(rq as Payload).equals(fs.readFileSync(`${c.base}.request.json`)), 'request body exact');
    t.notMatch(JSON.stringify(rq), /TESTKEY/, 'key redacted');
    t.equal(rs!.status, 200);
    t.equal(rs!.body_size, ref.body.length, 'body size as Node decodes it');
    for (const [k, v] of Object.entries(ref.headers)) {
      t.equal(rs!.headers[k], Array.isArray(v) ? v.join(', ') : v, `header ${k}`);
    }

    const sses = whole.filter((e) => e.type === 'sse');
    if (String(ref.headers['content-type']).startsWith('text/event-stream')) {
      const want = await referenceSse(ref.body);
      t.ok(want.length > 0);
      t.same(
        sses.map((e) => ({ event: e.event ?? null, data: e.data })),
        want,
        'SSE messages as the openai SDK decodes them',
      );
      t.equal(rs!.sse_count, want.length);
      t.same(
        sses.map((e) => e.n),
        [...want.keys()],
      );
      t.type(sses[0]!.ttft_ms, 'number');
      t.notOk('data' in rs!, 'no body on an SSE response');
    } else {
      t.equal(sses.length, 0);
      t.ok(decodePayload(rs as Payload).equals(ref.body), 'body as Node decodes it');
    }

    // Same bytes, cut anywhere: the same events, for many cuts.
    const want = strip(whole);
    let bad = 0;
    for (let seed = 1; seed <= 30; seed++) {
      const rnd = prng(seed * 7919 + c.name.length);
      const max = [1, 3, 17, 200, 4096][seed % 5]!;
      const got = strip(feed(req, res, rnd, max));
      if (JSON.stringify(got) !== JSON.stringify(want)) {
        bad++;
        if (bad === 1) t.same(got, want, `split seed ${seed} (max piece ${max})`);
      }
    }
    t.equal(bad, 0, 'all 30 random splits give identical events');

    // The same body sent compressed (flushed every few hundred bytes, as a streaming
    // server does) and chunked: the same messages and bodies come out.
    const head = res
      .subarray(0, res.indexOf('\r\n\r\n'))
      .toString('latin1')
      .split('\r\n')
      .filter((l) => !/^(content-length|transfer-encoding):/i.test(l));
    for (const ce of ['gzip', 'deflate', 'br', 'zstd'] as const) {
      let enc: Buffer;
      if (ce === 'zstd') {
        // Node 20 has no zstd encoder; the CLI makes one frame (not flushed as it goes).
        const r = spawnSync('zstd', ['-q', '-c'], { input: ref.body });
        if (r.status !== 0) {
          t.fail('zstd CLI missing (apt-get install zstd)');
          continue;
        }
        enc = r.stdout;
      } else enc = await compress(ce, ref.body);
      const rnd = prng(enc.length);
      const cuts = [0, ...splitPoints(enc.length, rnd, 2000), enc.length];
      const chunked = cuts
        .slice(1)
        .map((c, i) =>
          Buffer.concat([
            Buffer.from(`${(c - cuts[i]!).toString(16)}\r\n`),
            enc.subarray(cuts[i]!, c),
            Buffer.from('\r\n'),
          ]),
        );
      const res2 = Buffer.concat([
        Buffer.from([...head, `content-encoding: ${ce}`, 'transfer-encoding: chunked', '', ''].join('\r\n'), 'latin1'),
        ...chunked,
        Buffer.from('0\r\n\r\n'),
      ]);
      const got = feed(req, res2, prng(3), 500);
      const [r2] = got.filter((e) => e.type === 'response');
      t.equal(r2!.raw_size, enc.length, `${ce}: raw size`);
      t.notOk(r2!.decode_error, `${ce}: decoded`);
      const norm = (evs: Ev[]) => strip(evs).map(({ headers, raw_size, ...rest }) => rest);
      t.same(norm(got), norm(whole), `${ce}: same events as uncompressed`);
    }
  });
}
