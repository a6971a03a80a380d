// Differential tests: generated streams (random text with multi-byte UTF-8, random tool
// calls with random JSON arguments, thinking) go both to the official SDK (through a
// custom fetch that serves the bytes in random pieces, so the SDK's own SSE decoder sees
// UTF-8 sequences split anywhere) and through HttpStage -> MergeStage (ssl events split at
// other random points). The SDK's accumulated result, normalised by the corpus rules,
// must equal the llm/call; with --live the deltas must add up to the final output.

import type { AgentEvent, LlmCallEvent, LlmDeltaEvent } from '@agentsight/events';
import { HttpStage, prng, splitPoints, sslEvents } from '@agentsight/http';
import { MergeStage } from '@agentsight/llm';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t from 'tap';

type Rnd = () => number;
const pick = <T>(r: Rnd, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rnd, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

// Pieces chosen to stress UTF-8 handling: 2-, 3- and 4-byte sequences, combining marks,
// a ZWJ emoji sequence, JSON-significant characters, and newlines (SSE framing).
const ALPHABET = [
  'a',
  'b',
  'Z',
  ' ',
  ' ',
  'é',
  'ß',
  'Ω',
  'ж',
  '中',
  '文',
  '日本',
  '€',
  '😀',
  '👩‍💻',
  '🇫🇷',
  'e\u0301',
  '"',
  '\\',
  '/',
  '\n',
  '\r\n',
  '\t',
  '{',
  '}',
  ':',
  'data: ',
  '\u2028',
  '\u0000',
];

function randText(r: Rnd, max = 60): string {
  let s = '';
  const n = int(r, 0, max);
  for (let i = 0; i < n; i++) s += pick(r, ALPHABET);
  return s;
}

function randJson(r: Rnd, depth = 0): unknown {
  const k = int(r, 0, depth > 2 ? 3 : 5);
  if (k === 0) return randText(r, 8);
  if (k === 1) return int(r, -1000, 1000) / (r() < 0.3 ? 7 : 1);
  if (k === 2) return r() < 0.5;
  if (k === 3) return null;
  if (k === 4) return Array.from({ length: int(r, 0, 3) }, () => randJson(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = int(r, 0, 4); i > 0; i--) o[randText(r, 4) || 'k'] = randJson(r, depth + 1);
  return o;
}

/** Split a string into 1..n pieces at code-point boundaries. */
function pieces(r: Rnd, s: string): string[] {
  const cps = Array.from(s);
  if (cps.length === 0) return [];
  const out: string[] = [];
  for (let i = 0; i < cps.length; ) {
    const n = int(r, 1, 12);
    out.push(cps.slice(i, i + n).join(''));
    i += n;
  }
  return out;
}

const sse = (event: string | null, data: unknown) =>
  `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`;

/** A fetch that answers every request with `body`, delivered in random byte pieces. */
function fetchOf(body: Buffer, r: Rnd): typeof fetch {
  return (async () => {
    const cuts = [0, ...splitPoints(body.length, r, 50), body.length];
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i + 1 < cuts.length; i++) c.enqueue(new Uint8Array(body.subarray(cuts[i]!, cuts[i + 1]!)));
        c.close();
      },
    });
    return new Response(stream, { status: 200, headers: { 'content-type': 'text/event-stream' } });
  }) as unknown as typeof fetch;
}

/** The same exchange through as-http and as-merge, split at random ssl boundaries. */
function ours(
  host: string,
  path: string,
  reqBody: unknown,
  resBody: Buffer,
  r: Rnd,
): { call: LlmCallEvent; deltas: LlmDeltaEvent[] } {
  const body = Buffer.from(JSON.stringify(reqBody));
  const req = Buffer.concat([
    Buffer.from(
      `POST ${path} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
    ),
    body,
  ]);
  const res = Buffer.concat([
    Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n`),
    chunked(resBody, r),
  ]);
  const out: AgentEvent[] = [];
  const merge = new MergeStage({ live: true }, (e) => out.push(e));
  const http = new HttpStage({}, (e) => merge.write(e));
  for (const e of sslEvents(req, { conn: 'c', dir: 'write', cuts: splitPoints(req.length, r, 200) })) http.write(e);
  for (const e of sslEvents(res, {
    conn: 'c',
    dir: 'read',
    cuts: splitPoints(res.length, r, 40),
    ts: 1_800_000_000_000_000,
  }))
    http.write(e);
  http.end();
  merge.end();
  const calls = out.filter((e): e is LlmCallEvent => e.src === 'llm' && e.type === 'call');
  if (calls.length !== 1) throw new Error(`want one llm/call, got ${calls.length}`);
  return { call: calls[0]!, deltas: out.filter((e): e is LlmDeltaEvent => e.src === 'llm' && e.type === 'delta') };
}

/** Chunked transfer encoding with random chunk sizes (splitting UTF-8 sequences too). */
function chunked(b: Buffer, r: Rnd): Buffer {
  const parts: Buffer[] = [];
  const cuts = [0, ...splitPoints(b.length, r, 300), b.length];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const p = b.subarray(cuts[i]!, cuts[i + 1]!);
    parts.push(Buffer.from(p.length.toString(16) + '\r\n'), p, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return Buffer.concat(parts);
}

const view = (c: LlmCallEvent) => ({
  model: c.model,
  text: c.response.text,
  thinking: c.response.thinking,
  tool_calls: c.response.tool_calls,
  finish_reason: c.response.finish_reason,
  usage: c.usage,
});

function sumDeltas(ds: LlmDeltaEvent[], kind: string): string {
  return ds
    .filter((d) => d.kind === kind)
    .map((d) => d.text)
    .join('');
}

const CASES = 60;

t.test('Anthropic Messages: MessageStream.finalMessage() and as-merge agree', async (t) => {
  for (let seed = 1; seed <= CASES; seed++) {
    const r = prng(seed);
    const blocks: Array<{
      type: 'text' | 'thinking' | 'tool_use';
      text?: string;
      input?: unknown;
      name?: string;
      id?: string;
    }> = [];
    for (let i = int(r, 0, 4); i > 0; i--) {
      const type = pick(r, ['text', 'thinking', 'tool_use'] as const);
      if (type === 'tool_use')
        blocks.push({
          type,
          id: `toolu_${seed}_${i}`,
          name: pick(r, ['bash', 'read_file', 'édit']),
          input: r() < 0.2 ? {} : { ...(randJson(r) as object), q: randText(r, 10) },
        });
      else blocks.push({ type, text: randText(r) });
    }
    const model = pick(r, ['claude-sonnet-4-5', 'claude-opus-4-1']);
    let body = sse('message_start', {
      type: 'message_start',
      message: {
        id: `msg_${seed}`,
        type: 'message',
        role: 'assistant',
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: {
          input_tokens: int(r, 1, 9999),
          output_tokens: 1,
          ...(r() < 0.5 ? { cache_read_input_tokens: int(r, 0, 500), cache_creation_input_tokens: 0 } : {}),
        },
      },
    });
    blocks.forEach((b, index) => {
      const start =
        b.type === 'text'
          ? { type: 'text', text: '' }
          : b.type === 'thinking'
            ? { type: 'thinking', thinking: '', signature: '' }
            : { type: 'tool_use', id: b.id, name: b.name, input: {} };
      body += sse('content_block_start', { type: 'content_block_start', index, content_block: start });
      if (r() < 0.3) body += sse('ping', { type: 'ping' });
      const src =
        b.type === 'tool_use'
          ? JSON.stringify(b.input) === '{}' && r() < 0.5
            ? ''
            : JSON.stringify(b.input)
          : b.text!;
      for (const p of pieces(r, src)) {
        const delta =
          b.type === 'text'
            ? { type: 'text_delta', text: p }
            : b.type === 'thinking'
              ? { type: 'thinking_delta', thinking: p }
              : { type: 'input_json_delta', partial_json: p };
        body += sse('content_block_delta', { type: 'content_block_delta', index, delta });
      }
      if (b.type === 'thinking')
        body += sse('content_block_delta', {
          type: 'content_block_delta',
          index,
          delta: { type: 'signature_delta', signature: 'sig' },
        });
      body += sse('content_block_stop', { type: 'content_block_stop', index });
    });
    const stop = blocks.some((b) => b.type === 'tool_use')
      ? 'tool_use'
      : pick(r, ['end_turn', 'max_tokens', 'stop_sequence']);
    body += sse('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: stop, stop_sequence: null },
      usage: { output_tokens: int(r, 1, 4000), ...(r() < 0.3 ? { input_tokens: int(r, 1, 99) } : {}) },
    });
    body += sse('message_stop', { type: 'message_stop' });
    const bytes = Buffer.from(body);
    const req = {
      model,
      max_tokens: 1024,
      messages: [{ role: 'user' as const, content: 'hi' }],
      stream: true as const,
    };

    const client = new Anthropic({
      apiKey: 'k',
      baseURL: 'http://sdk.invalid',
      maxRetries: 0,
      fetch: fetchOf(bytes, r),
    });
    const m = await client.messages.stream(req).finalMessage();
    const thinking = m.content
      .filter((b) => b.type === 'thinking')
      .map((b) => (b as { thinking: string }).thinking)
      .join('');
    const u = m.usage as unknown as Record<string, number | null | undefined>;
    const sdk = {
      model: m.model,
      text: m.content
        .filter((b) => b.type === 'text')
        .map((b) => (b as { text: string }).text)
        .join(''),
      thinking: thinking === '' ? null : thinking,
      tool_calls: m.content
        .filter((b) => b.type === 'tool_use')
        .map((b) => ({
          id: (b as { id: string }).id,
          name: (b as { name: string }).name,
          arguments: (b as { input: unknown }).input,
        })),
      finish_reason: m.stop_reason,
      usage: Object.fromEntries(
        ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens']
          .filter((k) => u[k] != null)
          .map((k) => [k, u[k]]),
      ),
    };
    const { call, deltas } = ours('api.anthropic.com', '/v1/messages', req, bytes, r);
    t.same(view(call), sdk, `seed ${seed}`);
    t.equal(call.incomplete, undefined, `seed ${seed}: complete`);
    t.equal(sumDeltas(deltas, 'text'), sdk.text, `seed ${seed}: text deltas add up`);
    t.equal(sumDeltas(deltas, 'thinking'), sdk.thinking ?? '', `seed ${seed}: thinking deltas add up`);
  }
});

t.test('OpenAI Chat Completions: ChatCompletionStream and as-merge agree', async (t) => {
  for (let seed = 1; seed <= CASES; seed++) {
    const r = prng(1000 + seed);
    const model = pick(r, ['gpt-4.1', 'deepseek-reasoner', 'grok-3-mini']);
    const id = `chatcmpl-${seed}`;
    const chunk = (delta: unknown, finish: string | null = null, extra: object = {}) =>
      sse(null, {
        id,
        object: 'chat.completion.chunk',
        created: 1,
        model,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
        ...extra,
      });
    let body = chunk({ role: 'assistant', content: '' });
    const reasoning = r() < 0.4 ? randText(r) : '';
    for (const p of pieces(r, reasoning)) body += chunk({ reasoning_content: p });
    const text = r() < 0.8 ? randText(r) : '';
    for (const p of pieces(r, text)) body += chunk({ content: p });
    const ncalls = r() < 0.5 ? int(r, 1, 3) : 0;
    for (let i = 0; i < ncalls; i++) {
      const args = r() < 0.2 ? '' : JSON.stringify({ ...(randJson(r) as object), n: i });
      const name = pick(r, ['weather', 'run_shell', 'lire']);
      const ps = pieces(r, args);
      body += chunk({
        tool_calls: [
          { index: i, id: `call_${seed}_${i}`, type: 'function', function: { name, arguments: ps[0] ?? '' } },
        ],
      });
      for (const p of ps.slice(1)) body += chunk({ tool_calls: [{ index: i, function: { arguments: p } }] });
    }
    const finish = ncalls ? 'tool_calls' : pick(r, ['stop', 'length', 'content_filter']);
    const usage = {
      prompt_tokens: int(r, 1, 5000),
      completion_tokens: int(r, 1, 500),
      total_tokens: 0,
      ...(r() < 0.5
        ? {
            prompt_tokens_details: { cached_tokens: int(r, 0, 100) },
            completion_tokens_details: { reasoning_tokens: int(r, 0, 50) },
          }
        : {}),
    };
    if (r() < 0.5) {
      body += chunk({}, finish);
      body += sse(null, { id, object: 'chat.completion.chunk', created: 1, model, choices: [], usage });
    } else {
      body += chunk({}, finish, { usage });
    }
    body += 'data: [DONE]\n\n';
    const bytes = Buffer.from(body);
    const req = {
      model,
      messages: [
        { role: 'system', content: 'be brief' },
        { role: 'user', content: 'hi' },
      ],
      stream: true,
      stream_options: { include_usage: true },
    };

    const client = new OpenAI({
      apiKey: 'k',
      baseURL: 'http://sdk.invalid/v1',
      maxRetries: 0,
      fetch: fetchOf(bytes, r),
    });
    const stream = client.chat.completions.stream(req as never);
    let sdkReasoning = '';
    stream.on('chunk', (c) => {
      const d = c.choices[0]?.delta as { reasoning_content?: string } | undefined;
      if (typeof d?.reasoning_content === 'string') sdkReasoning += d.reasoning_content;
    });
    const fin = await stream.finalChatCompletion();
    const msg = fin.choices[0]!.message;
    const u = fin.usage!;
    const sdk = {
      model: fin.model,
      text: msg.content ?? '',
      thinking: sdkReasoning === '' ? null : sdkReasoning,
      tool_calls: (msg.tool_calls ?? []).map((c) => {
        const fn = (c as { function: { name: string; arguments: string } }).function;
        return { id: c.id, name: fn.name, arguments: fn.arguments === '' ? {} : JSON.parse(fn.arguments) };
      }),
      finish_reason: fin.choices[0]!.finish_reason,
      usage: Object.fromEntries(
        Object.entries({
          input_tokens: u.prompt_tokens,
          output_tokens: u.completion_tokens,
          cache_read_input_tokens: u.prompt_tokens_details?.cached_tokens,
          reasoning_tokens: u.completion_tokens_details?.reasoning_tokens,
        }).filter(([, v]) => v != null),
      ),
    };
    const { call, deltas } = ours('api.openai.com', '/v1/chat/completions', req, bytes, r);
    t.same(view(call), sdk, `seed ${seed}`);
    t.equal(call.incomplete, undefined, `seed ${seed}: complete`);
    t.equal(call.request.system, 'be brief', 'system message lifted out of messages');
    t.equal(sumDeltas(deltas, 'text'), sdk.text, `seed ${seed}: text deltas add up`);
  }
});

t.test('OpenAI Responses: ResponseStream.finalResponse() and as-merge agree', async (t) => {
  for (let seed = 1; seed <= CASES; seed++) {
    const r = prng(2000 + seed);
    const model = pick(r, ['gpt-5.1', 'gpt-5-mini']);
    const rid = `resp_${seed}`;
    const base = {
      id: rid,
      object: 'response',
      created_at: 1,
      model,
      status: 'in_progress',
      output: [] as unknown[],
      usage: null,
    };
    let seq = 0;
    const ev = (type: string, o: object) => sse(type, { type, sequence_number: seq++, ...o });
    let body = ev('response.created', { response: base }) + ev('response.in_progress', { response: base });
    const items: Array<Record<string, unknown>> = [];
    for (let i = int(r, 0, 4), oi = 0; i > 0; i--, oi++) {
      const kind = pick(r, ['message', 'reasoning', 'function_call'] as const);
      if (kind === 'message') {
        const text = randText(r);
        const item = { id: `msg_${oi}`, type: 'message', status: 'in_progress', role: 'assistant', content: [] };
        body += ev('response.output_item.added', { output_index: oi, item });
        body += ev('response.content_part.added', {
          output_index: oi,
          item_id: item.id,
          content_index: 0,
          part: { type: 'output_text', text: '', annotations: [] },
        });
        for (const p of pieces(r, text))
          body += ev('response.output_text.delta', { output_index: oi, item_id: item.id, content_index: 0, delta: p });
        body += ev('response.output_text.done', { output_index: oi, item_id: item.id, content_index: 0, text });
        const done = { ...item, status: 'completed', content: [{ type: 'output_text', text, annotations: [] }] };
        body += ev('response.output_item.done', { output_index: oi, item: done });
        items.push(done);
      } else if (kind === 'reasoning') {
        const s = randText(r);
        const item = { id: `rs_${oi}`, type: 'reasoning', summary: [] };
        body += ev('response.output_item.added', { output_index: oi, item });
        body += ev('response.reasoning_summary_part.added', {
          output_index: oi,
          item_id: item.id,
          summary_index: 0,
          part: { type: 'summary_text', text: '' },
        });
        for (const p of pieces(r, s))
          body += ev('response.reasoning_summary_text.delta', {
            output_index: oi,
            item_id: item.id,
            summary_index: 0,
            delta: p,
          });
        const done = { ...item, summary: [{ type: 'summary_text', text: s }] };
        body += ev('response.output_item.done', { output_index: oi, item: done });
        items.push(done);
      } else {
        const args = JSON.stringify(randJson(r));
        const item = {
          id: `fc_${oi}`,
          type: 'function_call',
          status: 'in_progress',
          call_id: `call_${seed}_${oi}`,
          name: pick(r, ['weather', 'shell']),
          arguments: '',
        };
        body += ev('response.output_item.added', { output_index: oi, item });
        for (const p of pieces(r, args))
          body += ev('response.function_call_arguments.delta', { output_index: oi, item_id: item.id, delta: p });
        body += ev('response.function_call_arguments.done', { output_index: oi, item_id: item.id, arguments: args });
        const done = { ...item, status: 'completed', arguments: args };
        body += ev('response.output_item.done', { output_index: oi, item: done });
        items.push(done);
      }
    }
    const usage = {
      input_tokens: int(r, 1, 900),
      input_tokens_details: { cached_tokens: int(r, 0, 50) },
      output_tokens: int(r, 1, 900),
      output_tokens_details: { reasoning_tokens: int(r, 0, 50) },
      total_tokens: 0,
    };
    body += ev('response.completed', { response: { ...base, status: 'completed', output: items, usage } });
    const bytes = Buffer.from(body);
    const req = { model, input: 'hi', instructions: 'be brief', stream: true };

    const client = new OpenAI({
      apiKey: 'k',
      baseURL: 'http://sdk.invalid/v1',
      maxRetries: 0,
      fetch: fetchOf(bytes, r),
    });
    const fin = await client.responses.stream(req as never).finalResponse();
    let text = '';
    let thinking = '';
    const tool_calls: unknown[] = [];
    for (const o of fin.output as Array<Record<string, any>>) {
      if (o.type === 'message') for (const p of o.content) if (p.type === 'output_text') text += p.text;
      if (o.type === 'reasoning') for (const p of [...(o.summary ?? []), ...(o.content ?? [])]) thinking += p.text;
      if (o.type === 'function_call')
        tool_calls.push({ id: o.call_id, name: o.name, arguments: JSON.parse(o.arguments) });
    }
    const sdk = {
      model: fin.model,
      text,
      thinking: thinking === '' ? null : thinking,
      tool_calls,
      finish_reason: fin.status,
      usage: {
        input_tokens: fin.usage!.input_tokens,
        output_tokens: fin.usage!.output_tokens,
        cache_read_input_tokens: fin.usage!.input_tokens_details.cached_tokens,
        reasoning_tokens: fin.usage!.output_tokens_details.reasoning_tokens,
      },
    };
    const { call, deltas } = ours('api.openai.com', '/v1/responses', req, bytes, r);
    t.same(view(call), sdk, `seed ${seed}`);
    t.equal(call.incomplete, undefined, `seed ${seed}: complete`);
    t.equal(sumDeltas(deltas, 'text'), sdk.text, `seed ${seed}: text deltas add up`);
    t.equal(call.request.system, 'be brief');
    t.same(call.request.messages, [{ role: 'user', content: 'hi' }]);
  }
});
