import t from 'tap';
import { jsonCall, streamCall } from './testing.js';

const ev = (type: string, o: object = {}) => ({ event: type, data: { type, ...o } });
const base = { id: 'resp_1', object: 'response', model: 'gpt-5', status: 'in_progress', output: [], usage: null };
const req = {
  model: 'gpt-req',
  instructions: 'sys',
  input: [{ role: 'user', content: 'hi' }],
  tools: [{ type: 'custom', name: 'sql' }],
  reasoning: { effort: 'low' },
  stream: true,
};

t.test('a cut stream keeps the streamed items: text, reasoning text, custom tool input', async (t) => {
  const c = streamCall(
    '/v1/responses',
    req,
    [
      ev('response.created', { response: base }),
      ev('response.output_item.added', {
        output_index: 0,
        item: { type: 'reasoning', id: 'rs', summary: [], content: [] },
      }),
      ev('response.content_part.added', {
        output_index: 0,
        content_index: 0,
        part: { type: 'reasoning_text', text: '' },
      }),
      ev('response.reasoning_text.delta', { output_index: 0, content_index: 0, delta: 'think' }),
      ev('response.output_item.added', {
        output_index: 1,
        item: { type: 'custom_tool_call', id: 'ct', call_id: 'call_1', name: 'sql', input: '' },
      }),
      ev('response.custom_tool_call_input.delta', { output_index: 1, delta: 'SELECT ' }),
      ev('response.custom_tool_call_input.delta', { output_index: 1, delta: '1' }),
      ev('response.output_item.added', {
        output_index: 2,
        item: { type: 'message', id: 'm', role: 'assistant', content: [] },
      }),
      ev('response.content_part.added', {
        output_index: 2,
        content_index: 0,
        part: { type: 'output_text', text: '', annotations: [] },
      }),
      ev('response.output_text.delta', { output_index: 2, content_index: 0, delta: 'Hel' }),
    ],
    { incomplete: 'connection reset' },
  );
  t.equal(c.response.thinking, 'think');
  t.same(c.response.tool_calls, [{ id: 'call_1', name: 'sql', arguments: 'SELECT 1' }]);
  t.equal(c.response.text, 'Hel');
  t.equal(c.response.finish_reason, 'in_progress');
  t.match(c.incomplete, /connection reset/);
  t.equal(c.request.system, 'sys');
  t.same(c.request.params, { reasoning: { effort: 'low' } });
});

t.test('response.incomplete and a complete stream without a usage object', async (t) => {
  const c = streamCall('/v1/responses', req, [
    ev('response.created', { response: base }),
    ev('response.incomplete', {
      response: {
        ...base,
        status: 'incomplete',
        incomplete_details: { reason: 'max_output_tokens' },
        output: [{ type: 'message', content: [{ type: 'output_text', text: 'cut by limit' }] }],
        usage: { input_tokens: 3, output_tokens: 9 },
      },
    }),
  ]);
  t.equal(c.response.finish_reason, 'incomplete');
  t.equal(c.response.text, 'cut by limit');
  t.same(c.usage, { input_tokens: 3, output_tokens: 9 });
  t.equal(c.incomplete, undefined, 'the exchange itself completed');
});

t.test('non-streaming body, string input, errors', async (t) => {
  const c = jsonCall('/v1/responses', { model: 'gpt-5', input: 'just text' }, 200, {
    ...base,
    status: 'completed',
    output: [{ type: 'function_call', call_id: 'c1', name: 'f', arguments: '{"a":"b"}' }],
    usage: {
      input_tokens: 1,
      output_tokens: 1,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens_details: { reasoning_tokens: 0 },
    },
  });
  t.same(c.request.messages, [{ role: 'user', content: 'just text' }]);
  t.same(c.response.tool_calls, [{ id: 'c1', name: 'f', arguments: { a: 'b' } }]);
  t.equal(c.response.finish_reason, 'completed');
  const e = jsonCall('/v1/responses', req, 400, { error: { message: 'bad', type: 'invalid_request_error' } });
  t.same(e.error, { message: 'bad', type: 'invalid_request_error' });
  t.equal(e.incomplete, undefined);
});
