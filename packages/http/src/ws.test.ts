import net from 'node:net';
import { decodePayload, type Payload, type SslDataEvent, validateEvent } from '@agentsight/events';
import t from 'tap';
import { WebSocket, WebSocketServer } from 'ws';
import { prng, runHttp, splitPoints, sslEvents } from './synth.js';

type Ev = Record<string, any>;

/**
 * A real WebSocket session between the `ws` package's client and server, tapped by a TCP
 * relay that records each direction's chunks as they passed.
 */
async function recordWs(
  deflate: boolean | { serverNoContextTakeover?: boolean; clientNoContextTakeover?: boolean },
  script: (ws: WebSocket) => Promise<void>,
  onServer: (ws: WebSocket) => void,
) {
  const perMessageDeflate =
    deflate === false ? false : deflate === true ? { threshold: 0 } : { threshold: 0, ...deflate };
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate });
  wss.on('connection', onServer);
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const chunks: Array<{ dir: 'write' | 'read'; data: Buffer }> = [];
  const relay = net.createServer((c) => {
    const up = net.connect((wss.address() as net.AddressInfo).port, '127.0.0.1');
    c.on('data', (d: Buffer) => {
      chunks.push({ dir: 'write', data: Buffer.from(d) });
      up.write(d);
    });
    up.on('data', (d: Buffer) => {
      chunks.push({ dir: 'read', data: Buffer.from(d) });
      c.write(d);
    });
    c.on('end', () => up.end());
    up.on('end', () => c.end());
    c.on('error', () => {});
    up.on('error', () => {});
  });
  await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
  const ws = new WebSocket(`ws://127.0.0.1:${(relay.address() as net.AddressInfo).port}/v1/responses`, {
    perMessageDeflate,
    headers: { authorization: 'Bearer sk-ws-secret' },
  });
  await new Promise<void>((r, j) => {
    ws.once('open', () => r());
    ws.once('error', j);
  });
  next(ws).then((b) => queues.get(ws)!.got.unshift(b)); // start queueing before any message
  try {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      script(ws),
      new Promise((_, j) => {
        timer = setTimeout(() => j(new Error('WebSocket session timed out')), 15000);
      }),
    ]);
    clearTimeout(timer);
  } finally {
    ws.terminate();
    await new Promise((r) => setTimeout(r, 30));
    relay.close();
    wss.close();
  }
  const seq = { write: 0, read: 0 };
  const events: SslDataEvent[] = [];
  let ts = 1_700_000_000_000_000;
  for (const c of chunks) {
    events.push(sslEvents(c.data, { conn: 'w', dir: c.dir, seq: seq[c.dir]++, ts })[0]!);
    ts += 1000;
  }
  return events;
}

// Messages can arrive several per tick: queue them so none is missed between awaits.
const queues = new WeakMap<WebSocket, { got: Buffer[]; wait: Array<(b: Buffer) => void> }>();
function next(ws: WebSocket): Promise<Buffer> {
  let q = queues.get(ws);
  if (!q) {
    const nq = { got: [] as Buffer[], wait: [] as Array<(b: Buffer) => void> };
    ws.on('message', (d: Buffer) => {
      const w = nq.wait.shift();
      if (w) w(Buffer.from(d));
      else nq.got.push(Buffer.from(d));
    });
    queues.set(ws, (q = nq));
  }
  const got = q.got.shift();
  if (got) return Promise.resolve(got);
  return new Promise((r) => q!.wait.push(r));
}

/** Responses-API-like traffic: the client sends response.create, the server streams events. */
const EVENTS = (i: number) =>
  Array.from({ length: 5 }, (_, k) =>
    JSON.stringify({
      type: 'response.output_text.delta',
      sequence_number: k,
      delta: `tök ${i}.${k} ` + 'lorem '.repeat(k * 20),
    }),
  );

async function session(ws: WebSocket): Promise<void> {
  for (let i = 0; i < 3; i++) {
    ws.send(JSON.stringify({ type: 'response.create', model: 'gpt-5', input: `question ${i}` }));
    for (let k = 0; k < 5; k++) await next(ws);
  }
  // A fragmented message, binary data, and a ping.
  ws.send('part one, ', { fin: false });
  ws.send('part two', { fin: true });
  await next(ws);
  ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
  await next(ws);
  ws.ping('are you there');
  await new Promise((r) => ws.once('pong', r));
  ws.close(1000, 'done');
  await new Promise((r) => ws.once('close', r));
}

function server(ws: WebSocket): void {
  let i = 0;
  ws.on('message', (d: Buffer, binary: boolean) => {
    const text = Buffer.from(d).toString();
    if (!binary && text.startsWith('{')) {
      for (const e of EVENTS(i++)) ws.send(e);
      return;
    }
    ws.send(binary ? Buffer.from(d) : `echo: ${text}`, { binary });
  });
}

for (const deflate of [false, true, { serverNoContextTakeover: true, clientNoContextTakeover: true }] as const) {
  t.test(`WebSocket from real peers, permessage-deflate ${JSON.stringify(deflate)}`, async (t) => {
    const events = await recordWs(deflate, session, server);
    const out = runHttp(events) as Ev[];
    for (const e of out) t.equal(validateEvent(e), null, 'valid event');
    t.equal(out.filter((e) => e.type === 'unparsed').length, 0, 'nothing unparsed');
    const [rq] = out.filter((e) => e.type === 'request');
    const [rs] = out.filter((e) => e.type === 'response');
    t.match(rq, { method: 'GET', path: '/v1/responses' });
    t.match(rq!.headers.authorization, /REDACTED/);
    t.equal(rs!.status, 101);
    const ws = out.filter((e) => e.type === 'ws');
    t.ok(out.indexOf(rs!) < out.indexOf(ws[0]!), 'the 101 comes before the messages');
    const text = (e: Ev) => decodePayload(e as Payload).toString();
    const client = ws.filter((e) => e.from === 'client' && e.opcode === 'text').map(text);
    const srv = ws.filter((e) => e.from === 'server' && e.opcode === 'text').map(text);
    t.same(
      client,
      [0, 1, 2]
        .map((i) => JSON.stringify({ type: 'response.create', model: 'gpt-5', input: `question ${i}` }))
        .concat(['part one, part two']),
    );
    t.same(srv, [...EVENTS(0), ...EVENTS(1), ...EVENTS(2), 'echo: part one, part two']);
    t.same(
      ws.filter((e) => e.opcode === 'binary').map((e) => [e.from, decodePayload(e as Payload).toString('hex')]),
      [
        ['client', '000102ff'],
        ['server', '000102ff'],
      ],
    );
    t.same(
      ws.filter((e) => e.opcode === 'ping' || e.opcode === 'pong').map((e) => [e.from, e.opcode, text(e)]),
      [
        ['client', 'ping', 'are you there'],
        ['server', 'pong', 'are you there'],
      ],
    );
    const close = ws.find((e) => e.opcode === 'close' && e.from === 'client')!;
    t.equal(decodePayload(close as Payload).readUInt16BE(0), 1000);
    t.same(
      ws.map((e) => e.n),
      [...ws.keys()],
      'numbered in order',
    );
    t.equal(
      ws.some((e) => e.compressed),
      deflate !== false,
      'compression seen when negotiated',
    );
    t.ok(ws.every((e) => e.req === rq!.id));

    const strip = (evs: Ev[]) => evs.map(({ ts, start_ts, latency_ms, ttft_ms, ...rest }) => rest);
    for (let seed = 1; seed <= 10; seed++) {
      const rnd = prng(seed);
      const seq = { write: 0, read: 0 };
      const resplit: SslDataEvent[] = [];
      for (const e of events) {
        const b = decodePayload(e);
        for (const p of sslEvents(b, {
          conn: e.conn,
          dir: e.dir,
          seq: seq[e.dir],
          cuts: splitPoints(b.length, rnd, 1 + Math.floor(rnd() * 40)),
        })) {
          resplit.push(p);
          seq[e.dir]++;
        }
      }
      t.same(strip(runHttp(resplit) as Ev[]), strip(out), `split seed ${seed}`);
    }
  });
}

t.test('WebSocket: lost data is reported once', async (t) => {
  const events = await recordWs(true, session, server);
  const reads = events.filter((e) => e.dir === 'read');
  const out = runHttp(events.filter((e) => e !== reads[3])) as Ev[];
  const un = out.filter((e) => e.type === 'unparsed');
  t.equal(un.length, 1);
  t.match(un[0]!.reason, /WebSocket \(server\)/);
  t.ok(
    out.some((e) => e.type === 'ws' && e.from === 'client'),
    'the other direction goes on',
  );
});
