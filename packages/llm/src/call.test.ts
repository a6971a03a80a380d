import type { LlmCallEvent, Usage } from '@agentsight/events';
import t from 'tap';
import { callOf, messagesOf, pairResults, sessionOf, toolResultsOf, usageOf } from './call.js';

const ev = (api: LlmCallEvent['api'], extra: Partial<LlmCallEvent> = {}): LlmCallEvent => ({
  v: 1,
  ts: 2,
  src: 'llm',
  type: 'call',
  id: 'c',
  provider: 'p',
  api,
  model: 'm',
  request: { stream: false },
  response: { text: '', thinking: null, tool_calls: [], finish_reason: null },
  usage: {},
  status: 200,
  timing: { start: 1, duration_ms: 1 },
  conn: 'k',
  req: 'k#0',
  ...extra,
});
const u = (api: LlmCallEvent['api'], usage: Usage) => usageOf(ev(api, { usage }));

t.test('one token count: input includes cached input, output includes reasoning', async (t) => {
  t.same(
    u('anthropic.messages', {
      input_tokens: 10,
      cache_read_input_tokens: 100,
      cache_creation_input_tokens: 5,
      output_tokens: 7,
    }),
    { input: 115, output: 7, cache_read: 100, cache_write: 5 },
    'Anthropic counts the cache apart',
  );
  t.same(
    u('openai.chat', { input_tokens: 110, cache_read_input_tokens: 100, output_tokens: 7, reasoning_tokens: 3 }),
    { input: 110, output: 7, cache_read: 100, reasoning: 3 },
    'OpenAI counts it inside',
  );
  t.same(
    u('gemini', { input_tokens: 50, output_tokens: 7, reasoning_tokens: 20 }),
    { input: 50, output: 27, reasoning: 20 },
    'Gemini counts thoughts apart',
  );
  t.same(u('anthropic.messages', { output_tokens: 3 }), { output: 3 }, 'what was not reported stays absent');
});

t.test('tool results of the four APIs', async (t) => {
  const strip = (api: LlmCallEvent['api'], m: unknown[]) => toolResultsOf(api, m).map(({ result: _r, ...x }) => x);
  t.same(
    strip('anthropic.messages', [
      {
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: 'toolu_1',
            content: [
              { type: 'text', text: 'a' },
              { type: 'text', text: 'b' },
            ],
            is_error: true,
          },
          { type: 'text', text: 'more' },
        ],
      },
    ]),
    [{ id: 'toolu_1', text: 'ab', isError: true, byName: false }],
  );
  t.same(strip('openai.chat', [{ role: 'tool', tool_call_id: 'call_1', content: 'out' }]), [
    { id: 'call_1', text: 'out', byName: false },
  ]);
  t.same(strip('openai.responses', [{ type: 'function_call_output', call_id: 'fc_1', output: 'res' }]), [
    { id: 'fc_1', text: 'res', byName: false },
  ]);
  t.same(
    strip('gemini', [
      {
        role: 'user',
        parts: [
          { functionResponse: { name: 'f', response: { output: 'g' } } },
          { functionResponse: { id: 'x', name: 'h', response: { error: 'bad' } } },
        ],
      },
      'junk',
      null,
    ]),
    [
      { id: null, name: 'f', text: 'g', byName: true },
      { id: 'x', name: 'h', text: '{"error":"bad"}', isError: true, byName: true },
    ],
  );
  t.same(toolResultsOf('gemini', undefined), []);
  const older = toolResultsOf('gemini', [
    {
      role: 'user',
      parts: [{ functionResponse: { id: 'run_shell_command_1_0', name: 'run', response: { output: 'old' } } }],
    },
    { role: 'model', parts: [{ functionCall: { name: 'run', args: {} } }] },
    {
      role: 'user',
      parts: [{ functionResponse: { id: 'run_shell_command_2_0', name: 'run', response: { output: 'new' } } }],
    },
  ]);
  t.same(
    older.map((r) => [r.text, r.byName]),
    [
      ['old', false],
      ['new', true],
    ],
    'only the newest turn pairs by name: older results answered older calls',
  );
});

t.test('pairing: by id, then (where the API allows) by name and order', async (t) => {
  const calls = [
    { id: null, name: 'run', n: 0 },
    { id: null, name: 'run', n: 1 },
    { id: 'toolu_9', name: 'bash', n: 2 },
  ];
  const results = toolResultsOf('gemini', [
    {
      role: 'user',
      parts: [
        { functionResponse: { id: 'run_shell_command_1764800000000_0', name: 'run', response: { output: 'a' } } },
        { functionResponse: { id: 'run_shell_command_1764800000000_1', name: 'run', response: { output: 'b' } } },
        { functionResponse: { id: 'toolu_9', name: 'bash', response: { output: 'c' } } },
      ],
    },
  ]);
  t.same(
    pairResults(calls, results).map((p) => [p.call.n, p.result.text, p.how]),
    [
      [0, 'a', 'name_order'],
      [1, 'b', 'name_order'],
      [2, 'c', 'id'],
    ],
  );
  t.same(
    pairResults(calls, results, (c) => c.n !== 0).map((p) => [p.call.n, p.result.text]),
    [
      [1, 'a'],
      [2, 'c'],
    ],
    'closed calls are skipped by name',
  );
  const anth = toolResultsOf('anthropic.messages', [
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_x', content: 'z' }] },
  ]);
  t.same(
    pairResults([{ id: 'toolu_y', name: 'bash' }], anth),
    [],
    "an id that matches no call is no link where ids are the API's own",
  );
});

t.test('messages: roles, parts, injected context', async (t) => {
  t.same(
    messagesOf('anthropic.messages', [
      {
        role: 'user',
        content: [
          { type: 'text', text: '<system-reminder>\nctx\n</system-reminder>' },
          { type: 'text', text: 'fix it' },
        ],
      },
      {
        role: 'assistant',
        content: [
          { type: 'thinking', thinking: 'hm' },
          { type: 'tool_use', id: 't1', name: 'bash', input: { command: 'ls' } },
        ],
      },
    ]),
    [
      {
        role: 'user',
        parts: [
          { type: 'text', content: '<system-reminder>\nctx\n</system-reminder>', injected: true },
          { type: 'text', content: 'fix it' },
        ],
      },
      {
        role: 'assistant',
        parts: [
          { type: 'reasoning', content: 'hm' },
          { type: 'tool_call', id: 't1', name: 'bash', arguments: { command: 'ls' } },
        ],
      },
    ],
  );
  t.same(
    messagesOf('openai.chat', [
      { role: 'assistant', tool_calls: [{ id: 'c', function: { name: 'f', arguments: '{"a":1}' } }] },
      { role: 'tool', tool_call_id: 'c', content: 'ok' },
    ]),
    [
      { role: 'assistant', parts: [{ type: 'tool_call', id: 'c', name: 'f', arguments: { a: 1 } }] },
      { role: 'tool', parts: [{ type: 'tool_call_response', id: 'c', result: 'ok' }] },
    ],
  );
  t.same(
    messagesOf('openai.responses', [
      { role: 'user', content: [{ type: 'input_text', text: '<environment_context>cwd</environment_context>' }] },
    ]),
    [
      {
        role: 'user',
        parts: [{ type: 'text', content: '<environment_context>cwd</environment_context>', injected: true }],
      },
    ],
    "Codex's environment context",
  );
  t.same(
    messagesOf('gemini', [
      { role: 'model', parts: [{ text: 'x', thought: true }, { functionCall: { name: 'f', args: { x: 1 } } }] },
    ]),
    [
      {
        role: 'assistant',
        parts: [
          { type: 'reasoning', content: 'x' },
          { type: 'tool_call', id: null, name: 'f', arguments: { x: 1 } },
        ],
      },
    ],
  );
});

t.test('session identity where the request carries it', async (t) => {
  const sid = '4c1f9a2e-0b5d-4e8a-9f3c-2d7e6b1a0c94';
  t.equal(
    sessionOf(
      ev('anthropic.messages', {
        request: { stream: true, params: { metadata: { user_id: `user_ab12_account_f00d_session_${sid}` } } },
      }),
    ),
    sid,
    'Claude Code',
  );
  t.equal(
    sessionOf(
      ev('anthropic.messages', {
        request: {
          stream: true,
          params: { metadata: { user_id: JSON.stringify({ device_id: 'd', session_id: sid }) } },
        },
      }),
    ),
    sid,
    'Claude Code, JSON form',
  );
  t.equal(sessionOf(ev('gemini', { request: { stream: true, params: { session_id: sid } } })), sid, 'Gemini CLI');
  t.equal(
    sessionOf(ev('openai.responses', { request: { stream: true, params: { prompt_cache_key: sid } } })),
    sid,
    'Codex',
  );
  t.equal(sessionOf(ev('openai.chat')), undefined);
});

t.test('callOf: the whole call in one shape', async (t) => {
  const c = callOf(
    ev('gemini', {
      model: 'gemini-2.5-flash',
      provider: 'google',
      request: {
        stream: false,
        system: 'be brief',
        params: { generationConfig: { maxOutputTokens: 64, topP: 0.9 } },
        messages: [{ role: 'user', parts: [{ text: 'hi' }] }],
      },
      response: { text: 'hello', thinking: null, tool_calls: [], finish_reason: 'STOP' },
      usage: { input_tokens: 1e6, output_tokens: 1e6 },
    }),
  );
  t.same(c, {
    id: 'c',
    provider: 'google',
    api: 'gemini',
    operation: 'generate_content',
    request_model: 'gemini-2.5-flash',
    model: 'gemini-2.5-flash',
    system: [{ type: 'text', content: 'be brief' }],
    messages: [{ role: 'user', parts: [{ type: 'text', content: 'hi' }] }],
    output: { role: 'assistant', parts: [{ type: 'text', content: 'hello' }] },
    finish_reason: 'stop',
    params: { max_tokens: 64, top_p: 0.9 },
    usage: { input: 1e6, output: 1e6 },
    cost_usd: 2.8,
  });
  t.same(
    callOf(ev('openai.chat', { status: 529, error: { error: { type: 'overloaded_error', message: 'busy' } } })).error,
    { type: 'overloaded_error', message: 'busy' },
  );
});
