import { crc32 } from 'node:zlib';
import type { AgentEvent } from '@agentsight/events';
import t from 'tap';
import { EventStreamParser } from './eventstream.js';
import type { SseMessage } from './sse.js';
import { runHttp, sslEvents } from './synth.js';

// Frames built here byte by byte, with a header of each value type the format has.
function frame(headers: Array<[string, number, Buffer]>, payload: string): Buffer {
  const hb = Buffer.concat(
    headers.map(([k, type, v]) => Buffer.concat([Buffer.from([k.length]), Buffer.from(k), Buffer.from([type]), v])),
  );
  const pb = Buffer.from(payload);
  const total = 12 + hb.length + pb.length + 4;
  const b = Buffer.alloc(total);
  b.writeUInt32BE(total, 0);
  b.writeUInt32BE(hb.length, 4);
  b.writeUInt32BE(crc32(b.subarray(0, 8)), 8);
  hb.copy(b, 12);
  pb.copy(b, 12 + hb.length);
  b.writeUInt32BE(crc32(b.subarray(0, total - 4)), total - 4);
  return b;
}
const s = (v: string) => {
  const b = Buffer.alloc(2 + Buffer.byteLength(v));
  b.writeUInt16BE(Buffer.byteLength(v));
  b.write(v, 2);
  return b;
};
const event = (type: string, payload: string) =>
  frame(
    [
      [':event-type', 7, s(type)],
      [':content-type', 7, s('application/json')],
      [':message-type', 7, s('event')],
    ],
    payload,
  );

function parse(chunks: Buffer[]): { msgs: SseMessage[]; p: EventStreamParser } {
  const msgs: SseMessage[] = [];
  const p = new EventStreamParser((m) => msgs.push(m));
  for (const c of chunks) p.push(c);
  p.end();
  return { msgs, p };
}

t.test('messages decoded whatever the split; header types', async (t) => {
  const typed = frame(
    [
      ['t', 0, Buffer.alloc(0)],
      ['f', 1, Buffer.alloc(0)],
      ['b', 2, Buffer.from([0xff])],
      ['h', 3, Buffer.from([0, 7])],
      ['i', 4, Buffer.from([0, 0, 1, 0])],
      ['l', 5, Buffer.from([0, 0, 0, 0, 0, 0, 0, 9])],
      ['y', 6, s('xy')],
      ['ts', 8, Buffer.alloc(8)],
      ['u', 9, Buffer.alloc(16)],
      [':event-type', 7, s('metadata')],
    ],
    '{"usage":{}}',
  );
  const all = Buffer.concat([
    event('chunk', '{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0="}'),
    typed,
    event('messageStop', '{"stopReason":"end_turn"}'),
  ]);
  const want = [
    { event: 'chunk', data: '{"bytes":"eyJ0eXBlIjoibWVzc2FnZV9zdG9wIn0="}' },
    { event: 'metadata', data: '{"usage":{}}' },
    { event: 'messageStop', data: '{"stopReason":"end_turn"}' },
  ];
  t.same(parse([all]).msgs, want);
  for (let cut = 1; cut < all.length; cut += 7) {
    const { msgs, p } = parse([all.subarray(0, cut), all.subarray(cut)]);
    t.same(msgs, want, `cut at ${cut}`);
    t.equal(p.error, undefined);
  }
  const bytes = parse([...all].map((x) => Buffer.from([x])));
  t.same(bytes.msgs, want, 'one byte at a time');
});

t.test('exceptions are named by their type', async (t) => {
  const ex = frame(
    [
      [':exception-type', 7, s('throttlingException')],
      [':content-type', 7, s('application/json')],
      [':message-type', 7, s('exception')],
    ],
    '{"message":"slow down"}',
  );
  t.same(parse([ex]).msgs, [{ event: 'throttlingException', data: '{"message":"slow down"}' }]);
});

t.test('a bad message CRC drops that message only; a bad prelude CRC ends decoding', async (t) => {
  const a = event('chunk', '{"n":1}');
  const b = event('chunk', '{"n":2}');
  const c = event('chunk', '{"n":3}');
  const badPayload = Buffer.from(b);
  badPayload[badPayload.length - 6] ^= 0x01;
  let r = parse([Buffer.concat([a, badPayload, c])]);
  t.same(
    r.msgs.map((m) => m.data),
    ['{"n":1}', '{"n":3}'],
  );
  t.equal(r.p.error, 'event-stream message 1: message CRC mismatch');
  t.equal(r.p.bad, 1);

  const badPrelude = Buffer.from(b);
  badPrelude[2] ^= 0x01;
  r = parse([Buffer.concat([a, badPrelude, c])]);
  t.same(
    r.msgs.map((m) => m.data),
    ['{"n":1}'],
    'nothing after a prelude that cannot be trusted',
  );
  t.equal(r.p.error, 'event-stream message 1: prelude CRC mismatch');

  r = parse([Buffer.concat([a, b.subarray(0, 20)])]);
  t.same(
    r.msgs.map((m) => m.data),
    ['{"n":1}'],
  );
  t.match(r.p.error, /body ended inside a message \(20 bytes left\)/);
});

t.test('as-http: a Bedrock stream becomes sse events; a corrupted frame is a decode_error, not a crash', async (t) => {
  const frames = [event('chunk', '{"n":1}'), event('chunk', '{"n":2}'), event('chunk', '{"n":3}')];
  frames[1]![frames[1]!.length - 5] ^= 0x40;
  const chunked = Buffer.concat([
    ...frames.map((f) => Buffer.concat([Buffer.from(`${f.length.toString(16)}\r\n`), f, Buffer.from('\r\n')])),
    Buffer.from('0\r\n\r\n'),
  ]);
  const req = Buffer.from(
    'POST /model/anthropic.claude-x%3A0/invoke-with-response-stream HTTP/1.1\r\nHost: bedrock-runtime.us-east-1.amazonaws.com\r\nContent-Length: 2\r\n\r\n{}',
  );
  const res = Buffer.concat([
    Buffer.from(
      'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\nTransfer-Encoding: chunked\r\n\r\n',
    ),
    chunked,
  ]);
  const evs = runHttp([
    ...sslEvents(req, { conn: 'c1', dir: 'write' }),
    ...sslEvents(res, { conn: 'c1', dir: 'read', ts: 1_700_000_000_100_000, cuts: [50, 91, 130] }),
  ]) as Array<AgentEvent & Record<string, unknown>>;
  const sse = evs.filter((e) => e.type === 'sse');
  t.same(
    sse.map((e) => [e.n, e.event, e.data]),
    [
      [0, 'chunk', '{"n":1}'],
      [1, 'chunk', '{"n":3}'],
    ],
  );
  const r = evs.find((e) => e.type === 'response')!;
  t.equal(r.sse_count, 2);
  t.equal(r.decode_error, 'event-stream message 1: message CRC mismatch');
  t.equal(r.data, undefined, 'the frames are not repeated as a body');
});
