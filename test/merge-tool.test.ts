// as-merge as a user runs it: --help, malformed input lines, --strict, --live and
// --keep-http, a real `as-http | as-merge` pipeline over an ssl capture file, and stdio MCP.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type AgentEvent, encodePayload, formatEvent, validateEvent } from '@agentsight/events';
import { sslEvents } from '@agentsight/http';
import t from 'tap';
import { CORPUS, ROOT, runCommand, runTool } from './lib/run.js';

const T0 = 1_764_000_000_000_000;
const http = (o: Record<string, unknown>) =>
  formatEvent({ v: 1, src: 'http', conn: 'c', pid: 3, tid: 3, comm: 'agent', ...o } as AgentEvent);

const exchange =
  http({
    ts: T0,
    type: 'request',
    id: 'c#0',
    method: 'POST',
    path: '/v1/chat/completions',
    host: 'api.openai.com',
    headers: {},
    body_size: 10,
    start_ts: T0,
    data: '{"model":"gpt-x","messages":[{"role":"user","content":"hi"}],"stream":true}',
    enc: 'utf8',
  }) +
  http({
    ts: T0 + 10,
    type: 'sse',
    req: 'c#0',
    n: 0,
    data: '{"id":"1","model":"gpt-x","choices":[{"index":0,"delta":{"content":"Hel"}}]}',
    ttft_ms: 3,
  }) +
  http({
    ts: T0 + 20,
    type: 'sse',
    req: 'c#0',
    n: 1,
    data: '{"id":"1","model":"gpt-x","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}',
  }) +
  http({ ts: T0 + 30, type: 'sse', req: 'c#0', n: 2, data: '[DONE]' }) +
  http({
    ts: T0 + 40,
    type: 'response',
    req: 'c#0',
    status: 200,
    headers: { 'content-type': 'text/event-stream' },
    body_size: 0,
    latency_ms: 1,
    start_ts: T0 + 5,
    sse_count: 3,
  });
const unrelated = http({
  ts: T0 + 50,
  type: 'request',
  id: 'c#1',
  method: 'GET',
  path: '/health',
  headers: {},
  body_size: 0,
  start_ts: T0 + 50,
});

t.test('--help documents the options; exit 0', async (t) => {
  const r = await runTool('as-merge', ['--help']);
  t.equal(r.code, 0);
  for (const o of ['--live', '--keep-http', '--max-pending', '--idle-timeout', '--strict', '-o'])
    t.match(r.stdout.toString(), o);
  const bad = await runTool('as-merge', ['--no-such-flag']);
  t.equal(bad.code, 2, 'unknown flag: usage error');
});

t.test('merges, passes other events through, reports malformed lines and goes on', async (t) => {
  const input = 'not json\n' + exchange + '{"v":1,"ts":1,"src":"http","type":"request"}\n' + unrelated;
  const r = await runTool('as-merge', [], { stdin: input, timeoutMs: 30_000 });
  t.equal(r.code, 0);
  t.match(r.stderr, /<stdin>:1: invalid JSON/);
  t.match(r.stderr, /<stdin>:7: http\/request: conn/);
  t.equal(r.events.length, 2);
  t.match(r.events[0], {
    src: 'llm',
    type: 'call',
    api: 'openai.chat',
    provider: 'openai',
    model: 'gpt-x',
    response: { text: 'Hello', finish_reason: 'stop' },
    pid: 3,
    comm: 'agent',
  });
  t.match(r.events[1], { src: 'http', type: 'request', id: 'c#1' });
  for (const e of r.events) t.equal(validateEvent(e), null, 'every output line is a valid event');
  const strict = await runTool('as-merge', ['--strict'], { stdin: input, timeoutMs: 30_000 });
  t.equal(strict.code, 1, '--strict stops at the first bad line');
});

t.test('--live adds deltas; --keep-http keeps the exchange', async (t) => {
  const live = await runTool('as-merge', ['--live'], { stdin: exchange, timeoutMs: 30_000 });
  t.same(
    live.events.map((e) => `${e.src}/${e.type}${e.text ? ':' + e.text : ''}`),
    ['llm/delta:Hel', 'llm/delta:lo', 'llm/call'],
  );
  const keep = await runTool('as-merge', ['--keep-http'], { stdin: exchange, timeoutMs: 30_000 });
  t.same(
    keep.events.map((e) => `${e.src}/${e.type}`),
    ['http/request', 'http/sse', 'http/sse', 'http/sse', 'http/response', 'llm/call'],
  );
});

t.test("stdio MCP: a server process's fd 0 reads and fd 1 writes become mcp events", async (t) => {
  const ev = (fd: 0 | 1, seq: number, text: string, ts: number) =>
    formatEvent({
      v: 1,
      ts,
      src: 'stdio',
      type: 'data',
      pid: 77,
      comm: 'mcp-srv',
      fd,
      dir: fd === 0 ? 'read' : 'write',
      seq,
      len: Buffer.byteLength(text),
      ...encodePayload(Buffer.from(text)),
    } as AgentEvent);
  const input =
    ev(0, 0, '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arg', T0) +
    ev(0, 1, 'uments":{"s":"x"}}}\n', T0 + 500) +
    ev(1, 0, '{"jsonrpc":"2.0","id":3,"result":{"content":[]}}\n', T0 + 2000);
  const r = await runTool('as-merge', [], { stdin: input, timeoutMs: 30_000 });
  const calls = r.events.filter((e) => e.src === 'mcp');
  t.match(calls, [
    {
      type: 'call',
      transport: 'stdio',
      channel: '77',
      method: 'tools/call',
      tool: 'echo',
      rpc_id: 3,
      start_ts: T0 + 500,
      duration_ms: 1.5,
      result: { content: [] },
    },
  ]);
  t.equal(r.events.filter((e) => e.src === 'stdio').length, 3, 'stdio events pass on');
});

const corpusFile = path.join(CORPUS, 'anthropic/text-then-tool.http');
t.test(
  'a real pipeline: ssl capture file -> as-http -> as-merge',
  { skip: fs.existsSync(corpusFile) ? false : `corpus missing at ${CORPUS}` },
  async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-merge-'));
    const body = fs.readFileSync(path.join(CORPUS, 'anthropic/text-then-tool.request.json'));
    const req = Buffer.concat([
      Buffer.from(
        `POST /v1/messages HTTP/1.1\r\nhost: api.anthropic.com\r\nx-api-key: sk-ant-secret\r\ncontent-length: ${body.length}\r\n\r\n`,
      ),
      body,
    ]);
    const res = fs.readFileSync(corpusFile);
    const cap = path.join(dir, 'cap.ndjson');
    fs.writeFileSync(
      cap,
      [
        ...sslEvents(req, { conn: 'k', dir: 'write', cuts: [7, 100] }),
        ...sslEvents(res, { conn: 'k', dir: 'read', cuts: [13, 500, 501, 900], ts: T0 }),
      ]
        .map(formatEvent)
        .join(''),
    );
    const r = await runCommand(
      'bash',
      [
        '-o',
        'pipefail',
        '-c',
        `node '${ROOT}/dist/tools/as-http.js' --quiet '${cap}' | node '${ROOT}/dist/tools/as-merge.js' --quiet`,
      ],
      { timeoutMs: 60_000 },
    );
    t.equal(r.code, 0, r.stderr);
    const exp = JSON.parse(fs.readFileSync(path.join(CORPUS, 'anthropic/text-then-tool.expected.json'), 'utf8'));
    t.equal(r.events.length, 1);
    t.match(r.events[0], {
      src: 'llm',
      type: 'call',
      provider: 'anthropic',
      model: exp.model,
      response: { text: exp.text, tool_calls: exp.tool_calls, finish_reason: exp.finish_reason },
      usage: exp.usage,
      status: 200,
      host: 'api.anthropic.com',
    });
    fs.rmSync(dir, { recursive: true, force: true });
  },
);
