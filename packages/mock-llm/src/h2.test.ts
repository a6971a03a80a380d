import fs from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import t from 'tap';
import { type MockLlm, startMockLlm } from './server.js';

interface Got {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  /** The RST_STREAM code the stream closed with (0: a normal end). */
  rst: number;
}

function h2post(s: http2.ClientHttp2Session, path: string, body: unknown): Promise<Got> {
  return new Promise((resolve) => {
    const r = s.request({ ':method': 'POST', ':path': path, 'content-type': 'application/json' });
    const parts: Buffer[] = [];
    let status = 0;
    let headers: http2.IncomingHttpHeaders = {};
    r.on('response', (h) => {
      status = Number(h[':status']);
      headers = h;
    });
    r.on('data', (d: Buffer) => parts.push(d));
    r.on('error', () => {
      /* seen as rstCode at close */
    });
    r.on('close', () => resolve({ status, headers, body: Buffer.concat(parts), rst: r.rstCode ?? 0 }));
    r.end(JSON.stringify(body));
  });
}

function h1post(mock: MockLlm, path: string, body: unknown): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `${mock.url}${path}`,
      {
        method: 'POST',
        ca: fs.readFileSync(mock.caPath),
        headers: { 'content-type': 'application/json' },
        agent: false,
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (d: Buffer) => parts.push(d));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts), rst: 0 }),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

// Request ids and timestamps differ from one request to the next; the rest must not.
const shape = (b: Buffer) => b.toString().replace(/\d+/g, '0');

const MSG = (stream: boolean, text: string) => ({
  model: 'claude-mock',
  max_tokens: 50,
  stream,
  messages: [{ role: 'user', content: text }],
});

t.test('HTTP/2: the same responses as HTTP/1.1, streams concurrent on one session', async (t) => {
  const mock = await startMockLlm({ http2: true, chunkSize: 3 });
  t.teardown(() => mock.close());
  const s = http2.connect(mock.url, { ca: fs.readFileSync(mock.caPath) });
  t.teardown(() => s.close());
  const [a, b, c] = await Promise.all([
    h2post(s, '/v1/messages', MSG(true, 'one')),
    h2post(s, '/v1/messages', MSG(false, 'two')),
    h2post(s, '/v1/chat/completions', { model: 'gpt-mock', stream: true, messages: [{ role: 'user', content: 'x' }] }),
  ]);
  t.equal(s.alpnProtocol, 'h2', 'ALPN chose h2');
  t.equal(mock.connections, 1, 'one connection');
  for (const g of [a, b, c]) {
    t.equal(g.status, 200);
    t.equal(g.rst, 0, 'ended normally');
  }
  t.match(a.headers['content-type'], /^text\/event-stream/);
  t.equal(a.headers['transfer-encoding'], undefined, 'no HTTP/1.1 connection headers');
  t.match(a.body.toString(), /event: message_stop/, 'SSE events as DATA, de-chunked');
  t.equal(b.headers['content-length'], String(b.body.length), 'JSON with its length');
  const a1 = await h1post(mock, '/v1/messages', MSG(true, 'one'));
  const b1 = await h1post(mock, '/v1/messages', MSG(false, 'two'));
  t.equal(shape(a.body), shape(a1.body), 'streamed body as over HTTP/1.1');
  t.equal(shape(b.body), shape(b1.body), 'JSON body as over HTTP/1.1');
  t.same(
    mock.requests.slice(0, 3).map((r) => [r.api, r.stream]),
    [
      ['anthropic.messages', true],
      ['anthropic.messages', false],
      ['openai.chat', true],
    ],
    'recorded as model calls',
  );
  t.equal(mock.requests[0]!.headers.host, `127.0.0.1:${mock.port}`, ':authority as host');
});

t.test('HTTP/2: errors, a cut stream is reset, a non-model path', async (t) => {
  const mock = await startMockLlm({ http2: true });
  t.teardown(() => mock.close());
  const s = http2.connect(mock.url, { ca: fs.readFileSync(mock.caPath) });
  t.teardown(() => s.close());
  mock.enqueue({ error: { status: 429, message: 'slow down' } }, { text: 'abcdefghijklmnop', cutAfterChunks: 2 });
  const e = await h2post(s, '/v1/messages', MSG(false, 'x'));
  t.equal(e.status, 429);
  t.match(e.body.toString(), /slow down/);
  const cut = await h2post(s, '/v1/messages', MSG(true, 'y'));
  t.equal(cut.status, 200);
  t.equal(cut.rst, http2.constants.NGHTTP2_INTERNAL_ERROR, 'the stream is reset');
  t.notMatch(cut.body.toString(), /message_stop/, 'before its end');
  const nf = await h2post(s, '/nowhere', {});
  t.equal(nf.status, 404);
  t.equal((await h2post(s, '/v1/messages', MSG(false, 'after'))).status, 200, 'the session still serves');
});

t.test('without http2 the mock offers HTTP/1.1 only', async (t) => {
  const mock = await startMockLlm();
  t.teardown(() => mock.close());
  const s = http2.connect(mock.url, { ca: fs.readFileSync(mock.caPath) });
  const err = await new Promise<Error>((r) => s.on('error', r));
  s.destroy();
  t.ok(err, `an h2-only client is refused (${err.message})`);
});
