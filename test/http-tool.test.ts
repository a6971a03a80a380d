// The as-http tool as a user runs it: files and stdin, malformed lines, options, --help.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatEvent } from '@agentsight/events';
import { sslEvents } from '@agentsight/http';
import t from 'tap';
import { runTool } from './lib/run.js';

const req =
  'POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: sk-ant-SECRET\r\nContent-Length: 2\r\n\r\n{}';
const sse = 'event: a\ndata: {"x":1}\n\n';
const res = `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n${sse.length.toString(16)}\r\n${sse}\r\n0\r\n\r\n`;
const lines = [
  ...sslEvents(Buffer.from(req), { conn: 'c', dir: 'write', cuts: [10, 40] }),
  ...sslEvents(Buffer.from(res), { conn: 'c', dir: 'read', cuts: [5, 90] }),
].map((e) => formatEvent(e));

t.test('reads a capture file; a malformed line is reported as file:line and skipped', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-http-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const f = path.join(dir, 'cap.ndjson');
  const proc = '{"v":1,"ts":5,"src":"proc","type":"exit","pid":1,"comm":"x"}\n';
  fs.writeFileSync(f, lines.slice(0, 2).join('') + '{"v":1,"ts":\n' + proc + lines.slice(2).join(''));
  const r = await runTool('as-http', [f], { timeoutMs: 30000 });
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, new RegExp(`${f.replace(/[.]/g, '\\.')}:3: invalid JSON`));
  t.same(
    r.events.map((e) => `${e.src}/${e.type}`),
    ['proc/exit', 'http/request', 'http/sse', 'http/response'],
  );
  t.equal(r.events[0]!.pid, 1, 'other events pass through unchanged');
  t.match(r.events[1]!.headers['x-api-key'], /^\[REDACTED sha256:/);
  t.same(JSON.parse(r.events[2]!.data), { x: 1 });
  t.equal(r.events[3]!.sse_count, 1);

  const strict = await runTool('as-http', ['--strict', f], { timeoutMs: 30000 });
  t.equal(strict.code, 1, '--strict stops at the bad line');
});

t.test('stdin, --no-redact, --max-body-mb', async (t) => {
  const r = await runTool('as-http', ['--no-redact'], { stdin: lines.join(''), timeoutMs: 30000 });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.events[0]!.headers['x-api-key'], 'sk-ant-SECRET');
  const big = 'x'.repeat(3 * 1024 * 1024);
  const input = sslEvents(Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n${big}`), {
    conn: 'b',
    dir: 'read',
    cuts: [1 << 20, 2 << 20],
  })
    .map((e) => formatEvent(e))
    .join('');
  const r2 = await runTool('as-http', ['--max-body-mb', '1'], { stdin: input, timeoutMs: 30000 });
  t.equal(r2.code, 0, r2.stderr);
  t.match(r2.events[0], { type: 'response', body_size: big.length, body_truncated: true });
  t.equal(r2.events[0]!.data.length, 1024 * 1024);
  const bad = await runTool('as-http', ['--max-body-mb', '0'], { stdin: '', timeoutMs: 30000 });
  t.equal(bad.code, 2, 'a bad value is a usage error');
});

t.test('--help and unknown options', async (t) => {
  const h = await runTool('as-http', ['--help'], { timeoutMs: 30000 });
  t.equal(h.code, 0);
  const text = h.stdout.toString() + h.stderr;
  for (const o of ['--no-redact', '--redact', '--max-body-mb', '--idle-timeout', '--strict', '-o'])
    t.match(text, o, `help mentions ${o}`);
  const u = await runTool('as-http', ['--bogus'], { timeoutMs: 30000 });
  t.equal(u.code, 2);
  t.match(u.stderr, /bogus/);
});
