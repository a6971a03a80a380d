import t from 'tap';
import { Assembler } from './assemble.js';
import { encodeHeader, F_PADDED, KIND_DATA, KIND_FD, KIND_HANDSHAKE, type RecordHeader } from './record.js';
import { RustlsLinker } from './rustls.js';

const PID = 4242;
const hdr = (o: Partial<RecordHeader>): RecordHeader => ({
  ts: 1_000_000,
  conn: 'c0',
  seq: 0,
  latNs: 0,
  pid: PID,
  tid: 7,
  uid: 0,
  len: 0,
  off: 0,
  cap: 0,
  ret: 0,
  fd: -1,
  kind: KIND_DATA,
  dir: 0,
  lib: 5,
  flags: 0,
  comm: 'codex',
  ...o,
});

interface Out {
  conn: string;
  seq: number;
  fd: number;
  dir: number;
  text: string;
}

function linker(now = { t: 0 }) {
  const out: Array<Out | { hs: string; fd: number }> = [];
  const l = new RustlsLinker({
    data: (h, conn, seq, fd, bytes) => out.push({ conn, seq, fd, dir: h.dir, text: bytes.toString() }),
    handshake: (_h, conn, fd) => out.push({ hs: conn, fd }),
    now: () => now.t,
    waitMs: 1000,
  });
  return { l, out, now };
}
const data = (text: string, o: Partial<RecordHeader>) =>
  [hdr({ len: text.length, cap: text.length, ...o }), Buffer.from(text)] as const;

t.test('both directions of a connection, two AEAD contexts, one stream pair by socket', async (t) => {
  const { l, out } = linker();
  // The server's first flight: EncryptedExtensions opened after the read that brought it.
  l.handshake(hdr({ kind: KIND_HANDSHAKE, conn: 'a1', fd: 9, ret: 8 }));
  // The client's Finished and its request: sealed before the send that names the socket.
  l.handshake(hdr({ kind: KIND_HANDSHAKE, conn: 'b1', dir: 1, ret: 20 }));
  l.data(...data('POST /v1/responses', { conn: 'b2', dir: 1 }), false);
  l.data(...data(' HTTP/1.1\r\n', { conn: 'b2', dir: 1 }), false);
  t.equal(out.length, 1, 'the sealed records wait for their socket');
  l.fd(hdr({ kind: KIND_FD, conn: 'b2', dir: 1, fd: 9 }));
  l.data(...data('more', { conn: 'b2', dir: 1, fd: 9 }), false);
  l.data(...data('HTTP/1.1 200 OK', { conn: 'a2', fd: 9 }), false);
  t.same(out, [
    { hs: `${PID}:fd9`, fd: 9 },
    { conn: `${PID}:fd9`, seq: 0, fd: 9, dir: 1, text: 'POST /v1/responses' },
    { conn: `${PID}:fd9`, seq: 1, fd: 9, dir: 1, text: ' HTTP/1.1\r\n' },
    { conn: `${PID}:fd9`, seq: 2, fd: 9, dir: 1, text: 'more' },
    { conn: `${PID}:fd9`, seq: 0, fd: 9, dir: 0, text: 'HTTP/1.1 200 OK' },
  ]);
  t.equal(l.waiting, 0, 'the handshake context waiting on the same thread went out with the send too');
});

t.test('records of another thread are not claimed by a send', async (t) => {
  const { l, out } = linker();
  l.data(...data('x', { conn: 'b2', dir: 1, tid: 8 }), false);
  l.fd(hdr({ kind: KIND_FD, conn: 'b9', dir: 1, fd: 3, tid: 7 }));
  t.equal(out.length, 0);
  l.fd(hdr({ kind: KIND_FD, conn: 'b2', dir: 1, fd: 4, tid: 8 }));
  t.same(out, [{ conn: `${PID}:fd4`, seq: 0, fd: 4, dir: 1, text: 'x' }]);
});

t.test('a context whose socket is learnt later: what waited goes first', async (t) => {
  const { l, out } = linker();
  l.data(...data('one', { conn: 'a2' }), false);
  l.data(...data('two', { conn: 'a2', fd: 5 }), false);
  t.same(
    out.map((o) => ('text' in o ? [o.conn, o.seq, o.text] : o)),
    [
      [`${PID}:fd5`, 0, 'one'],
      [`${PID}:fd5`, 1, 'two'],
    ],
  );
});

t.test('a new session on a reused socket starts at its handshake, after application data', async (t) => {
  const { l, out } = linker();
  l.handshake(hdr({ kind: KIND_HANDSHAKE, conn: 'a1', fd: 6, ret: 8 }));
  l.handshake(hdr({ kind: KIND_HANDSHAKE, conn: 'a1', fd: 6, ret: 20 }));
  l.data(...data('r1', { conn: 'a2', fd: 6 }), false);
  l.handshake(hdr({ kind: KIND_HANDSHAKE, conn: 'a3', fd: 6, ret: 8 }));
  l.handshake(hdr({ kind: KIND_HANDSHAKE, conn: 'b3', fd: 6, dir: 1, ret: 20 }));
  l.data(...data('r2', { conn: 'a4', fd: 6 }), false);
  t.same(out, [
    { hs: `${PID}:fd6`, fd: 6 },
    { conn: `${PID}:fd6`, seq: 0, fd: 6, dir: 0, text: 'r1' },
    { hs: `${PID}:fd6.1`, fd: 6 },
    { conn: `${PID}:fd6.1`, seq: 0, fd: 6, dir: 0, text: 'r2' },
  ]);
});

t.test('TLS 1.3 padding: stripped, and only application data kept', async (t) => {
  const { l, out } = linker();
  l.data(hdr({ conn: 'a', fd: 3, flags: F_PADDED, len: 8 }), Buffer.from('hi\x17\0\0\0\0\0', 'latin1'), false);
  l.data(hdr({ conn: 'a', fd: 3, flags: F_PADDED, len: 6 }), Buffer.from('\x04abc\x16\0', 'latin1'), false);
  l.data(hdr({ conn: 'a', fd: 3, flags: F_PADDED, len: 3 }), Buffer.from('\0\0\0', 'latin1'), false);
  t.same(out, [{ conn: `${PID}:fd3`, seq: 0, fd: 3, dir: 0, text: 'hi' }]);
  t.equal(l.stats.dropped, 2, 'a padded handshake record and an all-padding one dropped');
});

t.test('records that never learn their socket go out on their own after a while; markers do not', async (t) => {
  const { l, out, now } = linker();
  const buf = Buffer.from('lonely');
  l.data(hdr({ conn: 'dd', dir: 1, len: 6, cap: 6 }), buf, false);
  buf.fill(0); // the ring's memory is reused: the record was copied
  l.handshake(hdr({ kind: KIND_HANDSHAKE, conn: 'ee', ret: 8 }));
  now.t = 500;
  l.tick();
  t.equal(out.length, 0, 'still waiting');
  now.t = 1500;
  l.tick();
  t.same(out, [{ conn: `${PID}:dd`, seq: 0, fd: -1, dir: 1, text: 'lonely' }]);
  t.equal(l.stats.unlinked, 1);
  t.equal(l.waiting, 0);
  l.data(...data('late', { conn: 'ff', dir: 1 }), false);
  l.flush();
  t.equal(out.length, 2, 'flush at exit sends what waits');
});

t.test('Assembler: rustls ring records become ssl events of lib rustls', async (t) => {
  const evs: Array<Record<string, unknown>> = [];
  const a = new Assembler((ev) => evs.push(ev as never));
  const rec = (h: Partial<RecordHeader>, text = '') =>
    encodeHeader(hdr({ len: text.length, cap: text.length, ...h }), Buffer.from(text));
  a.push(rec({ kind: KIND_HANDSHAKE, conn: 'a1', fd: 11, ret: 8 }));
  a.push(rec({ conn: 'b2', dir: 1 }, 'GET / HTTP/1.1\r\n\r\n'));
  a.push(rec({ kind: KIND_FD, conn: 'b2', dir: 1, fd: 11 }));
  a.push(rec({ conn: 'a2', fd: 11 }, 'HTTP/1.1 204 No Content\r\n\r\n'));
  t.same(
    evs.map((e) => [e.type, e.conn, e.dir, e.seq, e.fd, e.lib, e.ret]),
    [
      ['handshake', `${PID}:fd11`, undefined, undefined, 11, 'rustls', 1],
      ['data', `${PID}:fd11`, 'write', 0, 11, 'rustls', undefined],
      ['data', `${PID}:fd11`, 'read', 0, 11, 'rustls', undefined],
    ],
  );
  t.equal(a.stats.calls, 2);
});
