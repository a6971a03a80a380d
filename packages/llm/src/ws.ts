// OpenAI Responses API over WebSocket ("WebSocket mode", what Codex speaks): one upgraded
// connection to …/responses carries many responses in turn. The client sends
//   {"type":"response.create", <the fields of a POST /v1/responses body>}
// (`stream` is implicit and not sent), and the server answers with the same event
// objects as the SSE stream (response.created … response.completed / response.failed /
// response.incomplete), each a text message, or an `error` message. Those events go
// through the SSE path's own accumulator (OpenAIResponsesAccumulator), so both transports
// give the same llm/call.
//
// Assumed where the documentation says nothing: responses on one socket are answered in
// the order they were created (server events are not tagged with the request), so
// creates sent before the previous answer ended are queued; an `error` before any
// response.created (a rejected create: bad previous_response_id, limits) ends that
// response, while after it the error is recorded and response.failed is awaited — or the
// next response's response.created, which ends the one before; a `response.create` whose
// fields sit under a `response` key (the Realtime API's shape) is read too; an `error`
// message's numeric `status`, when it has one, is the call's status, else the upgrade's
// (101).
import { decodePayload, type HttpRequestEvent, type HttpResponseEvent, type HttpWsEvent } from '@agentsight/events';
import { apiOfPath } from './detect.js';
import type { LlmPending } from './merge.js';
import { openaiResponses } from './openai-responses.js';
import { providerOfHost } from './providers.js';
import type { Delta } from './result.js';
import { isObj, type Obj, str, tryJson } from './util.js';

/** What the WebSocket transport needs from MergeStage. */
export interface WsHost {
  /** Report a call (MergeStage's own path, so both transports build llm/call alike). */
  finish(p: LlmPending, res: HttpResponseEvent | undefined, why?: string): void;
  deltas(p: LlmPending, ev: { ts: number }, deltas: Delta[]): void;
  live: boolean;
  maxCallBytes: number;
  /** Sockets tracked at once; past it the oldest is dropped (its calls reported incomplete). */
  maxSockets: number;
}

/** Responses created on one socket and not yet answered in full. */
const MAX_QUEUED = 64;

interface Socket {
  /** The upgrade request, without body. */
  up: HttpRequestEvent;
  /** Path says …/responses, or a client sent response.create on it. */
  responses: boolean;
  status: number;
  /** Head: the response the server is streaming now. */
  queue: LlmPending[];
  /** Id the server gave the response being streamed, once response.created said it. */
  headId: string | null;
  closed: boolean;
  seenAt: number;
}

function isUpgrade(req: HttpRequestEvent): boolean {
  return req.method === 'GET' && /\bwebsocket\b/i.test(req.headers?.upgrade ?? '');
}

function text(ev: HttpWsEvent): string | undefined {
  if (ev.data === undefined) return undefined;
  if (ev.enc === 'base64') {
    try {
      return decodePayload({ data: ev.data, enc: 'base64' }).toString('utf8');
    } catch {
      return undefined;
    }
  }
  return ev.data;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export class WsResponses {
  #host: WsHost;
  #sockets = new Map<string, Socket>();

  constructor(host: WsHost) {
    this.#host = host;
  }

  /**
   * An http request: a WebSocket upgrade is remembered (its messages are read later).
   * True when it is consumed here: an upgrade to a Responses path.
   */
  upgrade(req: HttpRequestEvent): boolean {
    if (!isUpgrade(req)) return false;
    const { data: _d, enc: _e, ...slim } = req;
    const responses = apiOfPath(req.path) === 'openai.responses';
    this.#drop(req.id, 'superseded by another request with the same id');
    this.#sockets.set(req.id, {
      up: slim as HttpRequestEvent,
      responses,
      status: 0,
      queue: [],
      headId: null,
      closed: false,
      seenAt: Date.now() * 1000,
    });
    if (this.#sockets.size > this.#host.maxSockets)
      this.#drop(this.#sockets.keys().next().value!, 'evicted: too many WebSocket connections tracked');
    return responses;
  }

  /** The answer to an upgrade. True when consumed (it answers a Responses upgrade). */
  upgraded(res: HttpResponseEvent): boolean {
    const s = this.#sockets.get(res.req);
    if (!s) return false;
    if (res.status !== 101) this.#sockets.delete(res.req);
    else s.status = 101;
    return s.responses;
  }

  /** A WebSocket message. True when consumed (it belongs to a Responses socket). */
  message(ev: HttpWsEvent): boolean {
    const s = this.#sockets.get(ev.req);
    if (!s) return false;
    s.seenAt = Date.now() * 1000;
    if (ev.opcode === 'close') {
      // Kept until the idle timeout or end of input: the other side's close answers it.
      s.closed = true;
      this.#closeAll(s, ev.ts, `WebSocket closed by the ${ev.from} before the response completed`);
      return s.responses;
    }
    if (ev.opcode !== 'text') return s.responses;
    const data = text(ev);
    if (data === undefined) return s.responses;
    if (ev.from === 'client') {
      const msg = tryJson(data);
      if (isObj(msg) && msg.type === 'response.create') {
        s.responses = true;
        this.#create(s, ev, msg);
      }
      return s.responses;
    }
    if (!s.responses) return false;
    this.#server(s, ev, data);
    return true;
  }

  #create(s: Socket, ev: HttpWsEvent, msg: Obj): void {
    const { type: _t, ...rest } = msg;
    const body = isObj(rest.response) && rest.model === undefined && rest.input === undefined ? rest.response : rest;
    const info = openaiResponses.request(body, s.up.path);
    info.stream = true;
    const up = s.up;
    const req: HttpRequestEvent = {
      ...up,
      ts: ev.ts,
      start_ts: ev.ts,
      ...(ev.pid !== undefined ? { pid: ev.pid } : {}),
      ...(ev.tid !== undefined ? { tid: ev.tid } : {}),
      ...(ev.comm !== undefined ? { comm: ev.comm } : {}),
      id: `${up.id}/ws${ev.n}`,
      body_size: ev.size,
    };
    if (ev.truncated) req.body_truncated = true;
    else delete req.body_truncated;
    const p: LlmPending = {
      kind: 'llm',
      req,
      ref: up.id,
      det: { module: openaiResponses, provider: providerOfHost(up.host) ?? openaiResponses.provider },
      info,
      acc: openaiResponses.accumulator(up.path),
      sse: 0,
      bytes: 0,
      overflow: false,
      seenAt: Date.now() * 1000,
    };
    s.queue.push(p);
    if (s.queue.length > MAX_QUEUED)
      this.#host.finish(s.queue.shift()!, undefined, 'evicted: too many responses awaited on one WebSocket');
  }

  #server(s: Socket, ev: HttpWsEvent, data: string): void {
    const msg = tryJson(data);
    const type = isObj(msg) ? str(msg.type) : null;
    const respId = isObj(msg) && isObj(msg.response) ? str(msg.response.id) : null;
    if (respId !== null && s.headId !== null && respId !== s.headId && s.queue.length > 1) {
      // The next response began: the one before ended without its final event.
      this.#answer(s, ev, s.status);
    }
    const p = s.queue[0];
    if (!p) return;
    if (respId !== null) s.headId = respId;
    p.seenAt = Date.now() * 1000;
    if (p.sse === 0) p.ttft = Math.max(0, (ev.ts - p.req.start_ts) / 1000);
    p.sse++;
    if (!p.overflow) {
      p.bytes += data.length;
      if (p.bytes > this.#host.maxCallBytes) p.overflow = true;
      else {
        let deltas: Delta[];
        try {
          deltas = p.acc.sse(type ?? undefined, data);
        } catch {
          deltas = [];
        }
        if (this.#host.live && deltas.length) this.#host.deltas(p, ev, deltas);
      }
    }
    if (type === 'error' && s.headId === null) {
      const st =
        isObj(msg) && typeof msg.status === 'number' && msg.status >= 100 && msg.status <= 599 ? msg.status : s.status;
      this.#answer(s, ev, st);
    } else if (p.acc.done) {
      this.#answer(s, ev, s.status);
    }
  }

  #answer(s: Socket, ev: HttpWsEvent, status: number): void {
    const p = s.queue.shift()!;
    s.headId = null;
    const res: HttpResponseEvent = {
      v: 1,
      ts: ev.ts,
      src: 'http',
      type: 'response',
      conn: s.up.conn,
      req: p.req.id,
      status,
      headers: {},
      body_size: 0,
      latency_ms: round3(Math.max(0, (ev.ts - p.req.ts) / 1000)),
      start_ts: p.req.ts,
    };
    this.#host.finish(p, res);
  }

  #closeAll(s: Socket, ts: number, why: string): void {
    for (const p of s.queue.splice(0)) {
      this.#host.finish(p, {
        v: 1,
        ts,
        src: 'http',
        type: 'response',
        conn: s.up.conn,
        req: p.req.id,
        status: s.status,
        headers: {},
        body_size: 0,
        latency_ms: 0,
        start_ts: p.req.ts,
        incomplete: why,
      });
    }
  }

  #drop(id: string, why: string): void {
    const s = this.#sockets.get(id);
    if (!s) return;
    this.#sockets.delete(id);
    for (const p of s.queue.splice(0)) this.#host.finish(p, undefined, why);
  }

  /**
   * Sockets silent since before `cutoff` (µs, wall clock): their calls are reported
   * incomplete. Closed ones are forgotten; open ones are kept (an agent's socket may idle
   * between turns for long), up to `maxSockets`.
   */
  tick(cutoff: number): void {
    for (const [id, s] of this.#sockets) {
      if (s.seenAt >= cutoff) continue;
      if (s.closed) this.#drop(id, 'no response within the idle timeout');
      else for (const p of s.queue.splice(0)) this.#host.finish(p, undefined, 'no response within the idle timeout');
    }
  }

  end(): void {
    for (const id of [...this.#sockets.keys()]) this.#drop(id, 'input ended before the response');
  }

  get pending(): number {
    let n = 0;
    for (const s of this.#sockets.values()) n += s.queue.length;
    return n;
  }
}
