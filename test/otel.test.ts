// as-otel end to end: the built tool, spawned as a user would, exporting to a real OTLP/HTTP
// receiver on loopback that decodes with the official OTLP protobuf definitions.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { ensureCerts } from '@agentsight/mock-llm';
import { type ReceivedSpan, startOtlpReceiver } from '@agentsight/otel';
import t from 'tap';
import { runTool, toolPath } from './lib/run.js';

const T0 = 1_764_150_000_000_000; // µs since the epoch
const ns = (us: number) => `${us}000`;
const ndjson = (evs: object[]) => evs.map((e) => JSON.stringify(e)).join('\n') + '\n';

const system = 'You are terse.';
const ask = { role: 'user', content: 'Weather in Paris?' };
const toolUse = { type: 'tool_use', id: 'toolu_01', name: 'mcp__weather__get_weather', input: { city: 'Paris' } };
const llmBase = {
  v: 1,
  src: 'llm',
  type: 'call',
  pid: 4242,
  tid: 4243,
  comm: 'claude',
  provider: 'anthropic',
  api: 'anthropic.messages',
  conn: 'c1',
  host: 'api.anthropic.com',
};

/** An agent (pid 4242) that asks for an MCP tool, gets its answer, then hits an overload error. */
const scenario = [
  {
    v: 1,
    ts: T0,
    src: 'proc',
    type: 'exec',
    pid: 4242,
    tid: 4242,
    ppid: 1000,
    uid: 1000,
    comm: 'claude',
    filename: '/usr/local/bin/claude',
    argv: ['claude', '-p', 'weather?'],
    cwd: '/home/u',
  },
  {
    v: 1,
    ts: T0 + 100_000,
    src: 'proc',
    type: 'exec',
    pid: 4300,
    tid: 4300,
    ppid: 4242,
    uid: 1000,
    comm: 'weather-mcp',
    filename: '/usr/bin/weather-mcp',
    argv: ['weather-mcp'],
  },
  {
    ...llmBase,
    ts: T0 + 1_800_000,
    id: 'c1#0',
    req: 'c1#0',
    model: 'claude-sonnet-4-5-20250929',
    request: {
      system,
      messages: [ask],
      tools: [{ name: 'mcp__weather__get_weather', input_schema: { type: 'object' } }],
      params: { model: 'claude-sonnet-4-5', max_tokens: 1024, temperature: 0.2 },
      stream: true,
    },
    response: {
      id: 'msg_01',
      text: 'Checking.',
      thinking: null,
      tool_calls: [{ id: 'toolu_01', name: 'mcp__weather__get_weather', arguments: { city: 'Paris' } }],
      finish_reason: 'tool_use',
    },
    usage: { input_tokens: 20, output_tokens: 15 },
    status: 200,
    timing: { start: T0 + 1_000_000, ttft_ms: 250, duration_ms: 800 },
  },
  {
    v: 1,
    ts: T0 + 2_050_000,
    src: 'mcp',
    type: 'call',
    pid: 4300,
    comm: 'weather-mcp',
    transport: 'stdio',
    channel: '4300',
    rpc_id: 3,
    method: 'tools/call',
    tool: 'get_weather',
    params: { name: 'get_weather', arguments: { city: 'Paris' } },
    result: { content: [{ type: 'text', text: 'rainy, 14°C' }] },
    duration_ms: 150,
    start_ts: T0 + 1_900_000,
  },
  {
    ...llmBase,
    ts: T0 + 2_800_000,
    id: 'c1#1',
    req: 'c1#1',
    model: 'claude-sonnet-4-5-20250929',
    request: {
      system,
      messages: [
        ask,
        { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, toolUse] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_01', content: 'rainy, 14°C' }] },
      ],
      params: { model: 'claude-sonnet-4-5', max_tokens: 1024 },
      stream: true,
    },
    response: { id: 'msg_02', text: 'Rainy, 14°C.', thinking: null, tool_calls: [], finish_reason: 'end_turn' },
    usage: { input_tokens: 40, output_tokens: 8, cache_read_input_tokens: 30, cache_creation_input_tokens: 10 },
    status: 200,
    timing: { start: T0 + 2_200_000, duration_ms: 600 },
  },
  {
    ...llmBase,
    ts: T0 + 3_050_000,
    id: 'c1#2',
    req: 'c1#2',
    model: null,
    request: { messages: [ask], params: { model: 'claude-sonnet-4-5', max_tokens: 1024 }, stream: true },
    response: { id: null, text: '', thinking: null, tool_calls: [], finish_reason: null },
    usage: {},
    status: 529,
    error: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
    timing: { start: T0 + 3_000_000, duration_ms: 50 },
  },
  { v: 1, ts: T0 + 4_000_000, src: 'proc', type: 'exit', pid: 4242, comm: 'claude', exit_code: 0 },
];

const env: NodeJS.ProcessEnv = {
  ...process.env,
  OTEL_SERVICE_NAME: 'e2e',
  OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test',
};
for (const k of Object.keys(env)) if (k.startsWith('OTEL_EXPORTER_')) delete env[k];

function find(spans: ReceivedSpan[], name: string): ReceivedSpan {
  const s = spans.filter((x) => x.name === name);
  if (s.length !== 1)
    throw new Error(`want one span ${name}, got ${s.length} among ${spans.map((x) => x.name).join(', ')}`);
  return s[0]!;
}

async function exportScenario(args: string[]) {
  const rx = await startOtlpReceiver();
  try {
    const r = await runTool('as-otel', ['--endpoint', rx.url, ...args], {
      stdin: ndjson(scenario),
      env,
      timeoutMs: 30_000,
    });
    return { r, rx, spans: rx.accepted() };
  } finally {
    await rx.close();
  }
}

t.test('spans, attributes, parents and times for text, tool, error and MCP calls', async (t) => {
  const { r, rx, spans } = await exportScenario([]);
  t.equal(r.code, 0, r.stderr);
  t.equal(rx.requests.length, 1);
  t.equal(rx.requests[0]!.headers['content-type'], 'application/x-protobuf');
  t.equal(rx.requests[0]!.path, '/v1/traces');
  t.equal(spans.length, 6);

  const root = find(spans, 'invoke_agent claude');
  const chat1 = spans.find((s) => s.attributes['gen_ai.response.id'] === 'msg_01')!;
  const chat2 = spans.find((s) => s.attributes['gen_ai.response.id'] === 'msg_02')!;
  const chat3 = spans.find((s) => s.attributes['agentsight.http.request'] === 'c1#2')!;
  const tool = find(spans, 'execute_tool mcp__weather__get_weather');
  const mcp = find(spans, 'tools/call get_weather');

  t.same(root.resource, {
    'service.name': 'e2e',
    'telemetry.sdk.name': 'agentsight',
    'telemetry.sdk.language': 'nodejs',
    'telemetry.sdk.version': root.resource['telemetry.sdk.version'],
    'host.name': os.hostname(),
    // The machine id stays when the name changes, or when two hosts share one.
    'host.id': fs.readFileSync('/etc/machine-id', 'utf8').trim(),
    'deployment.environment': 'test',
  });
  t.equal(root.scope.name, 'agentsight.as-otel');
  for (const s of spans) t.equal(s.traceId, root.traceId, `${s.name}: one trace per agent`);

  t.same(
    {
      parent: root.parentSpanId,
      kind: root.kind,
      start: root.startTimeUnixNano,
      end: root.endTimeUnixNano,
      status: root.status,
    },
    { parent: undefined, kind: 1, start: ns(T0), end: ns(T0 + 4_000_000), status: undefined },
  );
  t.same(root.attributes, {
    'gen_ai.operation.name': 'invoke_agent',
    'gen_ai.provider.name': 'anthropic',
    'gen_ai.agent.name': 'claude',
    'gen_ai.request.model': 'claude-sonnet-4-5',
    'process.pid': 4242,
    'process.parent_pid': 1000,
    'process.executable.name': 'claude',
    'process.executable.path': '/usr/local/bin/claude',
    'process.command_line': 'claude -p weather?',
    'process.working_directory': '/home/u',
    'process.user.id': 1000,
    'process.exit.code': 0,
    'gen_ai.usage.input_tokens': 100,
    'gen_ai.usage.output_tokens': 23,
    'agentsight.llm.calls': 3,
  });

  t.same(
    {
      name: chat1.name,
      parent: chat1.parentSpanId,
      kind: chat1.kind,
      start: chat1.startTimeUnixNano,
      end: chat1.endTimeUnixNano,
      status: chat1.status,
    },
    {
      name: 'chat claude-sonnet-4-5',
      parent: root.spanId,
      kind: 3,
      start: ns(T0 + 1_000_000),
      end: ns(T0 + 1_800_000),
      status: undefined,
    },
  );
  t.same(chat1.attributes, {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'anthropic',
    'gen_ai.request.model': 'claude-sonnet-4-5',
    'server.address': 'api.anthropic.com',
    'server.port': 443,
    'gen_ai.request.temperature': 0.2,
    'gen_ai.request.max_tokens': 1024,
    'gen_ai.response.id': 'msg_01',
    'gen_ai.response.model': 'claude-sonnet-4-5-20250929',
    'gen_ai.response.finish_reasons': ['tool_use'],
    'gen_ai.usage.input_tokens': 20,
    'gen_ai.usage.output_tokens': 15,
    'http.response.status_code': 200,
    'agentsight.llm.api': 'anthropic.messages',
    'agentsight.llm.stream': true,
    'agentsight.llm.ttft_ms': 250,
    'agentsight.http.request': 'c1#0',
    'agentsight.llm.cost_usd': 0.000285,
  });
  t.same(
    [
      chat1.types['gen_ai.request.temperature'],
      chat1.types['gen_ai.request.max_tokens'],
      chat1.types['server.port'],
      chat1.types['agentsight.llm.ttft_ms'],
      chat1.types['gen_ai.response.finish_reasons'],
    ],
    ['doubleValue', 'intValue', 'intValue', 'doubleValue', 'arrayValue'],
  );

  t.same(
    {
      parent: tool.parentSpanId,
      kind: tool.kind,
      start: tool.startTimeUnixNano,
      end: tool.endTimeUnixNano,
      links: tool.links,
    },
    {
      parent: root.spanId,
      kind: 1,
      start: ns(T0 + 1_800_000),
      end: ns(T0 + 2_200_000),
      links: [{ traceId: root.traceId, spanId: chat1.spanId }],
    },
  );
  t.same(tool.attributes, {
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': 'mcp__weather__get_weather',
    'gen_ai.tool.call.id': 'toolu_01',
    'gen_ai.tool.type': 'function',
  });

  t.same(
    {
      parent: mcp.parentSpanId,
      kind: mcp.kind,
      start: mcp.startTimeUnixNano,
      end: mcp.endTimeUnixNano,
      status: mcp.status,
    },
    { parent: tool.spanId, kind: 3, start: ns(T0 + 1_900_000), end: ns(T0 + 2_050_000), status: undefined },
  );
  t.same(mcp.attributes, {
    'mcp.method.name': 'tools/call',
    'gen_ai.tool.name': 'get_weather',
    'gen_ai.operation.name': 'execute_tool',
    'jsonrpc.request.id': '3',
    'network.transport': 'pipe',
    'agentsight.mcp.channel': '4300',
  });

  t.same(
    { name: chat2.name, parent: chat2.parentSpanId, start: chat2.startTimeUnixNano, end: chat2.endTimeUnixNano },
    { name: 'chat claude-sonnet-4-5', parent: root.spanId, start: ns(T0 + 2_200_000), end: ns(T0 + 2_800_000) },
  );
  t.same(
    [
      chat2.attributes['gen_ai.usage.input_tokens'],
      chat2.attributes['gen_ai.usage.cache_read.input_tokens'],
      chat2.attributes['gen_ai.usage.cache_creation.input_tokens'],
      chat2.attributes['gen_ai.response.finish_reasons'],
    ],
    [80, 30, 10, ['end_turn']],
    'Anthropic input_tokens + cache reads + cache writes',
  );

  t.same(
    {
      name: chat3.name,
      parent: chat3.parentSpanId,
      start: chat3.startTimeUnixNano,
      end: chat3.endTimeUnixNano,
      status: chat3.status,
    },
    {
      name: 'chat claude-sonnet-4-5',
      parent: root.spanId,
      start: ns(T0 + 3_000_000),
      end: ns(T0 + 3_050_000),
      status: { code: 2, message: 'Overloaded' },
    },
  );
  t.same(chat3.attributes, {
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'anthropic',
    'gen_ai.request.model': 'claude-sonnet-4-5',
    'server.address': 'api.anthropic.com',
    'server.port': 443,
    'gen_ai.request.max_tokens': 1024,
    'error.type': 'overloaded_error',
    'http.response.status_code': 529,
    'agentsight.llm.api': 'anthropic.messages',
    'agentsight.llm.stream': true,
    'agentsight.http.request': 'c1#2',
  });
  t.notOk(
    spans.some((s) =>
      Object.keys(s.attributes).some((k) => /messages|instructions|arguments|result|definitions/.test(k)),
    ),
    'no content without --capture-content',
  );
});

t.test(
  '--capture-content over http/json with gzip: the conventions content shapes; same ids as protobuf',
  async (t) => {
    const pb = await exportScenario([]);
    const { r, rx, spans } = await exportScenario([
      '--capture-content',
      '--protocol',
      'http/json',
      '--compression',
      'gzip',
    ]);
    t.equal(r.code, 0, r.stderr);
    t.equal(rx.requests[0]!.headers['content-type'], 'application/json');
    t.equal(rx.requests[0]!.headers['content-encoding'], 'gzip');
    const key = (s: ReceivedSpan) =>
      `${s.traceId}/${s.spanId}/${s.parentSpanId ?? ''}/${s.name}/${s.startTimeUnixNano}/${s.endTimeUnixNano}`;
    t.same(
      spans.map(key).sort(),
      pb.spans.map(key).sort(),
      'ids and times do not depend on the encoding, and re-export is idempotent',
    );

    const chat1 = spans.find((s) => s.attributes['gen_ai.response.id'] === 'msg_01')!;
    const chat2 = spans.find((s) => s.attributes['gen_ai.response.id'] === 'msg_02')!;
    const tool = find(spans, 'execute_tool mcp__weather__get_weather');
    const mcp = find(spans, 'tools/call get_weather');
    const json = (s: ReceivedSpan, k: string) => JSON.parse(s.attributes[k] as string);
    t.same(json(chat1, 'gen_ai.system_instructions'), [{ type: 'text', content: 'You are terse.' }]);
    t.same(json(chat1, 'gen_ai.input.messages'), [
      { role: 'user', parts: [{ type: 'text', content: 'Weather in Paris?' }] },
    ]);
    t.same(json(chat1, 'gen_ai.output.messages'), [
      {
        role: 'assistant',
        finish_reason: 'tool_call',
        parts: [
          { type: 'text', content: 'Checking.' },
          { type: 'tool_call', id: 'toolu_01', name: 'mcp__weather__get_weather', arguments: { city: 'Paris' } },
        ],
      },
    ]);
    t.same(json(chat1, 'gen_ai.tool.definitions'), [
      { name: 'mcp__weather__get_weather', input_schema: { type: 'object' } },
    ]);
    t.same(json(chat2, 'gen_ai.input.messages'), [
      { role: 'user', parts: [{ type: 'text', content: 'Weather in Paris?' }] },
      {
        role: 'assistant',
        parts: [
          { type: 'text', content: 'Checking.' },
          { type: 'tool_call', id: 'toolu_01', name: 'mcp__weather__get_weather', arguments: { city: 'Paris' } },
        ],
      },
      { role: 'user', parts: [{ type: 'tool_call_response', id: 'toolu_01', result: 'rainy, 14°C' }] },
    ]);
    t.same(json(chat2, 'gen_ai.output.messages'), [
      { role: 'assistant', parts: [{ type: 'text', content: 'Rainy, 14°C.' }], finish_reason: 'stop' },
    ]);
    t.equal(tool.attributes['gen_ai.tool.call.arguments'], '{"city":"Paris"}');
    t.equal(tool.attributes['gen_ai.tool.call.result'], 'rainy, 14°C');
    t.same(json(mcp, 'gen_ai.tool.call.arguments'), { city: 'Paris' });
    t.same(json(mcp, 'gen_ai.tool.call.result'), { content: [{ type: 'text', text: 'rainy, 14°C' }] });
  },
);

t.test('configured by OTEL_* variables alone: https with a private CA, headers, batch size', async (t) => {
  const certs = ensureCerts();
  const rx = await startOtlpReceiver(undefined, {
    tls: { key: fs.readFileSync(certs.keyPath, 'utf8'), cert: fs.readFileSync(certs.certPath, 'utf8') },
  });
  t.teardown(() => rx.close());
  const otel = {
    ...env,
    OTEL_EXPORTER_OTLP_ENDPOINT: rx.url,
    OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20tok',
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '4',
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
  };
  const r = await runTool('as-otel', [], {
    stdin: ndjson(scenario),
    env: { ...otel, OTEL_EXPORTER_OTLP_CERTIFICATE: certs.caPath },
    timeoutMs: 30_000,
  });
  t.equal(r.code, 0, r.stderr);
  t.same(
    rx.requests.map((q) => [
      q.path,
      q.headers.authorization,
      q.headers['content-type'],
      q.headers['content-encoding'],
      q.spans.length,
    ]),
    [
      ['/v1/traces', 'Bearer tok', 'application/json', 'gzip', 4],
      ['/v1/traces', 'Bearer tok', 'application/json', 'gzip', 2],
    ],
  );
  // Without the CA the certificate is not trusted: spans lost, reported, exit 0.
  const bad = await runTool('as-otel', ['--max-retries', '0'], {
    stdin: ndjson(scenario),
    env: { ...otel, NODE_EXTRA_CA_CERTS: '' },
    timeoutMs: 30_000,
  });
  t.equal(bad.code, 0, bad.stderr);
  t.match(bad.stderr, /0 of 6 spans exported .* 6 lost/);
  t.match(bad.stderr, /CERT|certificate|SELF_SIGNED|UNABLE/i);
  t.equal(rx.requests.length, 2);
});

t.test('--header takes one value per flag: the FILE after it is read, not sent as a header', async (t) => {
  const dir = fs.mkdtempSync('/tmp/as-otel-header-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = `${dir}/cap.ndjson`;
  fs.writeFileSync(file, ndjson(scenario));
  const rx = await startOtlpReceiver();
  t.teardown(() => rx.close());
  const r = await runTool('as-otel', ['--endpoint', rx.url, '--header', 'x-team=blue', '--header', 'x-env=ci', file], {
    env,
    timeoutMs: 30_000,
  });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, /6 of 6 spans exported/);
  t.same(
    rx.requests.map((q) => [q.headers['x-team'], q.headers['x-env']]),
    [['blue', 'ci']],
  );
});

t.test('--stdout writes the OTLP/JSON requests instead of sending', async (t) => {
  const r = await runTool('as-otel', ['--stdout', '--endpoint', 'http://127.0.0.1:9'], {
    stdin: ndjson(scenario),
    env,
    timeoutMs: 30_000,
  });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.events.length, 1);
  const spans = r.events[0]!.resourceSpans[0].scopeSpans[0].spans as Array<{ name: string; traceId: string }>;
  t.equal(spans.length, 6);
  t.ok(spans.every((s) => /^[0-9a-f]{32}$/.test(s.traceId)));
});

t.test('fault: 503 then 200 is retried and nothing is lost or doubled', async (t) => {
  const rx = await startOtlpReceiver((n) =>
    n === 0 ? { status: 503, headers: { 'retry-after': '0' } } : { status: 200 },
  );
  t.teardown(() => rx.close());
  const r = await runTool('as-otel', ['--endpoint', rx.url], { stdin: ndjson(scenario), env, timeoutMs: 30_000 });
  t.equal(r.code, 0, r.stderr);
  t.same(
    rx.requests.map((q) => q.status),
    [503, 200],
  );
  t.equal(rx.accepted().length, 6);
  t.equal(new Set(rx.accepted().map((s) => s.spanId)).size, 6);
  t.match(r.stderr, /6 of 6 spans exported in 2 requests, 1 retries/);
  t.notMatch(r.stderr, /lost/);
});

t.test('fault: 400 is not retried; the spans are reported lost', async (t) => {
  const rx = await startOtlpReceiver(() => ({
    status: 400,
    headers: { 'content-type': 'text/plain' },
    body: 'invalid span',
  }));
  t.teardown(() => rx.close());
  const r = await runTool('as-otel', ['--endpoint', rx.url], { stdin: ndjson(scenario), env, timeoutMs: 30_000 });
  t.equal(r.code, 0, r.stderr);
  t.equal(rx.requests.length, 1);
  t.match(r.stderr, /collector refused 6 spans \(HTTP 400: invalid span\); not retried/);
  t.match(r.stderr, /0 of 6 spans exported in 1 requests; 6 lost \(0 dropped: queue full, 6 failed\)/);
});

t.test(
  'fault: collector down for the whole run: bounded queue, prompt clean exit, every span counted lost',
  async (t) => {
    // tcpmux (1): reserved and never served here, unlike a freed ephemeral port another test may take.
    const port = 1;
    const calls = 3000;
    const evs = Array.from({ length: calls }, (_, i) => ({
      ...llmBase,
      pid: 5000 + (i % 30),
      ts: T0 + i * 1000 + 500,
      id: `k#${i}`,
      req: `k#${i}`,
      model: 'm',
      request: { messages: [], stream: false },
      response: { id: `r${i}`, text: 'x'.repeat(200), thinking: null, tool_calls: [], finish_reason: 'end_turn' },
      usage: {},
      status: 200,
      timing: { start: T0 + i * 1000, duration_ms: 0.5 },
    }));
    const t0 = Date.now();
    const r = await runTool(
      'as-otel',
      [
        '--endpoint',
        `http://127.0.0.1:${port}`,
        '--max-queue',
        '100',
        '--batch-size',
        '50',
        '--batch-delay-ms',
        '10',
        '--max-retries',
        '1000',
        '--flush-timeout-ms',
        '1000',
      ],
      { stdin: ndjson(evs), env, timeoutMs: 60_000 },
    );
    const took = Date.now() - t0;
    t.equal(r.code, 0, r.stderr);
    t.ok(took < 20_000, `exited after ${took} ms`);
    const m =
      /0 of (\d+) spans exported in \d+ requests, \d+ retries; (\d+) lost \((\d+) dropped: queue full, (\d+) failed\)/.exec(
        r.stderr,
      );
    t.ok(m, r.stderr);
    const [total, lost, dropped, failed] = m!.slice(1).map(Number) as [number, number, number, number];
    t.equal(total, calls + 30, 'one chat span per call and one root per agent pid');
    t.equal(lost, total);
    t.equal(dropped + failed, total);
    t.ok(failed <= 150, `no more than the queue (100) and one batch (50) were ever held: ${failed}`);
    t.match(r.stderr, /ECONNREFUSED/);
  },
);

t.test('a slow but working collector slows the input instead of losing spans', async (t) => {
  const rx = await startOtlpReceiver(() => ({ status: 200, delayMs: 100 }));
  t.teardown(() => rx.close());
  const calls = 2000;
  const evs = Array.from({ length: calls }, (_, i) => ({
    ...llmBase,
    ts: T0 + i * 1000 + 500,
    id: `s#${i}`,
    req: `s#${i}`,
    model: 'm',
    request: { messages: [], stream: false },
    response: { id: `r${i}`, text: 'x', thinking: null, tool_calls: [], finish_reason: 'end_turn' },
    usage: {},
    status: 200,
    timing: { start: T0 + i * 1000, duration_ms: 0.5 },
  }));
  // The queue (1000) holds far fewer spans than the input; reading pauses at half of it.
  const r = await runTool(
    'as-otel',
    ['--endpoint', rx.url, '--max-queue', '1000', '--batch-size', '50', '--batch-delay-ms', '10'],
    { stdin: ndjson(evs), env, timeoutMs: 60_000 },
  );
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stderr, /lost|dropping/);
  t.equal(rx.accepted().length, calls + 1);
  t.ok(rx.requests.length >= (calls + 1) / 50, `${rx.requests.length} requests of at most 50 spans`);
});

t.test('SIGTERM flushes what was read, including the open agents, and exits 0', async (t) => {
  const rx = await startOtlpReceiver();
  t.teardown(() => rx.close());
  // No exit event: the agent is still open when the signal comes.
  const evs = scenario.filter((e) => e.type !== 'exit');
  const child = spawn(
    process.execPath,
    [toolPath('as-otel'), '--endpoint', rx.url, '--tee', '--batch-delay-ms', '600000'],
    { env, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const echoed = new Promise<void>((res) =>
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.split('\n').length > evs.length) res();
    }),
  );
  child.stdin.write(ndjson(evs));
  const timeout = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await echoed;
  t.equal(rx.requests.length, 0, 'nothing sent before the batch delay');
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  clearTimeout(timeout);
  t.equal(code, 0, err);
  const spans = rx.accepted();
  t.equal(spans.length, 6);
  const root = find(spans, 'invoke_agent claude');
  t.equal(root.endTimeUnixNano, ns(T0 + 3_050_000), 'an agent still running ends at its last captured activity');
  t.equal(root.attributes['process.exit.code'], undefined);
});
