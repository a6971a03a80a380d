// as-serve security: no network exposure without a token, the token enforced on every
// request (API, live feed, the page itself), no DNS rebinding, and no captured secret
// served back — whether it went through as-http or arrived raw.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AgentEvent } from '@agentsight/events';
import { runHttp, sslEvents } from '@agentsight/http';
import { checkBind, isLoopback, Store, serve } from '@agentsight/serve';
import t from 'tap';
import { buildUi, getJson, ROOT, startFixture } from './serve-fixture.js';

const TOOL = path.join(ROOT, 'dist/tools/as-serve.js');

function run(args: string[], ms = 10_000): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [TOOL, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (d) => {
      stderr += d;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), ms);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

t.test('loopback detection', async (t) => {
  for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', '::ffff:127.0.0.1']) t.ok(isLoopback(h), h);
  for (const h of ['0.0.0.0', '::', '192.168.1.2', '10.0.0.1', 'example.com', '128.0.0.1']) t.notOk(isLoopback(h), h);
  t.throws(() => checkBind('0.0.0.0', undefined), /non-loopback.*--token/);
  t.throws(() => checkBind('0.0.0.0', 'short'), /at least 8/);
  t.doesNotThrow(() => checkBind('0.0.0.0', 'a-long-enough-token'));
});

t.test('as-serve refuses a non-loopback host without --token (exit 2, nothing bound)', async (t) => {
  const dir = fs.mkdtempSync('/tmp/as-serve-sec-');
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const db = path.join(dir, 'x.db');
  const r = await run(['--host', '0.0.0.0', '--port', '0', '--db', db]);
  t.equal(r.code, 2, 'usage error');
  t.match(r.stderr, /refusing to listen on non-loopback host 0\.0\.0\.0 without --token/);
  t.notOk(fs.existsSync(db), 'did not even create the store');
});

t.test('with a token every request needs it', async (t) => {
  const token = 'tok-' + 'x'.repeat(20);
  const fx = await startFixture({ token, host: '0.0.0.0', assets: await buildUi() });
  t.teardown(() => fx.close());
  const base = fx.base.replace('0.0.0.0', '127.0.0.1');
  for (const p of ['/api/stats', '/api/events', '/api/live', '/', '/conversations', '/assets/app.js']) {
    const r = await getJson(base + p);
    t.equal(r.status, 401, `${p} without token: 401`);
    t.equal(
      (await getJson(base + p, { authorization: 'Bearer wrong-token-123' })).status,
      401,
      `${p} wrong token: 401`,
    );
  }
  t.equal((await getJson(`${base}/api/stats`, { authorization: `Bearer ${token}` })).status, 200, 'Bearer header');
  const page = await fetch(`${base}/?token=${token}`);
  t.equal(page.status, 200, '?token= on the page');
  const cookie = page.headers.get('set-cookie') ?? '';
  t.match(
    cookie,
    /as_token=.*HttpOnly.*SameSite=Strict/,
    'sets an HttpOnly SameSite cookie so the page can use the API and the live feed',
  );
  t.equal((await getJson(`${base}/api/stats`, { cookie: cookie.split(';')[0]! })).status, 200, 'cookie accepted');
});

t.test('without a token only loopback Host names are served (DNS rebinding)', async (t) => {
  const fx = await startFixture();
  t.teardown(() => fx.close());
  // fetch() will not send a foreign Host header; node:http will.
  const status = (host: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.get(`${fx.base}/api/stats`, { headers: { host }, timeout: 5000 }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
    });
  t.equal(await status('attacker.example:7395'), 403, 'a foreign Host name is refused');
  t.equal(await status('localhost:7395'), 200, 'localhost is fine');
});

/** Every JSON document the API can produce for this store. */
async function crawl(base: string): Promise<string[]> {
  const docs: string[] = [];
  const get = async (p: string) => {
    const r = await getJson(base + p);
    docs.push(r.text);
    return r.body;
  };
  await get('/api/stats');
  await get('/api/sessions');
  await get('/api/timeline');
  await get('/api/metrics');
  let cursor: string | null = null;
  do {
    const page: { events: Array<{ _id: number }>; next: string | null } = await get(
      `/api/events?limit=50${cursor ? `&cursor=${cursor}` : ''}`,
    );
    for (const e of page.events) await get(`/api/events/${e._id}`);
    cursor = page.next;
  } while (cursor);
  const calls = await get('/api/calls?limit=1000');
  for (const c of calls.calls) await get(`/api/calls/${encodeURIComponent(c.id)}`);
  const procs = await get('/api/processes');
  for (const p of procs.processes) await get(`/api/processes/${p.rid}`);
  return docs;
}

t.test('captured secrets never come back out of the API or the store file', async (t) => {
  const fx = await startFixture();
  t.teardown(() => fx.close());
  const secrets = [fx.session.facts.secret];
  // Through as-http (HttpStage), plus the raw TLS plaintext it was made from, plus a key in
  // a base64 payload, an argv and a URL: as-serve is the last line of defence.
  const googKey = 'AIzaSyD-TESTKEYabcdefghijklmnopqrstuv12';
  const bearer = 'sk-proj-TESTSECRET1234567890abcdefgh';
  const tavily = 'tvly-dev-TESTKEY1a2b3c4d5e6f7g8h9';
  secrets.push(googKey, bearer, tavily);
  const reqBody = JSON.stringify({ contents: [], tools: [{ search: { api_key: tavily } }] });
  const req = Buffer.from(
    `POST /v1beta/models/gemini-2.5-flash:generateContent?key=${googKey} HTTP/1.1\r\nHost: generativelanguage.googleapis.com\r\nAuthorization: Bearer ${bearer}\r\nContent-Type: application/json\r\nContent-Length: ${reqBody.length}\r\n\r\n${reqBody}`,
  );
  const resp = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
  const ts = fx.session.facts.end + 1000;
  const ssl = [
    ...sslEvents(req, { conn: 'c9', dir: 'write', ts, pid: 5000 }),
    ...sslEvents(resp, { conn: 'c9', dir: 'read', ts: ts + 100, pid: 5000 }),
  ];
  const http = runHttp(ssl);
  t.ok(
    http.some((e) => e.src === 'http' && e.type === 'request'),
    'as-http produced the request',
  );
  const bin = Buffer.concat([
    Buffer.from([0, 1, 2, 0xff]),
    Buffer.from(`\r\nx-api-key: ${fx.session.facts.secret}\r\n`),
  ]);
  const extra: AgentEvent[] = [
    ...ssl,
    ...http,
    {
      v: 1,
      ts: ts + 200,
      src: 'ssl',
      type: 'data',
      pid: 5000,
      tid: 5000,
      comm: 'agent',
      conn: 'c9',
      dir: 'write',
      seq: 99,
      len: bin.length,
      data: bin.toString('base64'),
      enc: 'base64',
      lib: 'openssl',
    } as AgentEvent,
    {
      v: 1,
      ts: ts + 300,
      src: 'proc',
      type: 'exec',
      pid: 5001,
      tid: 5001,
      comm: 'curl',
      ppid: 4100,
      uid: 0,
      filename: '/usr/bin/curl',
      argv: ['curl', '-H', `Authorization: Bearer ${bearer}`, `https://x.example/?api_key=${googKey}`],
    } as AgentEvent,
    {
      v: 1,
      ts: ts + 400,
      src: 'stdio',
      type: 'data',
      pid: 5001,
      comm: 'curl',
      fd: 1,
      dir: 'write',
      seq: 0,
      len: 10,
      data: `export ANTHROPIC_API_KEY=${fx.session.facts.secret}\n`,
      enc: 'utf8',
    } as AgentEvent,
  ];
  for (const e of extra) fx.store.insert(e);
  fx.store.commit();
  const docs = await crawl(fx.base);
  t.ok(docs.length > 60, `${docs.length} API documents crawled`);
  const all = docs.join('\n');
  for (const s of secrets) {
    t.notOk(all.includes(s), `secret ${s.slice(0, 8)}… never in the API`);
    t.notOk(all.includes(Buffer.from(s).toString('base64').slice(0, 24)), 'nor base64-encoded');
  }
  t.match(all, /\[REDACTED sha256:[0-9a-f]{8}\]/, "as-http's fingerprinted redaction is kept");
  const b64 = await getJson(`${fx.base}/api/events?src=ssl&q=c9&limit=100`);
  const binEv = b64.body.events.find((e: { enc: string }) => e.enc === 'base64');
  const raw = Buffer.from(binEv.data, 'base64');
  t.same([...raw.subarray(0, 4)], [0, 1, 2, 0xff], 'binary bytes around the redaction survive');
  t.match(raw.toString('latin1'), /x-api-key: \[REDACTED sha256:[0-9a-f]{8}\]/);
  fx.store.db.pragma('wal_checkpoint(TRUNCATE)');
  const file = fs.readFileSync(fx.dbPath);
  for (const s of secrets) t.equal(file.indexOf(s), -1, 'nor in the database file');
  t.equal(fs.statSync(fx.dbPath).mode & 0o777, 0o600, 'the store is private (0600)');
});

t.test('a fresh store, served: API documents say what is missing instead of failing', async (t) => {
  const dir = fs.mkdtempSync('/tmp/as-serve-empty-');
  const store = new Store(path.join(dir, 'e.db'));
  const srv = await serve(store, { host: '127.0.0.1', port: 0 });
  t.teardown(async () => {
    await srv.close();
    store.close();
    fs.rmSync(dir, { recursive: true });
  });
  for (const p of ['stats', 'events', 'calls', 'sessions', 'processes', 'timeline', 'metrics']) {
    t.equal((await getJson(`${srv.url}api/${p}`)).status, 200, `${p} on an empty store`);
  }
  const page = await fetch(srv.url);
  t.equal(page.status, 503, 'without a built UI the page says so');
});
