import type { AgentEvent, LlmCallEvent, McpCallEvent } from '@agentsight/events';
import { callCost } from '@agentsight/llm';
import { testing } from '@agentsight/trace';
import t from 'tap';
import { inputMessages } from './content.js';
import { SpanMapper, splitHost } from './mapper.js';
import type { OtlpSpan } from './otlp.js';

const T0 = 1_764_150_000_000_000; // µs

function llm(over: Partial<LlmCallEvent> & { id: string; start: number; dur: number }): LlmCallEvent {
  const { start, dur, ...rest } = over;
  return {
    v: 1,
    ts: start + dur * 1000,
    src: 'llm',
    type: 'call',
    pid: 100,
    tid: 100,
    comm: 'agent',
    provider: 'anthropic',
    api: 'anthropic.messages',
    model: 'claude-x',
    request: { messages: [{ role: 'user', content: 'hi' }], stream: true },
    response: { id: 'msg', text: 'hello', thinking: null, tool_calls: [], finish_reason: 'end_turn' },
    usage: { input_tokens: 3, output_tokens: 4 },
    status: 200,
    timing: { start, duration_ms: dur },
    conn: 'c1',
    host: 'api.anthropic.com',
    req: over.id,
    ...rest,
  } as LlmCallEvent;
}

function run(events: AgentEvent[], opts = {}): OtlpSpan[] {
  const spans: OtlpSpan[] = [];
  const m = new SpanMapper(opts, (s) => spans.push(s));
  for (const e of events) m.write(e);
  m.end();
  return spans;
}

const attrs = (s: OtlpSpan): Record<string, unknown> =>
  Object.fromEntries(s.attributes.map((kv) => [kv.key, Object.values(kv.value)[0]]));
const byName = (spans: OtlpSpan[], name: string): OtlpSpan => {
  const s = spans.find((x) => x.name === name);
  if (!s) throw new Error(`no span ${name} in ${spans.map((x) => x.name).join(', ')}`);
  return s;
};

t.test('a synthesized agent root parents the call and spans its calls', async (t) => {
  const spans = run([llm({ id: 'a', start: T0, dur: 250 }), llm({ id: 'b', start: T0 + 2e6, dur: 100 })]);
  t.equal(spans.length, 3);
  const root = byName(spans, 'invoke_agent agent');
  t.equal(root.parentSpanId, undefined);
  t.equal(root.startTimeUnixNano, `${T0}000`);
  t.equal(root.endTimeUnixNano, `${T0 + 2_100_000}000`);
  const calls = spans.filter((s) => s.name === 'chat claude-x');
  t.equal(calls.length, 2);
  for (const c of calls) {
    t.equal(c.parentSpanId, root.spanId);
    t.equal(c.traceId, root.traceId);
    t.equal(c.kind, 3);
  }
  t.equal(calls[0]!.endTimeUnixNano, `${T0 + 250_000}000`);
  t.same(attrs(root)['gen_ai.usage.input_tokens'], 6);
  t.equal(attrs(root)['gen_ai.provider.name'], 'anthropic');
});

t.test('ids are deterministic across runs and distinct across calls', async (t) => {
  const evs = [llm({ id: 'a', start: T0, dur: 1 }), llm({ id: 'b', start: T0 + 10, dur: 1 })];
  const a = run(evs);
  const b = run(evs);
  t.same(
    a.map((s) => [s.traceId, s.spanId, s.parentSpanId]),
    b.map((s) => [s.traceId, s.spanId, s.parentSpanId]),
  );
  t.equal(new Set(a.map((s) => s.spanId)).size, a.length);
  t.match(a[0]!.traceId, /^[0-9a-f]{32}$/);
  t.match(a[0]!.spanId, /^[0-9a-f]{16}$/);
});

t.test('a tool call spans from the answer that asked for it to the request that carries its result', async (t) => {
  const ask = llm({
    id: 'a',
    start: T0,
    dur: 1000,
    response: {
      id: 'm1',
      text: '',
      thinking: null,
      tool_calls: [{ id: 'toolu_1', name: 'Bash', arguments: { command: 'ls' } }],
      finish_reason: 'tool_use',
    },
  });
  // An unrelated concurrent call without the result must not close the tool span.
  const other = llm({ id: 'x', start: T0 + 1_500_000, dur: 10 });
  const answer = llm({
    id: 'b',
    start: T0 + 3_000_000,
    dur: 500,
    request: {
      stream: true,
      messages: [
        { role: 'user', content: 'list' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls' } }] },
        {
          role: 'user',
          content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'a\nb' }] }],
        },
      ],
    },
  });
  const spans = run([ask, other, answer], { captureContent: true });
  const tool = byName(spans, 'execute_tool Bash');
  const chat = spans.find((s) => attrs(s)['gen_ai.response.id'] === 'm1')!;
  t.equal(tool.kind, 1);
  t.equal(tool.startTimeUnixNano, `${T0 + 1_000_000}000`);
  t.equal(tool.endTimeUnixNano, `${T0 + 3_000_000}000`);
  t.same(tool.links, [{ traceId: chat.traceId, spanId: chat.spanId }]);
  t.same(attrs(tool), {
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': 'Bash',
    'gen_ai.tool.call.id': 'toolu_1',
    'gen_ai.tool.type': 'function',
    'gen_ai.tool.call.arguments': '{"command":"ls"}',
    'gen_ai.tool.call.result': 'a\nb',
  });
});

t.test('a tool whose result never comes ends with its agent and says so', async (t) => {
  const ask = llm({
    id: 'a',
    start: T0,
    dur: 1000,
    response: {
      id: 'm1',
      text: '',
      thinking: null,
      tool_calls: [{ id: 't', name: 'Read', arguments: {} }],
      finish_reason: 'tool_use',
    },
  });
  const spans = run([
    {
      v: 1,
      ts: T0 - 1000,
      src: 'proc',
      type: 'exec',
      pid: 100,
      ppid: 1,
      uid: 0,
      comm: 'agent',
      filename: '/bin/agent',
      argv: ['agent'],
    } as AgentEvent,
    ask,
    { v: 1, ts: T0 + 9e6, src: 'proc', type: 'exit', pid: 100, comm: 'agent', exit_code: 3 } as AgentEvent,
  ]);
  const tool = byName(spans, 'execute_tool Read');
  t.equal(tool.endTimeUnixNano, `${T0 + 9e6}000`);
  t.equal(attrs(tool)['agentsight.tool.result_seen'], false);
  const root = byName(spans, 'invoke_agent agent');
  t.equal(root.startTimeUnixNano, `${T0 - 1000}000`);
  t.equal(attrs(root)['process.exit.code'], 3);
  t.equal(attrs(root)['process.command_line'], 'agent');
});

t.test('errors: provider error type, HTTP status, status message', async (t) => {
  const spans = run([
    llm({
      id: 'e1',
      start: T0,
      dur: 5,
      status: 429,
      error: { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } },
    }),
    llm({ id: 'e2', start: T0 + 10, dur: 5, status: 500 }),
    llm({ id: 'e3', start: T0 + 20, dur: 5, incomplete: 'connection closed' }),
  ]);
  const calls = spans.filter((s) => s.name.startsWith('chat'));
  t.same(
    calls.map((s) => attrs(s)['error.type']),
    ['rate_limit_error', '500', 'incomplete'],
  );
  t.same(
    calls.map((s) => s.status),
    [{ code: 2, message: 'slow down' }, { code: 2 }, { code: 2, message: 'connection closed' }],
  );
  t.equal(attrs(calls[0]!)['http.response.status_code'], 429);
});

t.test('anthropic input tokens include cached ones; openai ones already do', async (t) => {
  const spans = run([
    llm({
      id: 'a',
      start: T0,
      dur: 1,
      usage: { input_tokens: 10, output_tokens: 1, cache_read_input_tokens: 100, cache_creation_input_tokens: 5 },
    }),
    llm({
      id: 'o',
      pid: 200,
      start: T0,
      dur: 1,
      provider: 'openai',
      api: 'openai.chat',
      usage: { input_tokens: 110, output_tokens: 1, cache_read_input_tokens: 100 },
    }),
  ]);
  const [a, o] = ['a', 'o'].map((id) => spans.find((s) => attrs(s)['agentsight.http.request'] === id)!);
  t.equal(attrs(a!)['gen_ai.usage.input_tokens'], 115);
  t.equal(attrs(a!)['gen_ai.usage.cache_read.input_tokens'], 100);
  t.equal(attrs(a!)['gen_ai.usage.cache_creation.input_tokens'], 5);
  t.equal(attrs(o!)['gen_ai.usage.input_tokens'], 110);
  t.not(a!.traceId, o!.traceId, 'one trace per agent process');
});

t.test('content is recorded only when asked, in the conventions shapes', async (t) => {
  const ev = llm({
    id: 'a',
    start: T0,
    dur: 1,
    request: {
      system: [{ type: 'text', text: 'Be terse.' }],
      messages: [{ role: 'user', content: 'hi' }],
      stream: false,
    },
  });
  t.notOk(
    run([ev]).some((s) =>
      s.attributes.some(
        (kv) =>
          kv.key.startsWith('gen_ai.input') ||
          kv.key.startsWith('gen_ai.output') ||
          kv.key === 'gen_ai.system_instructions',
      ),
    ),
  );
  const a = attrs(byName(run([ev], { captureContent: true }), 'chat claude-x'));
  t.same(JSON.parse(a['gen_ai.system_instructions'] as string), [{ type: 'text', content: 'Be terse.' }]);
  t.same(JSON.parse(a['gen_ai.input.messages'] as string), [
    { role: 'user', parts: [{ type: 'text', content: 'hi' }] },
  ]);
  t.same(JSON.parse(a['gen_ai.output.messages'] as string), [
    { role: 'assistant', parts: [{ type: 'text', content: 'hello' }], finish_reason: 'stop' },
  ]);
});

t.test('request parameters take the conventions types', async (t) => {
  const a = attrs(
    byName(
      run([
        llm({
          id: 'a',
          start: T0,
          dur: 1,
          request: {
            stream: true,
            messages: [],
            params: { temperature: 1, top_p: 0.5, max_tokens: 99, stop: 'END', n: 2, seed: 7 },
          },
        }),
      ]),
      'chat claude-x',
    ),
  );
  t.equal(a['gen_ai.request.temperature'], 1);
  t.equal(a['gen_ai.request.max_tokens'], 99);
  t.same(a['gen_ai.request.stop_sequences'], { values: [{ stringValue: 'END' }] });
  t.equal(a['gen_ai.request.choice.count'], 2);
  t.equal(a['gen_ai.request.seed'], 7);
  const span = byName(
    run([llm({ id: 'a', start: T0, dur: 1, request: { stream: true, messages: [], params: { temperature: 1 } } })]),
    'chat claude-x',
  );
  t.same(
    span.attributes.find((kv) => kv.key === 'gen_ai.request.temperature')!.value,
    { doubleValue: 1 },
    'a double even when whole',
  );
});

t.test("MCP: tools/call nests under the model's tool call and resolves the agent via ppid", async (t) => {
  const ask = llm({
    id: 'a',
    start: T0,
    dur: 1000,
    response: {
      id: 'm',
      text: '',
      thinking: null,
      tool_calls: [{ id: 'tc', name: 'mcp__fs__read', arguments: { path: '/x' } }],
      finish_reason: 'tool_use',
    },
  });
  const mcp: McpCallEvent = {
    v: 1,
    ts: T0 + 1_300_000,
    src: 'mcp',
    type: 'call',
    pid: 300,
    comm: 'fs-server',
    transport: 'stdio',
    channel: '300',
    rpc_id: 7,
    method: 'tools/call',
    tool: 'read',
    params: { name: 'read', arguments: { path: '/x' } },
    result: { content: [{ type: 'text', text: 'data' }], isError: true },
    duration_ms: 200,
    start_ts: T0 + 1_100_000,
  };
  const spans = run([
    {
      v: 1,
      ts: T0 - 5,
      src: 'proc',
      type: 'exec',
      pid: 100,
      ppid: 1,
      uid: 0,
      comm: 'agent',
      filename: '/bin/agent',
      argv: ['agent'],
    } as AgentEvent,
    {
      v: 1,
      ts: T0 - 4,
      src: 'proc',
      type: 'exec',
      pid: 300,
      ppid: 100,
      uid: 0,
      comm: 'fs-server',
      filename: '/bin/fs-server',
      argv: ['fs-server'],
    } as AgentEvent,
    ask,
    {
      v: 1,
      ts: T0 + 1_050_000,
      src: 'mcp',
      type: 'call',
      pid: 300,
      transport: 'stdio',
      channel: '300',
      rpc_id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18' },
      result: { protocolVersion: '2025-06-18' },
      duration_ms: 1,
      start_ts: T0 + 1_040_000,
    } as AgentEvent,
    mcp,
  ]);
  const tool = byName(spans, 'execute_tool mcp__fs__read');
  const span = byName(spans, 'tools/call read');
  t.equal(span.parentSpanId, tool.spanId);
  t.equal(span.traceId, tool.traceId);
  t.equal(span.kind, 3);
  t.same(attrs(span), {
    'mcp.method.name': 'tools/call',
    'gen_ai.tool.name': 'read',
    'gen_ai.operation.name': 'execute_tool',
    'jsonrpc.request.id': '7',
    'mcp.protocol.version': '2025-06-18',
    'network.transport': 'pipe',
    'error.type': 'tool_error',
    'agentsight.mcp.channel': '300',
  });
  t.same(span.status, { code: 2 });
  t.equal(byName(spans, 'initialize').parentSpanId, byName(spans, 'invoke_agent agent').spanId);
});

t.test("a Task sub-agent's invoke_agent span is a child of the parent's execute_tool Task span", async (t) => {
  const { events, facts: f } = testing.subagentStream(T0);
  const spans = run(events);
  const attr = (s: OtlpSpan, k: string) => {
    const v = s.attributes.find((a) => a.key === k)?.value;
    return v ? Object.values(v)[0] : undefined;
  };
  const task = spans.find((s) => s.name === 'execute_tool Task')!;
  t.ok(task, 'the Task tool span');
  const sub = spans.find((s) => s.name === 'invoke_agent general-purpose')!;
  t.ok(sub, "the sub-agent's invoke_agent, named by its subagent_type");
  t.equal(sub.parentSpanId, task.spanId, 'under the Task call');
  t.equal(sub.traceId, task.traceId, "in the parent's trace");
  const chat = (id: string) => spans.find((s) => attr(s, 'agentsight.http.request') === `c${f.agentPid}#${id}`)!;
  for (const id of f.subCalls) t.equal(chat(id).parentSpanId, sub.spanId, `${id}: a child of the sub-agent`);
  const root = spans.find((s) => s.name.startsWith('invoke_agent') && !s.parentSpanId)!;
  for (const id of f.parentCalls) t.equal(chat(id).parentSpanId, root.spanId, `${id}: a child of the agent`);
  t.equal(attr(chat('p1'), 'gen_ai.conversation.id'), f.session, 'the conversation id');
  t.equal(attr(chat('s1'), 'gen_ai.conversation.id'), f.subSession);
  t.ok(BigInt(sub.endTimeUnixNano) <= BigInt(task.endTimeUnixNano), 'the sub-agent ends within its tool call');
  const grep = spans.find((s) => s.name === 'execute_tool Bash' && s.parentSpanId === sub.spanId);
  t.ok(grep, "the sub-agent's own tool call under it");
});

t.test('--prices: the cost attribute at the prices given', async (t) => {
  const c = llm({
    id: 'r1',
    start: T0,
    dur: 10,
    model: 'claude-sonnet-4-5',
    usage: { input_tokens: 1e6, output_tokens: 0 },
  });
  const prices = { 'claude-sonnet-4-5': { input: 7, output: 0 } };
  const spans = run([c], { prices });
  const v = spans.find((s) => s.name.startsWith('chat'))!.attributes.find((a) => a.key === 'agentsight.llm.cost_usd')!;
  t.equal(Object.values(v.value)[0], 7);
  t.equal(callCost(c, prices), 7, 'as callCost says');
});

t.test('helpers', async (t) => {
  t.same(splitHost('api.openai.com'), { address: 'api.openai.com', port: 443 });
  t.same(splitHost('127.0.0.1:8443'), { address: '127.0.0.1', port: 8443 });
  t.same(splitHost('[::1]:9'), { address: '::1', port: 9 });
  t.same(
    inputMessages('openai.chat', [
      { role: 'assistant', tool_calls: [{ id: 'c', function: { name: 'f', arguments: '{"a":1}' } }] },
      { role: 'tool', tool_call_id: 'c', content: 'ok' },
    ]),
    [
      { role: 'assistant', parts: [{ type: 'tool_call', id: 'c', name: 'f', arguments: { a: 1 } }] },
      { role: 'tool', parts: [{ type: 'tool_call_response', id: 'c', result: 'ok' }] },
    ],
  );
  t.same(inputMessages('gemini', [{ role: 'model', parts: [{ functionCall: { name: 'f', args: { x: 1 } } }] }]), [
    { role: 'assistant', parts: [{ type: 'tool_call', id: null, name: 'f', arguments: { x: 1 } }] },
  ]);
});

t.test("an agent started by another agent's tool joins its trace under that tool call", async (t) => {
  const exec = (pid: number, ppid: number, comm: string, ts: number) =>
    ({
      v: 1,
      ts,
      src: 'proc',
      type: 'exec',
      pid,
      ppid,
      uid: 0,
      comm,
      filename: `/bin/${comm}`,
      argv: [comm],
    }) as AgentEvent;
  const spans = run([
    exec(100, 1, 'outer', T0),
    llm({
      id: 'o1',
      start: T0 + 1000,
      dur: 1,
      response: {
        id: 'm',
        text: '',
        thinking: null,
        tool_calls: [{ id: 'b1', name: 'Bash', arguments: { command: 'inner -p hi' } }],
        finish_reason: 'tool_use',
      },
    }),
    exec(150, 100, 'bash', T0 + 3000),
    exec(200, 150, 'inner', T0 + 4000),
    llm({ id: 'i1', pid: 200, comm: 'inner', start: T0 + 5000, dur: 0.5 }),
    { v: 1, ts: T0 + 6000, src: 'proc', type: 'exit', pid: 200, comm: 'inner', exit_code: 0 } as AgentEvent,
  ]);
  const outer = byName(spans, 'invoke_agent outer');
  const inner = byName(spans, 'invoke_agent inner');
  const bash = byName(spans, 'execute_tool Bash');
  t.equal(inner.traceId, outer.traceId);
  t.equal(inner.parentSpanId, bash.spanId);
  t.equal(inner.startTimeUnixNano, `${T0 + 4000}000`);
  t.equal(inner.endTimeUnixNano, `${T0 + 6000}000`);
  const innerChat = spans.find((s) => attrs(s)['agentsight.http.request'] === 'i1')!;
  t.equal(innerChat.parentSpanId, inner.spanId);
  t.equal(innerChat.traceId, outer.traceId);
});

t.test('MCP over stdio before the first model call belongs to the client that started the server', async (t) => {
  const exec = (pid: number, ppid: number, comm: string, ts: number) =>
    ({
      v: 1,
      ts,
      src: 'proc',
      type: 'exec',
      pid,
      ppid,
      uid: 0,
      comm,
      filename: `/bin/${comm}`,
      argv: [comm],
    }) as AgentEvent;
  const spans = run([
    exec(100, 1, 'agent', T0),
    exec(300, 100, 'srv', T0 + 10),
    {
      v: 1,
      ts: T0 + 30,
      src: 'mcp',
      type: 'call',
      pid: 300,
      transport: 'stdio',
      channel: '300',
      rpc_id: 0,
      method: 'initialize',
      params: {},
      result: { protocolVersion: '2025-06-18' },
      duration_ms: 0.01,
      start_ts: T0 + 20,
    } as AgentEvent,
    llm({ id: 'a', start: T0 + 100, dur: 1 }),
  ]);
  t.same(spans.map((s) => s.name).sort(), ['chat claude-x', 'initialize', 'invoke_agent agent']);
  t.equal(new Set(spans.map((s) => s.traceId)).size, 1);
  t.equal(byName(spans, 'initialize').parentSpanId, byName(spans, 'invoke_agent agent').spanId);
});

t.test('processes a tool ran (trace/link tool_process) nest under its execute_tool span', async (t) => {
  const ask = llm({
    id: 'a',
    start: T0,
    dur: 1,
    response: {
      id: 'm',
      text: '',
      thinking: null,
      tool_calls: [{ id: 'tb', name: 'Bash', arguments: { command: 'make test' } }],
      finish_reason: 'tool_use',
    },
  });
  const link = {
    v: 1,
    ts: T0 + 900_000,
    src: 'trace',
    type: 'link',
    kind: 'tool_process',
    from: 'tb',
    to: [201, 202],
    confidence: 0.95,
    reasons: ['lineage', 'time'],
    detail: {
      call: 'a',
      tool: 'Bash',
      index: 0,
      agent_pid: 100,
      processes: [
        {
          pid: 201,
          ppid: 100,
          argv: ['/usr/bin/make', 'test'],
          cwd: '/src',
          start_ts: T0 + 10_000,
          end_ts: T0 + 800_000,
          exit_code: 2,
          files: [{}, {}],
          net: [],
        },
        {
          pid: 202,
          ppid: 201,
          argv: ['cc', '-c', 'x.c'],
          start_ts: T0 + 20_000,
          end_ts: T0 + 700_000,
          exit_code: 0,
          files: [],
          net: [],
        },
      ],
    },
  } as AgentEvent;
  const spans = run([ask, link]);
  const tool = byName(spans, 'execute_tool Bash');
  const make = byName(spans, 'exec make');
  const cc = byName(spans, 'exec cc');
  t.equal(make.parentSpanId, tool.spanId);
  t.equal(cc.parentSpanId, make.spanId);
  t.equal(make.traceId, tool.traceId);
  t.same([make.startTimeUnixNano, make.endTimeUnixNano], [`${T0 + 10_000}000`, `${T0 + 800_000}000`]);
  t.same(attrs(make), {
    'process.pid': 201,
    'process.parent_pid': 100,
    'process.executable.name': 'make',
    'process.command_line': '/usr/bin/make test',
    'process.working_directory': '/src',
    'process.exit.code': 2,
    'agentsight.process.files': 2,
    'agentsight.process.connections': 0,
    'agentsight.link.confidence': 0.95,
    'agentsight.link.reasons': { values: [{ stringValue: 'lineage' }, { stringValue: 'time' }] },
  });
});

t.test("a call completing just after its process exit event joins the closed agent's trace", async (t) => {
  const spans = run([
    {
      v: 1,
      ts: T0,
      src: 'proc',
      type: 'exec',
      pid: 100,
      ppid: 1,
      uid: 0,
      comm: 'agent',
      filename: '/bin/agent',
      argv: ['agent'],
    } as AgentEvent,
    { v: 1, ts: T0 + 1_000_000, src: 'proc', type: 'exit', pid: 100, comm: 'agent', exit_code: 0 } as AgentEvent,
    llm({
      id: 'late',
      start: T0 + 500_000,
      dur: 600,
      response: {
        id: 'm',
        text: '',
        thinking: null,
        tool_calls: [{ id: 'x', name: 'Read', arguments: {} }],
        finish_reason: 'tool_use',
      },
    }),
  ]);
  const root = byName(spans, 'invoke_agent agent');
  const chat = byName(spans, 'chat claude-x');
  const tool = byName(spans, 'execute_tool Read');
  t.equal(spans.length, 3, 'no second agent');
  t.equal(chat.traceId, root.traceId);
  t.equal(chat.parentSpanId, root.spanId);
  t.equal(tool.parentSpanId, root.spanId);
  t.equal(attrs(tool)['agentsight.tool.result_seen'], false);
});
