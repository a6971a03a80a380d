import t from 'tap';
import type { AgentEvent } from '@agentsight/events';
import { redactEvent, redactForStore, redactText, REDACTED } from './redact.js';

t.test('redactText: header lines, key shapes, URL parameters', async (t) => {
  t.equal(redactText('Authorization: Bearer abc.def-123\r\nHost: x'), `Authorization: ${REDACTED}\r\nHost: x`);
  t.equal(redactText('x-api-key:sk-ant-api03-AAAAAAAAAAAA'), `x-api-key:${REDACTED}`);
  t.equal(redactText('key is sk-ant-api03-abcdefghijk, ok'), `key is ${REDACTED}, ok`);
  t.equal(redactText('OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstu'), `OPENAI_API_KEY=${REDACTED}`);
  t.equal(redactText('GET /v1/models?key=AIzaSyABCDEFGHIJKLMNOPQRSTUVWXYZ0123456&alt=sse'), `GET /v1/models?key=${REDACTED}&alt=sse`);
  t.equal(redactText('curl -H "Authorization: Bearer tok123456789012"'), `curl -H "Authorization: ${REDACTED}"`);
  t.equal(redactText('ghp_abcdefghijklmnopqrstuvwxyz0123456789'), REDACTED);
  t.equal(redactText('a plain sentence about keys and tokens'), 'a plain sentence about keys and tokens', 'words alone are not secrets');
  t.equal(redactText('authorization: [REDACTED sha256:0a1b2c3d]'), 'authorization: [REDACTED sha256:0a1b2c3d]', 'as-http fingerprints stay');
});

t.test('redactEvent: header objects, nested strings, base64 payloads', async (t) => {
  const ev = {
    v: 1, ts: 1, src: 'http', type: 'request', conn: 'c', id: 'c#0', method: 'GET', path: '/x?token=abc', body_size: 0, start_ts: 1,
    headers: { authorization: 'Basic dXNlcjpwYXNz', 'x-goog-api-key': '[REDACTED sha256:00112233]', accept: '*/*' },
  } as unknown as AgentEvent;
  const r = redactEvent(ev) as unknown as Record<string, any>;
  t.equal(r.headers.authorization, REDACTED);
  t.equal(r.headers['x-goog-api-key'], '[REDACTED sha256:00112233]');
  t.equal(r.headers.accept, '*/*');
  t.equal(r.path, `/x?token=${REDACTED}`);
  t.equal((ev as unknown as Record<string, any>).headers.authorization, 'Basic dXNlcjpwYXNz', 'input not modified');
  const bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('\r\nCookie: session=s3cr3t\r\n'), Buffer.from([0x80])]);
  const b = redactEvent({ v: 1, ts: 1, src: 'ssl', type: 'data', data: bytes.toString('base64'), enc: 'base64' } as unknown as AgentEvent) as unknown as Record<string, string>;
  const out = Buffer.from(b.data!, 'base64');
  t.same([...out.subarray(0, 2)], [0xff, 0xfe]);
  t.equal(out[out.length - 1], 0x80);
  t.notOk(out.toString('latin1').includes('s3cr3t'));
});

t.test('redactForStore: untouched events are not rewritten', async (t) => {
  const ev = { v: 1, ts: 1, src: 'proc', type: 'open', pid: 1, path: '/etc/hosts', flags: 0, ret: 3 } as unknown as AgentEvent;
  const r = redactForStore(ev);
  t.equal(r.ev, ev, 'same object: nothing to scrub');
  t.equal(r.json, JSON.stringify(ev));
  const s = redactForStore({ ...ev, path: '/home/u/.env?api_key=zzz' } as AgentEvent);
  t.notMatch(s.json, 'zzz');
});
