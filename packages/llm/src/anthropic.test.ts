import t from 'tap';
import { AnthropicAccumulator } from './anthropic.js';
import { jsonCall, streamCall } from './testing.js';

const start = (usage: object = { input_tokens: 5, output_tokens: 1 }) => ({
  event: 'message_start',
  data: { type: 'message_start', message: { id: 'msg_1', model: 'claude-x', content: [], stop_reason: null, usage } },
});
const block = (index: number, content_block: object) => ({
  event: 'content_block_start',
  data: { type: 'content_block_start', index, content_block },
});
const delta = (index: number, d: object) => ({
  event: 'content_block_delta',
  data: { type: 'content_block_delta', index, delta: d },
});
const mdelta = (stop: string, usage: object) => ({
  event: 'message_delta',
  data: { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage },
});
const stop = { event: 'message_stop', data: { type: 'message_stop' } };
const req = {
  model: 'claude-req',
  max_tokens: 100,
  system: [{ type: 'text', text: 'You are Claude Code' }],
  messages: [
    { role: 'user', content: 'hi' },
    { role: 'system', content: 'reminder' },
  ],
  tools: [{ name: 'Bash' }],
  temperature: 0,
  stream: true,
};

t.test('request fields: system, messages (system-role turn kept in place), tools, params', async (t) => {
  const c = streamCall(
    '/v1/messages?beta=true',
    req,
    [
      start(),
      block(0, { type: 'text', text: '' }),
      delta(0, { type: 'text_delta', text: 'ok' }),
      mdelta('end_turn', { output_tokens: 3 }),
      stop,
    ],
    { host: 'api.anthropic.com' },
  );
  t.same(c.request.system, req.system);
  t.same(c.request.messages, req.messages, 'Claude Code appends a role:system turn after the user turn: kept as sent');
  t.same(c.request.tools, req.tools);
  t.same(c.request.params, { max_tokens: 100, temperature: 0 });
  t.equal(c.request.stream, true);
  t.equal(c.model, 'claude-x', "the response's model wins over the request's");
  t.equal(c.response.id, 'msg_1');
  t.same(c.usage, { input_tokens: 5, output_tokens: 3 });
  t.equal(c.incomplete, undefined);
});

t.test('thinking, tool_use with streamed input, usage revisions and thinking_tokens', async (t) => {
  const c = streamCall('/v1/messages', req, [
    start({ input_tokens: 5, output_tokens: 1, cache_read_input_tokens: 100, cache_creation_input_tokens: 0 }),
    block(0, { type: 'thinking', thinking: '', signature: '' }),
    delta(0, { type: 'thinking_delta', thinking: 'Let me ' }),
    delta(0, { type: 'thinking_delta', thinking: 'think.' }),
    delta(0, { type: 'signature_delta', signature: 'abc' }),
    block(1, { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: {} }),
    delta(1, { type: 'input_json_delta', partial_json: '{"command": "ls' }),
    delta(1, { type: 'input_json_delta', partial_json: ' -la"}' }),
    block(2, { type: 'tool_use', id: 'toolu_2', name: 'Noop', input: {} }),
    mdelta('tool_use', { output_tokens: 40, input_tokens: 7, output_tokens_details: { thinking_tokens: 12 } }),
    stop,
  ]);
  t.equal(c.response.thinking, 'Let me think.');
  t.same(c.response.tool_calls, [
    { id: 'toolu_1', name: 'Bash', arguments: { command: 'ls -la' } },
    { id: 'toolu_2', name: 'Noop', arguments: {} },
  ]);
  t.same(c.usage, {
    input_tokens: 7,
    output_tokens: 40,
    cache_read_input_tokens: 100,
    cache_creation_input_tokens: 0,
    reasoning_tokens: 12,
  });
  t.equal(c.response.finish_reason, 'tool_use');
});

t.test('cut, erroring and invalid streams: one call, marked incomplete, with what arrived', async (t) => {
  const cut = streamCall(
    '/v1/messages',
    req,
    [start(), block(0, { type: 'text', text: '' }), delta(0, { type: 'text_delta', text: 'partial' })],
    { incomplete: 'connection closed' },
  );
  t.equal(cut.response.text, 'partial');
  t.match(cut.incomplete, /cut short: connection closed/);
  const noStop = streamCall('/v1/messages', req, [
    start(),
    block(0, { type: 'text', text: '' }),
    delta(0, { type: 'text_delta', text: 'x' }),
  ]);
  t.equal(
    noStop.incomplete,
    'stream ended before message_stop',
    'as-http saw a complete body but the message never stopped',
  );
  const err = streamCall('/v1/messages', req, [
    start(),
    block(0, { type: 'text', text: '' }),
    delta(0, { type: 'text_delta', text: 'y' }),
    { event: 'error', data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } },
  ]);
  t.same(err.error, { type: 'overloaded_error', message: 'Overloaded' });
  t.equal(err.incomplete, 'error event');
  t.equal(err.response.text, 'y');
  const bad = streamCall('/v1/messages', req, [
    start(),
    block(0, { type: 'text', text: '' }),
    { event: 'content_block_delta', data: '{"type":"content_block_delta","index":0,"delta":{"type":"text_del' },
    delta(0, { type: 'text_delta', text: 'z' }),
    mdelta('end_turn', { output_tokens: 2 }),
    stop,
  ]);
  t.equal(bad.response.text, 'z', 'the bad message is skipped, the rest kept');
  t.match(bad.incomplete, /invalid JSON in SSE data/);
});

t.test('non-streaming bodies and HTTP errors', async (t) => {
  const ok = jsonCall('/v1/messages', { ...req, stream: false }, 200, {
    id: 'msg_2',
    type: 'message',
    model: 'claude-y',
    content: [
      { type: 'text', text: 'a' },
      { type: 'tool_use', id: 't1', name: 'f', input: { x: 1 } },
      { type: 'text', text: 'b' },
    ],
    stop_reason: 'tool_use',
    usage: { input_tokens: 1, output_tokens: 2 },
  });
  t.equal(ok.response.text, 'ab');
  t.same(ok.response.tool_calls, [{ id: 't1', name: 'f', arguments: { x: 1 } }]);
  t.equal(ok.request.stream, false);
  t.equal(ok.incomplete, undefined);
  const e = jsonCall('/v1/messages', req, 429, {
    type: 'error',
    error: { type: 'rate_limit_error', message: 'slow down' },
  });
  t.equal(e.status, 429);
  t.same(e.error, { type: 'rate_limit_error', message: 'slow down' });
  t.equal(e.incomplete, undefined, 'an error answer is a complete exchange');
  t.equal(e.model, 'claude-req', "no response model: the request's");
  const html = jsonCall('/v1/messages', req, 502, '<html>Bad gateway</html>');
  t.equal(html.error, '<html>Bad gateway</html>', 'a non-JSON error body is kept as text');
});

t.test('the accumulator never throws on garbage', async (t) => {
  const a = new AnthropicAccumulator();
  for (const d of [
    '',
    'null',
    '[]',
    '{"type":"content_block_delta","index":99,"delta":{"type":"text_delta","text":"x"}}',
    '{"type":"content_block_start","index":-1}',
    '{"type":"message_delta"}',
    '{"type":"message_start","message":7}',
  ])
    a.sse(undefined, d);
  a.body(null);
  const r = a.result();
  t.equal(r.text, '');
  t.ok(r.incomplete);
});
