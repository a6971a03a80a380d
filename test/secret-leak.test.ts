// Planted keys never leave the pipeline: in headers, query strings, JSON request bodies, a
// streamed answer, WebSocket messages, a command line and a tool's stdout. The standalone
// tools as a user pipes them (as-http | as-merge | as-serve, and as-otel to a real OTLP
// receiver), and `agentsight exec` on a real agent (root), are grepped for every key:
// none survives; with --no-redact they do.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type AgentEvent, formatEvent } from '@agentsight/events';
import { sslEvents } from '@agentsight/http';
import { startMockLlm } from '@agentsight/mock-llm';
import { startOtlpReceiver } from '@agentsight/otel';
import t from 'tap';
import { ROOT, runCommand, runTool, toolPath, waitForOutput } from './lib/run.js';

const KEYS = {
  header: 'sk-ant-api03-' + 'hEaDeR7x9Y'.repeat(9) + 'abAA',
  query: 'AIzaSyQUERYkey0123456789abcdefghijklmn',
  body: 'tvly-dev-BODYkey1a2b3c4d5e6f7g8h9i0',
  bodyShape: 'ghp_' + 'B0dYsHaPe1'.repeat(3) + 'xY9z8w',
  sse: 'sk-proj-SSEkey0123456789abcdefghijklmnop',
  ws: 'tvly-WSkey9z8y7x6w5v4u3t2s1r0q',
  argv: 'sk-ARGVkey0123456789abcdefghij',
  stdout: 'xoxb-1234567890-1234567890123-STDOUTkeyAbCdEfGhIjKlMn',
};
const planted = Object.values(KEYS);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-secret-leak-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

/** One agent's traffic and actions with a key in every place one can hide. */
function capture(): string {
  const T = 1_764_150_000_000_000;
  const lines: AgentEvent[] = [];
  const conn = (id: string, req: Buffer[], res: Buffer[], ts: number) => {
    let w = 0,
      r = 0;
    for (const b of req)
      for (const e of sslEvents(b, { conn: id, dir: 'write', seq: w++, ts: ts + w * 10, pid: 4242, comm: 'agent' }))
        lines.push(e);
    for (const b of res)
      for (const e of sslEvents(b, {
        conn: id,
        dir: 'read',
        seq: r++,
        ts: ts + 1000 + r * 10,
        pid: 4242,
        comm: 'agent',
      }))
        lines.push(e);
  };
  const body = JSON.stringify({
    model: 'claude-haiku-4-5',
    max_tokens: 64,
    stream: true,
    messages: [
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: 't1', content: `found ${KEYS.bodyShape} in .env` }],
      },
    ],
    tools: [{ name: 'web_search', input_schema: { type: 'object' } }],
    metadata: { search: { api_key: KEYS.body } },
  });
  const sse = [
    'event: message_start',
    `data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[],"usage":{"input_tokens":9,"output_tokens":1}}}`,
    '',
    'event: content_block_start',
    'data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}',
    '',
    'event: content_block_delta',
    `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"use ${KEYS.sse}"}}`,
    '',
    'event: content_block_stop',
    'data: {"type":"content_block_stop","index":0}',
    '',
    'event: message_delta',
    'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":5}}',
    '',
    'event: message_stop',
    'data: {"type":"message_stop"}',
    '',
    '',
  ].join('\n');
  conn(
    'c1',
    [
      Buffer.from(
        `POST /v1/messages?api_key=${KEYS.query} HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: ${KEYS.header}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      ),
    ],
    [
      Buffer.from(
        `HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: ${Buffer.byteLength(sse)}\r\n\r\n${sse}`,
      ),
    ],
    T,
  );
  const ws = Buffer.from(
    JSON.stringify({
      type: 'response.create',
      model: 'gpt-5',
      input: 'hi',
      tools: [{ type: 'web_search', apiKey: KEYS.ws }],
    }),
  );
  const frame = Buffer.concat([Buffer.from([0x81, 0x80 | 126, ws.length >> 8, ws.length & 255, 0, 0, 0, 0]), ws]);
  conn(
    'c2',
    [
      Buffer.from(
        `GET /v1/responses HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer ${KEYS.argv}x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
      ),
      frame,
    ],
    [Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n')],
    T + 5000,
  );
  lines.push({
    v: 1,
    ts: T + 9000,
    src: 'proc',
    type: 'exec',
    pid: 4300,
    tid: 4300,
    ppid: 4242,
    uid: 0,
    comm: 'curl',
    filename: '/usr/bin/curl',
    argv: ['curl', '-H', `Authorization: Bearer ${KEYS.argv}`, 'https://x.example/'],
  } as AgentEvent);
  lines.push({
    v: 1,
    ts: T + 9100,
    src: 'stdio',
    type: 'data',
    pid: 4300,
    tid: 4300,
    comm: 'curl',
    fd: 1,
    dir: 'write',
    seq: 0,
    len: 80,
    data: `SLACK_TOKEN=${KEYS.stdout}\n`,
    enc: 'utf8',
  } as AgentEvent);
  const file = path.join(dir, 'cap.ndjson');
  fs.writeFileSync(
    file,
    lines
      .sort((a, b) => a.ts - b.ts)
      .map(formatEvent)
      .join(''),
  );
  return file;
}

const leaks = (text: string) => planted.filter((k) => text.includes(k));

/** `as-http [--no-redact] CAP | as-merge`: what a user reads. */
async function pipe(cap: string, extra: string[]): Promise<string> {
  const r = await runCommand(
    '/bin/sh',
    [
      '-c',
      `"$0" "$1" ${extra.join(' ')} "$2" | "$0" "$3"`,
      process.execPath,
      toolPath('as-http'),
      cap,
      toolPath('as-merge'),
    ],
    { timeoutMs: 60_000 },
  );
  if (r.code !== 0) throw new Error(`as-http | as-merge exited ${r.code}: ${r.stderr}`);
  return r.stdout.toString();
}

/** Everything as-serve keeps of FILE: the SQLite file itself, after it has stored the file. */
async function serveStore(file: string): Promise<string> {
  const db = path.join(dir, `${path.basename(file)}.db`);
  const p = spawn(process.execPath, [toolPath('as-serve'), '--port', '0', '--db', db, file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await waitForOutput(p.stderr!, /events stored/, 30_000);
  await new Promise<void>((resolve) => {
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
  });
  return ['', '-wal', '-shm']
    .map((s) => (fs.existsSync(db + s) ? fs.readFileSync(db + s).toString('latin1') : ''))
    .join('\n');
}

async function otel(file: string, extra: string[]): Promise<string> {
  const rx = await startOtlpReceiver();
  try {
    const r = await runTool('as-otel', ['--endpoint', rx.url, '--capture-content', '--tee', ...extra, file], {
      timeoutMs: 60_000,
    });
    if (r.code !== 0 || !rx.accepted().length)
      throw new Error(`as-otel exited ${r.code}, ${rx.accepted().length} spans: ${r.stderr}`);
    return JSON.stringify(rx.requests) + r.stdout.toString();
  } finally {
    await rx.close();
  }
}

t.test('standalone tools: no planted key in any output, the store or the export', async (t) => {
  const cap = capture();
  // Payloads that are not UTF-8 (the WebSocket frame) are base64 in the capture.
  const inCapture = fs
    .readFileSync(cap, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const e = JSON.parse(l) as { data?: string; enc?: string };
      return e.enc === 'base64' ? Buffer.from(e.data!, 'base64').toString('latin1') : l;
    })
    .join('\n');
  t.same(
    planted.filter((k) => !inCapture.includes(k)),
    [],
    'every key is in the capture',
  );
  const merged = await pipe(cap, []);
  t.match(merged, /"type":"call"/, 'as-merge made the call');
  t.same(leaks(merged), [], 'as-http | as-merge');
  const http = path.join(dir, 'merged.ndjson');
  fs.writeFileSync(http, merged);
  t.same(leaks(await serveStore(cap)), [], 'as-serve store of the raw capture');
  t.same(leaks(await serveStore(http)), [], 'as-serve store of the merged calls');
  t.same(leaks(await otel(http, [])), [], 'as-otel export (and --tee output)');
  t.match(merged, /\[REDACTED sha256:[0-9a-f]{8}\]/, 'fingerprints in their place');
});

t.test('--no-redact keeps them', async (t) => {
  const cap = capture();
  const http = await runTool('as-http', ['--no-redact', cap]);
  for (const k of planted) t.ok(http.stdout.toString().includes(k), `${k.slice(0, 10)}… kept by as-http --no-redact`);
  const merged = await pipe(cap, ['--no-redact']);
  const raw = path.join(dir, 'raw.ndjson');
  fs.writeFileSync(
    raw,
    merged +
      fs
        .readFileSync(cap, 'utf8')
        .split('\n')
        .filter((l) => /"src":"(proc|stdio)"/.test(l))
        .join('\n') +
      '\n',
  );
  const exported = await otel(raw, ['--no-redact']);
  for (const k of [KEYS.body, KEYS.bodyShape, KEYS.sse])
    t.ok(exported.includes(k), `${k.slice(0, 10)}… kept by as-otel --no-redact`);
});

const root = process.getuid?.() !== 0 ? 'agentsight exec needs root (eBPF): NOT TESTED' : false;
t.test(
  'agentsight exec on a real agent: capture file and OTLP export are clean; --no-redact keeps the keys',
  { skip: root },
  async (t) => {
    const AGENT = path.join(ROOT, 'dist/test/agents/sdk-agent.js');
    async function run(extra: string[]) {
      const mock = await startMockLlm({
        script: [
          {
            toolCalls: [
              {
                name: 'bash',
                arguments: {
                  command: `echo TAVILY_API_KEY=${KEYS.body}; curl -s -H "Authorization: Bearer ${KEYS.argv}" http://127.0.0.1:9/ || true`,
                },
              },
            ],
          },
          { text: 'done' },
        ],
      });
      const rx = await startOtlpReceiver();
      const out = path.join(dir, `exec-${extra.length}.ndjson`);
      try {
        const r = await runTool(
          'agentsight',
          [
            'exec',
            '--no-server',
            '--interval',
            '0',
            '-o',
            out,
            '--otel',
            rx.url,
            '--capture-content',
            ...extra,
            '--',
            process.execPath,
            AGENT,
            '--provider',
            'anthropic',
            '--base-url',
            mock.url,
            'do the task',
          ],
          {
            cwd: dir,
            timeoutMs: 120_000,
            env: { ...process.env, NODE_EXTRA_CA_CERTS: mock.caPath, ANTHROPIC_API_KEY: KEYS.header },
          },
        );
        t.equal(r.code, 0, r.stderr.slice(-1000));
        t.equal(mock.requests.length, 2, 'the agent made both calls');
        return { capture: fs.readFileSync(out, 'utf8'), exported: JSON.stringify(rx.requests) };
      } finally {
        await rx.close();
        await mock.close();
      }
    }
    const clean = await run([]);
    t.match(clean.capture, /"src":"llm","type":"call"/);
    t.same(leaks(clean.capture), [], 'capture file');
    t.same(leaks(clean.exported), [], 'OTLP export');
    const kept = await run(['--no-redact']);
    for (const k of [KEYS.body, KEYS.argv]) t.ok(kept.capture.includes(k), `${k.slice(0, 10)}… kept with --no-redact`);
  },
);
