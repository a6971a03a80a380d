// The 42 recorded LLM responses of ../shared/corpus/llm-streams, each framed as the real
// exchange (the .request.json POSTed to the API's path, then the .http response bytes),
// fed as `ssl` events through HttpStage -> MergeStage, in one piece and split at seeded
// random byte boundaries. Where the official SDK succeeded the merged call must equal its
// result (text, thinking, tool_calls, finish_reason, usage, model); where the SDK threw,
// as-merge must still produce one call, and what it says is checked against the stream's
// own final object or the server's error (each case explained below).

import fs from 'node:fs';
import path from 'node:path';
import type { AgentEvent, LlmCallEvent } from '@agentsight/events';
import { HttpStage, prng, splitPoints, sslEvents } from '@agentsight/http';
import { MergeStage } from '@agentsight/llm';
import t from 'tap';
import { CORPUS, corpusBody } from './lib/run.js';

interface Expected {
  api: string;
  model?: string;
  text?: string;
  thinking?: string | null;
  tool_calls?: unknown[];
  finish_reason?: string | null;
  usage?: Record<string, number>;
  error?: string;
}

interface Case {
  dir: string;
  name: string;
  base: string;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const dir of fs.readdirSync(CORPUS).sort()) {
    const d = path.join(CORPUS, dir);
    if (!fs.statSync(d).isDirectory()) continue;
    for (const f of fs.readdirSync(d).sort())
      if (f.endsWith('.http')) out.push({ dir, name: f.slice(0, -5), base: path.join(d, f.slice(0, -5)) });
  }
  return out;
}

/** Host and path the recorded response plausibly answered, and the provider that implies. */
function route(c: Case, exp: Expected, streaming: boolean): { host: string; path: string; provider: string } {
  if (c.dir === 'anthropic')
    return { host: 'api.anthropic.com', path: '/v1/messages?beta=true', provider: 'anthropic' };
  if (c.dir === 'openai-responses') return { host: 'api.openai.com', path: '/v1/responses', provider: 'openai' };
  if (c.dir === 'openai-chat') {
    if (c.name.startsWith('azure'))
      return {
        host: 'myres.openai.azure.com',
        path: '/openai/deployments/gpt-5-nano/chat/completions?api-version=2025-01-01-preview',
        provider: 'azure',
      };
    if (c.name.startsWith('deepseek'))
      return { host: 'api.deepseek.com', path: '/chat/completions', provider: 'deepseek' };
    if (c.name.startsWith('grok')) return { host: 'api.x.ai', path: '/v1/chat/completions', provider: 'xai' };
    if (c.name.startsWith('qwen'))
      return { host: 'dashscope-intl.aliyuncs.com', path: '/compatible-mode/v1/chat/completions', provider: 'qwen' };
    if (c.name.startsWith('groq'))
      return { host: 'api.groq.com', path: '/openai/v1/chat/completions', provider: 'groq' };
    return { host: 'api.openai.com', path: '/v1/chat/completions', provider: 'openai' };
  }
  const model = exp.model ?? 'gemini-2.5-flash';
  const verb = streaming ? 'streamGenerateContent?alt=sse' : 'generateContent';
  // The Vertex recordings (PROVISIONED_THROUGHPUT, streamed arguments) go to a Vertex path.
  if (c.name === 'no-args-tool-thoughts' || c.name === 'streamed-args-parallel') {
    return {
      host: 'aiplatform.googleapis.com',
      path: `/v1/projects/p1/locations/global/publishers/google/models/${model}:${verb}`,
      provider: 'vertex',
    };
  }
  return { host: 'generativelanguage.googleapis.com', path: `/v1beta/models/${model}:${verb}`, provider: 'google' };
}

function requestBytes(host: string, p: string, body: Buffer): Buffer {
  const head = `POST ${p} HTTP/1.1\r\nhost: ${host}\r\ncontent-type: application/json\r\nx-api-key: sk-test-0000\r\ncontent-length: ${body.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), body]);
}

/** Run one exchange through as-http and as-merge; `seed` 0 = one piece per direction. */
function merge(reqBytes: Buffer, resBytes: Buffer, seed: number): AgentEvent[] {
  const rnd = prng(seed);
  const cut = (b: Buffer) => (seed === 0 ? [] : splitPoints(b.length, rnd, 1 + Math.floor(rnd() * 300)));
  const out: AgentEvent[] = [];
  const merge = new MergeStage({}, (e) => out.push(JSON.parse(JSON.stringify(e)) as AgentEvent));
  const http = new HttpStage({}, (e) => merge.write(e));
  const t0 = 1_764_000_000_000_000;
  for (const e of sslEvents(reqBytes, { conn: 'c1', dir: 'write', cuts: cut(reqBytes), ts: t0 })) http.write(e);
  for (const e of sslEvents(resBytes, { conn: 'c1', dir: 'read', cuts: cut(resBytes), ts: t0 + 500_000 }))
    http.write(e);
  http.end();
  merge.end();
  return out;
}

function view(c: LlmCallEvent) {
  return {
    api: c.api,
    model: c.model,
    text: c.response.text,
    thinking: c.response.thinking,
    tool_calls: c.response.tool_calls,
    finish_reason: c.response.finish_reason,
    usage: c.usage,
  };
}

/** The `response` object of the last lifecycle event in a Responses stream, read straight from the bytes. */
function finalResponseOf(http: Buffer): Record<string, any> {
  const m = [
    ...corpusBody(http)
      .toString('utf8')
      .matchAll(/^data: (\{"type":"response\.(?:completed|failed)".*)$/gm),
  ];
  return JSON.parse(m[m.length - 1]![1]!).response;
}

const all = cases();
t.equal(all.length, 42, 'the corpus holds 42 recordings');

for (const c of all) {
  t.test(`${c.dir}/${c.name}`, async (t) => {
    const exp = JSON.parse(fs.readFileSync(c.base + '.expected.json', 'utf8')) as Expected;
    const res = fs.readFileSync(c.base + '.http');
    const streaming = /content-type: text\/event-stream/i.test(res.subarray(0, res.indexOf('\r\n\r\n')).toString());
    const r = route(c, exp, streaming);
    const req = requestBytes(r.host, r.path, fs.readFileSync(c.base + '.request.json'));
    const runs = [0, 1, 2, 3].map((seed) => merge(req, res, seed === 0 ? 0 : seed * 7919 + c.name.length));
    const calls = runs.map((evs) => evs.filter((e): e is LlmCallEvent => e.src === 'llm' && e.type === 'call'));
    for (const [i, cs] of calls.entries()) t.equal(cs.length, 1, `run ${i}: exactly one llm/call`);
    for (const [i, evs] of runs.entries())
      t.same(
        evs.filter((e) => e.src === 'http'),
        [],
        `run ${i}: the LLM exchange's http events are consumed`,
      );
    const call = calls[0]![0]!;
    for (let i = 1; i < calls.length; i++)
      t.same(view(calls[i]![0]!), view(call), `split run ${i} merges to the same result as one piece`);
    t.equal(call.provider, r.provider, 'provider from the host');
    t.equal(call.api, exp.api);
    t.equal(call.status, 200);
    t.equal(call.request.stream, streaming, 'stream flag from the request (body, or the Gemini path)');
    t.equal(call.req, 'c1#0');
    t.equal(call.comm, 'agent');

    if (exp.error === undefined) {
      t.same(
        view(call),
        {
          api: exp.api,
          model: exp.model,
          text: exp.text,
          thinking: exp.thinking,
          tool_calls: exp.tool_calls,
          finish_reason: exp.finish_reason,
          usage: exp.usage,
        },
        'matches the SDK result',
      );
      if (c.name === 'failed-only') {
        // A complete exchange whose answer is "failed": reported with the server's error.
        t.ok(call.error, 'failed response carries its error');
      } else {
        t.equal(call.incomplete, undefined, 'not marked incomplete');
      }
      if (streaming) t.type(call.timing.ttft_ms, 'number', 'ttft measured on a stream');
      return;
    }

    // The SDK threw on these; as-merge must do at least as well.
    switch (`${c.dir}/${c.name}`) {
      case 'anthropic/duplicate-message-start':
        // A second message_start (same id) before message_stop. The SDK throws "Unexpected
        // event order"; the repeated start restarts the message, so the result is the one
        // message the stream then carries, with the later start's usage.
        t.equal(call.response.text, 'ok');
        t.equal(call.response.finish_reason, 'end_turn');
        t.same(call.usage, { input_tokens: 10, output_tokens: 2 });
        t.equal(call.model, 'claude-sonnet-4-20250514');
        t.equal(call.incomplete, undefined);
        break;
      case 'anthropic/empty-first-delta':
        // The malformed streamed input belongs to a server_tool_use (code execution), which
        // is not a client tool call; the SDK's JSON parse of it threw. Everything else in
        // the message is reported.
        t.equal(call.response.finish_reason, 'tool_use');
        t.same(call.response.tool_calls, []);
        t.equal(call.usage.output_tokens, 12);
        t.equal(call.incomplete, undefined);
        break;
      case 'openai-responses/custom-tool-sparse-index':
      case 'openai-responses/phase-multi-message': {
        // Sparse output_index values (the item at the missing index is absent from the
        // recording): the SDK throws "missing output at index N". Items placed by index,
        // and response.completed's own object, give the full answer: compare with it.
        const fin = finalResponseOf(res);
        const text = fin.output
          .filter((o: any) => o.type === 'message')
          .flatMap((o: any) => o.content)
          .filter((p: any) => p.type === 'output_text')
          .map((p: any) => p.text)
          .join('');
        const tools = fin.output
          .filter((o: any) => o.type === 'custom_tool_call' || o.type === 'function_call')
          .map((o: any) => ({
            id: o.call_id,
            name: o.name,
            arguments: o.type === 'custom_tool_call' ? o.input : JSON.parse(o.arguments),
          }));
        t.equal(call.response.text, text, 'text of every message item');
        t.ok(
          c.name === 'custom-tool-sparse-index' ? tools.length === 1 : text.length > 100,
          'the recording has content to compare',
        );
        t.same(call.response.tool_calls, tools);
        t.equal(call.response.finish_reason, 'completed');
        t.equal(call.usage.input_tokens, fin.usage.input_tokens);
        t.equal(call.incomplete, undefined);
        break;
      }
      case 'openai-responses/error-midstream':
        // An `error` event mid-stream, then response.failed. The SDK raises the error and
        // returns nothing; as-merge reports the call with the error, the failed status from
        // response.failed, and marks it incomplete.
        t.match(call.error, { code: 'insufficient_quota', message: exp.error });
        t.equal(call.response.finish_reason, 'failed');
        t.equal(call.incomplete, 'error event');
        break;
      default:
        t.fail(`no explanation for the SDK failure on ${c.dir}/${c.name}: ${exp.error}`);
    }
  });
}
