import t from 'tap';
import { jsonCall, streamCall } from './testing.js';

const chunk = (delta: object, finish: string | null = null, extra: object = {}) => ({
  data: {
    id: 'cc1',
    object: 'chat.completion.chunk',
    model: 'gpt-x',
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...extra,
  },
});
const done = { data: '[DONE]' };
const req = {
  model: 'gpt-req',
  messages: [
    { role: 'developer', content: 'rules' },
    { role: 'system', content: 'more' },
    { role: 'user', content: 'hi' },
  ],
  tools: [{ type: 'function', function: { name: 'f' } }],
  stream: true,
  temperature: 0.2,
};

t.test('parallel tool calls by index, interleaved, ids and names from the first delta', async (t) => {
  const c = streamCall('/v1/chat/completions', req, [
    chunk({ role: 'assistant', content: null }),
    chunk({
      tool_calls: [
        { index: 0, id: 'call_a', type: 'function', function: { name: 'get', arguments: '' } },
        { index: 1, id: 'call_b', type: 'function', function: { name: 'put', arguments: '{"k"' } },
      ],
    }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":"Z' } }] }),
    chunk({ tool_calls: [{ index: 1, id: '', function: { arguments: ': 1}' } }] }),
    chunk({ tool_calls: [{ index: 0, function: { arguments: 'ürich"}' } }] }),
    chunk({}, 'tool_calls'),
    {
      data: {
        id: 'cc1',
        object: 'chat.completion.chunk',
        model: 'gpt-x',
        choices: [],
        usage: { prompt_tokens: 9, completion_tokens: 4, prompt_tokens_details: { cached_tokens: 0 } },
      },
    },
    done,
  ]);
  t.same(c.response.tool_calls, [
    { id: 'call_a', name: 'get', arguments: { city: 'Zürich' } },
    { id: 'call_b', name: 'put', arguments: { k: 1 } },
  ]);
  t.equal(c.response.finish_reason, 'tool_calls');
  t.same(c.usage, { input_tokens: 9, output_tokens: 4, cache_read_input_tokens: 0 });
  t.equal(c.request.system, 'rules\n\nmore', 'developer and system messages');
  t.same(c.request.params, { temperature: 0.2 });
  t.equal(c.incomplete, undefined);
});

t.test('reasoning (reasoning_content or reasoning), refusal, errors, cut streams', async (t) => {
  const r = streamCall(
    '/api/v1/chat/completions',
    req,
    [chunk({ reasoning: 'hm' }), chunk({ reasoning_content: 'm.' }), chunk({ content: 'A' }), chunk({}, 'stop'), done],
    { host: 'openrouter.ai' },
  );
  t.equal(r.response.thinking, 'hmm.');
  t.equal(r.provider, 'openrouter');
  const ref = streamCall('/v1/chat/completions', req, [
    chunk({ refusal: "I can't" }),
    chunk({ refusal: ' help.' }),
    chunk({}, 'stop'),
    done,
  ]);
  t.equal(ref.response.refusal, "I can't help.");
  const err = streamCall('/v1/chat/completions', req, [
    chunk({ content: 'par' }),
    { data: { error: { message: 'server overloaded', type: 'server_error' } } },
  ]);
  t.same(err.error, { message: 'server overloaded', type: 'server_error' });
  t.equal(err.incomplete, 'error in stream');
  t.equal(err.response.text, 'par');
  const cut = streamCall('/v1/chat/completions', req, [chunk({ content: 'abc' })]);
  t.equal(cut.incomplete, 'stream ended before finish_reason');
  const noDone = streamCall('/v1/chat/completions', req, [chunk({ content: 'abc' }), chunk({}, 'stop')]);
  t.equal(noDone.incomplete, undefined, 'a finish_reason without [DONE] (some compatible servers) is complete');
});

t.test('non-streaming, Ollama object arguments, HTTP errors', async (t) => {
  const c = jsonCall(
    '/v1/chat/completions',
    { ...req, stream: false },
    200,
    {
      id: 'x',
      model: 'llama3',
      choices: [
        {
          index: 0,
          finish_reason: 'tool_calls',
          message: {
            role: 'assistant',
            content: 'sure',
            tool_calls: [{ id: 't', type: 'function', function: { name: 'f', arguments: { a: [1] } } }],
          },
        },
      ],
      usage: { prompt_tokens: 1, completion_tokens: 2, completion_tokens_details: { reasoning_tokens: 0 } },
    },
    { host: 'localhost:11434' },
  );
  t.equal(c.provider, 'ollama');
  t.equal(c.response.text, 'sure');
  t.same(c.response.tool_calls, [{ id: 't', name: 'f', arguments: { a: [1] } }]);
  t.same(c.usage, { input_tokens: 1, output_tokens: 2, reasoning_tokens: 0 });
  const e = jsonCall('/v1/chat/completions', req, 401, {
    error: { message: 'Incorrect API key', code: 'invalid_api_key' },
  });
  t.same(e.error, { message: 'Incorrect API key', code: 'invalid_api_key' });
  t.equal(e.status, 401);
  t.equal(e.incomplete, undefined);
  const nonjson = jsonCall('/v1/chat/completions', req, 200, 'not json at all');
  t.equal(nonjson.incomplete, 'response body is not JSON');
  const bad = jsonCall('/v1/chat/completions', req, 200, {
    id: 'y',
    choices: [
      {
        index: 0,
        finish_reason: 'stop',
        message: { content: 'x', tool_calls: [{ function: { name: 'g', arguments: '{not json' } }] },
      },
    ],
  });
  t.same(
    bad.response.tool_calls,
    [{ id: null, name: 'g', arguments: '{not json' }],
    'arguments that are not JSON are kept raw',
  );
});
