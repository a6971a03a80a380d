import { fingerprint, redactHeaders, redactTarget } from '@agentsight/redact';
import t from 'tap';
import { type MessageHead, planBody } from './http1.js';
import { type Piece, SeqReorder } from './reorder.js';
import { type SseMessage, SseParser } from './sse.js';
import { prng, splitPoints } from './synth.js';

function parse(chunks: Array<string | Buffer>): SseMessage[] {
  const out: SseMessage[] = [];
  const p = new SseParser((m) => out.push(m));
  for (const c of chunks) p.push(typeof c === 'string' ? Buffer.from(c) : c);
  p.end();
  return out;
}

t.test('SSE fields, comments, multi-line data, retry, id', async (t) => {
  const msgs = parse([
    ': hello\n\nevent: e1\ndata: a\ndata:b\ndata\nid: 42\nretry: 3000\nretry: bad\nunknown: x\n\ndata: only\n\n',
  ]);
  t.same(msgs, [{ event: 'e1', data: 'a\nb\n', id: '42', retry: 3000 }, { data: 'only' }]);
});

t.test('SSE line endings: LF, CRLF, CR, and a CRLF split across chunks', async (t) => {
  const want = [{ event: 'x', data: '1' }, { data: '2\n3' }];
  t.same(parse(['event: x\ndata: 1\n\ndata: 2\ndata: 3\n\n']), want, 'LF');
  t.same(parse(['event: x\r\ndata: 1\r\n\r\ndata: 2\r\ndata: 3\r\n\r\n']), want, 'CRLF');
  t.same(parse(['event: x\rdata: 1\r\rdata: 2\rdata: 3\r\r']), want, 'CR');
  t.same(
    parse(['event: x\r', '\ndata: 1\r', '\n\r', '\ndata: 2\r', '\ndata: 3\r\n\r', '\n']),
    want,
    'CRLF split after CR',
  );
  // A CR at the end of a chunk then a non-LF: the CR alone ended the line.
  t.same(parse(['data: a\r', 'data: b\r', '\r']), [{ data: 'a\nb' }]);
});

t.test('SSE BOM at the start only, even split; UTF-8 split anywhere', async (t) => {
  t.same(parse(['\ufeffdata: x\n\n']), [{ data: 'x' }]);
  t.same(parse([Buffer.from([0xef]), Buffer.from([0xbb, 0xbf]), 'data: y\n\n']), [{ data: 'y' }]);
  t.same(parse(['data: \ufeffkept\n\n']), [{ data: '\ufeffkept' }], 'a BOM later is data');
  const text = 'data: é€😀 中文\n\n'.repeat(20);
  const whole = parse([text]);
  const bytes = Buffer.from(text);
  for (let seed = 1; seed < 50; seed++) {
    const cuts = [0, ...splitPoints(bytes.length, prng(seed), 5), bytes.length];
    const pieces = cuts.slice(1).map((c, i) => bytes.subarray(cuts[i]!, c));
    t.same(parse(pieces), whole, `seed ${seed}`);
  }
  t.equal(whole[0]!.data, 'é€😀 中文');
});

t.test('SSE: an event name with no data is delivered; a message cut off at the end is delivered', async (t) => {
  t.same(parse(['event: ping\n\n']), [{ event: 'ping', data: '' }]);
  t.same(parse(['data: partial']), [{ data: 'partial' }]);
  t.same(parse(['\n\n\n']), [], 'blank lines alone dispatch nothing');
});

t.test('SSE: an overlong line is dropped, not buffered without bound', async (t) => {
  const out: SseMessage[] = [];
  const p = new SseParser((m) => out.push(m), 1000);
  p.push(Buffer.from('data: ' + 'x'.repeat(5000)));
  p.push(Buffer.from('x'.repeat(5000) + '\n\ndata: ok\n\n'));
  p.end();
  t.same(
    out.map((m) => m.data),
    ['ok'],
  );
});

t.test('reorder: held pieces delivered in order; split calls; known and unknown losses', async (t) => {
  const got: string[] = [];
  const sink = {
    data: (p: Piece<null>, b: Buffer) => got.push(`${p.seq}:${b}`),
    gap: (m: number | undefined) => got.push(`gap:${m ?? '?'}`),
  };
  const piece = (seq: number, s: string, off = 0, len = s.length, truncated = false): Piece<null> => ({
    seq,
    off,
    len,
    data: Buffer.from(s),
    truncated,
    src: null,
  });
  const r = new SeqReorder<null>(sink, { maxPending: 3 });
  r.push(piece(1, 'b'));
  r.push(piece(0, 'a'));
  t.same(got.splice(0), ['0:a', '1:b']);
  // A call split in pieces, the last marked truncated: the missing tail is a known gap.
  r.push(piece(2, 'xy', 0, 10));
  r.push(piece(2, 'zw', 2, 10, true));
  r.push(piece(3, 'c'));
  t.same(got.splice(0), ['2:xy', '2:zw', 'gap:6', '3:c']);
  // A hole: held until the window is full, then declared lost.
  r.push(piece(5, 'e'));
  r.push(piece(6, 'f'));
  r.push(piece(7, 'g'));
  t.same(got.splice(0), []);
  r.push(piece(8, 'h'));
  t.same(got.splice(0), ['gap:?', '5:e', '6:f', '7:g', '8:h']);
  r.push(piece(4, 'late'));
  t.same(got.splice(0), [], 'a piece behind the window is dropped');
  t.equal(r.late, 1);
  // The next call starts while the current one is partial: the rest is lost, size known.
  r.push(piece(9, 'ab', 0, 5));
  r.push(piece(10, 'c'));
  t.same(got.splice(0), ['9:ab', 'gap:3', '10:c']);
  r.push(piece(12, 'x'));
  r.flush('end');
  t.same(got.splice(0), ['gap:?', '12:x']);
});

t.test('redaction of query parameters keeps the URL parseable', async (t) => {
  const p = redactTarget('/v1/x?alt=sse&key=AIza%2Babc&api_key=k2&token=t&keep=1#frag');
  const u = new URL(p, 'http://h');
  t.equal(u.searchParams.get('alt'), 'sse');
  t.equal(u.searchParams.get('keep'), '1');
  t.equal(
    u.searchParams.get('key'),
    `[REDACTED sha256:${fingerprint('AIza+abc')}]`,
    'fingerprint of the decoded value',
  );
  t.match(u.searchParams.get('api_key'), /^\[REDACTED sha256:[0-9a-f]{8}\]$/);
  t.equal(u.hash, '#frag');
  t.equal(redactTarget('/plain/path'), '/plain/path');
  t.equal(redactTarget('/p?a=1&b'), '/p?a=1&b');
  t.same(redactHeaders({ 'content-type': 'x', 'proxy-authorization': 'Basic abc' }), {
    'content-type': 'x',
    'proxy-authorization': `[REDACTED sha256:${fingerprint('Basic abc')}]`,
  });
});

t.test('body length rules (RFC 9112 6.3)', async (t) => {
  const res = (status: number, headers: Array<[string, string]>): MessageHead => ({
    side: 'response',
    version: 'HTTP/1.1',
    status,
    headers,
  });
  const req = (method: string, headers: Array<[string, string]>): MessageHead => ({
    side: 'request',
    version: 'HTTP/1.1',
    method,
    target: '/',
    headers,
  });
  t.same(planBody(res(200, [['content-length', '5']]), 'HEAD'), { kind: 'none' });
  t.same(planBody(res(200, [['content-length', '5']]), 'GET'), { kind: 'length', length: 5 });
  t.same(planBody(res(200, [['content-length', '5, 5']])), { kind: 'length', length: 5 });
  t.type(planBody(res(200, [['content-length', '5, 6']])), 'string');
  t.type(planBody(res(200, [['content-length', '-1']])), 'string');
  t.same(
    planBody(
      res(200, [
        ['transfer-encoding', 'gzip, chunked'],
        ['content-length', '5'],
      ]),
    ),
    { kind: 'chunked' },
    'TE wins over CL',
  );
  t.same(planBody(res(200, [['transfer-encoding', 'gzip']])), { kind: 'close' });
  t.same(planBody(res(200, [])), { kind: 'close' });
  t.same(planBody(res(204, [['content-length', '5']])), { kind: 'none' });
  t.same(planBody(res(101, [])), { kind: 'none', then: 'stop' });
  t.same(planBody(res(200, []), 'CONNECT'), { kind: 'none', then: 'stop' });
  t.same(planBody(req('GET', [])), { kind: 'none' });
  t.type(planBody(req('POST', [['transfer-encoding', 'gzip']])), 'string');
  t.same(planBody(req('CONNECT', [])), { kind: 'none', then: 'hold' });
  t.same(
    planBody(
      req('GET', [
        ['upgrade', 'websocket'],
        ['connection', 'keep-alive, Upgrade'],
      ]),
    ),
    { kind: 'none', then: 'hold' },
  );
  t.same(
    planBody(req('GET', [['upgrade', 'websocket']])),
    { kind: 'none' },
    'Upgrade without Connection: upgrade is ignored',
  );
});
