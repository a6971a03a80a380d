// HTTP/2 and WebSocket end to end through real TLS capture: a node client (OpenSSL linked
// into the node binary) talks to a server in this process over TLS on loopback, as-sslsniff
// captures the client (-p), and the built `as-http | as-merge` turn the capture into
// llm/call events. The answers are the recorded responses of ../shared/corpus/llm-streams,
// and what comes out must equal what the HTTP/1.1 path makes of the same bytes.
//   h2:  one session (ALPN h2), 30 requests (every Anthropic recording, twice) in waves of
//        8 concurrent streams, bodies written in small pieces so the streams interleave.
//   wss: one socket (`ws`, permessage-deflate both ways) to /v1/responses: every streamed
//        OpenAI Responses recording sent as text messages after a response.create, in turn,
//        then a response the server cuts by closing the socket.

import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { AgentEvent, LlmCallEvent } from '@agentsight/events';
import { HttpStage, sslEvents } from '@agentsight/http';
import { MergeStage } from '@agentsight/llm';
import t from 'tap';
import { type WebSocket, WebSocketServer } from 'ws';
import { CORPUS, corpusBody, runTool } from './lib/run.js';
import { kernelSkipReason, makeCert, startCapture, tmpdir } from './sslsniff-helpers.js';

const why = kernelSkipReason();
const WS_MODULE = path.dirname(createRequire(import.meta.url).resolve('ws/package.json'));

interface Case {
  name: string;
  base: string;
  http: Buffer;
  request: Buffer;
  contentType: string;
  body: Buffer;
}

function loadCases(dir: string): Case[] {
  const d = path.join(CORPUS, dir);
  return fs
    .readdirSync(d)
    .filter((f) => f.endsWith('.http'))
    .sort()
    .map((f) => {
      const base = path.join(d, f.slice(0, -5));
      const http = fs.readFileSync(base + '.http');
      const head = http.subarray(0, http.indexOf('\r\n\r\n')).toString();
      return {
        name: f.slice(0, -5),
        base,
        http,
        request: fs.readFileSync(base + '.request.json'),
        contentType: /^content-type: *(.*)$/im.exec(head)![1]!.trim(),
        body: corpusBody(http),
      };
    });
}

/** The `data:` payloads of an SSE body, in order. */
function sseData(body: Buffer): string[] {
  return body
    .toString('utf8')
    .split(/\r?\n\r?\n/)
    .map((block) =>
      block
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''))
        .join('\n'),
    )
    .filter((d) => d !== '');
}

/** What the HTTP/1.1 path makes of the same exchange (in process: HttpStage -> MergeStage). */
function http1Call(host: string, p: string, c: Case): LlmCallEvent {
  const req = Buffer.concat([
    Buffer.from(
      `POST ${p} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\ncontent-length: ${c.request.length}\r\n\r\n`,
    ),
    c.request,
  ]);
  const out: AgentEvent[] = [];
  const merge = new MergeStage({}, (e) => out.push(JSON.parse(JSON.stringify(e)) as AgentEvent));
  const http = new HttpStage({}, (e) => merge.write(e));
  for (const e of sslEvents(req, { conn: 'h1', dir: 'write', ts: 1_764_000_000_000_000 })) http.write(e);
  for (const e of sslEvents(c.http, { conn: 'h1', dir: 'read', ts: 1_764_000_000_500_000 })) http.write(e);
  http.end();
  merge.end();
  const calls = out.filter((e): e is LlmCallEvent => e.src === 'llm' && e.type === 'call');
  if (calls.length !== 1) throw new Error(`${c.name}: HTTP/1.1 path gave ${calls.length} calls`);
  return calls[0]!;
}

/** An llm/call without what depends on the transport and the moment (ids, timing, process). */
function view(c: LlmCallEvent, drop: string[] = []): Record<string, unknown> {
  const v: Record<string, unknown> = {
    provider: c.provider,
    api: c.api,
    model: c.model,
    request: c.request,
    response: c.response,
    usage: c.usage,
    status: c.status,
    error: c.error,
    incomplete: c.incomplete,
    host: c.host,
  };
  for (const k of drop) delete v[k];
  return JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
}

/** A client script that waits for a line on stdin ("go"), so the capture attaches first. */
function startClient(
  src: string,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; go(): void; done: Promise<{ code: number | null; out: string }> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', src], {
      env: { ...process.env, ...env },
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    let ready = false;
    const done = new Promise<{ code: number | null; out: string }>((r) =>
      child.on('close', (code) => r({ code, out })),
    );
    const kill = setTimeout(() => child.kill('SIGKILL'), 90000);
    void done.then(() => clearTimeout(kill));
    child.on('error', reject);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (!ready && out.includes('ready\n')) {
        ready = true;
        resolve({ child, go: () => child.stdin!.write('go\n'), done });
      }
    });
    void done.then(({ code }) => {
      if (!ready) reject(new Error(`client exited ${code} before it was ready`));
    });
  });
}

/** Capture the client, run it, and put the capture through the built as-http | as-merge. */
async function captureRun(src: string, env: Record<string, string>) {
  const client = await startClient(src, env);
  const cap = await startCapture(['--binary-path', process.execPath, '-p', String(client.child.pid)]);
  client.go();
  const res = await client.done;
  const { code, events } = await cap.stop();
  const capture = events.map((e) => JSON.stringify(e) + '\n').join('');
  const http = await runTool('as-http', [], { stdin: capture, timeoutMs: 60000 });
  const merged = await runTool('as-merge', [], { stdin: http.stdout, timeoutMs: 60000 });
  return {
    client: res,
    captureCode: code,
    ssl: events,
    http: http.events,
    httpStderr: http.stderr,
    merged: merged.events,
    mergeCode: merged.code,
  };
}

const H2_CLIENT = String.raw`
const http2 = require('http2'), fs = require('fs');
const jobs = JSON.parse(process.env.JOBS);
process.stdin.once('data', async () => {
  const s = http2.connect('https://127.0.0.1:' + process.env.PORT, { rejectUnauthorized: false });
  s.on('error', (e) => { console.error(e); process.exit(2); });
  const one = (j) => new Promise((resolve, reject) => {
    const r = s.request({ ':method': 'POST', ':path': '/v1/messages', ':authority': 'api.anthropic.com', 'content-type': 'application/json',
      'anthropic-version': '2023-06-01', 'x-api-key': 'sk-test-0000', 'x-case': j.name });
    let n = 0, status = 0;
    r.on('response', (h) => { status = h[':status']; });
    r.on('data', (d) => { n += d.length; });
    r.on('end', () => resolve({ name: j.name, status, n }));
    r.on('error', reject);
    r.end(fs.readFileSync(j.file));
  });
  try {
    const res = [];
    for (let i = 0; i < jobs.length; i += 8) res.push(...await Promise.all(jobs.slice(i, i + 8).map(one)));
    process.stdout.write(JSON.stringify(res) + '\n');
    s.close(() => process.exit(0));
  } catch (e) { console.error(e); process.exit(2); }
});
process.stdout.write('ready\n');
`;

const WS_CLIENT = String.raw`
const WebSocket = require(process.env.WS_MODULE), fs = require('fs');
const files = JSON.parse(process.env.FILES);
process.stdin.once('data', () => {
  const ws = new WebSocket('wss://127.0.0.1:' + process.env.PORT + '/v1/responses', { rejectUnauthorized: false, perMessageDeflate: { threshold: 0 },
    headers: { authorization: 'Bearer sk-test-0000' } });
  const got = [];
  let i = 0, created = false;
  const next = () => {
    const body = JSON.parse(fs.readFileSync(files[i], 'utf8'));
    delete body.stream;
    created = false;
    ws.send(JSON.stringify({ type: 'response.create', ...body }));
  };
  ws.on('open', next);
  ws.on('message', (data) => {
    const ev = JSON.parse(data.toString());
    if (ev.type === 'response.created') created = true;
    const end = /^response\.(completed|failed|incomplete)$/.test(ev.type) || (ev.type === 'error' && !created);
    if (!end) return;
    got.push(ev.type);
    if (++i < files.length) next();
  });
  ws.on('close', (code) => { process.stdout.write(JSON.stringify({ got, code }) + '\n'); process.exit(0); });
  ws.on('error', (e) => { console.error(e); process.exit(2); });
});
process.stdout.write('ready\n');
`;

if (why) {
  t.test('HTTP/2 and WebSocket through real TLS capture', { skip: why }, async () => {});
} else {
  const dir = tmpdir();
  const tlsFiles = makeCert(dir);
  const key = fs.readFileSync(tlsFiles.key);
  const cert = fs.readFileSync(tlsFiles.cert);
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

  t.test(
    'h2: concurrent streams on one session give the calls of the HTTP/1.1 path',
    { timeout: 120000 },
    async (t) => {
      const cases = loadCases('anthropic');
      const byName = new Map(cases.map((c) => [c.name, c]));
      const server = http2.createSecureServer({ key, cert });
      let sessions = 0;
      server.on('session', () => {
        sessions++;
      });
      server.on('stream', (stream, headers) => {
        const c = byName.get(String(headers['x-case']));
        stream.on('error', () => {});
        stream.resume();
        stream.on('end', async () => {
          if (!c) {
            stream.respond({ ':status': 404 });
            stream.end();
            return;
          }
          stream.respond({ ':status': 200, 'content-type': c.contentType });
          // Pieces with a turn of the event loop between them: the concurrent streams' DATA
          // frames interleave on the connection.
          for (let p = 0; p < c.body.length; p += 700) {
            stream.write(c.body.subarray(p, p + 700));
            await new Promise((r) => setImmediate(r));
          }
          stream.end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      t.teardown(() => server.close());
      const port = (server.address() as { port: number }).port;
      const jobs = [...cases, ...cases].map((c) => ({ name: c.name, file: c.base + '.request.json' }));
      t.ok(jobs.length >= 20, `${jobs.length} requests on one connection`);

      const r = await captureRun(H2_CLIENT, { PORT: String(port), JOBS: JSON.stringify(jobs) });
      t.equal(r.client.code, 0, 'client finished');
      t.equal(r.captureCode, 0, 'as-sslsniff exit 0');
      t.equal(sessions, 1, 'one HTTP/2 session');
      const answered = JSON.parse(r.client.out.split('\n').find((l) => l.startsWith('['))!) as Array<{
        name: string;
        status: number;
        n: number;
      }>;
      t.same(
        answered.map((a) => [a.status, a.n]),
        jobs.map((j) => [200, byName.get(j.name)!.body.length]),
        'every request answered in full',
      );

      const reqs = r.http.filter((e) => e.type === 'request');
      t.equal(reqs.length, jobs.length, 'as-http: every request');
      t.same([...new Set(reqs.map((e) => e.protocol))], ['h2'], 'as-http: all h2');
      t.equal(new Set(reqs.map((e) => e.conn)).size, 1, 'as-http: one connection');
      t.notOk(
        r.http.some((e) => e.type === 'unparsed'),
        'as-http: nothing unparsed',
      );
      const resps = r.http.filter((e) => e.type === 'response');
      // Two responses whose first and last bytes overlap in time: their DATA frames interleaved.
      const overlap = resps.some((a) => resps.some((b) => a !== b && b.start_ts < a.ts && a.start_ts < b.ts));
      t.ok(overlap, 'responses streamed at the same time on the connection');

      t.equal(r.mergeCode, 0);
      const calls = r.merged.filter((e) => e.src === 'llm' && e.type === 'call') as unknown as LlmCallEvent[];
      t.equal(calls.length, jobs.length, 'one llm/call per request');
      const want = jobs
        .map((j) => JSON.stringify(view(http1Call('api.anthropic.com', '/v1/messages', byName.get(j.name)!))))
        .sort();
      const got = calls.map((c) => JSON.stringify(view(c))).sort();
      t.same(got, want, 'the same calls (request, text, thinking, tool calls, usage, status) as HTTP/1.1');
      t.ok(
        calls.some((c) => c.response.tool_calls.length > 0) &&
          calls.some((c) => c.response.thinking) &&
          calls.every((c) => c.usage.output_tokens !== undefined),
        'the recordings exercise tool calls, thinking and usage',
      );
      t.ok(
        calls.every((c) => !c.incomplete),
        'all complete',
      );
    },
  );

  t.test(
    'wss with permessage-deflate: Responses events become the calls of the SSE path',
    { timeout: 120000 },
    async (t) => {
      const cases = loadCases('openai-responses').filter((c) => c.contentType.startsWith('text/event-stream'));
      const cut = cases.find((c) => c.name === 'web-search')!;
      const server = https.createServer({ key, cert });
      const wss = new WebSocketServer({ server, perMessageDeflate: { threshold: 0 } });
      const paths: string[] = [];
      wss.on('connection', (ws: WebSocket, req) => {
        paths.push(req.url ?? '');
        let i = 0;
        ws.on('message', async (data) => {
          const msg = JSON.parse(data.toString()) as { type: string };
          if (msg.type !== 'response.create') return;
          const c = i < cases.length ? cases[i]! : cut;
          const msgs = sseData(c.body);
          const last = i++ < cases.length ? msgs.length : Math.ceil(msgs.length / 2);
          for (const m of msgs.slice(0, last)) {
            ws.send(m);
            await new Promise((r) => setImmediate(r));
          }
          if (last < msgs.length) ws.close(1011, 'cut');
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      t.teardown(() => {
        wss.close();
        server.close();
      });
      const port = (server.address() as { port: number }).port;
      const files = [...cases, cut].map((c) => c.base + '.request.json');

      const r = await captureRun(WS_CLIENT, { PORT: String(port), FILES: JSON.stringify(files), WS_MODULE });
      t.equal(r.client.code, 0, 'client finished');
      const res = JSON.parse(r.client.out.split('\n').find((l) => l.startsWith('{'))!) as {
        got: string[];
        code: number;
      };
      t.equal(res.got.length, cases.length, 'client saw every response end');
      t.equal(res.code, 1011, 'then the server closed the socket mid-response');
      t.same(paths, ['/v1/responses'], 'one socket');

      const frames = r.http.filter((e) => e.type === 'ws');
      t.ok(frames.length > cases.length * 3, `as-http: ${frames.length} WebSocket messages`);
      t.ok(
        frames.some((e) => e.from === 'client' && e.compressed) &&
          frames.some((e) => e.from === 'server' && e.compressed),
        'permessage-deflate used both ways',
      );
      t.notOk(
        r.http.some((e) => e.type === 'unparsed'),
        'as-http: nothing unparsed',
      );

      t.equal(r.mergeCode, 0);
      const calls = r.merged.filter((e) => e.src === 'llm' && e.type === 'call') as unknown as LlmCallEvent[];
      t.equal(calls.length, cases.length + 1, 'one llm/call per response.create');
      t.notOk(
        r.merged.some((e) => e.src === 'http'),
        "the socket's http events are consumed",
      );
      const upgrade = r.http.find((e) => e.type === 'request')!;
      for (const [i, c] of cases.entries()) {
        const call = calls[i]!;
        const ref = http1Call('api.openai.com', '/v1/responses', c);
        t.same(view(call, ['host', 'status']), view(ref, ['host', 'status']), `${c.name}: the SSE path's call`);
        t.equal(call.status, 101, `${c.name}: status of the upgrade`);
        t.equal(call.req, upgrade.id, `${c.name}: req names the upgrade`);
        t.equal(call.host, `127.0.0.1:${port}`);
        const create = frames.find((e) => e.from === 'client' && call.id === `${upgrade.id}/ws${e.n}`);
        t.ok(create, `${c.name}: id names its response.create message`);
        t.equal(call.timing.start, create?.ts, `${c.name}: starts at its response.create`);
        t.ok(
          call.timing.ttft_ms! > 0 && call.timing.ttft_ms! <= call.timing.duration_ms,
          `${c.name}: ttft within duration`,
        );
      }
      t.ok(
        calls.some((c) => c.response.tool_calls.length > 0) &&
          calls.some((c) => c.error !== undefined) &&
          calls.some((c) => c.response.thinking),
        'the recordings exercise tool calls, errors and reasoning',
      );
      const last = calls[cases.length]!;
      t.match(
        last.incomplete,
        /WebSocket closed by the server before the response completed/,
        'the cut response is incomplete',
      );
      const full = http1Call('api.openai.com', '/v1/responses', cut).response.text;
      t.ok(
        last.response.text.length > 0 && full.startsWith(last.response.text) && last.response.text.length < full.length,
        'with the text that arrived',
      );
    },
  );
}
