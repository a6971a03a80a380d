import fs from 'node:fs';
import { STATUS_CODES } from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import zlib from 'node:zlib';
import { defaultCertDir, ensureCerts } from './certs.js';
import { eventStreamEvent } from './eventstream.js';
import { H2Sink, h2Request, type ResponseSink } from './h2.js';
import { parseRequest, type RawRequest, responseKeepsAlive } from './http1.js';
import { makePlan } from './plan.js';
import { RENDERERS } from './render.js';
import type { Api, MockRequest, Reply } from './reply.js';
import { OP, WsReader, wsAccept, wsFrame } from './websocket.js';

export interface MockLlmOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** HTTPS with the generated CA (default), or plain HTTP when false. */
  tls?: boolean;
  /** Offer HTTP/2 too (ALPN h2, then http/1.1; with TLS only): for clients that prefer it (Go's net/http). */
  http2?: boolean;
  certDir?: string;
  /** Replies consumed in order, or a function that answers every call the queue does not. */
  script?: Reply[] | ((req: MockRequest) => Reply);
  /** Defaults for replies that do not set their own. */
  chunkSize?: number;
  delayMs?: number;
  writeSize?: number;
  /** One line per request (default: none). */
  log?: (line: string) => void;
}

export interface MockLlm {
  /** https://127.0.0.1:PORT (or http:// with tls:false), no trailing slash. */
  url: string;
  host: string;
  port: number;
  /** PEM of the CA that signed the server certificate: give it to clients (NODE_EXTRA_CA_CERTS, curl --cacert …). */
  caPath: string;
  certPath: string;
  keyPath: string;
  /** Every request received, in order (model calls and others). */
  requests: MockRequest[];
  enqueue(...replies: Reply[]): void;
  /** Answer the next model call with the bytes of a recorded .http response. */
  replay(file: string): void;
  /** Replies still queued. */
  pending(): number;
  /** TCP connections accepted so far (keep-alive reuse shows as fewer connections than requests). */
  readonly connections: number;
  close(): Promise<void>;
}

/** Which API a request path belongs to, and the model when the path names it (Gemini). */
export function routeOf(
  method: string,
  path: string,
): { api: Api; model?: string; geminiStream?: boolean; bedrock?: 'invoke'; bedrockStream?: boolean } | null {
  if (method !== 'POST') return null;
  const b = /\/model\/([^/]+)\/(invoke|invoke-with-response-stream)$/.exec(path);
  if (b)
    return {
      api: 'anthropic.messages',
      model: decodeURIComponent(b[1]!),
      bedrock: 'invoke',
      bedrockStream: b[2] !== 'invoke',
    };
  if (/\/messages$/.test(path)) return { api: 'anthropic.messages' };
  if (/\/chat\/completions$/.test(path)) return { api: 'openai.chat' };
  if (/\/responses$/.test(path)) return { api: 'openai.responses' };
  const g = /\/models\/([^/]+):(streamGenerateContent|generateContent)$/.exec(path);
  if (g) return { api: 'gemini', model: decodeURIComponent(g[1]!), geminiStream: g[2] === 'streamGenerateContent' };
  return null;
}

function toMockRequest(raw: RawRequest): MockRequest {
  const u = new URL(raw.target, 'http://mock.invalid');
  const route = routeOf(raw.method, u.pathname);
  const body = decodeBody(raw).toString('utf8');
  let json: unknown;
  if (body) {
    try {
      json = JSON.parse(body);
    } catch {
      /* not JSON */
    }
  }
  const j = (json ?? {}) as { stream?: unknown; model?: unknown };
  const stream =
    route?.api === 'gemini' ? !!route.geminiStream : route?.bedrock ? !!route.bedrockStream : j.stream === true;
  const model = route?.model ?? (typeof j.model === 'string' ? j.model : undefined);
  return {
    method: raw.method,
    url: raw.target,
    path: u.pathname,
    query: u.searchParams,
    headers: raw.headers,
    body,
    json,
    api: route?.api ?? null,
    stream,
    ...(model !== undefined ? { model } : {}),
    ...(route?.bedrock ? { bedrock: route.bedrock } : {}),
    receivedAt: Date.now(),
  };
}

/** Some clients compress request bodies; recorded requests should read as sent, before compression. */
function decodeBody(raw: RawRequest): Buffer {
  const enc = (raw.headers['content-encoding'] ?? '').trim().toLowerCase();
  try {
    if (enc === 'gzip' || enc === 'x-gzip') return zlib.gunzipSync(raw.body);
    if (enc === 'deflate') return zlib.inflateSync(raw.body);
    if (enc === 'br') return zlib.brotliDecompressSync(raw.body);
    const z = zlib as unknown as { zstdDecompressSync?: (b: Buffer) => Buffer };
    if (enc === 'zstd' && z.zstdDecompressSync) return z.zstdDecompressSync(raw.body);
  } catch {
    /* leave it as it came */
  }
  return raw.body;
}

const MODELS = ['claude-mock-1', 'gpt-mock-1', 'gemini-mock-1'];

/**
 * Endpoints that are not model calls but that SDKs and agents call around them (health
 * checks, model lists, token counting). They never consume a scripted reply.
 */
function auxiliary(req: MockRequest): [number, unknown] {
  const estimate = Math.max(1, Math.ceil(req.body.length / 4));
  if (req.method === 'GET' && (req.path === '/' || req.path === '/health'))
    return [200, { ok: true, server: 'agentsight-mock-llm' }];
  if (req.method === 'POST' && /\/messages\/count_tokens$/.test(req.path)) return [200, { input_tokens: estimate }];
  if (req.method === 'POST' && /\/models\/[^/]+:countTokens$/.test(req.path)) return [200, { totalTokens: estimate }];
  if (req.method === 'POST' && /\/model\/[^/]+\/count-tokens$/.test(req.path)) return [200, { inputTokens: estimate }];
  if (req.method === 'GET' && /\/models$/.test(req.path)) {
    // One list readable as OpenAI's, Anthropic's and Gemini's model list.
    const created = Math.floor(req.receivedAt / 1000);
    const data = MODELS.map((id) => ({
      id,
      object: 'model',
      type: 'model',
      display_name: id,
      created,
      created_at: new Date(created * 1000).toISOString(),
      owned_by: 'agentsight',
    }));
    return [
      200,
      {
        object: 'list',
        data,
        has_more: false,
        first_id: MODELS[0],
        last_id: MODELS[MODELS.length - 1],
        models: MODELS.map((id) => ({
          name: `models/${id}`,
          displayName: id,
          supportedGenerationMethods: ['generateContent', 'streamGenerateContent'],
        })),
      },
    ];
  }
  return [404, { error: { type: 'not_found_error', message: `mock LLM: no API at ${req.method} ${req.path}` } }];
}

const replayCache = new Map<string, Buffer>();
function readReplay(file: string): Buffer {
  let b = replayCache.get(file);
  if (!b) {
    b = fs.readFileSync(file);
    replayCache.set(file, b);
  }
  return b;
}

/** Writes to one socket, waiting for drain so a slow reader cannot balloon memory. */
class Out implements ResponseSink {
  constructor(readonly sock: net.Socket) {}
  get alive(): boolean {
    return !this.sock.destroyed && this.sock.writable;
  }
  async write(b: Buffer | string): Promise<void> {
    if (!this.alive) return;
    if (!this.sock.write(b)) {
      await new Promise<void>((r) => {
        const done = () => {
          this.sock.off('drain', done);
          this.sock.off('close', done);
          r();
        };
        this.sock.on('drain', done);
        this.sock.on('close', done);
      });
    }
  }
  destroy(): void {
    this.sock.destroy();
  }
  async head(status: number, headers: Record<string, string>): Promise<void> {
    const lines = [`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Unknown'}`];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    await this.write(lines.join('\r\n') + '\r\n\r\n');
  }
}

/** Start the mock. See the package doc (index.ts) for the reply format. */
export async function startMockLlm(opts: MockLlmOptions = {}): Promise<MockLlm> {
  const useTls = opts.tls !== false;
  const host = opts.host ?? '127.0.0.1';
  const certs = useTls ? ensureCerts(opts.certDir ?? defaultCertDir()) : undefined;
  const queue: Reply[] = Array.isArray(opts.script) ? [...opts.script] : [];
  const scriptFn = typeof opts.script === 'function' ? opts.script : undefined;
  const requests: MockRequest[] = [];
  const sockets = new Set<net.Socket>();
  let seq = 0;
  let connections = 0;
  const log = opts.log;

  const next = (req: MockRequest): Reply => queue.shift() ?? scriptFn?.(req) ?? {};

  async function respond(out: ResponseSink, raw: RawRequest): Promise<boolean> {
    const req = toMockRequest(raw);
    requests.push(req);
    const n = ++seq;
    const id = String(n).padStart(6, '0');
    const keep = raw.keepAlive;
    const base: Record<string, string> = {
      date: new Date(req.receivedAt).toUTCString(),
      server: 'agentsight-mock-llm',
    };
    if (!keep) base.connection = 'close';
    else base.connection = 'keep-alive';

    const sendJson = async (status: number, body: unknown, extra: Record<string, string> = {}) => {
      const bytes = Buffer.from(JSON.stringify(body));
      await out.head(status, {
        ...base,
        'content-type': 'application/json',
        'content-length': String(bytes.length),
        ...extra,
      });
      await out.write(bytes);
    };

    if (req.api === null) {
      const [status, body] = auxiliary(req);
      log?.(`${req.method} ${req.url} -> ${status}`);
      await sendJson(status, body);
      return keep;
    }

    const reply: Reply = { ...next(req) };
    const renderer = RENDERERS[req.api];
    if (reply.replay) {
      log?.(`${req.method} ${req.url} [${req.api}] -> replay ${reply.replay}`);
      const bytes = readReplay(reply.replay);
      const ws = reply.writeSize ?? opts.writeSize;
      const delay = reply.delayMs ?? opts.delayMs ?? 0;
      if (delay > 0 && !ws) await sleep(delay);
      await writeSplit(out, bytes, ws, delay);
      return keep && responseKeepsAlive(bytes);
    }
    const extra: Record<string, string> = { ...reply.headers };
    if (renderer.requestIdHeader) extra[renderer.requestIdHeader] = `req_mock${id}`;
    if (reply.error) {
      const { status, type, message } = reply.error;
      log?.(`${req.method} ${req.url} [${req.api}] -> error ${status}`);
      // Scripted errors reach the client once: the Anthropic and OpenAI SDKs honour x-should-retry.
      await sendJson(status, renderer.errorBody(status, type, message, { id }), {
        'x-should-retry': 'false',
        ...extra,
      });
      return keep;
    }
    const plan = makePlan(req.api, reply, req, n, opts.chunkSize ?? 16);
    const delayMs = reply.delayMs ?? opts.delayMs ?? 0;
    const writeSize = reply.writeSize ?? opts.writeSize;
    log?.(
      `${req.method} ${req.url} [${req.api}${req.stream ? ' stream' : ''}] model=${plan.model} -> ${plan.text ? 'text' : ''}${plan.toolCalls.length ? ` ${plan.toolCalls.length} tool call(s)` : ''}`,
    );

    if (!req.stream) {
      // Gemini's streamGenerateContent without alt=sse answers a JSON array of chunks.
      const body = renderer.json(plan);
      const bytes = Buffer.from(JSON.stringify(body));
      // A non-streaming call's latency is all before the first byte.
      if (delayMs > 0 && !writeSize) await sleep(delayMs);
      await out.head(200, {
        ...base,
        'content-type': 'application/json',
        'content-length': String(bytes.length),
        ...extra,
      });
      if (reply.cutAfterChunks !== undefined) {
        await out.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
        out.destroy();
        return false;
      }
      await writeSplit(out, bytes, writeSize, delayMs);
      return keep;
    }
    if (req.api === 'gemini' && req.query.get('alt') !== 'sse') {
      const frames = renderer.sse(plan).map((f) => f.replace(/^data: /, '').trim());
      const bytes = Buffer.from(`[${frames.join(',\r\n')}]`);
      await out.head(200, {
        ...base,
        'content-type': 'application/json; charset=UTF-8',
        'content-length': String(bytes.length),
        ...extra,
      });
      await writeSplit(out, bytes, writeSize, delayMs);
      return keep;
    }

    let frames = renderer.sse(plan);
    let cut = false;
    if (reply.midStreamError) {
      const k = Math.max(0, Math.min(reply.midStreamError.afterChunks, frames.length));
      frames = [
        ...frames.slice(0, k),
        ...renderer.streamError(plan, reply.midStreamError.message, reply.midStreamError.type, k),
      ];
    }
    if (reply.cutAfterChunks !== undefined) {
      const k = Math.max(0, Math.min(reply.cutAfterChunks, frames.length));
      frames = frames.slice(0, k);
      cut = true;
    }
    // Bedrock: each SSE event's JSON, base64 in a `chunk` event-stream message.
    const bytes: Buffer[] = req.bedrock
      ? frames.map((f) =>
          eventStreamEvent('chunk', { bytes: Buffer.from(/^data: (.*)$/m.exec(f)?.[1] ?? '{}').toString('base64') }),
        )
      : frames.map((f) => Buffer.from(f));
    await out.head(200, {
      ...base,
      'content-type': req.bedrock ? 'application/vnd.amazon.eventstream' : 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'transfer-encoding': 'chunked',
      ...extra,
    });
    for (let i = 0; i < bytes.length; i++) {
      if (!out.alive) return false;
      if (i > 0 && delayMs > 0) await sleep(delayMs);
      const b = bytes[i]!;
      const size = writeSize && writeSize > 0 ? writeSize : b.length;
      for (let o = 0; o < b.length; o += size) {
        const part = b.subarray(o, o + size);
        await out.write(Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]));
      }
    }
    if (cut) {
      // Let what was written reach the client before the reset, as a dying upstream would.
      await new Promise<void>((r) => setTimeout(r, 20));
      out.destroy();
      return false;
    }
    await out.write('0\r\n\r\n');
    return keep;
  }

  // HTTP/2 sessions over the TLS sockets that chose h2; each stream is one request.
  const h2 = opts.http2 && useTls ? http2.createServer() : undefined;
  h2?.on('stream', (stream, headers) => {
    const parts: Buffer[] = [];
    stream.on('error', () => {
      /* client went away */
    });
    stream.on('data', (d: Buffer) => parts.push(d));
    stream.on('end', () => {
      const sink = new H2Sink(stream);
      respond(sink, h2Request(headers, Buffer.concat(parts))).then(
        () => sink.end(),
        (e: Error) => {
          log?.(`mock LLM: ${e.message}`);
          sink.destroy();
        },
      );
    });
  });
  h2?.on('sessionError', () => {
    /* client went away */
  });

  /**
   * The Responses API's WebSocket mode (what Codex speaks with `supports_websockets`): each
   * text message `{"type":"response.create", …body}` is a model call, answered with the
   * events of its SSE stream, one JSON text message each, on the same connection.
   */
  async function respondWs(out: Out, up: RawRequest, text: string): Promise<void> {
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch {
      return;
    }
    const m = msg as { type?: unknown; model?: unknown };
    if (m.type !== 'response.create') return;
    const { type: _t, ...json } = msg as Record<string, unknown>;
    const u = new URL(up.target, 'http://mock.invalid');
    const req: MockRequest = {
      method: up.method,
      url: up.target,
      path: u.pathname,
      query: u.searchParams,
      headers: up.headers,
      body: text,
      json,
      api: 'openai.responses',
      stream: true,
      ...(typeof m.model === 'string' ? { model: m.model } : {}),
      receivedAt: Date.now(),
    };
    requests.push(req);
    const n = ++seq;
    const reply: Reply = { ...next(req) };
    const renderer = RENDERERS['openai.responses'];
    if (reply.error) {
      const { status, type, message } = reply.error;
      log?.(`WS ${req.url} [openai.responses] -> error ${status}`);
      await out.write(
        wsFrame(
          OP.text,
          JSON.stringify({
            type: 'error',
            status,
            error: renderer.errorBody(status, type, message, { id: String(n) }),
          }),
        ),
      );
      return;
    }
    const plan = makePlan('openai.responses', reply, req, n, opts.chunkSize ?? 16);
    const delayMs = reply.delayMs ?? opts.delayMs ?? 0;
    log?.(`WS ${req.url} [openai.responses] model=${plan.model}`);
    const frames = renderer.sse(plan);
    for (let i = 0; i < frames.length; i++) {
      if (!out.alive) return;
      if (i > 0 && delayMs > 0) await sleep(delayMs);
      await out.write(wsFrame(OP.text, /^data: (.*)$/m.exec(frames[i]!)?.[1] ?? '{}'));
    }
  }

  function onConnection(sock: net.Socket): void {
    sockets.add(sock);
    connections++;
    sock.setNoDelay(true);
    if (h2 && (sock as tls.TLSSocket).alpnProtocol === 'h2') {
      sock.on('close', () => sockets.delete(sock));
      h2.emit('connection', sock);
      return;
    }
    const out = new Out(sock);
    let buf: Buffer = Buffer.alloc(0);
    let busy = false;
    let continued = false;
    // Once upgraded: frames in, messages answered one after another.
    let ws: { reader: WsReader; up: RawRequest; queue: Promise<void> } | undefined;
    const onWs = async (d: Buffer) => {
      let msgs;
      try {
        msgs = ws!.reader.push(d);
      } catch (e) {
        log?.(`mock LLM: ${(e as Error).message}`);
        sock.destroy();
        return;
      }
      for (const m of msgs) {
        if (m.opcode === OP.ping) await out.write(wsFrame(OP.pong, m.payload));
        else if (m.opcode === OP.close) {
          await out.write(wsFrame(OP.close, m.payload.subarray(0, 2)));
          sock.end();
          return;
        } else if (m.opcode === OP.text) await respondWs(out, ws!.up, m.payload.toString('utf8'));
      }
    };
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => {
      /* client went away; nothing to do */
    });
    const pump = async () => {
      if (busy) return;
      busy = true;
      try {
        while (out.alive && buf.length) {
          const r = parseRequest(buf);
          if (r.kind === 'incomplete') {
            if (r.expectContinue && !continued) {
              continued = true;
              await out.write('HTTP/1.1 100 Continue\r\n\r\n');
            }
            break;
          }
          if (r.kind === 'error') {
            const body = JSON.stringify({ error: { message: r.message } });
            await out.write(
              `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status]}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`,
            );
            sock.end();
            return;
          }
          buf = buf.subarray(r.used);
          continued = false;
          const key = r.req.headers['sec-websocket-key'];
          if (
            /websocket/i.test(r.req.headers.upgrade ?? '') &&
            key &&
            /\/responses$/.test(r.req.target.split('?')[0]!)
          ) {
            requests.push(toMockRequest(r.req));
            log?.(`GET ${r.req.target} -> 101 (Responses WebSocket mode)`);
            await out.write(
              `HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ${wsAccept(key)}\r\n\r\n`,
            );
            const rest = buf;
            buf = Buffer.alloc(0);
            ws = { reader: new WsReader(), up: r.req, queue: Promise.resolve() };
            if (rest.length) ws.queue = ws.queue.then(() => onWs(rest));
            return;
          }
          let keep: boolean;
          try {
            keep = await respond(out, r.req);
          } catch (e) {
            log?.(`mock LLM: ${(e as Error).message}`);
            sock.destroy();
            return;
          }
          if (!keep) {
            if (!sock.destroyed) sock.end();
            return;
          }
        }
      } finally {
        busy = false;
      }
    };
    sock.on('data', (d: Buffer) => {
      if (ws) {
        const w = ws;
        w.queue = w.queue.then(() => onWs(d));
        return;
      }
      buf = buf.length ? Buffer.concat([buf, d]) : d;
      void pump();
    });
  }

  const server: net.Server = useTls
    ? tls.createServer(
        {
          key: fs.readFileSync(certs!.keyPath),
          cert: fs.readFileSync(certs!.certPath),
          ALPNProtocols: h2 ? ['h2', 'http/1.1'] : ['http/1.1'],
        },
        onConnection,
      )
    : net.createServer(onConnection);
  if (useTls) server.on('tlsClientError', (e: Error) => log?.(`TLS handshake failed: ${e.message}`));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as net.AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `${useTls ? 'https' : 'http'}://${urlHost}:${port}`,
    host,
    port,
    caPath: certs?.caPath ?? '',
    certPath: certs?.certPath ?? '',
    keyPath: certs?.keyPath ?? '',
    requests,
    enqueue: (...r) => {
      queue.push(...r);
    },
    replay: (file) => {
      queue.push({ replay: file });
    },
    pending: () => queue.length,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

async function writeSplit(
  out: ResponseSink,
  bytes: Buffer,
  writeSize: number | undefined,
  delayMs: number,
): Promise<void> {
  if (!writeSize || writeSize <= 0) {
    await out.write(bytes);
    return;
  }
  for (let o = 0; o < bytes.length; o += writeSize) {
    if (o > 0 && delayMs > 0) await sleep(delayMs);
    await out.write(bytes.subarray(o, o + writeSize));
  }
}
