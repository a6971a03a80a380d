// as-sslsniff on stripped static BoringSSL, end to end, as root with real uprobes at the
// offsets the locator found: Bun fetch (two releases) with bodies of 0 B, 1 KiB, 1 MiB and
// 16 MiB each way, and Claude Code's real Messages API request. The byte streams rebuilt
// from the `data` events must hash-equal what the server received and sent.

import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { validateEvent } from '@agentsight/events';
import t from 'tap';
import { ROOT } from './lib/run.js';
import {
  bodyFile,
  kernelSkipReason,
  makeCert,
  matchConn,
  run,
  sha,
  startCapture,
  startServer,
  streams,
  type TestServer,
  tmpdir,
} from './sslsniff-helpers.js';

const AGENTS = path.join(ROOT, '.cache/agents');
const SIZES = [0, 1024, 1 << 20, 16 << 20];
// The second release only checks that the offsets work there too: smaller bodies, less time.
const BUNS = [
  { name: 'Bun 1.4.5', path: path.join(AGENTS, 'node_modules/@oven/bun-linux-x64/bin/bun'), sizes: SIZES },
  {
    name: 'Bun 1.3.14',
    path: path.join(AGENTS, 'bun-1.3.14/node_modules/@oven/bun-linux-x64/bin/bun'),
    sizes: SIZES.slice(0, 3),
  },
];
const CLAUDE = path.join(AGENTS, 'node_modules/@anthropic-ai/claude-code-linux-x64/claude');
const missing = (p: string) => (fs.existsSync(p) ? false : `MISSING ${p}: run \`make agents\``);

const why = kernelSkipReason();
if (why) {
  t.test('as-sslsniff on stripped BoringSSL', { skip: why }, async () => {});
} else {
  const dir = tmpdir();
  const tlsFiles = makeCert(dir);
  const bodies = new Map<number, string>(SIZES.map((n) => [n, bodyFile(dir, n)]));
  let server: TestServer;
  t.before(async () => {
    server = await startServer(tlsFiles);
  });
  t.teardown(() => {
    server?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  for (const bun of BUNS) {
    t.test(`${bun.name} fetch, --binary-path and -c bun`, { skip: missing(bun.path) }, async (t) => {
      const script = path.join(dir, 'fetch.mjs');
      fs.writeFileSync(
        script,
        `
        for (const [file, n] of ${JSON.stringify(bun.sizes.map((n) => [bodies.get(n), n]))}) {
          const r = await fetch("https://127.0.0.1:${server.port}/size/" + n, {
            method: "POST", body: await Bun.file(file).arrayBuffer(), tls: { rejectUnauthorized: false } });
          const got = (await r.arrayBuffer()).byteLength;
          if (got !== n) { console.error("short response", n, got); process.exit(1); }
        }`,
      );
      const cap = await startCapture(['--binary-path', bun.path, '-c', 'bun'], 60000);
      const from = server.conns.length;
      const t0 = Date.now();
      const r = await run(bun.path, [script], { timeoutMs: 60000 });
      t.equal(
        r.code,
        0,
        `bun ran all requests in ${Date.now() - t0} ms (exit ${r.code}) ${r.stderr.trim().slice(0, 300)}`,
      );
      await server.waitConns(from + bun.sizes.length);
      const { code, events, stderr } = await cap.stop();
      t.equal(code, 0, 'as-sslsniff exit 0');
      t.match(stderr, /100% of/, `nothing lost: ${stderr.split('\n').filter(Boolean).pop()}`);
      t.same(events.map((e) => validateEvent(e)).filter(Boolean), [], 'every event is valid');
      const attach = events.filter((e) => e.type === 'attach');
      t.same(attach.map((e) => [e.symbol, e.lib, e.method]).sort(), [
        ['SSL_do_handshake', 'boringssl', 'heuristic'],
        ['SSL_read', 'boringssl', 'heuristic'],
        ['SSL_write', 'boringssl', 'heuristic'],
      ]);
      const s = streams(events);
      for (const c of server.conns.slice(from)) {
        const st = matchConn(s, c);
        if (!t.ok(st, `${c.path}: request of ${c.reqLen} bytes captured whole`)) continue;
        t.equal(st!.read.length, c.respLen, `${c.path}: response length`);
        t.equal(sha(st!.read), c.respSha, `${c.path}: response bytes hash-equal what the server sent`);
        t.same(st!.problems, [], `${c.path}: seq consecutive, nothing truncated`);
        t.equal(st!.pid, r.pid, `${c.path}: the bun process`);
        // uSockets writes to the socket from inside SSL_write (a custom BIO), so the fd is seen.
        const fds = [...new Set(events.filter((e) => e.conn === st!.conn && e.type === 'data').map((e) => e.fd))];
        t.ok(fds.length === 1 && fds[0] >= 0, `${c.path}: one socket fd (${fds})`);
      }
      t.ok(
        events.some((e) => e.type === 'handshake' && e.pid === r.pid),
        'handshake events',
      );
    });
  }

  t.test('Claude Code 2.1.197: its Messages API request, captured whole', { skip: missing(CLAUDE) }, async (t) => {
    // The agent's own request, exactly as its TLS connection carried it.
    const conns: Array<{ req: Buffer[]; resp: Buffer }> = [];
    const key = fs.readFileSync(tlsFiles.key);
    const cert = fs.readFileSync(tlsFiles.cert);
    const srv = tls.createServer({ key, cert }, (sock) => {
      const c = { req: [] as Buffer[], resp: Buffer.alloc(0) };
      conns.push(c);
      sock.on('error', () => {});
      sock.on('data', (d: Buffer) => {
        c.req.push(d);
        const all = Buffer.concat(c.req);
        const h = all.indexOf('\r\n\r\n');
        if (h < 0 || c.resp.length) return;
        const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(all.subarray(0, h).toString('latin1'))?.[1] ?? 0);
        if (all.length < h + 4 + len) return;
        const body = JSON.stringify({
          type: 'error',
          error: { type: 'invalid_request_error', message: 'agentsight test' },
        });
        const head = all.subarray(0, 5).toString() === 'HEAD ';
        c.resp = Buffer.from(
          `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${head ? '' : body}`,
        );
        sock.end(c.resp);
      });
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    t.teardown(() => srv.close());
    const port = (srv.address() as AddressInfo).port;

    const cap = await startCapture(['--binary-path', CLAUDE, '-c', 'claude'], 60000);
    const home = path.join(dir, 'home');
    fs.mkdirSync(home, { recursive: true });
    const r = await run(CLAUDE, ['-p', 'say hello'], {
      timeoutMs: 60000,
      env: {
        PATH: process.env.PATH,
        HOME: home,
        NODE_EXTRA_CA_CERTS: tlsFiles.cert,
        ANTHROPIC_BASE_URL: `https://127.0.0.1:${port}`,
        ANTHROPIC_API_KEY: 'sk-ant-agentsight-test',
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
        DISABLE_TELEMETRY: '1',
        DISABLE_AUTOUPDATER: '1',
      },
    });
    await new Promise((res) => setTimeout(res, 300));
    const { events } = await cap.stop();
    t.comment(`claude exit ${r.code}: ${r.stdout.toString().trim().slice(0, 120)} ${r.stderr.trim().slice(0, 120)}`);
    const post = conns.find((c) => Buffer.concat(c.req).toString('latin1').startsWith('POST /v1/messages'));
    if (!t.ok(post, 'Claude sent POST /v1/messages to the local server')) return;
    const sent = Buffer.concat(post!.req);
    const s = [...streams(events).values()].filter((x) => x.pid === r.pid);
    const st = s.find((x) => x.write.subarray(0, 17).toString() === 'POST /v1/messages');
    if (!t.ok(st, 'captured a connection carrying the request')) return;
    t.equal(st!.write.length, sent.length, `request length (${sent.length} bytes)`);
    t.equal(sha(st!.write), sha(sent), 'request bytes hash-equal what the server received');
    t.equal(sha(st!.read), sha(post!.resp), 'response bytes hash-equal what the server sent');
    t.match(st!.write.toString('latin1'), /"content":"say hello"|say hello/, 'the prompt is in the plaintext');
    t.same(st!.problems, []);
  });
}
