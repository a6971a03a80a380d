import type { AgentEvent, McpCallEvent, McpNotificationEvent } from '@agentsight/events';
import t from 'tap';
import { MergeStage } from './merge.js';
import { callsOf, httpReq, httpRes, httpSse, runMerge, sseEvents } from './testing.js';

const anthropicStream = [
  {
    data: {
      type: 'message_start',
      message: { id: 'm', model: 'c', content: [], usage: { input_tokens: 1, output_tokens: 1 } },
    },
  },
  { data: { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } } },
  { data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi ' } } },
  { data: { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'there' } } },
  { data: { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 2 } } },
  { data: { type: 'message_stop' } },
];

t.test('non-LLM http passes through untouched and in order; LLM http is consumed', async (t) => {
  const other = [httpReq('o#0', '/api/event_logging/batch', { events: [] }), httpRes('o#0', 200, { ok: true })];
  const llm = [
    httpReq('c#0', '/v1/messages', { model: 'c', messages: [] }),
    ...sseEvents('c#0', anthropicStream),
    httpRes('c#0', 200, undefined, { sse: 6 }),
  ];
  const meta = { v: 1, ts: 5, src: 'meta', type: 'start', tool: 'x' } as AgentEvent;
  const out = runMerge([other[0]!, llm[0]!, meta, ...llm.slice(1), other[1]!]);
  t.same(
    out.filter((e) => e.src !== 'llm'),
    [other[0], meta, other[1]].map((e) => JSON.parse(JSON.stringify(e))),
  );
  t.equal(callsOf(out).length, 1);
  const kept = runMerge(llm, { keepHttp: true });
  t.equal(kept.filter((e) => e.src === 'http').length, llm.length, '--keep-http passes them on too');
});

t.test('timing, identity, ttft, and live deltas', async (t) => {
  const evs = [
    httpReq('c#0', '/v1/messages', { model: 'c', messages: [] }, { ts: 1_000_000 }),
    ...sseEvents('c#0', anthropicStream),
    httpRes('c#0', 200, undefined, { sse: 6, ts: 3_000_000 }),
  ];
  const out = runMerge(evs, { live: true });
  const c = callsOf(out)[0]!;
  t.equal(c.id, 'c#0');
  t.equal(c.req, 'c#0');
  t.equal(c.conn, 'c');
  t.equal(c.pid, 7);
  t.equal(c.comm, 'agent');
  t.equal(c.ts, 3_000_000);
  t.same(c.timing, { start: 999_900, ttft_ms: 1, duration_ms: 2000.1 });
  const deltas = out.filter((e) => e.src === 'llm' && e.type === 'delta');
  t.same(
    deltas.map((d) => (d as { text: string }).text),
    ['Hi ', 'there'],
  );
  t.ok(out.indexOf(deltas[1]!) < out.indexOf(c), 'deltas come before the call');
});

t.test('a request that never gets its response is reported once, at end of input', async (t) => {
  const out = runMerge([
    httpReq('c#0', '/v1/chat/completions', { model: 'g', messages: [] }),
    httpSse('c#0', 0, JSON.stringify({ id: 'x', choices: [{ index: 0, delta: { content: 'par' } }] })),
  ]);
  const cs = callsOf(out);
  t.equal(cs.length, 1);
  t.equal(cs[0]!.incomplete, 'input ended before the response');
  t.equal(cs[0]!.response.text, 'par');
  t.equal(cs[0]!.status, 0);
});

t.test('bounded: too many calls awaiting responses evicts the oldest, reported', async (t) => {
  const out: AgentEvent[] = [];
  const st = new MergeStage({ maxPending: 3 }, (e) => out.push(e));
  for (let i = 0; i < 10; i++) st.write(httpReq(`c${i}#0`, '/v1/messages', { model: 'c', messages: [] }));
  t.equal(st.pending, 3);
  t.equal(callsOf(out).length, 7);
  t.match(callsOf(out)[0]!.incomplete, /evicted/);
  st.end();
  t.equal(callsOf(out).length, 10, 'every request is reported exactly once');
});

t.test('idle timeout reports a stalled call', async (t) => {
  const out: AgentEvent[] = [];
  const st = new MergeStage({ idleTimeoutMs: 1 }, (e) => out.push(e));
  st.write(httpReq('c#0', '/v1/messages', { model: 'c', messages: [] }));
  await new Promise((r) => setTimeout(r, 20));
  st.tick(Date.now() * 1000);
  t.equal(callsOf(out).length, 1);
  t.equal(callsOf(out)[0]!.incomplete, 'no response within the idle timeout');
  st.write(httpRes('c#0', 200, {}));
  t.equal(callsOf(out).length, 1, 'a late response is passed on as plain http, not a second call');
  st.end();
});

t.test('oversized streams are cut at maxCallBytes and marked', async (t) => {
  const evs = [
    httpReq('c#0', '/v1/messages', { model: 'c', messages: [] }),
    ...sseEvents('c#0', anthropicStream),
    httpRes('c#0', 200, undefined, { sse: 6 }),
  ];
  const c = callsOf(runMerge(evs, { maxCallBytes: 300 }))[0]!;
  t.match(c.incomplete, /larger than 300 bytes/);
});

t.test(
  'MCP over streamable HTTP: JSON and SSE responses, consumed; a GET event stream is watched and passed on',
  async (t) => {
    const init = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18' } };
    const call = { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'search', arguments: { q: 'x' } } };
    const headers = {
      'content-type': 'application/json',
      'mcp-session-id': 's1',
      accept: 'application/json, text/event-stream',
    };
    const evs: AgentEvent[] = [
      httpReq('m#0', '/mcp', init, { host: 'mcp.example.com', headers, ts: 1000 }),
      httpRes('m#0', 200, { jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'srv' } } }, { ts: 3000 }),
      httpReq(
        'm#1',
        '/mcp',
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        { host: 'mcp.example.com', headers },
      ),
      httpRes('m#1', 202),
      httpReq('m#2', '/mcp', call, { host: 'mcp.example.com', headers, ts: 10_000 }),
      httpSse('m#2', 0, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/progress', params: { progress: 1 } })),
      httpSse(
        'm#2',
        1,
        JSON.stringify({ jsonrpc: '2.0', id: 2, result: { content: [{ type: 'text', text: 'found' }] } }),
        undefined,
        15_000,
      ),
      httpRes('m#2', 200, undefined, { sse: 2 }),
      httpReq('g#0', '/mcp', undefined, {
        method: 'GET',
        host: 'mcp.example.com',
        headers: { ...headers, accept: 'text/event-stream' },
      }),
      httpSse('g#0', 0, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' })),
    ];
    const out = runMerge(evs);
    const calls = out.filter((e): e is McpCallEvent => e.src === 'mcp' && e.type === 'call');
    const notes = out.filter((e): e is McpNotificationEvent => e.src === 'mcp' && e.type === 'notification');
    t.same(
      calls.map((c) => [c.method, c.rpc_id, c.tool, c.transport, c.channel]),
      [
        ['initialize', 1, undefined, 'http', 'm'],
        ['tools/call', 2, 'search', 'http', 'm'],
      ],
    );
    t.same(calls[1]!.result, { content: [{ type: 'text', text: 'found' }] });
    t.equal(calls[1]!.duration_ms, 5);
    t.equal(calls[0]!.duration_ms, 2);
    t.same(
      notes.map((n) => [n.method, n.dir]),
      [
        ['notifications/initialized', 'client'],
        ['notifications/progress', 'server'],
        ['notifications/tools/list_changed', 'server'],
      ],
    );
    t.same(
      out
        .filter((e) => e.src === 'http')
        .map((e) => (e as { id?: string; req?: string }).id ?? (e as { req?: string }).req),
      ['g#0', 'g#0'],
      'only the GET stream passes on',
    );
  },
);

t.test('a request id seen twice: the first is reported once, the second merges normally', async (t) => {
  const evs = [
    httpReq('c#0', '/v1/messages', { model: 'first', messages: [] }),
    httpReq('c#0', '/v1/messages', { model: 'second', messages: [] }),
    ...sseEvents('c#0', anthropicStream),
    httpRes('c#0', 200, undefined, { sse: 6 }),
  ];
  const cs = callsOf(runMerge(evs));
  t.same(
    cs.map((c) => [c.model, c.incomplete]),
    [
      ['first', 'superseded by another request with the same id'],
      ['c', undefined],
    ],
  );
});

t.test('a request body cut by the capture limit: detected by path, marked truncated', async (t) => {
  const req = {
    ...httpReq('c#0', '/v1/messages', undefined),
    data: '{"model":"claude-x","messages":[{"role":"user","content":"aaaa',
    enc: 'utf8' as const,
    body_truncated: true,
  };
  const c = callsOf(
    runMerge([req, ...sseEvents('c#0', anthropicStream), httpRes('c#0', 200, undefined, { sse: 6 })]),
  )[0]!;
  t.equal(c.request.truncated, true);
  t.equal(c.response.text, 'Hi there');
  t.equal(c.model, 'c');
  t.equal(c.incomplete, undefined, 'the response is complete');
});

t.test('each call says which agent made it: its process, else its User-Agent, else an LLM client', async (t) => {
  const call = (id: string, headers?: Record<string, string>) => [
    httpReq(id, '/v1/messages', { model: 'c', messages: [] }, headers ? { headers } : {}),
    ...sseEvents(id, anthropicStream),
    httpRes(id, 200, undefined, { sse: 6 }),
  ];
  // pid 7 (httpReq's) exec'd as Claude Code's native binary
  const exec = {
    v: 1,
    ts: 1,
    src: 'proc',
    type: 'exec',
    pid: 7,
    ppid: 1,
    uid: 0,
    comm: 'claude',
    filename: '/root/.local/share/claude/versions/2.1.197',
    argv: ['claude', '-p', 'hi'],
  } as AgentEvent;
  let [c] = callsOf(runMerge([exec, ...call('a#0', { 'user-agent': 'curl/8' })]));
  t.same(c!.agent, { id: 'claude-code', name: 'Claude Code', via: 'path' }, 'the process, by its exec');
  [c] = callsOf(runMerge(call('b#0', { 'user-agent': 'Anthropic/Python 0.69.0' })));
  t.equal(c!.agent?.id, 'anthropic-sdk-python', 'no exec seen: the User-Agent');
  const out = callsOf(runMerge([...call('d#0', { 'user-agent': 'curl/8.5.0' }), ...call('d#1')]));
  t.same(
    out.map((x) => x.agent),
    [
      { id: 'llm-client', name: 'curl (anthropic)', via: 'traffic' },
      { id: 'llm-client', name: 'curl (anthropic)', via: 'traffic' },
    ],
    'a process that called a model is an agent from then on, its later calls included',
  );
});
