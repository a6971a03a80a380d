// Fuzz: thousands of random and mutated exchanges (SSE messages and JSON bodies taken from
// the corpus recordings, then dropped, duplicated, reordered, truncated, byte-flipped,
// retyped; random statuses and cut responses; interleaved requests on many connections),
// through MergeStage, and a share of them as raw bytes through HttpStage first. Whatever
// the input: no exception, exactly one valid llm/call per LLM request, and bounded state.

import fs from 'node:fs';
import path from 'node:path';
import {
  type AgentEvent,
  type HttpRequestEvent,
  type HttpResponseEvent,
  type HttpSseEvent,
  type LlmCallEvent,
  validateEvent,
} from '@agentsight/events';
import { HttpStage, prng, splitPoints, sslEvents } from '@agentsight/http';
import { MergeStage } from '@agentsight/llm';
import t from 'tap';
import { CORPUS } from './lib/run.js';

type Rnd = () => number;
const pick = <T>(r: Rnd, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const ROUTES: Record<string, string[]> = {
  anthropic: ['/v1/messages'],
  'openai-chat': ['/v1/chat/completions'],
  'openai-responses': ['/v1/responses'],
  gemini: [
    '/v1beta/models/g:streamGenerateContent?alt=sse',
    '/v1internal:streamGenerateContent?alt=sse',
    '/v1beta/models/g:generateContent',
  ],
};

interface Seed {
  dir: string;
  sse: Array<{ event?: string; data: string }>;
  json?: string;
}

function loadSeeds(): Seed[] {
  const seeds: Seed[] = [];
  if (!fs.existsSync(CORPUS)) return seeds;
  for (const dir of Object.keys(ROUTES)) {
    for (const f of fs.readdirSync(path.join(CORPUS, dir)).filter((x) => x.endsWith('.http'))) {
      const raw = fs.readFileSync(path.join(CORPUS, dir, f), 'utf8');
      const body = raw.slice(raw.indexOf('\r\n\r\n') + 4);
      if (/content-type: application\/json/i.test(raw.slice(0, raw.indexOf('\r\n\r\n')))) {
        // Chunked JSON bodies: keep the longest line, which is the JSON (or most of it).
        const json = body.split('\r\n').sort((a, b) => b.length - a.length)[0]!;
        seeds.push({ dir, sse: [], json });
        continue;
      }
      const sse: Array<{ event?: string; data: string }> = [];
      let ev: string | undefined;
      for (const line of body.split(/\r?\n/)) {
        if (line.startsWith('event: ')) ev = line.slice(7);
        else if (line.startsWith('data: ')) {
          sse.push({ ...(ev ? { event: ev } : {}), data: line.slice(6) });
          ev = undefined;
        }
      }
      seeds.push({ dir, sse });
    }
  }
  return seeds;
}

const JUNK = [
  '',
  '{',
  '}',
  'null',
  '[]',
  '0',
  '"x"',
  '[DONE]',
  '{"type":"message_stop"}',
  '{"choices":null}',
  '{"candidates":[{}]}',
  '{"type":"response.completed"}',
  '\u0000',
  '😀',
  '{"index":1e309}',
  '{"__proto__":{"x":1}}',
];

function mutateString(r: Rnd, s: string): string {
  switch (Math.floor(r() * 6)) {
    case 0:
      return s.slice(0, Math.floor(r() * s.length));
    case 1: {
      const i = Math.floor(r() * (s.length + 1));
      return s.slice(0, i) + pick(r, JUNK) + s.slice(i);
    }
    case 2: {
      const i = Math.floor(r() * s.length);
      return s.slice(0, i) + String.fromCharCode(Math.floor(r() * 0x3000)) + s.slice(i + 1);
    }
    case 3:
      return s.replace(/-?\d+/g, () => pick(r, ['-1', '1e308', '"7"', 'null', '0.5', '99999999999999999999']));
    case 4:
      return s.replace(
        /"(index|output_index|content_index|summary_index)":\d+/g,
        (_m, k: string) => `"${k}":${pick(r, ['-3', '100000000', '2', '"0"', 'null'])}`,
      );
    default:
      return s.replace(
        /"type":"[a-z_.]+"/,
        `"type":"${pick(r, ['error', 'message_start', 'content_block_delta', 'response.output_item.added', 'zzz'])}"`,
      );
  }
}

function mutateSse(r: Rnd, msgs: Array<{ event?: string; data: string }>): Array<{ event?: string; data: string }> {
  let out = msgs.slice();
  const n = Math.floor(r() * 6);
  for (let i = 0; i < n && out.length; i++) {
    const k = Math.floor(r() * out.length);
    switch (Math.floor(r() * 6)) {
      case 0:
        out.splice(k, 1);
        break;
      case 1:
        out.splice(k, 0, out[k]!);
        break;
      case 2: {
        const j = Math.floor(r() * out.length);
        [out[k], out[j]] = [out[j]!, out[k]!];
        break;
      }
      case 3:
        out[k] = { ...out[k]!, data: mutateString(r, out[k]!.data) };
        break;
      case 4:
        out = out.slice(0, k);
        break;
      default:
        out.splice(k, 0, { data: pick(r, JUNK) });
        break;
    }
  }
  return out;
}

const T0 = 1_800_000_000_000_000;

function exchange(r: Rnd, seeds: Seed[], conn: string, ts: number): { events: AgentEvent[]; llm: boolean } {
  const seed = pick(r, seeds);
  const route = pick(r, ROUTES[seed.dir]!);
  const id = `${conn}#0`;
  const body =
    r() < 0.1
      ? mutateString(r, '{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}')
      : r() < 0.05
        ? ''
        : '{"model":"m","messages":[],"input":"x","contents":[],"stream":true}';
  const req: HttpRequestEvent = {
    v: 1,
    ts,
    src: 'http',
    type: 'request',
    pid: 1,
    tid: 1,
    comm: 'fuzz',
    conn,
    id,
    method: 'POST',
    path: route,
    host: pick(r, ['api.anthropic.com', 'api.openai.com', 'x.example', 'localhost:11434']),
    headers: {},
    body_size: body.length,
    start_ts: ts - 5,
    ...(body ? { data: body, enc: 'utf8' as const } : {}),
  };
  const events: AgentEvent[] = [req];
  const status = pick(r, [200, 200, 200, 200, 400, 429, 500, 529]);
  const stream = seed.json === undefined && r() < 0.9;
  let nsse = 0;
  if (stream) {
    for (const m of mutateSse(r, seed.sse)) {
      const e: HttpSseEvent = {
        v: 1,
        ts: ts + 10 + nsse,
        src: 'http',
        type: 'sse',
        conn,
        req: id,
        n: nsse++,
        data: m.data,
        ...(m.event ? { event: m.event } : {}),
      };
      events.push(e);
    }
  }
  const resBody = stream
    ? undefined
    : r() < 0.8
      ? mutateString(r, seed.json ?? JSON.stringify(seed.sse.map((m) => m.data)))
      : pick(r, JUNK);
  const res: HttpResponseEvent = {
    v: 1,
    ts: ts + 1000,
    src: 'http',
    type: 'response',
    conn,
    req: id,
    status,
    headers: {},
    body_size: resBody?.length ?? 0,
    latency_ms: 1,
    start_ts: ts + 5,
    ...(resBody !== undefined ? { data: resBody, enc: 'utf8' as const } : { sse_count: nsse }),
    ...(r() < 0.1 ? { incomplete: 'connection closed' } : {}),
    ...(r() < 0.03 ? { body_truncated: true } : {}),
  };
  // Sometimes the response never comes.
  if (r() < 0.95) events.push(res);
  return { events, llm: true };
}

function checkCalls(fail: (msg: string) => void, out: AgentEvent[], want: number, label: string): boolean {
  const calls = out.filter((e): e is LlmCallEvent => e.src === 'llm' && e.type === 'call');
  if (calls.length !== want) {
    fail(`${label}: ${calls.length} llm/call for ${want} requests`);
    return false;
  }
  for (const c of calls) {
    const line = JSON.stringify(c);
    const why = validateEvent(JSON.parse(line));
    if (why) {
      fail(`${label}: invalid llm/call: ${why}`);
      return false;
    }
    if (typeof c.response.text !== 'string' || !Array.isArray(c.response.tool_calls)) {
      fail(`${label}: malformed response ${line.slice(0, 200)}`);
      return false;
    }
  }
  return true;
}

const seeds = loadSeeds();
const skip = seeds.length ? false : `the shared corpus is missing at ${CORPUS}`;

t.test('mutated exchanges through MergeStage: one valid call each, never a throw', { skip }, async (t) => {
  const deadline = Date.now() + 40_000;
  let n = 0;
  let failed = false;
  const seen = { complete: 0, incomplete: 0, error: 0 };
  for (let seed = 1; seed <= 10_000 && Date.now() < deadline && !failed; seed++) {
    const r = prng(seed);
    const out: AgentEvent[] = [];
    const st = new MergeStage({ live: r() < 0.5, maxCallBytes: r() < 0.1 ? 200 : 1 << 20 }, (e) => out.push(e));
    // A few exchanges interleaved on different connections.
    const ex = Array.from(
      { length: 1 + Math.floor(r() * 3) },
      (_, i) => exchange(r, seeds, `c${i}`, T0 + i * 7).events,
    );
    const merged: AgentEvent[] = [];
    while (ex.some((e) => e.length)) {
      const q = pick(
        r,
        ex.filter((e) => e.length),
      );
      merged.push(q.shift()!);
    }
    try {
      for (const e of merged) st.write(e);
      st.end();
    } catch (e) {
      t.fail(`seed ${seed}: threw ${(e as Error).stack}`);
      failed = true;
      break;
    }
    if (
      !checkCalls(
        (m) => t.fail(m),
        out,
        merged.filter((e) => e.src === 'http' && e.type === 'request').length,
        `seed ${seed}`,
      )
    ) {
      failed = true;
      break;
    }
    if (st.pending !== 0) {
      t.fail(`seed ${seed}: state left after end`);
      failed = true;
    }
    for (const c of out) {
      if (c.src !== 'llm' || c.type !== 'call') continue;
      const call = c as LlmCallEvent;
      if (call.incomplete) seen.incomplete++;
      else seen.complete++;
      if (call.error !== undefined) seen.error++;
    }
    n++;
  }
  t.ok(n >= 1000, `${n} cases run in the time bound`);
  // The mutations must reach both outcomes, or the fuzz is not exercising anything.
  t.ok(seen.complete > n / 20 && seen.incomplete > n / 20 && seen.error > n / 20, `outcomes: ${JSON.stringify(seen)}`);
});

t.test(
  'mutated raw bytes through HttpStage -> MergeStage: no throw, exactly one call per request',
  { skip },
  async (t) => {
    const deadline = Date.now() + 20_000;
    let n = 0;
    for (let seed = 1; seed <= 5000 && Date.now() < deadline; seed++) {
      const r = prng(100_000 + seed);
      const s = pick(r, seeds);
      const body = s.json ?? s.sse.map((m) => `${m.event ? `event: ${m.event}\n` : ''}data: ${m.data}\n\n`).join('');
      let res = Buffer.from(
        `HTTP/1.1 200 OK\r\ncontent-type: ${s.json ? 'application/json' : 'text/event-stream'}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
      // Flip, drop or cut bytes anywhere, headers included.
      for (let i = Math.floor(r() * 4); i > 0; i--) {
        const at = Math.floor(r() * res.length);
        const k = Math.floor(r() * 3);
        if (k === 0) res[at] = Math.floor(r() * 256);
        else if (k === 1) res = Buffer.concat([res.subarray(0, at), res.subarray(at + 1 + Math.floor(r() * 20))]);
        else res = res.subarray(0, at);
      }
      const reqBody = '{"model":"m","messages":[],"stream":true}';
      const req = Buffer.from(
        `POST ${pick(r, ROUTES[s.dir]!)} HTTP/1.1\r\nhost: h\r\ncontent-length: ${reqBody.length}\r\n\r\n${reqBody}`,
      );
      const out: AgentEvent[] = [];
      try {
        const merge = new MergeStage({}, (e) => out.push(e));
        const http = new HttpStage({}, (e) => merge.write(e));
        for (const e of sslEvents(req, { conn: 'c', dir: 'write', cuts: splitPoints(req.length, r, 100) }))
          http.write(e);
        for (const e of sslEvents(res, { conn: 'c', dir: 'read', cuts: splitPoints(res.length, r, 100), ts: T0 }))
          http.write(e);
        http.end();
        merge.end();
      } catch (e) {
        t.fail(`seed ${seed}: threw ${(e as Error).stack}`);
        break;
      }
      const calls = out.filter((e) => e.src === 'llm' && e.type === 'call');
      if (calls.length !== 1) {
        t.fail(`seed ${seed}: ${calls.length} calls for one request`);
        break;
      }
      n++;
    }
    t.ok(n >= 300, `${n} byte-level cases run`);
  },
);

t.test('state stays bounded under a flood of unanswered requests and stalled streams', async (t) => {
  let emitted = 0;
  const st = new MergeStage({ maxPending: 100, mcp: { maxPending: 50 } }, () => {
    emitted++;
  });
  const r = prng(7);
  for (let i = 0; i < 50_000; i++) {
    const conn = `f${i}`;
    st.write({
      v: 1,
      ts: T0 + i,
      src: 'http',
      type: 'request',
      conn,
      id: `${conn}#0`,
      method: 'POST',
      path: pick(r, ['/v1/messages', '/v1/chat/completions', '/mcp']),
      headers: {},
      body_size: 0,
      start_ts: T0 + i,
      data: pick(r, ['{"model":"m","messages":[]}', '{"jsonrpc":"2.0","id":1,"method":"tools/list"}']),
      enc: 'utf8',
    } as AgentEvent);
    st.write({
      v: 1,
      ts: T0 + i,
      src: 'http',
      type: 'sse',
      conn,
      req: `${conn}#0`,
      n: 0,
      data: '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}}',
    } as AgentEvent);
    if (st.pending > 100) {
      t.fail(`pending grew to ${st.pending}`);
      break;
    }
  }
  t.ok(st.pending <= 100, `pending bounded (${st.pending})`);
  st.end();
  t.equal(st.pending, 0);
  t.ok(emitted > 0);
});
