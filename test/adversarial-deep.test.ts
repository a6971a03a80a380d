// Adversarial: JSON nested far deeper than any real payload, in an event line, a request body
// and a streamed tool-call argument. V8 parses any depth, but JSON.stringify (and every
// recursive walk) overflows the stack near 4,000: each tool must report the line or keep the
// payload as raw text, lose nothing else, and never print a stack trace.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type AgentEvent, formatEvent } from '@agentsight/events';
import t from 'tap';
import { runTool, startTool } from './lib/run.js';

/** Run as-serve until stderr matches `re` (or it exits), then stop it: its exit code and stderr. */
export function serveUntil(args: string[], re: RegExp): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = startTool('as-serve', args);
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), 60_000);
    p.stderr!.on('data', (d) => {
      err += d;
      if (re.test(err)) p.kill('SIGTERM');
    });
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr: err });
    });
  });
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-deep-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

const T0 = 1_764_000_000_000_000;
const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
const STACK = /^\s+at /m;
const http = (o: Record<string, unknown>) =>
  formatEvent({ v: 1, src: 'http', pid: 3, tid: 3, comm: 'agent', ...o } as AgentEvent);

/** One streamed Anthropic call on connection `conn` whose single tool call has `args` as its JSON text. */
function toolCall(conn: string, ts: number, args: string, reqBody?: string): string {
  const id = `${conn}#0`;
  const sse = [
    { type: 'message_start', message: { id: 'm', model: 'claude-x', usage: { input_tokens: 1 } } },
    { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'tu1', name: 'bash', input: {} } },
    { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: args } },
    { type: 'content_block_stop', index: 0 },
    { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 2 } },
    { type: 'message_stop' },
  ];
  return (
    http({
      ts,
      type: 'request',
      conn,
      id,
      method: 'POST',
      path: '/v1/messages',
      host: 'api.anthropic.com',
      headers: { 'content-type': 'application/json' },
      body_size: 10,
      start_ts: ts,
      data: reqBody ?? '{"model":"claude-x","stream":true,"messages":[{"role":"user","content":"hi"}]}',
      enc: 'utf8',
    }) +
    sse
      .map((d, n) => http({ ts: ts + 10 + n, type: 'sse', conn, req: id, n, event: d.type, data: JSON.stringify(d) }))
      .join('') +
    http({
      ts: ts + 100,
      type: 'response',
      conn,
      req: id,
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      body_size: 0,
      latency_ms: 1,
      start_ts: ts + 5,
      sse_count: sse.length,
    })
  );
}

t.test('a line nested 100,000 deep: file:line, the next event out, exit 0, in every reader', async (t) => {
  const file = path.join(dir, 'deep.ndjson');
  const bad = `{"v":1,"ts":${T0},"src":"x","type":"y","deep":${deep(100_000)}}\n`;
  fs.writeFileSync(
    file,
    `{"v":1,"ts":${T0},"src":"x","type":"before"}\n` + bad + `{"v":1,"ts":${T0 + 1},"src":"x","type":"after"}\n`,
  );
  for (const tool of ['as-http', 'as-merge', 'as-otel']) {
    const args = tool === 'as-otel' ? ['--endpoint', 'http://127.0.0.1:9', '--timeout-ms', '500', file] : [file];
    const r = await runTool(tool, args, { timeoutMs: 60_000 });
    t.equal(r.code, 0, `${tool} exits 0`);
    t.match(r.stderr, /deep\.ndjson:2: JSON nested deeper than 512/, `${tool}: file:line`);
    t.notMatch(r.stderr, STACK, `${tool}: no stack trace`);
    if (tool !== 'as-otel')
      t.same(
        r.events.map((e) => e.type),
        ['before', 'after'],
        `${tool}: nothing else lost`,
      );
  }
  const db = path.join(dir, 'deep.db');
  const r = await serveUntil(['--db', db, '--port', '0', file], /events stored/);
  t.notMatch(r.stderr, STACK, 'as-serve: no stack trace');
  t.match(r.stderr, /deep\.ndjson:2: JSON nested deeper than 512/);
  t.match(r.stderr, /2 events stored/, 'as-serve stored the two good events');
});

t.test(
  'as-merge: a tool argument or a request body nested 5,000 deep is kept as raw text; calls before it are not lost',
  async (t) => {
    const args = `{"a":${deep(5000)}}`;
    const input =
      toolCall('c1', T0, '{"cmd":"ls"}') +
      toolCall('c2', T0 + 1000, args) +
      toolCall('c3', T0 + 2000, '{"cmd":"pwd"}', `{"model":"claude-x","stream":true,"messages":${deep(5000)}}`) +
      toolCall('c4', T0 + 3000, '{"cmd":"id"}');
    const r = await runTool('as-merge', [], { stdin: input, timeoutMs: 60_000 });
    t.equal(r.code, 0);
    t.notMatch(r.stderr, STACK, 'no stack trace');
    const calls = r.events.filter((e) => e.src === 'llm' && e.type === 'call');
    t.equal(calls.length, 4, 'every call out');
    t.same(calls[0]!.response.tool_calls[0].arguments, { cmd: 'ls' });
    t.equal(calls[1]!.response.tool_calls[0].arguments, args, 'the deep argument kept as its raw text');
    t.same(
      calls[2]!.response.tool_calls[0].arguments,
      { cmd: 'pwd' },
      'the call with a deep request body still merged',
    );
    t.same(calls[3]!.response.tool_calls[0].arguments, { cmd: 'id' });
    t.match(r.stderr, /as-merge: <stdin>:\d+: JSON nested deeper than 256: kept as raw text/);
  },
);

t.test(
  'a mistyped inner field ("response":{"text":5}) is file:line in as-serve, as-otel and agentsight report; the next event goes on',
  async (t) => {
    const { mockSession } = await import('@agentsight/serve');
    const s = mockSession({ start: T0, agentPid: 77 });
    const call = s.events.find((e) => e.src === 'llm' && e.type === 'call')!;
    const bad = { ...call, response: { ...(call as unknown as { response: object }).response, text: 5 } };
    const file = path.join(dir, 'types.ndjson');
    fs.writeFileSync(file, JSON.stringify(bad) + '\n' + JSON.stringify(call) + '\n');
    const want = /types\.ndjson:1: llm\/call: response\.text: want str, got 5/;
    const otel = await runTool('as-otel', ['--stdout', file], { timeoutMs: 30_000 });
    t.equal(otel.code, 0, 'as-otel exit 0');
    t.match(otel.stderr, want);
    t.notMatch(otel.stderr, STACK);
    t.ok(otel.events.length > 0, 'as-otel exported the good call');
    const report = await runTool('agentsight', ['report', 'summary', file], { timeoutMs: 30_000 });
    t.equal(report.code, 0, 'agentsight report exit 0');
    t.match(report.stderr, want);
    t.notMatch(report.stderr, STACK);
    const serve = await serveUntil(['--db', path.join(dir, 'types.db'), '--port', '0', file], /events stored/);
    t.match(serve.stderr, want);
    t.match(serve.stderr, /1 events stored/, 'as-serve stored the good one');
    t.notMatch(serve.stderr, STACK);
  },
);
