import { crc32 } from 'node:zlib';
import t from 'tap';
import { eventStreamEvent, eventStreamMessage } from './eventstream.js';

/** Reads a message back by the spec's layout, independently of the encoder's arithmetic. */
function parse(b: Buffer) {
  const total = b.readUInt32BE(0);
  const hlen = b.readUInt32BE(4);
  const headers: Record<string, string> = {};
  for (let o = 12; o < 12 + hlen; ) {
    const n = b[o]!;
    const name = b.toString('utf8', o + 1, o + 1 + n);
    const type = b[o + 1 + n];
    const len = b.readUInt16BE(o + 2 + n);
    headers[name] = `${type}:${b.toString('utf8', o + 4 + n, o + 4 + n + len)}`;
    o += 4 + n + len;
  }
  return {
    total,
    preludeOk: b.readUInt32BE(8) === crc32(b.subarray(0, 8)),
    messageOk: b.readUInt32BE(total - 4) === crc32(b.subarray(0, total - 4)),
    headers,
    payload: b.subarray(12 + hlen, total - 4),
  };
}

t.test('a message: lengths, both CRCs, typed string headers, the payload byte for byte', async (t) => {
  const payload = Buffer.from([0, 1, 2, 0xff, 0xfe]);
  const m = eventStreamMessage({ ':message-type': 'event', 'x-é': 'ünï' }, payload);
  const p = parse(m);
  t.equal(p.total, m.length, 'total length is the buffer length');
  t.ok(p.preludeOk, 'prelude CRC');
  t.ok(p.messageOk, 'message CRC');
  t.same(p.headers, { ':message-type': '7:event', 'x-é': '7:ünï' }, 'headers, type 7 (string), UTF-8');
  t.same([...p.payload], [...payload]);
  // One flipped payload bit breaks the message CRC and not the prelude's.
  const bad = Buffer.from(m);
  bad[m.length - 6]! ^= 1;
  t.notOk(parse(bad).messageOk);
  t.ok(parse(bad).preludeOk);
});

t.test('an event as Bedrock sends it: the three headers, a JSON payload', async (t) => {
  const p = parse(eventStreamEvent('chunk', { bytes: 'eyJ0eXBlIjoicGluZyJ9' }));
  t.same(p.headers, {
    ':event-type': '7:chunk',
    ':content-type': '7:application/json',
    ':message-type': '7:event',
  });
  t.same(JSON.parse(p.payload.toString('utf8')), { bytes: 'eyJ0eXBlIjoicGluZyJ9' });
  t.equal(parse(eventStreamMessage({}, '')).total, 16, 'an empty message is prelude and CRC only');
});
