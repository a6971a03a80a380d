import { ProcessAgents } from '@agentsight/agents';
import {
  type AgentEvent,
  decodePayload,
  type Emit,
  type HttpRequestEvent,
  type HttpResponseEvent,
  type HttpSseEvent,
  type HttpWsEvent,
  type LlmCallEvent,
  type LlmDeltaEvent,
  MAX_PAYLOAD_DEPTH,
  type Stage,
  type StdioDataEvent,
} from '@agentsight/events';
import { type McpOptions, McpTracker, parseRpc, type Where } from '@agentsight/mcp';
import { type Detected, detect } from './detect.js';
import type { Accumulator, Delta, RequestInfo } from './result.js';
import { deepPayloads, tryJson } from './util.js';
import { WsResponses } from './ws.js';

export interface MergeOptions {
  /** Emit `llm`/`delta` events as streamed output arrives. */
  live?: boolean;
  /** Also pass on the http events of LLM and MCP exchanges (they are consumed by default). */
  keepHttp?: boolean;
  /** LLM calls awaiting their response; past it the oldest is reported incomplete. */
  maxPending?: number;
  /** A call with no http event for this long (processing time) is reported incomplete. */
  idleTimeoutMs?: number;
  /** Streamed bytes merged per call; the rest is not (the call is marked incomplete). */
  maxCallBytes?: number;
  mcp?: McpOptions;
  /** Diagnostics about the event just written (a payload kept as raw text). */
  warn?: (msg: string) => void;
}

export interface LlmPending {
  kind: 'llm';
  req: HttpRequestEvent;
  /** The http request reference when it is not `req.id`: a call over WebSocket names its upgrade. */
  ref?: string;
  det: Detected;
  info: RequestInfo;
  acc: Accumulator;
  sse: number;
  ttft?: number;
  bytes: number;
  overflow: boolean;
  seenAt: number;
}

interface McpPending {
  kind: 'mcp';
  req: HttpRequestEvent;
  where: Where;
  /** Consumed (a JSON-RPC POST) or only watched (a GET event stream, passed on). */
  consumed: boolean;
  seenAt: number;
}

type Pending = LlmPending | McpPending;

export interface MergeStats {
  calls: number;
  incomplete: number;
  passed: number;
  mcpCalls: number;
  mcpNotifications: number;
}

function bodyText(ev: { data?: string; enc?: 'utf8' | 'base64' }): string | undefined {
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

function headerHas(h: Record<string, string> | undefined, name: string, needle: string): boolean {
  return (h?.[name] ?? '').toLowerCase().includes(needle);
}

/**
 * as-merge as a stream stage: http exchanges in, `llm`/`call` (one per model call, when its
 * response completes), `llm`/`delta` (with `live`), `mcp`/`call` and `mcp`/`notification`
 * out. Events it does not recognise pass through untouched, in order. `stdio` events are
 * read for MCP and passed on.
 */
export class MergeStage implements Stage {
  #emit: Emit;
  #opts: Required<Omit<MergeOptions, 'mcp' | 'warn'>> & Pick<MergeOptions, 'warn'>;
  #pending = new Map<string, Pending>();
  #mcp: McpTracker;
  #ws: WsResponses;
  #lastTs = 0;
  /** Which agent each process is, so every call can say which agent made it. */
  readonly #agents = new ProcessAgents();
  readonly stats: MergeStats = { calls: 0, incomplete: 0, passed: 0, mcpCalls: 0, mcpNotifications: 0 };

  constructor(opts: MergeOptions, emit: Emit) {
    this.#emit = emit;
    this.#opts = {
      live: opts.live ?? false,
      keepHttp: opts.keepHttp ?? false,
      maxPending: opts.maxPending ?? 4096,
      idleTimeoutMs: opts.idleTimeoutMs ?? 15 * 60 * 1000,
      maxCallBytes: opts.maxCallBytes ?? 256 * 1024 * 1024,
      warn: opts.warn,
    };
    this.#mcp = new McpTracker(opts.mcp ?? {}, (ev) => {
      if (ev.src === 'mcp' && ev.type === 'call') this.stats.mcpCalls++;
      else this.stats.mcpNotifications++;
      this.#emit(ev);
    });
    this.#ws = new WsResponses({
      finish: (p, res, why) => this.#finish(p, res, why),
      deltas: (p, ev, d) => this.#deltas(p, ev, d),
      live: this.#opts.live,
      maxCallBytes: this.#opts.maxCallBytes,
      maxSockets: this.#opts.maxPending,
    });
  }

  #pass(ev: AgentEvent): void {
    this.stats.passed++;
    this.#emit(ev);
  }

  write(ev: AgentEvent): void {
    const deep = deepPayloads();
    this.#write(ev);
    if (deepPayloads() !== deep) this.#opts.warn?.(`JSON nested deeper than ${MAX_PAYLOAD_DEPTH}: kept as raw text`);
  }

  #write(ev: AgentEvent): void {
    if (ev.ts > this.#lastTs) this.#lastTs = ev.ts;
    if (ev.src === 'http') {
      switch (ev.type) {
        case 'request':
          return this.#request(ev as HttpRequestEvent);
        case 'sse':
          return this.#sse(ev as HttpSseEvent);
        case 'response':
          return this.#response(ev as HttpResponseEvent);
        case 'ws':
          if (this.#ws.message(ev as HttpWsEvent) && !this.#opts.keepHttp) return;
          break;
      }
    } else if (ev.src === 'stdio' && ev.type === 'data') {
      this.#mcp.stdio(ev as StdioDataEvent);
    } else if (ev.src === 'proc') {
      this.#agents.observe(ev);
    }
    this.#pass(ev);
  }

  #track(id: string, p: Pending): void {
    const prev = this.#pending.get(id);
    if (prev) {
      // The same request reference again (a restarted producer): report the first once.
      this.#pending.delete(id);
      if (prev.kind === 'llm') this.#finish(prev, undefined, 'superseded by another request with the same id');
    }
    this.#pending.set(id, p);
    if (this.#pending.size > this.#opts.maxPending) {
      const [k, old] = this.#pending.entries().next().value as [string, Pending];
      this.#pending.delete(k);
      if (old.kind === 'llm') this.#finish(old, undefined, 'evicted: too many calls awaiting a response');
    }
  }

  #request(req: HttpRequestEvent): void {
    if (this.#ws.upgrade(req)) {
      if (this.#opts.keepHttp) this.#pass(req);
      return;
    }
    const text = bodyText(req);
    const body = text !== undefined && text.length > 0 ? tryJson(text) : undefined;
    const det = detect(req.method, req.path, req.host, body);
    const now = Date.now() * 1000;
    // Pending entries keep the request without its body: the parsed form is what is used,
    // and a long conversation's body would otherwise be held twice while the answer streams.
    const { data: _data, enc: _enc, ...slimReq } = req;
    const slim = slimReq as HttpRequestEvent;
    if (det) {
      this.#track(req.id, {
        kind: 'llm',
        req: slim,
        det,
        info: det.module.request(body, req.path),
        acc: det.module.accumulator(req.path),
        sse: 0,
        bytes: 0,
        overflow: false,
        seenAt: now,
      });
      if (this.#opts.keepHttp) this.#pass(req);
      return;
    }
    const where: Where = {
      transport: 'http',
      channel: req.conn,
      // Responses may come back on another connection (the older HTTP+SSE transport), so
      // requests pair by id within the server (and session when it names one).
      scope: `http:${req.host ?? req.conn}:${req.headers?.['mcp-session-id'] ?? ''}`,
      pid: req.pid,
      comm: req.comm,
    };
    if (req.method === 'POST' && body !== undefined) {
      const msgs = text !== undefined ? parseRpc(text) : [];
      if (msgs.length) {
        for (const m of msgs) this.#mcp.message(where, 'client', m, req.ts);
        this.#track(req.id, { kind: 'mcp', req: slim, where, consumed: true, seenAt: now });
        if (this.#opts.keepHttp) this.#pass(req);
        return;
      }
    }
    if (req.method === 'GET' && headerHas(req.headers, 'accept', 'text/event-stream')) {
      // Maybe an MCP server-to-client stream: watch its events, pass everything on.
      this.#track(req.id, {
        kind: 'mcp',
        req: slim,
        where: { ...where, scope: `http:${req.host ?? req.conn}:` },
        consumed: false,
        seenAt: now,
      });
    }
    this.#pass(req);
  }

  #sse(ev: HttpSseEvent): void {
    const p = this.#pending.get(ev.req);
    if (!p) return this.#pass(ev);
    p.seenAt = Date.now() * 1000;
    if (p.kind === 'mcp') {
      for (const m of parseRpc(ev.data)) this.#mcp.message(p.where, 'server', m, ev.ts);
      if (!p.consumed || this.#opts.keepHttp) this.#pass(ev);
      return;
    }
    if (this.#opts.keepHttp) this.#pass(ev);
    if (p.sse === 0) p.ttft = ev.ttft_ms ?? Math.max(0, (ev.ts - p.req.ts) / 1000);
    p.sse++;
    if (p.overflow) return;
    p.bytes += ev.data.length;
    if (p.bytes > this.#opts.maxCallBytes) {
      p.overflow = true;
      return;
    }
    let deltas: Delta[];
    try {
      deltas = p.acc.sse(ev.event, ev.data);
    } catch {
      // Accumulators are written not to throw; if one does, keep the call, not the crash.
      deltas = [];
    }
    if (this.#opts.live && deltas.length) this.#deltas(p, ev, deltas);
  }

  #deltas(p: LlmPending, ev: { ts: number }, deltas: Delta[]): void {
    // One event per kind per SSE message.
    const byKind = new Map<Delta['kind'], string>();
    for (const d of deltas) byKind.set(d.kind, (byKind.get(d.kind) ?? '') + d.text);
    for (const [kind, text] of byKind) {
      const out: LlmDeltaEvent = {
        v: 1,
        ts: ev.ts,
        src: 'llm',
        type: 'delta',
        ...(p.req.pid !== undefined ? { pid: p.req.pid } : {}),
        ...(p.req.comm !== undefined ? { comm: p.req.comm } : {}),
        id: p.req.id,
        kind,
        text,
        conn: p.req.conn,
      };
      this.#emit(out);
    }
  }

  #response(res: HttpResponseEvent): void {
    if (this.#ws.upgraded(res)) {
      if (this.#opts.keepHttp) this.#pass(res);
      return;
    }
    const p = this.#pending.get(res.req);
    if (!p) return this.#pass(res);
    this.#pending.delete(res.req);
    if (p.kind === 'mcp') {
      const text = bodyText(res);
      if (text) for (const m of parseRpc(text)) this.#mcp.message(p.where, 'server', m, res.ts);
      if (!p.consumed || this.#opts.keepHttp) this.#pass(res);
      return;
    }
    if (this.#opts.keepHttp) this.#pass(res);
    this.#finish(p, res);
  }

  #finish(p: LlmPending, res: HttpResponseEvent | undefined, why?: string): void {
    let errorText: string | undefined;
    let bodyNotJson = false;
    if (res) {
      const text = bodyText(res);
      if (text !== undefined && text.length > 0) {
        const json = tryJson(text);
        if (json === undefined) {
          bodyNotJson = true;
          errorText = text.length > 4096 ? text.slice(0, 4096) + '…' : text;
        } else {
          try {
            p.acc.body(json);
          } catch {
            bodyNotJson = true;
          }
        }
      }
    }
    const r = p.acc.result();
    const status = res?.status ?? 0;
    const failed = status >= 400;
    let incomplete: string | undefined;
    if (why) incomplete = why;
    else if (res?.incomplete) incomplete = `response cut short: ${res.incomplete}`;
    else if (p.overflow) incomplete = `response larger than ${this.#opts.maxCallBytes} bytes: the rest was not merged`;
    else if (res?.body_truncated) incomplete = 'response body truncated by capture';
    // A stream frame that failed its checks was dropped: the call lacks it.
    else if (res?.decode_error && res.sse_count !== undefined) incomplete = `response stream: ${res.decode_error}`;
    else if (!failed) {
      if (bodyNotJson) incomplete = 'response body is not JSON';
      else incomplete = r.incomplete;
    }
    let error = r.error;
    if (error === undefined && failed) error = errorText ?? `HTTP ${status}`;
    const req = p.req;
    const end = res?.ts ?? Math.max(this.#lastTs, req.ts);
    // A process that calls a model is an agent: named by its exec when known, else by the call.
    const agent = this.#agents.forCall(req.pid, {
      headers: req.headers,
      provider: p.det.provider,
      ...(req.comm !== undefined ? { comm: req.comm } : {}),
    });
    const ev: LlmCallEvent = {
      v: 1,
      ts: end,
      src: 'llm',
      type: 'call',
      ...(req.pid !== undefined ? { pid: req.pid } : {}),
      ...(req.tid !== undefined ? { tid: req.tid } : {}),
      ...(req.comm !== undefined ? { comm: req.comm } : {}),
      id: req.id,
      provider: p.det.provider,
      api: p.det.module.api,
      model: r.model ?? p.info.model,
      request: {
        ...(p.info.system !== undefined ? { system: p.info.system } : {}),
        ...(p.info.messages !== undefined ? { messages: p.info.messages } : {}),
        ...(p.info.tools !== undefined ? { tools: p.info.tools } : {}),
        ...(p.info.params !== undefined ? { params: p.info.params } : {}),
        stream: p.info.stream,
        ...(req.body_truncated ? { truncated: true } : {}),
      },
      response: {
        id: r.id,
        text: r.text,
        thinking: r.thinking,
        tool_calls: r.tool_calls,
        finish_reason: r.finish_reason,
        ...(r.refusal !== undefined ? { refusal: r.refusal } : {}),
      },
      usage: r.usage,
      status,
      ...(error !== undefined ? { error } : {}),
      ...(incomplete ? { incomplete } : {}),
      timing: {
        start: req.start_ts,
        ...(p.ttft !== undefined ? { ttft_ms: round3(p.ttft) } : {}),
        duration_ms: round3(Math.max(0, (end - req.start_ts) / 1000)),
      },
      conn: req.conn,
      ...(req.fd !== undefined ? { fd: req.fd } : {}),
      ...(req.host !== undefined ? { host: req.host } : {}),
      req: p.ref ?? req.id,
      ...(agent ? { agent } : {}),
    };
    this.stats.calls++;
    if (incomplete) this.stats.incomplete++;
    this.#emit(ev);
  }

  tick(nowUs: number): void {
    const cutoff = Date.now() * 1000 - this.#opts.idleTimeoutMs * 1000;
    for (const [k, p] of this.#pending) {
      if (p.seenAt >= cutoff) continue;
      this.#pending.delete(k);
      if (p.kind === 'llm') this.#finish(p, undefined, 'no response within the idle timeout');
    }
    this.#ws.tick(cutoff);
    this.#mcp.tick(nowUs);
  }

  end(): void {
    for (const p of this.#pending.values())
      if (p.kind === 'llm') this.#finish(p, undefined, 'input ended before the response');
    this.#pending.clear();
    this.#ws.end();
    this.#mcp.end();
  }

  get pending(): number {
    return this.#pending.size + this.#ws.pending;
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
