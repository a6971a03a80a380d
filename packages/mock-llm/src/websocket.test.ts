import crypto from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import t from 'tap';
import { startMockLlm } from './server.js';
import { OP, WsReader, wsAccept, wsFrame } from './websocket.js';

/** A client frame: masked, FIN unless `more`. */
function clientFrame(opcode: number, payload: Buffer, more = false): Buffer {
  const mask = crypto.randomBytes(4);
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0, 0x80 | n]) : Buffer.from([0, 0x80 | 126, n >> 8, n & 0xff]);
  head[0] = (more ? 0 : 0x80) | opcode;
  const body = Buffer.from(payload);
  for (let i = 0; i < n; i++) body[i]! ^= mask[i & 3]!;
  return Buffer.concat([head, mask, body]);
}

/** Server frames (unmasked) back into [opcode, payload]. */
function serverFrames(b: Buffer): { frames: Array<[number, Buffer]>; rest: Buffer } {
  const frames: Array<[number, Buffer]> = [];
  for (;;) {
    if (b.length < 2) break;
    let len = b[1]! & 0x7f;
    let pos = 2;
    if (len === 126) {
      if (b.length < 4) break;
      len = b.readUInt16BE(2);
      pos = 4;
    } else if (len === 127) {
      if (b.length < 10) break;
      len = Number(b.readBigUInt64BE(2));
      pos = 10;
    }
    if (b.length < pos + len) break;
    frames.push([b[0]! & 0x0f, b.subarray(pos, pos + len)]);
    b = b.subarray(pos + len);
  }
  return { frames, rest: b };
}

t.test('accept key: the RFC 6455 example', async (t) => {
  t.equal(wsAccept('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

t.test('WsReader: masked, fragmented, split anywhere; control frames between fragments', async (t) => {
  const msg = Buffer.from(JSON.stringify({ type: 'response.create', input: 'x'.repeat(300) }));
  const bytes = Buffer.concat([
    clientFrame(OP.text, msg.subarray(0, 100), true),
    clientFrame(OP.ping, Buffer.from('hi')),
    clientFrame(OP.continuation, msg.subarray(100)),
  ]);
  for (const step of [1, 7, bytes.length]) {
    const r = new WsReader();
    const out = [];
    for (let i = 0; i < bytes.length; i += step) out.push(...r.push(bytes.subarray(i, i + step)));
    t.same(
      out.map((m) => [m.opcode, m.payload.toString()]),
      [
        [OP.ping, 'hi'],
        [OP.text, msg.toString()],
      ],
      `in pieces of ${step}`,
    );
  }
  t.throws(() => new WsReader().push(wsFrame(OP.text, 'unmasked')), /not masked/);
});

t.test('the mock answers response.create on an upgraded connection with the stream events', async (t) => {
  const mock = await startMockLlm({
    script: [{ text: 'Hello over WebSocket.', usage: { input_tokens: 7, output_tokens: 4 } }],
  });
  t.teardown(() => mock.close());
  const sock = tls.connect({ host: mock.host, port: mock.port, ca: fs.readFileSync(mock.caPath) });
  t.teardown(() => sock.destroy());
  await new Promise((r) => sock.once('secureConnect', r));
  let buf = Buffer.alloc(0);
  const waitFor = (pred: () => boolean) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (pred()) {
          sock.off('data', on);
          resolve();
        }
      };
      const on = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        check();
      };
      sock.on('data', on);
      sock.once('close', () => reject(new Error('closed')));
      check();
    });
  const key = crypto.randomBytes(16).toString('base64');
  sock.write(
    `GET /v1/responses HTTP/1.1\r\nhost: mock\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: ${key}\r\nsec-websocket-version: 13\r\n\r\n`,
  );
  await waitFor(() => buf.includes('\r\n\r\n'));
  const head = buf.subarray(0, buf.indexOf('\r\n\r\n')).toString();
  t.match(head, /^HTTP\/1\.1 101 /);
  t.match(head, new RegExp(`sec-websocket-accept: ${wsAccept(key).replace(/[+/]/g, '\\$&')}`));
  buf = buf.subarray(buf.indexOf('\r\n\r\n') + 4);

  const body = { model: 'gpt-mock-1', input: [{ role: 'user', content: 'hi' }], stream: true };
  const create = Buffer.from(JSON.stringify({ type: 'response.create', ...body }));
  sock.write(
    Buffer.concat([
      clientFrame(OP.text, create.subarray(0, 10), true),
      clientFrame(OP.continuation, create.subarray(10)),
    ]),
  );
  let events: Array<Record<string, unknown>> = [];
  await waitFor(() => {
    events = serverFrames(buf).frames.map(([, p]) => JSON.parse(p.toString()) as Record<string, unknown>);
    return events.some((e) => e.type === 'response.completed');
  });
  t.equal(events[0]!.type, 'response.created');
  const done = events.at(-1)! as { type: string; response: { usage: { input_tokens: number } } };
  t.equal(done.type, 'response.completed');
  t.equal(done.response.usage.input_tokens, 7);
  const text = events
    .filter((e) => e.type === 'response.output_text.delta')
    .map((e) => e.delta)
    .join('');
  t.equal(text, 'Hello over WebSocket.');
  const model = mock.requests.filter((r) => r.api);
  t.equal(model.length, 1, 'one model call recorded');
  t.same(model[0]!.json, body, 'its body, without the message type');
  t.equal(model[0]!.stream, true);

  buf = Buffer.alloc(0);
  sock.write(clientFrame(OP.ping, Buffer.from('p')));
  await waitFor(() => serverFrames(buf).frames.length > 0);
  t.same(serverFrames(buf).frames[0], [OP.pong, Buffer.from('p')], 'ping answered');
});
