import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import zlib from 'node:zlib';
import t from 'tap';
import { type MockLlm, startMockLlm } from './server.js';

/**
 * A raw client: send bytes, collect everything until the server has sent `until(buf)`
 * or closed. The mock's byte-level promises (verbatim replay, chunk boundaries, keep-alive,
 * cuts) can only be checked below any HTTP library.
 */
async function raw(
  mock: MockLlm,
  send: string | Buffer | Array<string | Buffer>,
  until?: (b: Buffer) => boolean,
  timeoutMs = 5000,
): Promise<{ data: Buffer; closed: boolean; reads: number }> {
  const sock: net.Socket = mock.url.startsWith('https')
    ? tls.connect({ host: '127.0.0.1', port: mock.port, ca: fs.readFileSync(mock.caPath), servername: 'localhost' })
    : net.connect({ host: '127.0.0.1', port: mock.port });
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let reads = 0;
    let closed = false;
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ data: Buffer.concat(parts), closed, reads });
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(parts), closed, reads });
    };
    sock.on('data', (d: Buffer) => {
      parts.push(d);
      reads++;
      if (until?.(Buffer.concat(parts))) finish();
    });
    sock.on('close', () => {
      closed = true;
      finish();
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.once(mock.url.startsWith('https') ? 'secureConnect' : 'connect', async () => {
      for (const s of Array.isArray(send) ? send : [send]) {
        sock.write(s);
        await new Promise((r) => setTimeout(r, 30));
      }
    });
  });
}

const post = (p: string, body: unknown, extra = '') => {
  const b = JSON.stringify(body);
  return `POST ${p} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(b)}\r\n${extra}\r\n${b}`;
};
const anthropicReq = (stream: boolean, said = 'hi') =>
  post('/v1/messages', { model: 'claude-x', max_tokens: 10, stream, messages: [{ role: 'user', content: said }] });

/** Decode an HTTP/1.1 chunked body, returning the chunk payloads as sent. */
function chunksOf(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', pos);
    if (eol < 0) throw new Error('truncated chunked body');
    const size = parseInt(body.subarray(pos, eol).toString(), 16);
    if (size === 0) return out;
    out.push(body.subarray(eol + 2, eol + 2 + size));
    pos = eol + 2 + size + 2;
  }
}

function split(resp: Buffer): { head: string; body: Buffer } {
  const i = resp.indexOf('\r\n\r\n');
  return { head: resp.subarray(0, i).toString('latin1'), body: resp.subarray(i + 4) };
}

const CORPUS =
  process.env.AGENTSIGHT_CORPUS ??
  path.resolve(new URL('.', import.meta.url).pathname, '../../../../shared/corpus/llm-streams');

t.test('replay writes the recorded bytes verbatim, twice on one kept-alive connection', async (t) => {
  const files = ['anthropic/text.http', 'openai-chat/json-text.http'].map((f) => path.join(CORPUS, f));
  if (!files.every((f) => fs.existsSync(f))) {
    t.fail(`corpus missing at ${CORPUS}`);
    return;
  }
  const mock = await startMockLlm();
  t.teardown(() => mock.close());
  for (const f of files) mock.replay(f);
  const want = Buffer.concat(files.map((f) => fs.readFileSync(f)));
  const r = await raw(
    mock,
    [anthropicReq(true), post('/v1/chat/completions', { model: 'g', messages: [] })],
    (b) => b.length >= want.length,
  );
  t.ok(r.data.equals(want), `received exactly the ${want.length} bytes of both files`);
  t.notOk(r.closed, 'connection still open after both responses');
});

t.test('a replay that is itself split into small writes still arrives intact', async (t) => {
  const f = path.join(CORPUS, 'gemini/tool-call.http');
  if (!fs.existsSync(f)) {
    t.fail(`corpus missing at ${CORPUS}`);
    return;
  }
  const mock = await startMockLlm({ tls: false });
  t.teardown(() => mock.close());
  mock.enqueue({ replay: f, writeSize: 7, delayMs: 1 });
  const want = fs.readFileSync(f);
  const r = await raw(mock, post('/v1beta/models/m:streamGenerateContent?alt=sse', {}), (b) => b.length >= want.length);
  t.ok(r.data.equals(want));
  t.ok(r.reads > 5, `arrived in many reads (${r.reads})`);
});

t.test('pipelined requests are answered in order', async (t) => {
  const mock = await startMockLlm({ tls: false, script: [{ text: 'one' }, { text: 'two' }, { text: 'three' }] });
  t.teardown(() => mock.close());
  const r = await raw(
    mock,
    anthropicReq(false) + anthropicReq(false) + anthropicReq(false),
    (b) => (b.toString().match(/HTTP\/1\.1 200/g) ?? []).length === 3 && b.toString().includes('three"'),
  );
  const texts = [...r.data.toString().matchAll(/"text":"(\w+)"/g)].map((m) => m[1]);
  t.same(texts, ['one', 'two', 'three']);
  t.equal(mock.connections, 1, 'all on one connection');
});

t.test('SSE framing: chunked, one HTTP chunk per event, writeSize splits events', async (t) => {
  const mock = await startMockLlm({ tls: false });
  t.teardown(() => mock.close());
  mock.enqueue({ text: 'abcdefghij', chunkSize: 3 }, { text: 'abcdefghij', chunkSize: 3, writeSize: 10 });
  const done = (b: Buffer) => b.includes('0\r\n\r\n') && b.toString().endsWith('0\r\n\r\n');
  const a = split((await raw(mock, anthropicReq(true), done)).data);
  t.match(a.head, /transfer-encoding: chunked/);
  t.match(a.head, /content-type: text\/event-stream/);
  const events = chunksOf(a.body).map((c) => c.toString());
  t.ok(
    events.every((e) => /^event: \w+\ndata: .*\n\n$/s.test(e)),
    'each chunk is exactly one SSE event',
  );
  t.same(
    events.map((e) => /^event: (\w+)/.exec(e)![1]),
    [
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ],
  );
  t.same(
    events.filter((e) => e.includes('text_delta')).map((e) => JSON.parse(e.split('data: ')[1]!).delta.text),
    ['abc', 'def', 'ghi', 'j'],
  );
  const b = split((await raw(mock, anthropicReq(true), done)).data);
  const small = chunksOf(b.body);
  t.ok(
    small.every((c) => c.length <= 10),
    'no chunk over writeSize',
  );
  const noIds = (s: string) => s.replace(/mock\d{6}/g, 'mockID');
  t.equal(
    noIds(Buffer.concat(small).toString()),
    noIds(events.join('')),
    'same stream (but for the id), split differently',
  );
});

t.test('delayMs spaces events out', async (t) => {
  const mock = await startMockLlm({ tls: false, delayMs: 40 });
  t.teardown(() => mock.close());
  const start = Date.now();
  await raw(mock, anthropicReq(true), (b) => b.toString().endsWith('0\r\n\r\n'));
  const ms = Date.now() - start;
  // message_start, block start, ping, 2 deltas, stop, message_delta, message_stop: 7 gaps.
  t.ok(ms >= 7 * 40 - 10, `took ${ms} ms`);
});

t.test('delayMs delays a JSON reply before its first byte', async (t) => {
  const mock = await startMockLlm({ tls: false, script: [{ text: 'slow', delayMs: 150 }, { text: 'fast' }] });
  t.teardown(() => mock.close());
  let start = Date.now();
  await raw(mock, anthropicReq(false), (b) => b.includes('"usage"'));
  const slow = Date.now() - start;
  start = Date.now();
  await raw(mock, anthropicReq(false), (b) => b.includes('"usage"'));
  const fast = Date.now() - start;
  t.ok(slow >= 140 && fast < slow, `delayed ${slow} ms vs ${fast} ms`);
});

t.test('cutAfterChunks closes the socket mid-stream; JSON is cut mid-body', async (t) => {
  const mock = await startMockLlm({
    tls: false,
    script: [{ text: 'x'.repeat(100), chunkSize: 10, cutAfterChunks: 4 }, { cutAfterChunks: 0 }],
  });
  t.teardown(() => mock.close());
  const s = await raw(mock, anthropicReq(true));
  t.ok(s.closed, 'closed');
  t.notOk(s.data.toString().includes('0\r\n\r\n'), 'no terminating chunk');
  t.equal(chunksOfPartial(split(s.data).body), 4, 'exactly 4 events arrived');
  const j = await raw(mock, anthropicReq(false));
  const { head, body } = split(j.data);
  const len = Number(/content-length: (\d+)/.exec(head)![1]);
  t.ok(j.closed && body.length < len, `JSON body cut (${body.length} of ${len} bytes)`);
});

function chunksOfPartial(body: Buffer): number {
  let n = 0;
  let pos = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', pos);
    if (eol < 0) return n;
    const size = parseInt(body.subarray(pos, eol).toString(), 16);
    if (!(size > 0) || body.length < eol + 2 + size + 2) return n;
    n++;
    pos = eol + 2 + size + 2;
  }
}

t.test('Expect: 100-continue, chunked request bodies, Connection: close', async (t) => {
  const mock = await startMockLlm({ tls: false });
  t.teardown(() => mock.close());
  const body = JSON.stringify({ model: 'gpt-x', messages: [{ role: 'user', content: 'chunked hello' }] });
  const head =
    'POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\nexpect: 100-continue\r\nconnection: close\r\n\r\n';
  const mid = Math.floor(body.length / 2);
  const chunk = (s: string) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
  const r = await raw(mock, [head, chunk(body.slice(0, mid)), chunk(body.slice(mid)) + '0\r\n\r\n']);
  const text = r.data.toString();
  t.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/, '100 Continue, then the answer');
  t.match(text, /Mock reply to: \\"chunked hello\\"/, 'the chunked body was decoded');
  t.match(text, /connection: close/);
  t.ok(r.closed, 'the server closed the connection');
  t.equal(mock.requests[0]!.body, body);
});

t.test('requests are recorded; non-model paths do not consume replies', async (t) => {
  const mock = await startMockLlm({ tls: false, script: [{ text: 'kept for the model call' }] });
  t.teardown(() => mock.close());
  const r404 = await raw(mock, 'GET /v1/nothing HTTP/1.1\r\nhost: x\r\n\r\n', (b) => b.includes('}'));
  t.match(r404.data.toString(), /^HTTP\/1\.1 404/);
  const health = await raw(mock, 'GET /health HTTP/1.1\r\nhost: x\r\n\r\n', (b) => b.includes('}'));
  t.match(health.data.toString(), /^HTTP\/1\.1 200[\s\S]*"ok":true/);
  const r = await raw(
    mock,
    post('/v1beta/models/gemini-x:generateContent?key=k', { contents: [{ parts: [{ text: 'yo' }] }] }),
    (b) => b.includes('modelVersion'),
  );
  t.match(r.data.toString(), /kept for the model call/);
  t.equal(mock.requests.length, 3);
  t.match(mock.requests[2], {
    method: 'POST',
    api: 'gemini',
    stream: false,
    model: 'gemini-x',
    path: '/v1beta/models/gemini-x:generateContent',
  });
  t.equal(mock.requests[2]!.query.get('key'), 'k');
});

t.test('token counting and model lists answer without consuming replies; compressed bodies are decoded', async (t) => {
  const mock = await startMockLlm({ tls: false, script: [{ text: 'still queued' }] });
  t.teardown(() => mock.close());
  const ct = await raw(
    mock,
    post('/v1/messages/count_tokens', { model: 'c', messages: [{ role: 'user', content: 'count me' }] }),
    (b) => b.includes('}'),
  );
  t.match(split(ct.data).body.toString(), /^\{"input_tokens":\d+\}$/);
  const gt = await raw(mock, post('/v1beta/models/g:countTokens', { contents: [] }), (b) => b.includes('}'));
  t.match(split(gt.data).body.toString(), /^\{"totalTokens":\d+\}$/);
  const list = await raw(mock, 'GET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n', (b) => b.toString().endsWith('}'));
  const models = JSON.parse(split(list.data).body.toString()) as { data: Array<{ id: string }> };
  t.ok(models.data.some((m) => m.id === 'gpt-mock-1'));
  t.equal(mock.pending(), 1, 'the scripted reply is still queued');
  const json = JSON.stringify({ model: 'gpt-z', messages: [{ role: 'user', content: 'zipped question' }] });
  const gz = zlib.gzipSync(json);
  const head = `POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-encoding: gzip\r\ncontent-length: ${gz.length}\r\n\r\n`;
  const r = await raw(mock, Buffer.concat([Buffer.from(head), gz]), (b) => b.includes('"usage"'));
  t.match(r.data.toString(), /still queued/);
  t.equal(mock.requests.at(-1)!.body, json, 'the recorded body is the decompressed JSON');
  t.equal(mock.requests.at(-1)!.model, 'gpt-z');
});

t.test('malformed requests get a 400 and the connection is closed', async (t) => {
  const mock = await startMockLlm({ tls: false });
  t.teardown(() => mock.close());
  const r = await raw(mock, 'NONSENSE\r\n\r\n');
  t.match(r.data.toString(), /^HTTP\/1\.1 400/);
  t.ok(r.closed);
});

t.test('Gemini streamGenerateContent without alt=sse answers a JSON array', async (t) => {
  const mock = await startMockLlm({ tls: false, script: [{ text: 'abcdef', chunkSize: 2 }] });
  t.teardown(() => mock.close());
  const r = await raw(mock, post('/v1beta/models/g:streamGenerateContent', { contents: [] }), (b) =>
    b.toString().endsWith(']'),
  );
  const arr = JSON.parse(split(r.data).body.toString()) as Array<{
    candidates: Array<{ content: { parts: Array<{ text: string }> } }>;
  }>;
  t.same(
    arr.map((c) => c.candidates[0]!.content.parts[0]!.text),
    ['ab', 'cd', 'ef'],
  );
});

t.test('script function answers when the queue is empty; close() ends open connections', async (t) => {
  const mock = await startMockLlm({ tls: false, script: (req) => ({ text: `via function for ${req.model}` }) });
  mock.enqueue({ text: 'from queue' });
  const a = await raw(mock, anthropicReq(false), (b) => b.includes('"usage"'));
  const b = await raw(mock, anthropicReq(false), (b) => b.includes('"usage"'));
  t.match(a.data.toString(), /from queue/);
  t.match(b.data.toString(), /via function for claude-x/);
  const sock = net.connect(mock.port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const closed = new Promise((r) => sock.once('close', r));
  await mock.close();
  await closed;
  t.pass('closed with a connection open');
});

t.test('a port in use is an error, not a hang', async (t) => {
  const a = await startMockLlm({ tls: false });
  t.teardown(() => a.close());
  await t.rejects(startMockLlm({ tls: false, port: a.port }), { code: 'EADDRINUSE' });
});

t.test('certDir is honoured', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mock-llm-certs-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const mock = await startMockLlm({ certDir: path.join(dir, 'ca') });
  t.teardown(() => mock.close());
  t.equal(path.dirname(mock.caPath), path.join(dir, 'ca'));
  const r = await raw(mock, anthropicReq(false), (b) => b.includes('"usage"'));
  t.match(r.data.toString(), /^HTTP\/1\.1 200/);
});
