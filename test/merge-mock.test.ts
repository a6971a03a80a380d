// as-merge against real HTTP traffic from the mock LLM server (whose four API renderings
// are checked against the official SDKs in packages/mock-llm): requests written on a raw
// TCP socket, both directions' bytes recorded, then fed as ssl events through HttpStage ->
// MergeStage. Every API, streaming and JSON, with text (multi-byte), thinking, tool calls,
// usage, an HTTP error, an error event mid-stream, and a connection cut mid-stream.

import net from 'node:net';
import type { AgentEvent, LlmCallEvent } from '@agentsight/events';
import { HttpStage, prng, splitPoints, sslEvents } from '@agentsight/http';
import { MergeStage } from '@agentsight/llm';
import { type Reply, startMockLlm } from '@agentsight/mock-llm';
import t from 'tap';

/** One exchange over a fresh connection; resolves with the bytes each way when the server closes. */
function exchange(port: number, path: string, body: object): Promise<{ req: Buffer; res: Buffer }> {
  const b = Buffer.from(JSON.stringify(body));
  const req = Buffer.concat([
    Buffer.from(
      `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ${b.length}\r\n\r\n`,
    ),
    b,
  ]);
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(req));
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('close', () => resolve({ req, res: Buffer.concat(parts) }));
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? undefined : reject(e)));
    s.setTimeout(10_000, () => {
      s.destroy();
      reject(new Error('mock exchange timed out'));
    });
  });
}

function merge(x: { req: Buffer; res: Buffer }, seed: number): LlmCallEvent[] {
  const r = prng(seed);
  const out: AgentEvent[] = [];
  const m = new MergeStage({}, (e) => out.push(e));
  const h = new HttpStage({}, (e) => m.write(e));
  for (const e of sslEvents(x.req, { conn: 'k', dir: 'write', cuts: splitPoints(x.req.length, r, 90) })) h.write(e);
  for (const e of sslEvents(x.res, {
    conn: 'k',
    dir: 'read',
    cuts: splitPoints(x.res.length, r, 90),
    ts: 1_900_000_000_000_000,
  }))
    h.write(e);
  h.end();
  m.end();
  return out.filter((e): e is LlmCallEvent => e.src === 'llm' && e.type === 'call');
}

const APIS = [
  {
    api: 'anthropic.messages',
    path: () => '/v1/messages',
    body: (stream: boolean) => ({
      model: 'claude-mock',
      max_tokens: 99,
      messages: [{ role: 'user', content: 'hi' }],
      stream,
    }),
  },
  {
    api: 'openai.chat',
    path: () => '/v1/chat/completions',
    body: (stream: boolean) => ({
      model: 'gpt-mock',
      messages: [{ role: 'user', content: 'hi' }],
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
    }),
  },
  {
    api: 'openai.responses',
    path: () => '/v1/responses',
    body: (stream: boolean) => ({ model: 'gpt-mock', input: 'hi', stream }),
  },
  {
    api: 'gemini',
    path: (stream: boolean) =>
      `/v1beta/models/gemini-mock:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`,
    body: () => ({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }),
  },
] as const;

const TEXT = 'Grüße, 世界! 😀 Ça va? "quoted" \\ back\nslash';

t.test('every API, streaming and JSON: text, thinking, tool calls, usage', async (t) => {
  const mock = await startMockLlm({ tls: false, chunkSize: 3, writeSize: 7 });
  t.teardown(() => mock.close());
  for (const a of APIS) {
    for (const stream of [true, false]) {
      const reply: Reply = {
        text: TEXT,
        thinking: 'Thinking… ½',
        model: 'served-model',
        toolCalls: [
          { id: 'call_1', name: 'shell', arguments: { cmd: 'ls -la ~', n: [1, 2] } },
          { id: 'call_2', name: 'noop', arguments: {} },
        ],
        usage: { input_tokens: 11, output_tokens: 22, reasoning_tokens: 3 },
      };
      mock.enqueue(reply);
      const x = await exchange(mock.port, a.path(stream), a.body(stream));
      for (const seed of [1, 2]) {
        const calls = merge(x, seed);
        t.equal(calls.length, 1, `${a.api} stream=${stream}: one call`);
        const c = calls[0]!;
        const label = `${a.api} stream=${stream} seed=${seed}`;
        t.equal(c.api, a.api, label);
        t.equal(c.status, 200, label);
        t.equal(c.incomplete, undefined, `${label}: complete`);
        t.equal(c.request.stream, stream, label);
        t.equal(c.response.text, TEXT, `${label}: text`);
        t.equal(c.response.thinking, 'Thinking… ½', `${label}: thinking`);
        t.equal(c.model, 'served-model', `${label}: model`);
        t.same(
          c.response.tool_calls.map((tc) => [tc.name, tc.arguments]),
          [
            ['shell', { cmd: 'ls -la ~', n: [1, 2] }],
            ['noop', {}],
          ],
          `${label}: tool calls`,
        );
        t.match(c.usage, { input_tokens: 11, output_tokens: 22, reasoning_tokens: 3 }, `${label}: usage`);
      }
    }
  }
});

t.test('every API: HTTP error, error event mid-stream, connection cut mid-stream', async (t) => {
  const mock = await startMockLlm({ tls: false, chunkSize: 4 });
  t.teardown(() => mock.close());
  for (const a of APIS) {
    mock.enqueue({ error: { status: 429, message: 'rate limited, slow down' } });
    const e = merge(await exchange(mock.port, a.path(true), a.body(true)), 3);
    t.equal(e.length, 1);
    t.equal(e[0]!.status, 429, `${a.api}: status`);
    t.match(JSON.stringify(e[0]!.error), /rate limited, slow down/, `${a.api}: the API's error body`);
    t.equal(e[0]!.incomplete, undefined, `${a.api}: an error answer is complete`);

    mock.enqueue({
      text: 'abcdefghijklmnopqrstuvwxyz',
      midStreamError: { afterChunks: 4, message: 'overloaded mid-stream' },
    });
    const m = merge(await exchange(mock.port, a.path(true), a.body(true)), 4);
    t.equal(m.length, 1);
    t.match(JSON.stringify(m[0]!.error), /overloaded mid-stream/, `${a.api}: mid-stream error kept`);
    t.ok(m[0]!.incomplete, `${a.api}: mid-stream error marks the call incomplete (${m[0]!.incomplete})`);

    mock.enqueue({ text: 'abcdefghijklmnopqrstuvwxyz', cutAfterChunks: 5 });
    const c = merge(await exchange(mock.port, a.path(true), a.body(true)), 5);
    t.equal(c.length, 1);
    t.ok(c[0]!.incomplete, `${a.api}: cut stream is incomplete (${c[0]!.incomplete})`);
    t.ok(
      c[0]!.response.text.length > 0 && 'abcdefghijklmnopqrstuvwxyz'.startsWith(c[0]!.response.text),
      `${a.api}: what arrived is kept ("${c[0]!.response.text}")`,
    );
  }
});
