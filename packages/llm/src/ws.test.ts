import { type AgentEvent, type HttpWsEvent, type LlmCallEvent, validateEvent } from '@agentsight/events';
import t from 'tap';
import { MergeStage } from './merge.js';
import { callsOf, httpReq, httpRes, runMerge, streamCall } from './testing.js';

const T0 = 1_764_000_000_000_000;
const UP = 'c#0';

function upgrade(path = '/v1/responses', host = 'api.openai.com'): AgentEvent[] {
  const headers = {
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-version': '13',
    'sec-websocket-extensions': 'permessage-deflate',
  };
  return [
    httpReq(UP, path, undefined, { method: 'GET', host, headers, ts: T0 }),
    { ...httpRes(UP, 101, undefined, { ts: T0 + 10, headers: { upgrade: 'websocket', connection: 'Upgrade' } }) },
  ];
}

/** A conversation on the socket: messages in order, one ms apart from T0 + 1 s. */
function socket(
  msgs: Array<{ from: 'client' | 'server'; data?: unknown; opcode?: HttpWsEvent['opcode'] }>,
): HttpWsEvent[] {
  return msgs.map((m, n) => {
    const data = m.data === undefined ? '' : typeof m.data === 'string' ? m.data : JSON.stringify(m.data);
    return {
      v: 1,
      ts: T0 + 1_000_000 + n * 1000,
      src: 'http',
      type: 'ws',
      pid: 42,
      tid: 43,
      comm: 'codex',
      conn: 'c',
      protocol: 'websocket',
      req: UP,
      from: m.from,
      opcode: m.opcode ?? 'text',
      n,
      size: data.length,
      data,
      enc: 'utf8',
    };
  });
}

const base = { id: 'resp_1', object: 'response', model: 'gpt-5-codex', status: 'in_progress', output: [], usage: null };
const usage = {
  input_tokens: 12,
  output_tokens: 5,
  input_tokens_details: { cached_tokens: 4 },
  output_tokens_details: { reasoning_tokens: 2 },
};

/** Server events of a text answer, as the SSE stream would carry them. */
function textAnswer(id: string, parts: string[]): object[] {
  const full = parts.join('');
  const msg = {
    type: 'message',
    id: `msg_${id}`,
    role: 'assistant',
    status: 'completed',
    content: [{ type: 'output_text', text: full, annotations: [] }],
  };
  return [
    { type: 'response.created', response: { ...base, id } },
    { type: 'response.in_progress', response: { ...base, id } },
    { type: 'response.output_item.added', output_index: 0, item: { ...msg, status: 'in_progress', content: [] } },
    {
      type: 'response.content_part.added',
      output_index: 0,
      content_index: 0,
      part: { type: 'output_text', text: '', annotations: [] },
    },
    ...parts.map((delta) => ({ type: 'response.output_text.delta', output_index: 0, content_index: 0, delta })),
    { type: 'response.output_text.done', output_index: 0, content_index: 0, text: full },
    { type: 'response.output_item.done', output_index: 0, item: msg },
    { type: 'response.completed', response: { ...base, id, status: 'completed', output: [msg], usage } },
  ];
}

function toolAnswer(id: string, args: string[]): object[] {
  const item = { type: 'function_call', id: 'fc_1', call_id: 'call_9', name: 'shell', arguments: '' };
  return [
    { type: 'response.created', response: { ...base, id } },
    { type: 'response.output_item.added', output_index: 0, item },
    ...args.map((delta) => ({
      type: 'response.function_call_arguments.delta',
      output_index: 0,
      item_id: 'fc_1',
      delta,
    })),
    { type: 'response.function_call_arguments.done', output_index: 0, item_id: 'fc_1', arguments: args.join('') },
    {
      type: 'response.completed',
      response: { ...base, id, status: 'completed', output: [{ ...item, arguments: args.join('') }], usage },
    },
  ];
}

const create1 = {
  type: 'response.create',
  model: 'gpt-5-codex',
  instructions: 'be brief',
  input: [{ role: 'user', content: 'hi' }],
  tools: [{ type: 'function', name: 'shell' }],
  store: false,
};
const create2 = {
  type: 'response.create',
  model: 'gpt-5-codex',
  previous_response_id: 'resp_1',
  input: [{ type: 'function_call_output', call_id: 'call_9', output: 'ok' }],
};

const server = (evs: object[]) => evs.map((data) => ({ from: 'server' as const, data }));

t.test('several responses in sequence on one socket: the same call as the SSE path', async (t) => {
  const a1 = textAnswer('resp_1', ['Hel', 'lo ', 'there']);
  const a2 = toolAnswer('resp_2', ['{"cmd":', '"ls -l"}']);
  const ws = socket([
    { from: 'client', data: create1 },
    ...server(a1),
    { from: 'client', data: create2 },
    ...server(a2),
    { from: 'client', opcode: 'close' },
  ]);
  const out = runMerge([...upgrade(), ...ws]);
  const calls = callsOf(out);
  t.equal(out.length, 2, 'two calls and nothing else: the socket is the exchange, consumed');
  t.equal(calls.length, 2);
  const [c1, c2] = calls as [LlmCallEvent, LlmCallEvent];

  t.equal(c1.id, `${UP}/ws0`);
  t.equal(c2.id, `${UP}/ws${1 + a1.length}`);
  for (const c of calls) {
    t.equal(c.req, UP, 'req names the upgrade request');
    t.equal(c.conn, 'c');
    t.equal(c.host, 'api.openai.com');
    t.equal(c.provider, 'openai');
    t.equal(c.api, 'openai.responses');
    t.equal(c.status, 101);
    t.equal(c.pid, 42);
    t.equal(c.comm, 'codex');
    t.notOk(c.incomplete, c.incomplete ?? 'complete');
    t.equal(c.request.stream, true, 'streaming is implicit over WebSocket');
  }
  t.equal(c1.request.system, 'be brief');
  t.same(c1.request.messages, create1.input);
  t.same(c1.request.tools, create1.tools);
  t.same(c1.request.params, { store: false }, 'type is the envelope, not a parameter');
  t.same(c2.request.params, { previous_response_id: 'resp_1' });

  // Timing: start at the response.create message, ttft at the first server message.
  const ts = (n: number) => ws[n]!.ts;
  t.equal(c1.timing.start, ts(0));
  t.equal(c1.timing.ttft_ms, (ts(1) - ts(0)) / 1000);
  t.equal(c1.timing.duration_ms, (ts(a1.length) - ts(0)) / 1000);
  t.equal(c1.ts, ts(a1.length), 'reported at response.completed');
  const s2 = 1 + a1.length;
  t.equal(c2.timing.start, ts(s2));
  t.equal(c2.timing.duration_ms, (ts(s2 + a2.length) - ts(s2)) / 1000);

  // The SSE path over the same events, for comparison.
  const sse1 = streamCall(
    '/v1/responses',
    { ...create1, type: undefined, stream: true },
    a1.map((d) => ({ event: (d as { type: string }).type, data: d })),
    { host: 'api.openai.com' },
  );
  const sse2 = streamCall(
    '/v1/responses',
    { ...create2, type: undefined, stream: true },
    a2.map((d) => ({ event: (d as { type: string }).type, data: d })),
    { host: 'api.openai.com' },
  );
  t.same(c1.response, sse1.response);
  t.same(c1.usage, sse1.usage);
  t.same(c2.response, sse2.response);
  t.equal(c1.response.text, 'Hello there');
  t.same(c2.response.tool_calls, [{ id: 'call_9', name: 'shell', arguments: { cmd: 'ls -l' } }]);
  t.same(c1.usage, { input_tokens: 12, output_tokens: 5, cache_read_input_tokens: 4, reasoning_tokens: 2 });
  t.equal(c1.model, 'gpt-5-codex');
});

t.test('a socket closed mid-response gives an incomplete call with what arrived', async (t) => {
  const a = textAnswer('resp_1', ['par', 'tial', 'never']).slice(0, 6);
  const out = runMerge([
    ...upgrade(),
    ...socket([
      { from: 'client', data: create1 },
      ...server(a),
      { from: 'server', opcode: 'close' },
      { from: 'client', opcode: 'close' },
    ]),
  ]);
  const [c] = callsOf(out);
  t.equal(out.length, 1, 'one call; both close frames consumed');
  t.equal(c!.response.text, 'partial');
  t.match(c!.incomplete, /WebSocket closed by the server before the response completed/);
  t.equal(c!.ts, T0 + 1_000_000 + 7 * 1000, 'at the close');
});

t.test('input ending mid-response, and a create that never got an answer', async (t) => {
  const a = textAnswer('resp_1', ['a', 'b']).slice(0, 5);
  const calls = callsOf(runMerge([...upgrade(), ...socket([{ from: 'client', data: create1 }, ...server(a)])]));
  t.equal(calls.length, 1);
  t.match(calls[0]!.incomplete, /input ended before the response/);
  t.equal(calls[0]!.response.text, 'a');
  const none = callsOf(runMerge([...upgrade(), ...socket([{ from: 'client', data: create1 }])]));
  t.equal(none.length, 1);
  t.match(none[0]!.incomplete, /input ended/);
  t.notOk(none[0]!.timing.ttft_ms);
});

t.test('an error message ends its response; the next response on the socket is read normally', async (t) => {
  const err = {
    type: 'error',
    status: 400,
    error: {
      type: 'invalid_request_error',
      code: 'previous_response_not_found',
      message: 'Previous response not found.',
      param: 'previous_response_id',
    },
  };
  const calls = callsOf(
    runMerge([
      ...upgrade(),
      ...socket([
        { from: 'client', data: create2 },
        { from: 'server', data: err },
        { from: 'client', data: create1 },
        ...server(textAnswer('resp_3', ['ok'])),
      ]),
    ]),
  );
  t.equal(calls.length, 2);
  t.equal(calls[0]!.status, 400);
  t.same(calls[0]!.error, err.error);
  t.equal(calls[1]!.status, 101);
  t.equal(calls[1]!.response.text, 'ok');
  t.notOk(calls[1]!.incomplete);
  t.equal(calls[1]!.response.id, 'resp_3');
});

t.test(
  "an error event after response.created: the response.failed that follows is its own, not the next call's",
  async (t) => {
    const calls = callsOf(
      runMerge([
        ...upgrade(),
        ...socket([
          { from: 'client', data: create1 },
          { from: 'server', data: { type: 'response.created', response: base } },
          { from: 'server', data: { type: 'error', error: { type: 'server_error', message: 'boom' } } },
          { from: 'server', data: { type: 'response.failed', response: { ...base, status: 'failed' } } },
          { from: 'client', data: create1 },
          ...server(textAnswer('resp_2', ['fine'])),
        ]),
      ]),
    );
    t.equal(calls.length, 2);
    t.same(calls[0]!.error, { type: 'server_error', message: 'boom' });
    t.equal(calls[0]!.incomplete, 'error event');
    t.equal(calls[0]!.response.finish_reason, 'failed');
    t.equal(calls[0]!.ts, T0 + 1_003_000, 'reported at response.failed');
    t.equal(calls[1]!.response.text, 'fine');
    t.equal(calls[1]!.response.id, 'resp_2');
    t.notOk(calls[1]!.incomplete);
  },
);

t.test('a response that never got its final event ends when the next one is created', async (t) => {
  const calls = callsOf(
    runMerge([
      ...upgrade(),
      ...socket([
        { from: 'client', data: create1 },
        ...server(textAnswer('resp_1', ['cut', 'off']).slice(0, 5)),
        { from: 'client', data: create2 },
        ...server(textAnswer('resp_2', ['next'])),
      ]),
    ]),
  );
  t.equal(calls.length, 2);
  t.equal(calls[0]!.response.text, 'cut');
  t.equal(calls[0]!.incomplete, 'stream ended before response.completed');
  t.equal(calls[0]!.ts, T0 + 1_007_000, 'when resp_2 was created');
  t.equal(calls[1]!.response.text, 'next');
  t.notOk(calls[1]!.incomplete);
});

t.test('creates sent before the previous answer ended are answered in order', async (t) => {
  const calls = callsOf(
    runMerge([
      ...upgrade(),
      ...socket([
        { from: 'client', data: create1 },
        { from: 'client', data: create2 },
        ...server(textAnswer('resp_1', ['one'])),
        ...server(textAnswer('resp_2', ['two'])),
      ]),
    ]),
  );
  t.same(
    calls.map((c) => [c.response.text, c.request.params]),
    [
      ['one', { store: false }],
      ['two', { previous_response_id: 'resp_1' }],
    ],
  );
  t.equal(calls[1]!.timing.start, T0 + 1_001_000, 'the second call started when it was created');
});

t.test('non-LLM WebSocket traffic passes through untouched, in order', async (t) => {
  const evs: AgentEvent[] = [
    ...upgrade('/socket.io/', 'example.com'),
    ...socket([
      { from: 'client', data: { type: 'hello' } },
      { from: 'server', data: 'plain text' },
      { from: 'server', data: { type: 'response.completed', response: base } },
      { from: 'client', opcode: 'ping' },
      { from: 'client', opcode: 'close' },
    ]),
  ];
  const out = runMerge(evs);
  t.same(out, JSON.parse(JSON.stringify(evs)));
  t.equal(callsOf(out).length, 0);
});

t.test(
  'a response.create on another path makes the socket a Responses one; --live deltas; --keep-http keeps frames',
  async (t) => {
    const evs: AgentEvent[] = [
      ...upgrade('/backend-api/ws', 'chatgpt.com'),
      ...socket([{ from: 'client', data: create1 }, ...server(textAnswer('resp_1', ['x', 'y']))]),
    ];
    const out = runMerge(evs, { live: true });
    const calls = callsOf(out);
    t.equal(calls.length, 1);
    t.equal(calls[0]!.response.text, 'xy');
    t.same(
      out.filter((e) => e.src === 'llm' && e.type === 'delta').map((e) => (e as { text: string }).text),
      ['x', 'y'],
    );
    t.equal(
      out.filter((e) => e.src === 'http').length,
      2,
      'the upgrade (not yet known as LLM) passed through, its frames consumed',
    );
    const kept = runMerge(evs, { keepHttp: true });
    t.equal(
      kept.filter((e) => e.src === 'http' && e.type === 'ws').length,
      evs.length - 2,
      '--keep-http: frames passed on too',
    );
    t.equal(callsOf(kept).length, 1);
  },
);

t.test('the Realtime-style envelope: fields under response', async (t) => {
  const calls = callsOf(
    runMerge([
      ...upgrade(),
      ...socket([
        { from: 'client', data: { type: 'response.create', response: { model: 'gpt-x', input: 'hello' } } },
        ...server(textAnswer('resp_1', ['hi'])),
      ]),
    ]),
  );
  t.equal(calls.length, 1);
  t.same(calls[0]!.request.messages, [{ role: 'user', content: 'hello' }]);
});

t.test('idle timeout: the awaited call is reported, the open socket is kept for the next turn', async (t) => {
  const out: AgentEvent[] = [];
  const st = new MergeStage({ idleTimeoutMs: 1 }, (e) => out.push(e));
  for (const e of [...upgrade(), ...socket([{ from: 'client', data: create1 }])]) st.write(e);
  await new Promise((r) => setTimeout(r, 10));
  st.tick(Date.now() * 1000);
  t.equal(callsOf(out).length, 1);
  t.match(callsOf(out)[0]!.incomplete, /idle timeout/);
  // A minute later, the next turn on the same socket.
  const later = socket([{ from: 'client', data: create2 }, ...server(textAnswer('resp_2', ['again']))]).map((e) => ({
    ...e,
    n: e.n + 1,
    ts: e.ts + 60_000_000,
  }));
  for (const e of later) st.write(e);
  st.end();
  const calls = callsOf(out);
  t.equal(calls.length, 2);
  t.equal(calls[1]!.response.text, 'again');
  t.notOk(calls[1]!.incomplete);
  t.equal(out.length, 2, 'nothing else');
});

t.test('fuzz: every response.create gives exactly one valid call, whatever the server sends', async (t) => {
  // Small seeded generator (mulberry32): the cases are the same on every run.
  let seed = 0x5eed;
  const rnd = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
  const pool = [
    ...textAnswer('resp_a', ['x', 'yz']),
    ...toolAnswer('resp_b', ['{"a"', ':1}']),
    { type: 'error', status: 429, error: { message: 'slow down' } },
    { type: 'error', error: null },
    { type: 'response.failed', response: { ...base, id: 'resp_c', status: 'failed' } },
  ];
  let bad = 0;
  for (let round = 0; round < 300; round++) {
    const msgs: Array<{ from: 'client' | 'server'; data?: unknown; opcode?: HttpWsEvent['opcode'] }> = [];
    let creates = 0;
    for (let k = 0, n = 1 + Math.floor(rnd() * 40); k < n; k++) {
      const r = rnd();
      if (r < 0.15) {
        msgs.push({ from: 'client', data: pick([create1, create2]) });
        creates++;
      } else if (r < 0.8) msgs.push({ from: 'server', data: pick(pool) });
      else if (r < 0.87) {
        const s = JSON.stringify(pick(pool));
        msgs.push({ from: 'server', data: s.slice(0, Math.floor(rnd() * s.length)) });
      } else if (r < 0.9)
        msgs.push({
          from: pick(['client', 'server'] as const),
          opcode: pick(['ping', 'pong', 'binary'] as const),
          data: 'x',
        });
      else if (r < 0.92) msgs.push({ from: pick(['client', 'server'] as const), opcode: 'close' });
      else if (r < 0.95)
        msgs.push({
          from: 'client',
          data: pick(['{', '[]', 'null', '{"type":"response.cancel"}', '{"type":"response.create"}']),
        });
      else
        msgs.push({
          from: 'server',
          data: pick(['', '[1]', '"s"', '{"type":5}', '{"type":"response.completed","response":7}']),
        });
      const last = msgs[msgs.length - 1]!;
      if (last.from === 'client' && last.data === '{"type":"response.create"}') creates++;
    }
    const out = runMerge([...upgrade(), ...socket(msgs)], { live: rnd() < 0.5 });
    const calls = callsOf(out);
    const invalid = out.map((e) => validateEvent(e)).filter(Boolean);
    if (calls.length !== creates || invalid.length || out.some((e) => e.src === 'http')) {
      bad++;
      if (bad <= 3) t.fail(`round ${round}: ${creates} creates, ${calls.length} calls, invalid: ${invalid.join('; ')}`);
    }
  }
  t.equal(bad, 0, '300 random conversations');
});
