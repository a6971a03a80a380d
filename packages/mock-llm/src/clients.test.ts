import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import t from 'tap';
import type { Api } from './reply.js';
import { startMockLlm } from './server.js';

// curl and python3's http.client are among the clients the TLS capture tools trace
// (OpenSSL via libcurl, OpenSSL via _ssl): both must talk to the mock over HTTPS with its CA.

const run = promisify(execFile);

const CALLS: Array<{ api: Api; path: string; body: Record<string, unknown>; stream: boolean }> = [];
for (const stream of [false, true]) {
  CALLS.push(
    {
      api: 'anthropic.messages',
      path: '/v1/messages',
      stream,
      body: { model: 'claude-c', max_tokens: 64, stream, messages: [{ role: 'user', content: 'hi' }] },
    },
    {
      api: 'openai.chat',
      path: '/v1/chat/completions',
      stream,
      body: { model: 'gpt-c', stream, messages: [{ role: 'user', content: 'hi' }] },
    },
    { api: 'openai.responses', path: '/v1/responses', stream, body: { model: 'gpt-c', stream, input: 'hi' } },
    {
      api: 'gemini',
      path: `/v1beta/models/gemini-c:${stream ? 'streamGenerateContent?alt=sse' : 'generateContent'}`,
      stream,
      body: { contents: [{ parts: [{ text: 'hi' }] }] },
    },
  );
}

/** The reply text, pulled out of any API's JSON or SSE body. */
function textOf(body: string, stream: boolean): string {
  const docs = stream
    ? body
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data: ') && l !== 'data: [DONE]')
        .map((l) => JSON.parse(l.slice(6)) as Record<string, any>) // eslint-disable-line @typescript-eslint/no-explicit-any
    : [JSON.parse(body) as Record<string, any>]; // eslint-disable-line @typescript-eslint/no-explicit-any
  let text = '';
  for (const d of docs) {
    if (d.type === 'content_block_delta') text += d.delta.text ?? '';
    else if (d.type === 'response.output_text.delta') text += d.delta;
    else if (d.object === 'chat.completion.chunk') text += d.choices[0]?.delta?.content ?? '';
    else if (d.candidates) text += d.candidates[0].content.parts.map((p: { text?: string }) => p.text ?? '').join('');
    else if (d.type === 'message') text += d.content.map((b: { text?: string }) => b.text ?? '').join('');
    else if (d.object === 'chat.completion') text += d.choices[0].message.content;
    else if (d.object === 'response')
      text += d.output
        .flatMap((i: { content?: Array<{ text: string }> }) => i.content ?? [])
        .map((c: { text: string }) => c.text)
        .join('');
  }
  return text;
}

const REPLY = 'Über-mock ✓ reply, in pieces';

t.test('curl (the CLI) reaches every API over HTTPS with --cacert', async (t) => {
  const mock = await startMockLlm({ chunkSize: 5 });
  t.teardown(() => mock.close());
  for (const c of CALLS) {
    mock.enqueue({ text: REPLY });
    const { stdout } = await run(
      'curl',
      [
        '-sS',
        '--fail-with-body',
        '--max-time',
        '20',
        '--cacert',
        mock.caPath,
        '-H',
        'content-type: application/json',
        '--data-binary',
        JSON.stringify(c.body),
        `${mock.url}${c.path}`,
      ],
      { timeout: 30_000 },
    );
    t.equal(textOf(stdout, c.stream), REPLY, `${c.api} ${c.stream ? 'stream' : 'JSON'}`);
  }
  await t.rejects(
    run('curl', ['-sS', '--max-time', '10', `${mock.url}/health`], { timeout: 20_000 }),
    'curl without the CA refuses the certificate',
  );
});

const PY = `
import http.client, json, ssl, sys
host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
calls = json.load(sys.stdin)
ctx = ssl.create_default_context(cafile=cafile)
conn = http.client.HTTPSConnection(host, port, context=ctx, timeout=20)
out = []
for c in calls:
    conn.request("POST", c["path"], body=json.dumps(c["body"]), headers={"content-type": "application/json"})
    r = conn.getresponse()
    out.append({"status": r.status, "type": r.getheader("content-type"), "body": r.read().decode("utf-8")})
# One connection for all calls: keep-alive worked if the socket was never replaced.
print(json.dumps({"results": out, "sock_reused": conn.sock is not None}))
`;

const py = spawnSync('python3', ['--version']);
const noPython = py.error || py.status !== 0 ? 'python3 is not installed (Debian package python3)' : false;

t.test(
  'python3 http.client reaches every API over HTTPS on one kept-alive connection',
  { skip: noPython },
  async (t) => {
    const mock = await startMockLlm({ chunkSize: 5 });
    t.teardown(() => mock.close());
    for (let i = 0; i < CALLS.length; i++) mock.enqueue({ text: REPLY });
    const child = execFile('python3', ['-c', PY, '127.0.0.1', String(mock.port), mock.caPath], { timeout: 30_000 });
    child.stdin!.end(JSON.stringify(CALLS.map(({ path, body }) => ({ path, body }))));
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: string) => {
      stdout += d;
    });
    child.stderr!.on('data', (d: string) => {
      stderr += d;
    });
    const code = await new Promise<number | null>((r) => child.on('close', r));
    t.equal(code, 0, `python3 exit status (stderr: ${stderr.trim()})`);
    const res = JSON.parse(stdout) as {
      results: Array<{ status: number; type: string; body: string }>;
      sock_reused: boolean;
    };
    CALLS.forEach((c, i) => {
      const r = res.results[i]!;
      t.equal(r.status, 200);
      t.match(r.type, c.stream ? /text\/event-stream/ : /application\/json/);
      t.equal(textOf(r.body, c.stream), REPLY, `${c.api} ${c.stream ? 'stream' : 'JSON'}`);
    });
    t.ok(res.sock_reused, 'connection still open after all calls');
  },
);
