// Helpers for the unit tests: build http events the way as-http emits them, and run a
// MergeStage over them. Not exported from the package index.
import type { AgentEvent, HttpRequestEvent, HttpResponseEvent, HttpSseEvent, LlmCallEvent } from '@agentsight/events';
import { type MergeOptions, MergeStage } from './merge.js';

const T0 = 1_764_000_000_000_000;

export function httpReq(
  id: string,
  path: string,
  body: unknown,
  o: { host?: string; method?: string; headers?: Record<string, string>; ts?: number } = {},
): HttpRequestEvent {
  const data = typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body);
  return {
    v: 1,
    ts: o.ts ?? T0,
    src: 'http',
    type: 'request',
    pid: 7,
    tid: 7,
    comm: 'agent',
    conn: id.split('#')[0]!,
    id,
    method: o.method ?? 'POST',
    path,
    host: o.host ?? 'api.example.com',
    headers: o.headers ?? { 'content-type': 'application/json' },
    body_size: data?.length ?? 0,
    start_ts: (o.ts ?? T0) - 100,
    ...(data !== undefined ? { data, enc: 'utf8' as const } : {}),
  };
}

export function httpSse(req: string, n: number, data: string, event?: string, ts?: number): HttpSseEvent {
  return {
    v: 1,
    ts: ts ?? T0 + 1000 * (n + 1),
    src: 'http',
    type: 'sse',
    conn: req.split('#')[0]!,
    req,
    n,
    data,
    ...(event ? { event } : {}),
    ...(n === 0 ? { ttft_ms: 1 } : {}),
  };
}

export function httpRes(
  req: string,
  status: number,
  body?: unknown,
  o: { sse?: number; incomplete?: string; ts?: number; headers?: Record<string, string> } = {},
): HttpResponseEvent {
  const data = typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body);
  return {
    v: 1,
    ts: o.ts ?? T0 + 500_000,
    src: 'http',
    type: 'response',
    conn: req.split('#')[0]!,
    req,
    status,
    headers: o.headers ?? { 'content-type': o.sse !== undefined ? 'text/event-stream' : 'application/json' },
    body_size: data?.length ?? 0,
    latency_ms: 500,
    start_ts: T0 + 100,
    ...(data !== undefined ? { data, enc: 'utf8' as const } : {}),
    ...(o.sse !== undefined ? { sse_count: o.sse } : {}),
    ...(o.incomplete ? { incomplete: o.incomplete } : {}),
  };
}

/** SSE messages -> http/sse events for request `req`. */
export function sseEvents(req: string, msgs: Array<{ event?: string; data: unknown }>): HttpSseEvent[] {
  return msgs.map((m, n) => httpSse(req, n, typeof m.data === 'string' ? m.data : JSON.stringify(m.data), m.event));
}

/** Run events through a fresh MergeStage (ended); returns everything it emitted, as on the wire. */
export function runMerge(events: AgentEvent[], opts: MergeOptions = {}): AgentEvent[] {
  const out: AgentEvent[] = [];
  const st = new MergeStage(opts, (e) => out.push(JSON.parse(JSON.stringify(e)) as AgentEvent));
  for (const e of events) st.write(e);
  st.end();
  return out;
}

export function callsOf(evs: AgentEvent[]): LlmCallEvent[] {
  return evs.filter((e): e is LlmCallEvent => e.src === 'llm' && e.type === 'call');
}

/** One streamed exchange: request, SSE messages, response; returns the one llm/call. */
export function streamCall(
  path: string,
  reqBody: unknown,
  msgs: Array<{ event?: string; data: unknown }>,
  o: { host?: string; status?: number; incomplete?: string } = {},
): LlmCallEvent {
  const evs = [
    httpReq('c#0', path, reqBody, { host: o.host }),
    ...sseEvents('c#0', msgs),
    httpRes('c#0', o.status ?? 200, undefined, { sse: msgs.length, incomplete: o.incomplete }),
  ];
  const calls = callsOf(runMerge(evs));
  if (calls.length !== 1) throw new Error(`want one llm/call, got ${calls.length}`);
  return calls[0]!;
}

export function jsonCall(
  path: string,
  reqBody: unknown,
  status: number,
  resBody: unknown,
  o: { host?: string } = {},
): LlmCallEvent {
  const calls = callsOf(runMerge([httpReq('c#0', path, reqBody, { host: o.host }), httpRes('c#0', status, resBody)]));
  if (calls.length !== 1) throw new Error(`want one llm/call, got ${calls.length}`);
  return calls[0]!;
}
