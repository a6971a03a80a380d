import t from 'tap';
import { runHarness } from './harness-child.js';
import type { Api, Reply } from './reply.js';
import type { Job, JobResult } from './sdk-harness.js';
import { startMockLlm } from './server.js';

// Scripted replies rendered by the mock, read by the official SDKs (in a child Node that
// trusts the mock's CA through NODE_EXTRA_CA_CERTS, as a user's agent would).

const APIS: Api[] = ['anthropic.messages', 'openai.chat', 'openai.responses', 'gemini'];

function body(api: Api, said: string, stream: boolean): Record<string, unknown> {
  switch (api) {
    case 'anthropic.messages':
      return { model: 'claude-test', max_tokens: 256, messages: [{ role: 'user', content: said }], stream };
    case 'openai.chat':
      return {
        model: 'gpt-test',
        messages: [{ role: 'user', content: said }],
        stream,
        ...(stream ? { stream_options: { include_usage: true } } : {}),
      };
    case 'openai.responses':
      return { model: 'gpt-test', input: [{ role: 'user', content: said }], stream };
    case 'gemini':
      return { contents: [{ role: 'user', parts: [{ text: said }] }] };
  }
}

interface Case {
  name: string;
  reply?: Reply;
  said?: string;
  streamOnly?: boolean;
  check: (t: T, r: JobResult, api: Api, stream: boolean) => void;
}
type T = Parameters<Parameters<typeof t.test>[0]>[0];

const TEXT = 'Héllo 🌍, a reply long enough to arrive in several deltas.';
const THINK = 'First I consider the question; then I answer it.';

const CASES: Case[] = [
  {
    name: 'text, thinking and usage',
    reply: {
      text: TEXT,
      thinking: THINK,
      model: 'model-from-script',
      chunkSize: 5,
      usage: { input_tokens: 11, output_tokens: 22, cache_read_input_tokens: 5, reasoning_tokens: 7 },
    },
    check(t, r, api, stream) {
      if (!t.ok(r.ok, 'SDK accepted it') || !r.ok) return t.comment(JSON.stringify(r));
      t.equal(r.result.text, TEXT);
      t.equal(r.result.thinking, THINK);
      t.same(r.result.tool_calls, []);
      t.equal(r.result.model, 'model-from-script');
      t.equal(r.result.usage.input_tokens, 11);
      t.equal(r.result.usage.output_tokens, 22);
      t.equal(r.result.usage.cache_read_input_tokens, 5);
      t.equal(r.result.usage.reasoning_tokens, 7);
      t.equal(
        r.result.finish_reason,
        { 'anthropic.messages': 'end_turn', 'openai.chat': 'stop', 'openai.responses': 'completed', gemini: 'STOP' }[
          api
        ],
      );
      // 58 characters of text in 5-character deltas: the stream really was incremental.
      if (stream) t.ok(r.events >= 12, `many stream events (${r.events})`);
    },
  },
  {
    name: 'parallel tool calls',
    reply: {
      text: 'Let me look.',
      toolCalls: [
        { name: 'get_weather', arguments: { city: 'Paris', days: [1, 2] } },
        { id: 'call_given', name: 'list_files', arguments: {} },
      ],
      chunkSize: 4,
    },
    check(t, r, api) {
      if (!t.ok(r.ok, 'SDK accepted it') || !r.ok) return t.comment(JSON.stringify(r));
      t.equal(r.result.text, 'Let me look.');
      t.same(
        r.result.tool_calls.map((c) => [c.name, c.arguments]),
        [
          ['get_weather', { city: 'Paris', days: [1, 2] }],
          ['list_files', {}],
        ],
      );
      t.equal(r.result.tool_calls[1]!.id, 'call_given', 'a scripted id is kept');
      if (api === 'gemini') t.equal(r.result.tool_calls[0]!.id, null, 'Gemini sends no id unless scripted');
      else t.match(r.result.tool_calls[0]!.id, /^(toolu|call)_/, 'provider-style id');
      t.equal(
        r.result.finish_reason,
        {
          'anthropic.messages': 'tool_use',
          'openai.chat': 'tool_calls',
          'openai.responses': 'completed',
          gemini: 'STOP',
        }[api],
      );
    },
  },
  {
    name: 'default reply echoes the last user message',
    said: 'What is 2+2, mock?',
    check(t, r) {
      if (!t.ok(r.ok, 'SDK accepted it') || !r.ok) return t.comment(JSON.stringify(r));
      t.equal(r.result.text, 'Mock reply to: "What is 2+2, mock?"');
      t.ok(r.result.usage.input_tokens! > 0 && r.result.usage.output_tokens! > 0, 'usage estimated');
    },
  },
  {
    name: 'max tokens',
    reply: { text: 'cut short', stopReason: 'length' },
    check(t, r, api) {
      if (!t.ok(r.ok, 'SDK accepted it') || !r.ok) return t.comment(JSON.stringify(r));
      t.equal(
        r.result.finish_reason,
        {
          'anthropic.messages': 'max_tokens',
          'openai.chat': 'length',
          'openai.responses': 'incomplete',
          gemini: 'MAX_TOKENS',
        }[api],
      );
    },
  },
  ...(
    [
      [400, 'BadRequestError'],
      [429, 'RateLimitError'],
      [500, 'InternalServerError'],
    ] as const
  ).map(
    ([status, cls]): Case => ({
      name: `HTTP ${status}`,
      reply: { error: { status, message: `scripted ${status}` } },
      check(t, r, api) {
        if (!t.notOk(r.ok, 'SDK rejected it') || r.ok) return;
        t.equal(r.status, status, 'status reaches the SDK');
        t.equal(r.error_class, api === 'gemini' ? 'ApiError' : cls, "the SDK's error class for that status");
        t.match(r.error, `scripted ${status}`, 'the message reaches the SDK');
      },
    }),
  ),
  {
    name: 'mid-stream error',
    streamOnly: true,
    reply: { text: TEXT, chunkSize: 4, midStreamError: { afterChunks: 4, message: 'Overloaded mid-stream' } },
    check(t, r, api) {
      if (!t.notOk(r.ok, 'SDK rejected it') || r.ok) return;
      t.match(r.error, 'Overloaded mid-stream', 'the in-stream error reaches the caller');
      if (api !== 'gemini') t.equal(r.error_class, 'APIError');
    },
  },
  {
    name: 'connection cut mid-stream',
    streamOnly: true,
    reply: { text: TEXT, chunkSize: 4, cutAfterChunks: 3 },
    check(t, r) {
      t.notOk(r.ok, 'SDK does not report a truncated stream as a complete reply');
      // undici reports a body that ends before its terminating chunk as "terminated".
      if (!r.ok) t.match(r.error, /terminated/, `${r.error_class}: ${r.error}`);
    },
  },
];

t.test('official SDKs against scripted replies over HTTPS', async (t) => {
  const mock = await startMockLlm();
  t.teardown(() => mock.close());
  const plan: Array<{ c: Case; api: Api; stream: boolean }> = [];
  const jobs: Job[] = [];
  for (const c of CASES) {
    for (const api of APIS) {
      for (const stream of [true, false]) {
        if (c.streamOnly && !stream) continue;
        plan.push({ c, api, stream });
        jobs.push({
          api,
          baseURL: mock.url,
          stream,
          body: body(api, c.said ?? 'hello', stream),
          ...(api === 'gemini' ? { model: 'gemini-test' } : {}),
        });
        mock.enqueue(c.reply ?? {});
      }
    }
  }
  const results = await runHarness(jobs, mock.caPath);
  t.equal(results.length, jobs.length);
  t.equal(mock.pending(), 0, 'each SDK call consumed exactly one reply (no retries)');
  plan.forEach(({ c, api, stream }, i) => {
    t.test(`${c.name}: ${api} ${stream ? 'stream' : 'JSON'}`, async (tt) => {
      c.check(tt, results[i]!, api, stream);
    });
  });
  // The SDKs reuse connections: far fewer TLS sessions than requests would show as
  // separate sockets, but the requests themselves must all have arrived as model calls.
  t.equal(mock.requests.filter((r) => r.api !== null).length, jobs.length);
  // Only the deliberately cut streams force a new connection; the rest reuse kept-alive ones.
  t.ok(mock.connections < jobs.length / 2, `SDKs reused connections (${mock.connections} for ${jobs.length} requests)`);
  const paths = new Set(mock.requests.map((r) => r.path.replace(/models\/[^:]+/, 'models/M')));
  t.same(
    [...paths].sort(),
    [
      '/v1/chat/completions',
      '/v1/messages',
      '/v1/responses',
      '/v1beta/models/M:generateContent',
      '/v1beta/models/M:streamGenerateContent',
    ].sort(),
  );
});

t.test('an agent loop: the tool result comes back and the default reply mentions it', async (t) => {
  const mock = await startMockLlm({
    script: [{ toolCalls: [{ id: 'toolu_1', name: 'read_file', arguments: { path: '/etc/hostname' } }] }],
  });
  t.teardown(() => mock.close());
  const first = await runHarness(
    [
      {
        api: 'anthropic.messages',
        baseURL: mock.url,
        stream: true,
        body: body('anthropic.messages', 'read my hostname', true),
      },
    ],
    mock.caPath,
  );
  t.ok(first[0]!.ok && first[0]!.result.tool_calls[0]!.name === 'read_file', 'the model asks for a tool');
  const followUp = {
    model: 'claude-test',
    max_tokens: 256,
    stream: true,
    messages: [
      { role: 'user', content: 'read my hostname' },
      {
        role: 'assistant',
        content: [{ type: 'tool_use', id: 'toolu_1', name: 'read_file', input: { path: '/etc/hostname' } }],
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'box-42' }] },
    ],
  };
  const second = await runHarness(
    [{ api: 'anthropic.messages', baseURL: mock.url, stream: true, body: followUp }],
    mock.caPath,
  );
  t.ok(second[0]!.ok);
  if (second[0]!.ok) t.equal(second[0]!.result.text, 'Mock reply to: "tool result: box-42"');
  t.same(
    (mock.requests[1]!.json as { messages: unknown[] }).messages,
    followUp.messages,
    'the mock recorded what the SDK sent',
  );
});

t.test('without the CA the SDK refuses the certificate', async (t) => {
  const mock = await startMockLlm();
  t.teardown(() => mock.close());
  const [r] = await runHarness(
    [{ api: 'openai.chat', baseURL: mock.url, stream: false, body: body('openai.chat', 'hi', false) }],
    null,
  );
  t.notOk(r!.ok, 'TLS verification fails without the CA');
  t.equal(mock.requests.length, 0, 'no request got through');
});
