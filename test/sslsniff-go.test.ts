// Go crypto/tls end to end (root, real uprobes): Go clients built here from the system's Go
// (test/go/llmclient.go, standard library only) call the mock LLM server over HTTPS,
// streaming over HTTP/1.1 and concurrent over HTTP/2, one of them linked with -ldflags=-s -w.
// Captured by as-sslsniff (--binary-path, -p, -c following the exec) and by `agentsight
// exec`, put through as-http | as-merge: one llm/call per request, each equal to what the
// mock served (text, tool calls, usage, model) and to what the client sent (the messages).

import fs from 'node:fs';
import path from 'node:path';
import { validateEvent } from '@agentsight/events';
import { lastUserText, type MockLlm, type MockRequest, type Reply, startMockLlm } from '@agentsight/mock-llm';
import t, { type Test } from 'tap';
import { goBuild, goToolVersion } from './lib/go.js';
import { parseNdjson, runTool } from './lib/run.js';
import { kernelSkipReason, run, startCapture, tmpdir } from './sslsniff-helpers.js';

const GO = goToolVersion();
const why = kernelSkipReason() || (GO ? '' : 'NOT TESTED: no Go toolchain (apt-get install golang-go)');
const WRITE = 'crypto/tls.(*Conn).Write';
const READ = 'crypto/tls.(*Conn).Read';

/** The reply to a question: text (multi-byte, long when asked), a tool call when asked, usage. */
function replyFor(q: string): Reply {
  const text = q.includes('long') ? `Long answer to ${q}: ${'lorem ipsum ✓ '.repeat(3000)}` : `Go got «${q}» ✓`;
  return {
    text,
    chunkSize: 7,
    usage: { input_tokens: q.length, output_tokens: 11 },
    ...(q.includes('tool') ? { toolCalls: [{ id: 'call_go1', name: 'shell', arguments: { cmd: 'ls -la', q } }] } : {}),
  };
}

const anthropic = (q: string, stream: boolean) => ({
  path: '/v1/messages',
  body: { model: 'claude-mock', max_tokens: 200, stream, messages: [{ role: 'user', content: q }] },
});
const chat = (q: string) => ({
  path: '/v1/chat/completions',
  body: {
    model: 'gpt-mock',
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: q }],
  },
});

/** Jobs for one run; `tag` keeps questions distinct across runs. A large request body too. */
function jobs(tag: string) {
  return [
    anthropic(`${tag} streamed one`, true),
    anthropic(`${tag} json two ${'big request '.repeat(4000)}`, false),
    chat(`${tag} tool three`),
    anthropic(`${tag} long four`, true),
  ];
}

if (why) {
  t.test('as-sslsniff on Go crypto/tls', { skip: why }, async () => {});
} else {
  const dir = tmpdir();
  let mock: MockLlm;
  const served: Array<{ req: MockRequest; reply: Reply }> = [];
  let plain = '';
  let stripped = '';
  let pie = '';
  t.before(async () => {
    plain = goBuild('llmclient', dir);
    stripped = goBuild('llmclient', dir, { stripped: true });
    pie = goBuild('llmclient', dir, { stripped: true, pie: true });
    mock = await startMockLlm({
      http2: true,
      script: (req) => {
        const reply = replyFor(lastUserText(req.api, req.json));
        served.push({ req, reply });
        return reply;
      },
    });
  });
  t.teardown(async () => {
    await mock?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const jobFile = (tag: string) => {
    const f = path.join(dir, `${tag}.json`);
    fs.writeFileSync(f, JSON.stringify(jobs(tag)));
    return f;
  };

  /** as-http | as-merge over captured events (the built tools). */
  async function merged(t: Test, events: Array<Record<string, any>>) {
    const http = await runTool('as-http', [], { stdin: events.map((e) => JSON.stringify(e)).join('\n') + '\n' });
    const m = await runTool('as-merge', [], { stdin: http.stdout });
    t.equal(m.code, 0, 'as-merge exit 0');
    return m.events;
  }

  /** Every call of the run: one per job, each equal to what the mock served and was sent. */
  function checkCalls(t: Test, out: Array<Record<string, any>>, tag: string, pid: number) {
    const calls = out.filter((e) => e.src === 'llm' && e.type === 'call' && JSON.stringify(e.request).includes(tag));
    t.equal(calls.length, jobs(tag).length, `one llm/call per request (${calls.length})`);
    const mine = served.filter((s) => lastUserText(s.req.api, s.req.json).startsWith(tag));
    t.equal(mine.length, jobs(tag).length, 'the mock answered each request once');
    for (const c of calls) {
      const sv = mine.find((s) => JSON.stringify((s.req.json as any).messages) === JSON.stringify(c.request.messages));
      if (!t.ok(sv, `call ${c.api} ${c.request.messages?.[0]?.content?.slice(0, 30)}: the messages the mock received`))
        continue;
      const { req, reply } = sv!;
      const what = lastUserText(req.api, req.json).slice(0, 30);
      t.equal(c.pid, pid, `${what}: the Go client's pid`);
      t.equal(c.api, req.api, `${what}: api`);
      t.equal(c.status, 200, `${what}: status`);
      t.equal(c.incomplete, undefined, `${what}: complete`);
      t.equal(c.model, req.model, `${what}: model`);
      t.equal(c.request.stream, req.stream, `${what}: stream`);
      t.equal(c.response.text, reply.text, `${what}: text`);
      t.same(
        c.response.tool_calls.map((x: any) => ({ name: x.name, arguments: x.arguments })),
        (reply.toolCalls ?? []).map((x) => ({ name: x.name, arguments: x.arguments })),
        `${what}: tool calls`,
      );
      t.equal(c.usage.input_tokens, reply.usage?.input_tokens, `${what}: input tokens`);
      t.equal(c.usage.output_tokens, reply.usage?.output_tokens, `${what}: output tokens`);
      t.ok(Number.isInteger(c.fd) && c.fd >= 0, `${what}: the socket fd (${c.fd})`);
    }
  }

  /** What every capture of a Go client must show. */
  function checkCapture(t: Test, events: Array<Record<string, any>>, stderr: string, pid: number) {
    t.match(stderr, /\(100% of/, `nothing lost: ${stderr.trim().split('\n').pop()}`);
    t.same(events.map((e) => validateEvent(e)).filter(Boolean), [], 'every event is valid');
    const attach = events.filter((e) => e.type === 'attach' && e.lib === 'go');
    t.same(attach.map((e) => [e.symbol, e.method]).sort(), [
      [READ, 'pclntab'],
      [WRITE, 'pclntab'],
    ]);
    const data = events.filter((e) => e.type === 'data' && e.pid === pid);
    t.ok(data.length > 0 && data.every((e) => e.lib === 'go'), `${data.length} data events, lib go`);
    const fds = new Set(data.map((e) => e.fd));
    t.ok(
      [...fds].every((fd) => Number.isInteger(fd) && fd >= 3),
      `every data event names its socket (${[...fds]})`,
    );
  }

  function clientOk(t: Test, stdout: string, n: number, proto: string) {
    const lines = stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    t.equal(lines.length, n, 'the client reports each request');
    t.ok(
      lines.every((l) => l.status === 200 && l.proto === proto && l.bytes > 0),
      `all 200 over ${proto}: ${JSON.stringify(lines.map((l) => [l.status, l.proto]))}`,
    );
  }

  t.test(`${GO} HTTP/1.1 streaming client, --binary-path`, async (t) => {
    const tag = 'h1bp';
    const cap = await startCapture(['--binary-path', plain]);
    const r = await run(plain, [mock.url, mock.caPath, jobFile(tag)], { timeoutMs: 60000 });
    t.equal(r.code, 0, `client exit 0 ${r.stderr}`);
    clientOk(t, r.stdout.toString(), 4, 'HTTP/1.1');
    const { code, events, stderr } = await cap.stop();
    t.equal(code, 0, 'as-sslsniff exit 0');
    checkCapture(t, events, stderr, r.pid);
    const conns = new Set(events.filter((e) => e.type === 'data' && e.pid === r.pid).map((e) => e.conn));
    t.equal(conns.size, 1, 'keep-alive: one connection for the four calls');
    checkCalls(t, await merged(t, events), tag, r.pid);
  });

  t.test(`${GO} HTTP/2 client, 3 streams at once, -p PID`, async (t) => {
    const tag = 'h2pid';
    const { spawn } = await import('node:child_process');
    const c = spawn(plain, ['-h2', '-wait', '-parallel', '3', mock.url, mock.caPath, jobFile(tag)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    c.stdout.on('data', (d) => {
      out += d;
    });
    c.stderr.on('data', (d) => {
      err += d;
    });
    const done = new Promise<number | null>((r) => c.on('close', r));
    await new Promise<void>((r) => c.stdout.once('data', () => r()));
    const list = await runTool('as-sslsniff', ['-p', String(c.pid), '--list-targets']);
    t.match(
      list.stdout.toString(),
      new RegExp(`/proc/${c.pid}/root${plain}: go \\(${GO!.replace(/\./g, '\\.')}, pclntab in \\.gopclntab\\)`),
      '--list-targets -p: the running Go program, and how its functions were found',
    );
    const cap = await startCapture(['-p', String(c.pid)]);
    c.stdin.write('go\n');
    const kill = setTimeout(() => c.kill('SIGKILL'), 60000);
    t.equal(await done, 0, `client exit 0 ${err}`);
    clearTimeout(kill);
    clientOk(t, out, 4, 'HTTP/2.0');
    const { code, events, stderr } = await cap.stop();
    t.equal(code, 0, 'as-sslsniff exit 0');
    checkCapture(t, events, stderr, c.pid!);
    checkCalls(t, await merged(t, events), tag, c.pid!);
  });

  t.test(`${GO} built with -ldflags=-s -w: --list-targets, then HTTP/2 and HTTP/1.1, and as a PIE`, async (t) => {
    const list = await runTool('as-sslsniff', ['--binary-path', stripped, '--list-targets']);
    t.equal(list.code, 0);
    const out = list.stdout.toString();
    t.match(out, new RegExp(`${stripped}: go \\(${GO!.replace(/\./g, '\\.')}, pclntab in `), out);
    t.match(out, /crypto\/tls\.\(\*Conn\)\.Write +offset 0x[0-9a-f]+ {2}pclntab, returns at 0x/);
    t.match(out, /crypto\/tls\.\(\*Conn\)\.Read +offset 0x[0-9a-f]+ {2}pclntab, returns at 0x/);
    for (const [h2, bin] of [
      [true, stripped],
      [false, stripped],
      [true, pie],
    ] as const) {
      const tag = `stripped${bin === pie ? 'pie' : ''}${h2 ? 'h2' : 'h1'}`;
      t.comment(`${path.basename(bin)} over ${h2 ? 'HTTP/2' : 'HTTP/1.1'}`);
      const cap = await startCapture(['--binary-path', bin]);
      const r = await run(bin, [...(h2 ? ['-h2', '-parallel', '2'] : []), mock.url, mock.caPath, jobFile(tag)], {
        timeoutMs: 60000,
      });
      t.equal(r.code, 0, `client exit 0 ${r.stderr}`);
      clientOk(t, r.stdout.toString(), 4, h2 ? 'HTTP/2.0' : 'HTTP/1.1');
      const { code, events, stderr } = await cap.stop();
      t.equal(code, 0, 'as-sslsniff exit 0');
      checkCapture(t, events, stderr, r.pid);
      checkCalls(t, await merged(t, events), tag, r.pid);
    }
  });

  t.test(`${GO}: -c follows the Go program when it is started`, async (t) => {
    const tag = 'follow';
    const bin = path.join(dir, 'gofollow');
    fs.copyFileSync(stripped, bin);
    fs.chmodSync(bin, 0o755);
    const cap = await startCapture(['-c', 'gofollow']);
    const r = await run(bin, ['-h2', mock.url, mock.caPath, jobFile(tag)], { timeoutMs: 60000 });
    t.equal(r.code, 0, `client exit 0 ${r.stderr}`);
    const { code, events, stderr } = await cap.stop();
    t.equal(code, 0);
    t.match(stderr, /gofollow: go TLS hooked, 2 functions \(exec'd by gofollow/, 'hooked at its exec');
    checkCapture(t, events, stderr, r.pid);
    checkCalls(t, await merged(t, events), tag, r.pid);
  });

  t.test(`${GO}: agentsight exec, each call joined to its connect`, async (t) => {
    const tag = 'exec';
    const outFile = path.join(dir, 'exec.ndjson');
    const r = await runTool(
      'agentsight',
      ['exec', '--no-server', '--interval', '0', '-o', outFile, '--', plain, mock.url, mock.caPath, jobFile(tag)],
      { timeoutMs: 120_000 },
    );
    t.equal(r.code, 0, `exit status of the client (stderr: ${r.stderr.slice(-500)})`);
    const events = parseNdjson(fs.readFileSync(outFile));
    const exec = events.find((e) => e.src === 'proc' && e.type === 'exec' && e.filename === plain);
    if (!t.ok(exec, 'the client exec is recorded')) return;
    checkCalls(t, events, tag, exec!.pid);
    t.match(r.stderr, /lost +nothing/);
    const calls = events.filter((e) => e.src === 'llm' && e.type === 'call');
    const connects = events.filter(
      (e) => e.src === 'proc' && e.type === 'connect' && e.pid === exec!.pid && e.port === mock.port,
    );
    t.ok(
      calls.every((c) => connects.some((k) => k.fd === c.fd)),
      `each call's (pid, fd) is the connect to the mock (${calls.map((c) => c.fd)} / ${connects.map((k) => k.fd)})`,
    );
  });
}
