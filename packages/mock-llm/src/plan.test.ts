import t from 'tap';
import { lastUserText, makePlan, pieces } from './plan.js';
import type { MockRequest } from './reply.js';

const req = (api: MockRequest['api'], json: unknown, model?: string): MockRequest => ({
  method: 'POST',
  url: '/',
  path: '/',
  query: new URLSearchParams(),
  headers: {},
  body: JSON.stringify(json),
  json,
  api,
  stream: false,
  ...(model ? { model } : {}),
  receivedAt: 1_700_000_000_000,
});

t.test("lastUserText finds the last user turn in each API's request shape", async (t) => {
  t.equal(
    lastUserText('anthropic.messages', {
      messages: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'x' },
        { role: 'user', content: [{ type: 'text', text: 'second' }] },
      ],
    }),
    'second',
  );
  t.equal(
    lastUserText('anthropic.messages', {
      messages: [
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: 'a', content: [{ type: 'text', text: 'out' }] }],
        },
      ],
    }),
    'tool result: out',
  );
  t.equal(
    lastUserText('openai.chat', {
      messages: [
        { role: 'system', content: 's' },
        { role: 'user', content: [{ type: 'text', text: 'parts' }] },
      ],
    }),
    'parts',
  );
  t.equal(
    lastUserText('openai.chat', {
      messages: [
        { role: 'user', content: 'q' },
        { role: 'tool', tool_call_id: 'c', content: '42' },
      ],
    }),
    'tool result: 42',
  );
  t.equal(lastUserText('openai.responses', { input: 'plain' }), 'plain');
  t.equal(
    lastUserText('openai.responses', { input: [{ role: 'user', content: [{ type: 'input_text', text: 'typed' }] }] }),
    'typed',
  );
  t.equal(
    lastUserText('openai.responses', {
      input: [
        { role: 'user', content: 'q' },
        { type: 'function_call_output', call_id: 'c', output: 'ok' },
      ],
    }),
    'tool result: ok',
  );
  t.equal(
    lastUserText('gemini', {
      contents: [
        { role: 'user', parts: [{ text: 'a' }, { text: 'b' }] },
        { role: 'model', parts: [{ text: 'no' }] },
      ],
    }),
    'a b',
  );
  t.equal(
    lastUserText('gemini', {
      contents: [{ role: 'user', parts: [{ functionResponse: { name: 'f', response: { v: 1 } } }] }],
    }),
    'tool result: {"v":1}',
  );
  t.equal(lastUserText('openai.chat', 'not an object'), '');
});

t.test('pieces never split a surrogate pair', async (t) => {
  t.same(pieces('a🌍b🌍', 1), ['a', '🌍', 'b', '🌍']);
  t.same(pieces('abcde', 2), ['ab', 'cd', 'e']);
  t.same(pieces('', 3), []);
});

t.test('makePlan defaults', async (t) => {
  const p = makePlan(
    'openai.chat',
    {},
    req('openai.chat', { messages: [{ role: 'user', content: 'hey' }] }, 'gpt-q'),
    3,
    16,
  );
  t.equal(p.text, 'Mock reply to: "hey"');
  t.equal(p.model, 'gpt-q', 'model from the request');
  t.equal(p.stop, 'stop');
  t.ok(p.usage.input_tokens > 0 && p.usage.output_tokens > 0);
  const q = makePlan(
    'anthropic.messages',
    { toolCalls: [{ name: 'f', arguments: '{"broken' }], stopReason: 'max_tokens' },
    req('anthropic.messages', {}),
    4,
    16,
  );
  t.equal(q.text, '', 'no default text beside tool calls');
  t.equal(q.toolCalls[0]!.argsText, '{"broken', 'string arguments are sent verbatim');
  t.same(q.toolCalls[0]!.args, {}, 'and are {} where an object is needed');
  t.match(q.toolCalls[0]!.id, /^toolu_/);
  t.equal(q.stop, 'length');
  t.equal(q.model, 'claude-mock-1');
  const long = makePlan('gemini', {}, req('gemini', { contents: [{ parts: [{ text: 'x'.repeat(500) }] }] }), 1, 16);
  t.ok(long.text.length < 230, 'the echo is truncated');
});
