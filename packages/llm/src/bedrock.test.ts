import t from 'tap';
import { messagesOf, toolResultsOf } from './call.js';
import { detect } from './detect.js';
import { callsOf, httpReq, httpRes, jsonCall, runMerge, sseEvents, streamCall } from './testing.js';

const HOST = 'bedrock-runtime.us-east-1.amazonaws.com';
const MODEL = 'us.anthropic.claude-sonnet-4-5-20250929-v1:0';
const enc = encodeURIComponent(MODEL);
const anthropicReq = {
  anthropic_version: 'bedrock-2023-05-31',
  max_tokens: 100,
  system: [{ type: 'text', text: 'sys' }],
  messages: [{ role: 'user', content: 'hi' }],
  tools: [{ name: 'Bash' }],
};
const anthropicMsg = {
  id: 'msg_bdrk_1',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5-20250929',
  content: [
    { type: 'text', text: 'ok' },
    { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls' } },
  ],
  stop_reason: 'tool_use',
  usage: { input_tokens: 10, output_tokens: 4, cache_read_input_tokens: 5 },
};
// invoke-with-response-stream: each Anthropic event's JSON, base64 in a `chunk`.
const chunk = (ev: object) => ({ event: 'chunk', data: { bytes: Buffer.from(JSON.stringify(ev)).toString('base64') } });

t.test("detect: the four operations, model from the path; other vendors' invoke bodies stay http", async (t) => {
  for (const op of ['invoke', 'invoke-with-response-stream']) {
    const d = detect('POST', `/model/${enc}/${op}`, HOST, anthropicReq);
    t.equal(d?.module.api, 'anthropic.messages', op);
    t.equal(d?.provider, 'bedrock');
  }
  for (const op of ['converse', 'converse-stream'])
    t.equal(
      detect('POST', `/model/${enc}/${op}`, '127.0.0.1:8443', { messages: [] })?.module.api,
      'bedrock.converse',
      op,
    );
  t.equal(
    detect('POST', `/model/${enc}/converse`, '127.0.0.1:8443', { messages: [] })?.provider,
    'bedrock',
    "a host no row names: the module's provider",
  );
  t.equal(detect('POST', '/model/amazon.titan-text-express-v1/invoke', HOST, { inputText: 'hi' }), null);
  t.equal(detect('GET', `/model/${enc}/invoke`, HOST), null);
});

t.test('invoke: Anthropic bodies, model from the path', async (t) => {
  const c = jsonCall(`/model/${enc}/invoke`, anthropicReq, 200, anthropicMsg, { host: HOST });
  t.equal(c.provider, 'bedrock');
  t.equal(c.api, 'anthropic.messages');
  t.equal(c.model, MODEL, 'the Bedrock id of the path, not the vendor name in the response');
  t.equal(c.request.stream, false);
  t.same(c.request.messages, anthropicReq.messages);
  t.same(c.request.params, { anthropic_version: 'bedrock-2023-05-31', max_tokens: 100 });
  t.equal(c.response.text, 'ok');
  t.same(c.response.tool_calls, [{ id: 'toolu_1', name: 'Bash', arguments: { command: 'ls' } }]);
  t.same(c.usage, { input_tokens: 10, output_tokens: 4, cache_read_input_tokens: 5 });
  t.equal(c.incomplete, undefined);
});

t.test('invoke-with-response-stream: chunks unwrapped into the Anthropic stream', async (t) => {
  const c = streamCall(
    `/model/${enc}/invoke-with-response-stream`,
    anthropicReq,
    [
      chunk({
        type: 'message_start',
        message: {
          id: 'msg_bdrk_2',
          model: 'claude-sonnet-4-5-20250929',
          content: [],
          usage: { input_tokens: 7, output_tokens: 1 },
        },
      }),
      chunk({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
      chunk({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'hel' } }),
      chunk({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'lo' } }),
      chunk({ type: 'content_block_stop', index: 0 }),
      chunk({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } }),
      chunk({ type: 'message_stop', 'amazon-bedrock-invocationMetrics': { inputTokenCount: 7, outputTokenCount: 2 } }),
    ],
    { host: HOST },
  );
  t.equal(c.request.stream, true);
  t.equal(c.provider, 'bedrock');
  t.equal(c.response.text, 'hello');
  t.equal(c.response.id, 'msg_bdrk_2');
  t.same(c.usage, { input_tokens: 7, output_tokens: 2 });
  t.equal(c.response.finish_reason, 'end_turn');
  t.equal(c.incomplete, undefined);

  const e = streamCall(
    `/model/${enc}/invoke-with-response-stream`,
    anthropicReq,
    [
      chunk({ type: 'message_start', message: { id: 'm', content: [], usage: {} } }),
      { event: 'throttlingException', data: { message: 'Too many requests' } },
    ],
    { host: HOST },
  );
  t.same(e.error, { type: 'throttlingException', message: 'Too many requests' });
  t.equal(e.incomplete, 'error event');
});

const converseReq = {
  system: [{ text: 'sys' }],
  messages: [
    { role: 'user', content: [{ text: 'list files' }] },
    { role: 'assistant', content: [{ toolUse: { toolUseId: 'tu_1', name: 'ls', input: { path: '.' } } }] },
    { role: 'user', content: [{ toolResult: { toolUseId: 'tu_1', content: [{ text: 'a.txt' }], status: 'error' } }] },
  ],
  inferenceConfig: { maxTokens: 50 },
  toolConfig: { tools: [{ toolSpec: { name: 'ls', inputSchema: { json: {} } } }], toolChoice: { auto: {} } },
};

t.test("converse: Bedrock's own format, request history normalized", async (t) => {
  const c = jsonCall(
    `/model/${enc}/converse`,
    converseReq,
    200,
    {
      output: {
        message: {
          role: 'assistant',
          content: [
            { reasoningContent: { reasoningText: { text: 'hmm' } } },
            { text: 'Done.' },
            { toolUse: { toolUseId: 'tu_2', name: 'cat', input: { f: 'a.txt' } } },
          ],
        },
      },
      stopReason: 'tool_use',
      usage: { inputTokens: 20, outputTokens: 6, totalTokens: 26, cacheReadInputTokens: 3 },
      metrics: { latencyMs: 100 },
    },
    { host: HOST },
  );
  t.equal(c.api, 'bedrock.converse');
  t.equal(c.model, MODEL);
  t.same(c.request.tools, converseReq.toolConfig.tools);
  t.same(c.request.params, { inferenceConfig: { maxTokens: 50 }, 'toolConfig.toolChoice': { auto: {} } });
  t.equal(c.response.text, 'Done.');
  t.equal(c.response.thinking, 'hmm');
  t.same(c.response.tool_calls, [{ id: 'tu_2', name: 'cat', arguments: { f: 'a.txt' } }]);
  t.equal(c.response.finish_reason, 'tool_use');
  t.same(c.usage, { input_tokens: 20, output_tokens: 6, cache_read_input_tokens: 3 });
  t.equal(c.incomplete, undefined);
  const msgs = messagesOf('bedrock.converse', converseReq.messages);
  t.same(msgs[1], {
    role: 'assistant',
    parts: [{ type: 'tool_call', id: 'tu_1', name: 'ls', arguments: { path: '.' } }],
  });
  t.same(
    toolResultsOf('bedrock.converse', converseReq.messages).map((r) => [r.id, r.result, r.isError]),
    [['tu_1', 'a.txt', true]],
  );

  const err = jsonCall(
    `/model/${enc}/converse`,
    converseReq,
    400,
    { message: 'The provided model identifier is invalid.' },
    { host: HOST },
  );
  t.same(err.error, { message: 'The provided model identifier is invalid.' });
  t.equal(err.incomplete, undefined);
});

t.test('converse-stream: events by name, metadata usage after messageStop', async (t) => {
  const c = streamCall(
    `/model/${enc}/converse-stream`,
    converseReq,
    [
      { event: 'messageStart', data: { role: 'assistant', p: 'abc' } },
      { event: 'contentBlockDelta', data: { contentBlockIndex: 0, delta: { text: 'Look' } } },
      { event: 'contentBlockDelta', data: { contentBlockIndex: 0, delta: { text: 'ing.' } } },
      { event: 'contentBlockStop', data: { contentBlockIndex: 0 } },
      {
        event: 'contentBlockStart',
        data: { contentBlockIndex: 1, start: { toolUse: { toolUseId: 'tu_3', name: 'ls' } } },
      },
      { event: 'contentBlockDelta', data: { contentBlockIndex: 1, delta: { toolUse: { input: '{"path":' } } } },
      { event: 'contentBlockDelta', data: { contentBlockIndex: 1, delta: { toolUse: { input: '"/"}' } } } },
      { event: 'contentBlockStop', data: { contentBlockIndex: 1 } },
      { event: 'messageStop', data: { stopReason: 'tool_use' } },
      {
        event: 'metadata',
        data: { usage: { inputTokens: 9, outputTokens: 5, totalTokens: 14 }, metrics: { latencyMs: 50 } },
      },
    ],
    { host: HOST },
  );
  t.equal(c.request.stream, true);
  t.equal(c.response.text, 'Looking.');
  t.same(c.response.tool_calls, [{ id: 'tu_3', name: 'ls', arguments: { path: '/' } }]);
  t.same(c.usage, { input_tokens: 9, output_tokens: 5 });
  t.equal(c.incomplete, undefined);

  const cut = streamCall(
    `/model/${enc}/converse-stream`,
    converseReq,
    [
      { event: 'messageStart', data: { role: 'assistant' } },
      { event: 'contentBlockDelta', data: { contentBlockIndex: 0, delta: { text: 'Lo' } } },
    ],
    { host: HOST },
  );
  t.equal(cut.incomplete, 'stream ended before messageStop');
});

t.test('a stream frame dropped by as-http (decode_error) makes the call incomplete', async (t) => {
  const msgs = [
    { event: 'messageStart', data: { role: 'assistant' } },
    { event: 'messageStop', data: { stopReason: 'end_turn' } },
  ];
  const res = {
    ...httpRes('c#0', 200, undefined, { sse: 2 }),
    decode_error: 'event-stream message 1: message CRC mismatch',
  };
  const [c] = callsOf(
    runMerge([
      httpReq('c#0', `/model/${enc}/converse-stream`, converseReq, { host: HOST }),
      ...sseEvents('c#0', msgs),
      res,
    ]),
  );
  t.equal(c!.incomplete, 'response stream: event-stream message 1: message CRC mismatch');
});
