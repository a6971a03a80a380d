/**
 * Test support, not part of the library: drive the official SDKs (`@anthropic-ai/sdk`,
 * `openai`, `@google/genai`, devDependencies) against a server and reduce what they return
 * to the normalised shape of the corpus's `.expected.json` files (see the corpus
 * MANIFEST.md for the rules). Run as a script it reads a JSON array of jobs on stdin and
 * prints one JSON result per line, so tests can run it in a child process with
 * NODE_EXTRA_CA_CERTS pointing at the mock's CA, which is how a real agent would trust it.
 */
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';
import OpenAI from 'openai';
import type { Api } from './reply.js';

export interface Job {
  api: Api;
  /** Server root, e.g. https://127.0.0.1:PORT */
  baseURL: string;
  stream: boolean;
  /** The request body (for Gemini: contents, tools, systemInstruction, generationConfig). */
  body: Record<string, unknown>;
  /** Gemini's model goes in the URL. */
  model?: string;
}

export interface Normalised {
  model: string | null;
  text: string;
  thinking: string | null;
  tool_calls: Array<{ id: string | null; name: string; arguments: unknown }>;
  finish_reason: string | null;
  usage: Record<string, number>;
}

export type JobResult =
  | { ok: true; result: Normalised; events: number }
  | { ok: false; error: string; error_class: string; status?: number };

type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const nullIfEmpty = (s: string) => (s === '' ? null : s);

function pick(usage: Record<string, number>, key: string, v: unknown): void {
  if (typeof v === 'number') usage[key] = v;
}

export function normaliseAnthropic(m: J): Normalised {
  const blocks = (m.content ?? []) as J[];
  const usage: Record<string, number> = {};
  const u = (m.usage ?? {}) as J;
  pick(usage, 'input_tokens', u.input_tokens);
  pick(usage, 'output_tokens', u.output_tokens);
  pick(usage, 'cache_read_input_tokens', u.cache_read_input_tokens);
  pick(usage, 'cache_creation_input_tokens', u.cache_creation_input_tokens);
  pick(usage, 'reasoning_tokens', u.output_tokens_details?.thinking_tokens);
  const thinking = blocks.filter((b) => b.type === 'thinking');
  return {
    model: m.model ?? null,
    text: blocks
      .filter((b) => b.type === 'text')
      .map((b) => b.text)
      .join(''),
    thinking: thinking.length ? thinking.map((b) => b.thinking).join('') : null,
    tool_calls: blocks
      .filter((b) => b.type === 'tool_use')
      .map((b) => ({ id: b.id, name: b.name, arguments: b.input })),
    finish_reason: m.stop_reason ?? null,
    usage,
  };
}

export function normaliseChat(c: J, reasoningFromChunks?: string): Normalised {
  const choice = (c.choices?.[0] ?? {}) as J;
  const msg = (choice.message ?? {}) as J;
  const usage: Record<string, number> = {};
  const u = (c.usage ?? {}) as J;
  pick(usage, 'input_tokens', u.prompt_tokens);
  pick(usage, 'output_tokens', u.completion_tokens);
  pick(usage, 'cache_read_input_tokens', u.prompt_tokens_details?.cached_tokens);
  pick(usage, 'reasoning_tokens', u.completion_tokens_details?.reasoning_tokens);
  return {
    model: c.model ?? null,
    text: msg.content ?? '',
    thinking: nullIfEmpty(reasoningFromChunks ?? msg.reasoning_content ?? ''),
    tool_calls: ((msg.tool_calls ?? []) as J[]).map((t) => ({
      id: t.id ?? null,
      name: t.function?.name,
      arguments: t.function?.arguments ? JSON.parse(t.function.arguments) : {},
    })),
    finish_reason: choice.finish_reason ?? null,
    usage,
  };
}

export function normaliseResponses(r: J): Normalised {
  const out = (r.output ?? []) as J[];
  const usage: Record<string, number> = {};
  const u = (r.usage ?? {}) as J;
  pick(usage, 'input_tokens', u.input_tokens);
  pick(usage, 'output_tokens', u.output_tokens);
  pick(usage, 'cache_read_input_tokens', u.input_tokens_details?.cached_tokens);
  pick(usage, 'reasoning_tokens', u.output_tokens_details?.reasoning_tokens);
  const thinking = out
    .filter((i) => i.type === 'reasoning')
    .map((i) => [...(i.summary ?? []), ...(i.content ?? [])].map((p: J) => p.text ?? '').join(''))
    .join('');
  return {
    model: r.model ?? null,
    text: out
      .filter((i) => i.type === 'message')
      .map((i) =>
        ((i.content ?? []) as J[])
          .filter((p) => p.type === 'output_text')
          .map((p) => p.text)
          .join(''),
      )
      .join(''),
    thinking: nullIfEmpty(thinking),
    tool_calls: out
      .filter((i) => i.type === 'function_call' || i.type === 'custom_tool_call')
      .map((i) => ({
        id: i.call_id ?? null,
        name: i.name,
        arguments: i.type === 'custom_tool_call' ? i.input : i.arguments ? JSON.parse(i.arguments) : {},
      })),
    finish_reason: r.status ?? null,
    usage,
  };
}

function setPath(obj: J, jsonPath: string, value: unknown, append: boolean): void {
  const keys = jsonPath
    .replace(/^\$\.?/, '')
    .split('.')
    .filter(Boolean);
  let o = obj;
  for (const k of keys.slice(0, -1)) o = (o[k] ??= {}) as J;
  const last = keys[keys.length - 1];
  if (last === undefined) return;
  if (append && typeof o[last] === 'string' && typeof value === 'string') o[last] += value;
  else o[last] = value;
}

/** Merge parsed Gemini chunks the way the corpus harness did (Vertex partialArgs included). */
export function normaliseGemini(chunks: J[]): Normalised {
  let text = '';
  let thinking = '';
  let model: string | null = null;
  let finish: string | null = null;
  let usageMeta: J | undefined;
  const calls: Array<{ id: string | null; name: string; arguments: J }> = [];
  let open: { id: string | null; name: string; arguments: J } | null = null;
  for (const ch of chunks) {
    if (ch.modelVersion) model = ch.modelVersion;
    if (ch.usageMetadata) usageMeta = ch.usageMetadata;
    const cand = ch.candidates?.[0] as J | undefined;
    if (!cand) continue;
    if (cand.finishReason) finish = cand.finishReason;
    for (const part of (cand.content?.parts ?? []) as J[]) {
      if (typeof part.text === 'string') {
        if (part.thought) thinking += part.text;
        else text += part.text;
      }
      const fc = part.functionCall as J | undefined;
      if (!fc) continue;
      if (fc.name !== undefined) {
        const call = { id: fc.id ?? null, name: fc.name as string, arguments: (fc.args ?? {}) as J };
        calls.push(call);
        open = fc.willContinue ? call : null;
      }
      for (const pa of (fc.partialArgs ?? []) as J[]) {
        if (!open) continue;
        const isStr = 'stringValue' in pa;
        const v = isStr
          ? pa.stringValue
          : 'numberValue' in pa
            ? pa.numberValue
            : 'boolValue' in pa
              ? pa.boolValue
              : null;
        setPath(open.arguments, pa.jsonPath, v, isStr);
      }
      if (fc.name === undefined && !fc.partialArgs) open = null;
    }
  }
  const usage: Record<string, number> = {};
  const u = usageMeta ?? {};
  pick(usage, 'input_tokens', u.promptTokenCount);
  pick(usage, 'output_tokens', u.candidatesTokenCount);
  pick(usage, 'cache_read_input_tokens', u.cachedContentTokenCount);
  pick(usage, 'reasoning_tokens', u.thoughtsTokenCount);
  return { model, text, thinking: nullIfEmpty(thinking), tool_calls: calls, finish_reason: finish, usage };
}

const KEY = 'mock-key';

export async function runJob(job: Job): Promise<JobResult> {
  let events = 0;
  try {
    if (job.api === 'anthropic.messages') {
      const client = new Anthropic({ apiKey: KEY, baseURL: job.baseURL, maxRetries: 0, timeout: 30_000 });
      if (job.stream) {
        const s = client.messages.stream(job.body as never);
        s.on('streamEvent', () => {
          events++;
        });
        return { ok: true, result: normaliseAnthropic((await s.finalMessage()) as J), events };
      }
      return { ok: true, result: normaliseAnthropic((await client.messages.create(job.body as never)) as J), events };
    }
    if (job.api === 'openai.chat' || job.api === 'openai.responses') {
      const client = new OpenAI({ apiKey: KEY, baseURL: `${job.baseURL}/v1`, maxRetries: 0, timeout: 30_000 });
      if (job.api === 'openai.chat') {
        if (job.stream) {
          const s = client.chat.completions.stream(job.body as never);
          // The SDK's accumulator keeps only the last reasoning_content; the corpus concatenates them.
          let reasoning = '';
          s.on('chunk', (c: J) => {
            events++;
            const r = c.choices?.[0]?.delta?.reasoning_content;
            if (typeof r === 'string') reasoning += r;
          });
          return { ok: true, result: normaliseChat((await s.finalChatCompletion()) as J, reasoning), events };
        }
        return {
          ok: true,
          result: normaliseChat((await client.chat.completions.create(job.body as never)) as J),
          events,
        };
      }
      if (job.stream) {
        const s = client.responses.stream(job.body as never);
        s.on('event', () => {
          events++;
        });
        return { ok: true, result: normaliseResponses((await s.finalResponse()) as J), events };
      }
      return { ok: true, result: normaliseResponses((await client.responses.create(job.body as never)) as J), events };
    }
    const ai = new GoogleGenAI({ apiKey: KEY, httpOptions: { baseUrl: job.baseURL, timeout: 30_000 } });
    const { contents, ...config } = job.body as J;
    const params = { model: job.model ?? 'gemini-2.5-flash', contents: contents ?? 'hello', config: config as never };
    if (job.stream) {
      const chunks: J[] = [];
      for await (const c of await ai.models.generateContentStream(params)) {
        events++;
        chunks.push(c as J);
      }
      return { ok: true, result: normaliseGemini(chunks), events };
    }
    return { ok: true, result: normaliseGemini([(await ai.models.generateContent(params)) as J]), events };
  } catch (e) {
    const err = e as Error & { status?: number };
    return {
      ok: false,
      error: err.message,
      error_class: err.constructor?.name ?? 'Error',
      ...(typeof err.status === 'number' ? { status: err.status } : {}),
    };
  }
}

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const jobs = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Job[];
  for (const job of jobs) process.stdout.write(JSON.stringify(await runJob(job)) + '\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e: unknown) => {
    process.stderr.write(`sdk-harness: ${(e as Error).stack}\n`);
    process.exit(1);
  });
}
