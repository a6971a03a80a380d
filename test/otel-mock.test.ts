// as-otel on a real capture of the mock LLM server: an agent-like client talks to the mock
// (Anthropic Messages, streamed) and to a small MCP server over HTTP through a loopback proxy
// that records the plaintext both ways as ssl/data events, the way as-sslsniff reports
// SSL_write/SSL_read. Those go through the real as-http | as-merge, then as-otel exports to
// a loopback OTLP receiver that decodes with the official protobuf definitions.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { encodePayload, nowUs } from '@agentsight/events';
import { startMockLlm } from '@agentsight/mock-llm';
import { type ReceivedSpan, startOtlpReceiver } from '@agentsight/otel';
import t from 'tap';
import { runCommand, runTool, toolPath } from './lib/run.js';

/** A TCP proxy to `port` recording each connection's bytes as ssl/data events. */
async function recordingProxy(port: number, events: object[], connPrefix: string) {
  let nconn = 0;
  const server = net.createServer((client) => {
    const conn = `${connPrefix}${nconn++}`;
    const seq = { read: 0, write: 0 };
    const upstream = net.connect(port, '127.0.0.1');
    const record = (dir: 'read' | 'write', chunk: Buffer) => {
      events.push({
        v: 1,
        ts: nowUs(),
        src: 'ssl',
        type: 'data',
        pid: process.pid,
        tid: process.pid,
        comm: 'agent',
        conn,
        dir,
        seq: seq[dir]++,
        len: chunk.length,
        lib: 'openssl',
        ...encodePayload(chunk),
      });
    };
    client.on('data', (c: Buffer) => {
      record('write', c);
      upstream.write(c);
    });
    upstream.on('data', (c: Buffer) => {
      record('read', c);
      client.write(c);
    });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A minimal MCP server over streamable HTTP (JSON responses). */
async function mcpServer() {
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString();
    });
    req.on('end', () => {
      const m = JSON.parse(body) as {
        id?: number;
        method: string;
        params?: { name?: string; arguments?: { city?: string } };
      };
      if (m.id === undefined) {
        res.writeHead(202).end();
        return;
      }
      const result =
        m.method === 'initialize'
          ? {
              protocolVersion: '2025-06-18',
              capabilities: { tools: {} },
              serverInfo: { name: 'weather', version: '1' },
            }
          : { content: [{ type: 'text', text: `rainy in ${m.params?.arguments?.city}` }] };
      res
        .writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'sess-1' })
        .end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

t.test('text, tool, error and MCP calls captured from the mock, through as-http | as-merge | as-otel', async (t) => {
  const mock = await startMockLlm({
    tls: false,
    script: [
      {
        text: 'Let me check.',
        toolCalls: [{ id: 'toolu_mock1', name: 'mcp__weather__get_weather', arguments: { city: 'Paris' } }],
        usage: { input_tokens: 21, output_tokens: 12 },
      },
      { text: 'It is rainy in Paris.', usage: { input_tokens: 50, output_tokens: 9, cache_read_input_tokens: 40 } },
      { error: { status: 529, type: 'overloaded_error', message: 'Overloaded' } },
    ],
  });
  const mcp = await mcpServer();
  const ssl: object[] = [];
  const llmProxy = await recordingProxy(mock.port, ssl, 'llm');
  const mcpProxy = await recordingProxy(mcp.port, ssl, 'mcp');
  t.teardown(async () => {
    await llmProxy.close();
    await mcpProxy.close();
    await mcp.close();
    await mock.close();
  });

  const base = `http://127.0.0.1:${llmProxy.port}`;
  const tools = [
    {
      name: 'mcp__weather__get_weather',
      description: 'weather',
      input_schema: { type: 'object', properties: { city: { type: 'string' } } },
    },
  ];
  const ask = { role: 'user', content: 'Weather in Paris?' };
  const post = async (url: string, body: unknown, headers: Record<string, string> = {}) => {
    const r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: r.status, text: await r.text() };
  };
  const anthropic = (messages: unknown[]) =>
    post(
      `${base}/v1/messages`,
      { model: 'claude-sonnet-4-5', max_tokens: 512, system: 'Be brief.', stream: true, tools, messages },
      { 'anthropic-version': '2023-06-01', 'x-api-key': 'sk-test' },
    );

  const r1 = await anthropic([ask]);
  t.equal(r1.status, 200);
  const mcpUrl = `http://127.0.0.1:${mcpProxy.port}/mcp`;
  await post(mcpUrl, {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'agent', version: '1' } },
  });
  await post(mcpUrl, { jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': 'sess-1' });
  const tr = await post(
    mcpUrl,
    { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'get_weather', arguments: { city: 'Paris' } } },
    { 'mcp-session-id': 'sess-1' },
  );
  t.match(tr.text, /rainy in Paris/);
  const r2 = await anthropic([
    ask,
    {
      role: 'assistant',
      content: [
        { type: 'text', text: 'Let me check.' },
        { type: 'tool_use', id: 'toolu_mock1', name: 'mcp__weather__get_weather', input: { city: 'Paris' } },
      ],
    },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_mock1', content: 'rainy in Paris' }] },
  ]);
  t.equal(r2.status, 200);
  const r3 = await anthropic([ask]);
  t.equal(r3.status, 529);
  await new Promise((r) => setTimeout(r, 100));

  // The capture, through the real pipeline.
  const input = ssl.map((e) => JSON.stringify(e)).join('\n') + '\n';
  const merged = await runCommand('bash', ['-c', `node ${toolPath('as-http')} | node ${toolPath('as-merge')}`], {
    stdin: input,
    timeoutMs: 60_000,
  });
  t.equal(merged.code, 0, merged.stderr);
  const calls = merged.events.filter((e) => e.src === 'llm' && e.type === 'call');
  const mcps = merged.events.filter((e) => e.src === 'mcp' && e.type === 'call');
  t.equal(calls.length, 3, 'three model calls merged');
  t.ok(
    mcps.some((e) => e.method === 'tools/call'),
    'the MCP tool call merged',
  );

  const rx = await startOtlpReceiver();
  t.teardown(() => rx.close());
  const r = await runTool('as-otel', ['--endpoint', rx.url, '--capture-content'], {
    stdin: merged.stdout,
    timeoutMs: 30_000,
    env: { ...process.env, OTEL_SERVICE_NAME: 'mock-e2e' },
  });
  t.equal(r.code, 0, r.stderr);
  const spans = rx.accepted();
  const ns = (us: number) => `${us}000`;
  const one = (pred: (s: ReceivedSpan) => boolean, what: string) => {
    const m = spans.filter(pred);
    t.equal(m.length, 1, what);
    return m[0]!;
  };

  const root = one((s) => s.name === 'invoke_agent agent', 'one agent root (synthesized: no proc events)');
  const chats = spans
    .filter((s) => s.attributes['gen_ai.operation.name'] === 'chat')
    .sort((a, b) => a.startTimeUnixNano.localeCompare(b.startTimeUnixNano));
  t.equal(chats.length, 3);
  const tool = one((s) => s.name === 'execute_tool mcp__weather__get_weather', 'execute_tool span');
  const mcpSpan = one((s) => s.name === 'tools/call get_weather', 'MCP tools/call span');
  for (const s of spans) t.equal(s.traceId, root.traceId, `${s.name} in the agent's trace`);
  for (const c of chats) t.equal(c.parentSpanId, root.spanId);

  // Span times are the captured ones, as merged.
  calls.sort((a, b) => a.timing.start - b.timing.start);
  chats.forEach((c, i) => {
    t.equal(c.startTimeUnixNano, ns(calls[i]!.timing.start), `call ${i} start`);
    t.equal(
      c.endTimeUnixNano,
      ns(calls[i]!.timing.start + Math.round(calls[i]!.timing.duration_ms * 1000)),
      `call ${i} end`,
    );
    t.equal(c.name, 'chat claude-sonnet-4-5');
    t.equal(c.attributes['gen_ai.provider.name'], 'anthropic');
    t.equal(c.attributes['server.address'], '127.0.0.1');
    t.equal(c.attributes['server.port'], llmProxy.port);
    t.equal(c.attributes['gen_ai.request.max_tokens'], 512);
  });
  t.equal(tool.startTimeUnixNano, chats[0]!.endTimeUnixNano, 'tool starts when the answer asking for it ends');
  t.equal(tool.endTimeUnixNano, chats[1]!.startTimeUnixNano, 'tool ends when its result is sent');
  t.equal(tool.attributes['gen_ai.tool.call.id'], 'toolu_mock1');
  t.equal(tool.attributes['gen_ai.tool.call.result'], 'rainy in Paris');
  t.equal(mcpSpan.parentSpanId, tool.spanId, 'MCP call nested in the tool execution');
  t.ok(
    mcpSpan.startTimeUnixNano >= tool.startTimeUnixNano && mcpSpan.endTimeUnixNano <= tool.endTimeUnixNano,
    'MCP call inside the tool span',
  );
  t.same(
    [
      mcpSpan.attributes['mcp.method.name'],
      mcpSpan.attributes['jsonrpc.request.id'],
      mcpSpan.attributes['network.transport'],
      mcpSpan.attributes['mcp.protocol.version'],
    ],
    ['tools/call', '2', 'tcp', '2025-06-18'],
  );

  t.same(
    [
      chats[0]!.attributes['gen_ai.usage.input_tokens'],
      chats[0]!.attributes['gen_ai.usage.output_tokens'],
      chats[0]!.attributes['gen_ai.response.finish_reasons'],
    ],
    [21, 12, ['tool_use']],
  );
  t.same(
    [chats[1]!.attributes['gen_ai.usage.input_tokens'], chats[1]!.attributes['gen_ai.usage.cache_read.input_tokens']],
    [90, 40],
  );
  t.same(JSON.parse(chats[1]!.attributes['gen_ai.output.messages'] as string), [
    { role: 'assistant', parts: [{ type: 'text', content: 'It is rainy in Paris.' }], finish_reason: 'stop' },
  ]);
  t.same(chats[2]!.status, { code: 2, message: 'Overloaded' });
  t.same(
    [chats[2]!.attributes['error.type'], chats[2]!.attributes['http.response.status_code']],
    ['overloaded_error', 529],
  );
  t.equal(root.startTimeUnixNano, chats[0]!.startTimeUnixNano);
  t.equal(root.endTimeUnixNano, chats[2]!.endTimeUnixNano);
});

t.test('OpenAI Chat and Gemini calls captured from the mock: operation, provider, model, usage', async (t) => {
  const mock = await startMockLlm({
    tls: false,
    script: [
      { text: 'hello from chat', usage: { input_tokens: 7, output_tokens: 3 } },
      { text: 'hello from gemini', usage: { input_tokens: 9, output_tokens: 4 } },
    ],
  });
  const ssl: object[] = [];
  const proxy = await recordingProxy(mock.port, ssl, 'p');
  t.teardown(async () => {
    await proxy.close();
    await mock.close();
  });
  const base = `http://127.0.0.1:${proxy.port}`;
  const send = async (path: string, body: unknown) => {
    const r = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    t.equal(r.status, 200, path);
    await r.text();
  };
  await send('/v1/chat/completions', {
    model: 'gpt-4.1-mini',
    stream: true,
    stream_options: { include_usage: true },
    temperature: 0.5,
    messages: [
      { role: 'system', content: 'terse' },
      { role: 'user', content: 'hi' },
    ],
  });
  await send('/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', {
    contents: [{ role: 'user', parts: [{ text: 'hi' }] }],
    generationConfig: { maxOutputTokens: 64 },
  });
  await new Promise((r) => setTimeout(r, 100));

  const merged = await runCommand('bash', ['-c', `node ${toolPath('as-http')} | node ${toolPath('as-merge')}`], {
    stdin: ssl.map((e) => JSON.stringify(e)).join('\n') + '\n',
    timeoutMs: 60_000,
  });
  t.equal(merged.code, 0, merged.stderr);
  const rx = await startOtlpReceiver();
  t.teardown(() => rx.close());
  const r = await runTool('as-otel', ['--endpoint', rx.url], { stdin: merged.stdout, timeoutMs: 30_000 });
  t.equal(r.code, 0, r.stderr);
  const spans = rx.accepted();
  const chat = spans.find((s) => s.name === 'chat gpt-4.1-mini');
  const gem = spans.find((s) => s.name === 'generate_content gemini-2.5-flash');
  t.ok(chat, spans.map((s) => s.name).join(', '));
  t.ok(gem, spans.map((s) => s.name).join(', '));
  t.same(
    [
      chat?.attributes['gen_ai.operation.name'],
      chat?.attributes['gen_ai.provider.name'],
      chat?.attributes['gen_ai.request.temperature'],
      chat?.attributes['gen_ai.usage.input_tokens'],
      chat?.attributes['gen_ai.usage.output_tokens'],
    ],
    ['chat', 'openai', 0.5, 7, 3],
  );
  t.same(
    [
      gem?.attributes['gen_ai.operation.name'],
      gem?.attributes['gen_ai.provider.name'],
      gem?.attributes['gen_ai.usage.input_tokens'],
      gem?.attributes['gen_ai.usage.output_tokens'],
    ],
    ['generate_content', 'gcp.gemini', 9, 4],
  );
  t.equal(gem?.attributes['gen_ai.request.max_tokens'], 64, 'Gemini generationConfig.maxOutputTokens');
});
