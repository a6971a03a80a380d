import type { AgentEvent } from '@agentsight/events';
import t from 'tap';
import {
  fingerprint,
  isSecretField,
  PRESET_RULES,
  redactEvent,
  redacted,
  redactForStore,
  redactHttp,
  redactText,
} from './index.js';

const FP = /\[REDACTED sha256:[0-9a-f]{8}\]/;
// Shapes only the preset knows (no name next to them, no provider shape of ours).
const GITHUB = 'ghp_' + 'a1B2c3D4e5'.repeat(3) + 'f6G7h8';
const SLACK = 'xoxb-1234567890-1234567890123-' + 'AbCdEfGhIjKlMnOpQrStUvWx';
const ANTHROPIC = 'sk-ant-api03-' + 'x9Y8z7W6v5'.repeat(9) + 'abAA';
const TAVILY = 'tvly-dev-Q1w2E3r4T5y6U7i8O9p0AsDfGhJk';

t.test('the recommended preset is what finds key shapes', async (t) => {
  t.ok(PRESET_RULES >= 20, `${PRESET_RULES} preset rules in use`);
  t.equal(redactText(`token ${GITHUB} here`), `token ${redacted(GITHUB)} here`);
  t.equal(redactText(SLACK), redacted(SLACK));
  const pem = `-----BEGIN RSA PRIVATE KEY-----\n${'MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF8PbnGy0AHB7MhgHcTz6sE2I2yPB\n'.repeat(3)}-----END RSA PRIVATE KEY-----`;
  t.notMatch(redactText(pem), /MIIEow/);
  t.notMatch(redactText(JSON.stringify({ key_file: pem })), /MIIEow/, 'also inside JSON, newlines escaped');
  t.notMatch(redactText('db at postgres://admin:hunter2pass@db.example.com:5432/prod'), /hunter2pass/);
});

t.test('by name: header lines, JSON fields, KEY=value, URL parameters', async (t) => {
  t.equal(
    redactText('Authorization: Bearer abc.def-123\r\nHost: x'),
    `Authorization: ${redacted('Bearer abc.def-123')}\r\nHost: x`,
  );
  t.equal(
    redactText('{"api_key": "tvly-x1", "q": "a"}'),
    `{"api_key": "${redacted('tvly-x1')}", "q": "a"}`,
    'any value of a key field, however short',
  );
  t.match(
    redactText('{"apiKey":"abc","client_secret":"def","password":"p w"}'),
    /^\{"apiKey":"\[REDACTED[^"]+","client_secret":"\[REDACTED[^"]+","password":"\[REDACTED[^"]+"\}$/,
  );
  t.equal(
    redactText('{"key":"ArrowUp","token":"Hello","max_tokens":5}'),
    '{"key":"ArrowUp","token":"Hello","max_tokens":5}',
    'ordinary LLM fields are not secrets',
  );
  t.equal(
    redactText('TAVILY_API_KEY=abc123 OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstu'),
    `TAVILY_API_KEY=${redacted('abc123')} OPENAI_API_KEY=${redacted('sk-proj-abcdefghijklmnopqrstu')}`,
  );
  t.equal(
    redactText('GET /v1/models?key=AIzaSyABCDEFGHIJKLMNOPQRSTUVWXYZ0123456&alt=sse'),
    `GET /v1/models?key=${redacted('AIzaSyABCDEFGHIJKLMNOPQRSTUVWXYZ0123456')}&alt=sse`,
  );
  t.equal(
    redactText('curl -H "Authorization: Bearer tok123456789012"'),
    `curl -H "Authorization: ${redacted('Bearer tok123456789012')}"`,
  );
  t.equal(
    redactText('a plain sentence about keys and tokens'),
    'a plain sentence about keys and tokens',
    'words alone are not secrets',
  );
  t.equal(
    redactText('authorization: [REDACTED sha256:0a1b2c3d]'),
    'authorization: [REDACTED sha256:0a1b2c3d]',
    'fingerprints stay as they are',
  );
  t.ok(isSecretField('x-goog-api-key') && isSecretField('Authorization') && !isSecretField('model'));
});

t.test('JSON stays JSON: escapes, nested JSON strings, keys after \\n', async (t) => {
  const inner = JSON.stringify({ api_key: TAVILY, note: `line\n${ANTHROPIC}` });
  const body = JSON.stringify({
    messages: [
      { role: 'tool', content: inner },
      { role: 'user', content: `see\n${GITHUB}\tand "${TAVILY}"` },
    ],
    u: '\u00e9\\',
  });
  const out = redactText(body);
  for (const k of [TAVILY, ANTHROPIC, GITHUB]) t.notOk(out.includes(k), `${k.slice(0, 8)}… gone`);
  const parsed = JSON.parse(out);
  t.match(parsed.messages[1].content, /^see\n\[REDACTED sha256:[0-9a-f]{8}\]\tand "\[REDACTED/);
  t.match(JSON.parse(parsed.messages[0].content).api_key, FP);
  t.equal(parsed.u, '\u00e9\\');
});

t.test('the same key fingerprints alike in a header, a body and a URL', async (t) => {
  const ev = {
    v: 1,
    ts: 1,
    src: 'http',
    type: 'request',
    conn: 'c',
    id: 'c#0',
    method: 'POST',
    path: `/s?api_key=${TAVILY}`,
    body_size: 9,
    start_ts: 1,
    headers: { 'x-api-key': TAVILY, accept: '*/*' },
    data: JSON.stringify({ api_key: TAVILY }),
    enc: 'utf8',
  } as unknown as AgentEvent;
  const r = redactHttp(ev) as unknown as Record<string, any>;
  const fp = fingerprint(TAVILY);
  t.equal(r.headers['x-api-key'], `[REDACTED sha256:${fp}]`);
  t.equal(JSON.parse(r.data).api_key, `[REDACTED sha256:${fp}]`);
  t.equal(new URL(r.path, 'http://x').searchParams.get('api_key'), `[REDACTED sha256:${fp}]`);
  t.equal(r.headers.accept, '*/*');
});

t.test('redactEvent: header objects, nested strings, base64 payloads; input untouched', async (t) => {
  const ev = {
    v: 1,
    ts: 1,
    src: 'llm',
    type: 'call',
    id: 'c#0',
    headers: { authorization: 'Basic dXNlcjpwYXNz', 'x-goog-api-key': '[REDACTED sha256:00112233]' },
    request: { tools: [{ input: { api_key: 'tvly-short' } }], messages: [{ content: `my key ${ANTHROPIC}` }] },
  } as unknown as AgentEvent;
  const r = redactEvent(ev) as unknown as Record<string, any>;
  t.match(r.headers.authorization, FP);
  t.equal(r.headers['x-goog-api-key'], '[REDACTED sha256:00112233]');
  t.match(r.request.tools[0].input.api_key, FP);
  t.notMatch(JSON.stringify(r), ANTHROPIC);
  t.equal((ev as unknown as Record<string, any>).headers.authorization, 'Basic dXNlcjpwYXNz', 'input not modified');
  const bytes = Buffer.concat([
    Buffer.from([0xff, 0xfe]),
    Buffer.from('\r\nCookie: session=s3cr3t\r\n'),
    Buffer.from([0x80]),
  ]);
  const b = redactEvent({
    v: 1,
    ts: 1,
    src: 'ssl',
    type: 'data',
    data: bytes.toString('base64'),
    enc: 'base64',
  } as unknown as AgentEvent) as unknown as Record<string, string>;
  const out = Buffer.from(b.data!, 'base64');
  t.same([...out.subarray(0, 2)], [0xff, 0xfe]);
  t.equal(out[out.length - 1], 0x80);
  t.notOk(out.toString('latin1').includes('s3cr3t'));
});

t.test('redactForStore: untouched events are not rewritten; a rewritten one parses back', async (t) => {
  const ev = {
    v: 1,
    ts: 1,
    src: 'proc',
    type: 'open',
    pid: 1,
    path: '/etc/hosts',
    flags: 0,
    ret: 3,
  } as unknown as AgentEvent;
  const r = redactForStore(ev);
  t.equal(r.ev, ev, 'same object: nothing to scrub');
  t.equal(r.json, JSON.stringify(ev));
  const s = redactForStore({ ...ev, path: '/home/u/.env?api_key=zzz' } as AgentEvent);
  t.notMatch(s.json, 'zzz');
  const call = {
    v: 1,
    ts: 1,
    src: 'llm',
    type: 'call',
    request: { messages: [{ content: `"quoted" ${GITHUB}\n` }], tools: [{ input: { apiKey: TAVILY } }] },
  } as unknown as AgentEvent;
  const c = redactForStore(call);
  t.same(JSON.parse(c.json), c.ev);
  t.notMatch(c.json, GITHUB);
  t.notMatch(c.json, TAVILY);
});

t.test(
  'redactForStore: a flat event (a process event) is scrubbed field by field, a repeated path the same',
  async (t) => {
    const ev = (path: string, extra: Record<string, unknown> = {}) =>
      ({ v: 1, ts: 1, src: 'proc', type: 'open', pid: 1, comm: 'cat', path, flags: 0, ret: 3, ...extra }) as AgentEvent;
    const plain = ev('/usr/lib/x86_64-linux-gnu/libc.so.6');
    t.equal(redactForStore(plain).ev, plain, 'a path with digits and nothing secret: untouched');
    for (let i = 0; i < 2; i++) {
      const r = redactForStore(ev(`/tmp/${GITHUB}/x`));
      t.notMatch(r.json, GITHUB, `a key in a path (${i ? 'remembered' : 'scanned'})`);
      t.same(JSON.parse(r.json), r.ev);
      t.same(r.ev, redactEvent(ev(`/tmp/${GITHUB}/x`)), 'as the walk has it');
    }
    const named = redactForStore(ev('/x', { password: 'hunter2' }));
    t.notMatch(named.json, 'hunter2', 'a secret-named field');
    const nested = redactForStore(ev('/x', { argv: ['curl', '-H', `Authorization: Bearer ${TAVILY}`] }));
    t.notMatch(nested.json, TAVILY, 'not flat: the whole text is scanned');
  },
);

t.test('any JSON with keys planted anywhere stays JSON, and no key survives (500 random bodies)', async (t) => {
  let seed = 42;
  const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
  const keys = [
    GITHUB,
    SLACK,
    ANTHROPIC,
    TAVILY,
    'AIzaSyABCDEFGHIJKLMNOPQRSTUVWXYZ0123456',
    'sk-proj-abcdefghijklmnopqrstu12',
  ];
  const noise = ['\n', '\t', '"', '\\', ' ', 'é', '😀', '\u0001', 'Bearer ', 'key=', 'x', '{"a":1}', '-----'];
  // Keys are delimited in real text (a space, a quote, an escape, punctuation); glued to a
  // letter they are no longer the same token, for the preset's rules as for a reader.
  const delims = [' ', '\n', '\t', '"', ',', ':', '=', '/', '\\', '(', '\r\n'];
  const text = () =>
    Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => (rnd() < 0.3 ? pick(keys) : pick(noise)))
      .map((f) => f + pick(delims))
      .join('');
  const value = (d: number): unknown => {
    const r = rnd();
    if (d > 3 || r < 0.4) return text();
    if (r < 0.55) return Math.floor(rnd() * 1e6);
    if (r < 0.75) return Array.from({ length: Math.floor(rnd() * 4) }, () => value(d + 1));
    const o: Record<string, unknown> = {};
    for (let i = 0; i < 1 + rnd() * 4; i++)
      o[pick(['api_key', 'apiKey', 'content', 'text', 'password', 'q', 'token', text()])] = value(d + 1);
    if (rnd() < 0.2) o.nested = JSON.stringify(value(d + 1));
    return o;
  };
  let bad = 0;
  for (let i = 0; i < 500; i++) {
    const body = JSON.stringify(value(0));
    const out = redactText(body);
    let ok = true;
    try {
      JSON.parse(out);
    } catch {
      ok = false;
    }
    const left = keys.filter((k) => out.includes(k));
    if (!ok || left.length) {
      bad++;
      if (bad <= 3)
        t.fail(
          `body ${i}: ${ok ? `left ${left.join(', ')}` : 'not JSON'}: ${body.slice(0, 300)} => ${out.slice(0, 300)}`,
        );
    }
  }
  t.equal(bad, 0, 'every body still JSON, every key gone');
});
