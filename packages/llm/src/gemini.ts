// Google Gemini generateContent / streamGenerateContent (AI Studio `/v1beta/models/M:…`,
// Vertex `/v1/projects/P/locations/L/publishers/google/models/M:…`) and the Code Assist
// endpoint (`/v1internal:…`, used by Gemini CLI under OAuth) whose requests carry the
// Gemini request in `request` and whose chunks wrap it in `{"response": …}`.
// There is no SDK accumulator; chunks are merged as the corpus harness does: candidate 0's
// text and thought parts concatenated, function calls in order (Vertex streamed
// arguments assembled from `partialArgs` by jsonPath), the last usageMetadata, finishReason
// and modelVersion.
import type { ToolCall } from '@agentsight/events';
import { type Message, type Part, plainUsage, textPart } from './parts.js';
import type { Accumulator, ApiModule, CallResult, Delta, RequestInfo } from './result.js';
import { isObj, type Obj, restParams, sseJson, str, text, usage } from './util.js';

const MODEL_RE = /\/models\/([^/:?]+):(streamGenerateContent|generateContent)/;

/** Set `value` at a jsonPath like `$.a.b[2].c` inside `root`, appending when `append`. */
function setPath(root: Obj, path: string, value: unknown, append: boolean): void {
  const keys: Array<string | number> = [];
  const re = /\.([^.[\]]+)|\[(\d+)\]|\['([^']*)'\]/g;
  let m: RegExpExecArray | null;
  const body = path.startsWith('$') ? path.slice(1) : path;
  while ((m = re.exec(body)) !== null) keys.push(m[2] !== undefined ? Number(m[2]) : (m[1] ?? m[3] ?? ''));
  if (keys.length === 0 || keys.length > 64) return;
  let cur: Record<string | number, unknown> = root;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i]!;
    if (k === '__proto__' || (typeof k === 'number' && k > 10000)) return;
    let next = cur[k];
    if (typeof next !== 'object' || next === null) {
      next = typeof keys[i + 1] === 'number' ? [] : {};
      cur[k] = next;
    }
    cur = next as Record<string | number, unknown>;
  }
  const last = keys[keys.length - 1]!;
  if (last === '__proto__' || (typeof last === 'number' && last > 10000)) return;
  if (append && typeof cur[last] === 'string' && typeof value === 'string') cur[last] = (cur[last] as string) + value;
  else cur[last] = value;
}

function partialValue(p: Obj): { v: unknown; ok: boolean } {
  if ('stringValue' in p) return { v: p.stringValue, ok: true };
  if ('numberValue' in p) return { v: p.numberValue, ok: true };
  if ('boolValue' in p) return { v: p.boolValue, ok: true };
  if ('nullValue' in p) return { v: null, ok: true };
  if ('structValue' in p) return { v: p.structValue, ok: true };
  if ('listValue' in p) return { v: p.listValue, ok: true };
  return { v: undefined, ok: false };
}

interface Call {
  id: string | null;
  name: string;
  args: Obj;
  streaming: boolean;
}

export class GeminiAccumulator implements Accumulator {
  #chunks = 0;
  #id: string | null = null;
  #model: string | null = null;
  #text = '';
  #thinking = '';
  #calls: Call[] = [];
  /** The function call whose arguments are still streaming (willContinue). */
  #open: Call | null = null;
  #finish: string | null = null;
  #usage: Obj | null = null;
  #feedback: unknown;
  #error: unknown;
  #errorBody = false;
  #bad: string | undefined;

  get done(): boolean {
    return this.#finish !== null || (this.#feedback !== undefined && this.#chunks > 0);
  }

  #chunk(raw: unknown, out: Delta[] | null): void {
    // Code Assist wraps every chunk.
    const c = isObj(raw) && isObj(raw.response) && raw.candidates === undefined ? raw.response : raw;
    if (!isObj(c)) {
      this.#bad ??= 'chunk is not a JSON object';
      return;
    }
    if (c.error !== undefined && c.candidates === undefined) {
      this.#error = c.error;
      return;
    }
    this.#chunks++;
    if (typeof c.responseId === 'string') this.#id = c.responseId;
    if (typeof c.modelVersion === 'string' && c.modelVersion) this.#model = c.modelVersion;
    if (isObj(c.usageMetadata)) this.#usage = c.usageMetadata;
    if (c.promptFeedback !== undefined) this.#feedback = c.promptFeedback;
    if (!Array.isArray(c.candidates)) return;
    const cand = c.candidates.find((x: unknown) => isObj(x) && (x.index ?? 0) === 0);
    if (!isObj(cand)) return;
    if (typeof cand.finishReason === 'string') this.#finish = cand.finishReason;
    const parts = isObj(cand.content) && Array.isArray(cand.content.parts) ? cand.content.parts : [];
    for (const p of parts) {
      if (!isObj(p)) continue;
      if (typeof p.text === 'string') {
        if (p.thought === true) {
          this.#thinking += p.text;
          if (p.text) out?.push({ kind: 'thinking', text: p.text });
        } else {
          this.#text += p.text;
          if (p.text) out?.push({ kind: 'text', text: p.text });
        }
      }
      if (isObj(p.functionCall)) this.#functionCall(p.functionCall, out);
    }
  }

  #functionCall(fc: Obj, out: Delta[] | null): void {
    if (typeof fc.name === 'string' && fc.name) {
      const call: Call = {
        id: str(fc.id),
        name: fc.name,
        args: isObj(fc.args) ? structuredClone(fc.args) : {},
        streaming: fc.willContinue === true,
      };
      this.#calls.push(call);
      this.#open = call.streaming ? call : null;
      // Deltas carry argument text, as for the other APIs; streamed ones follow in partialArgs.
      if (isObj(fc.args)) out?.push({ kind: 'tool_call', text: JSON.stringify(fc.args) });
    } else if (this.#open) {
      if (Array.isArray(fc.partialArgs)) {
        for (const pa of fc.partialArgs) {
          if (!isObj(pa) || typeof pa.jsonPath !== 'string') continue;
          const { v, ok } = partialValue(pa);
          if (!ok) continue;
          setPath(this.#open.args, pa.jsonPath, v, typeof v === 'string');
          if (typeof v === 'string' && v) out?.push({ kind: 'tool_call', text: v });
        }
      }
      if (isObj(fc.args)) Object.assign(this.#open.args, fc.args);
      // A functionCall part without willContinue ends the streamed call.
      if (fc.willContinue !== true) this.#open = null;
    }
  }

  sse(_event: string | undefined, data: string): Delta[] {
    const v = sseJson(data);
    if (!v) {
      if (data.trim() !== '') this.#bad ??= 'invalid JSON in SSE data';
      return [];
    }
    const out: Delta[] = [];
    this.#chunk(v, out);
    return out;
  }

  body(json: unknown): void {
    // streamGenerateContent without alt=sse answers with a JSON array of chunks.
    if (Array.isArray(json)) {
      for (const c of json) this.#chunk(c, null);
      return;
    }
    if (isObj(json) && json.error !== undefined && json.candidates === undefined && json.response === undefined) {
      this.#error = json.error;
      this.#errorBody = true;
      return;
    }
    this.#chunk(json, null);
  }

  result(): CallResult {
    const u = this.#usage ?? {};
    const tool_calls: ToolCall[] = this.#calls.map((c) => ({ id: c.id, name: c.name, arguments: c.args }));
    const r: CallResult = {
      id: this.#id,
      model: this.#model,
      text: this.#text,
      thinking: this.#thinking === '' ? null : this.#thinking,
      tool_calls,
      finish_reason: this.#finish,
      usage: usage({
        input_tokens: u.promptTokenCount,
        output_tokens: u.candidatesTokenCount,
        cache_read_input_tokens: u.cachedContentTokenCount,
        reasoning_tokens: u.thoughtsTokenCount,
      }),
    };
    if (this.#error !== undefined) r.error = this.#error;
    // A blocked prompt has no candidates and no finishReason; the block is the answer.
    else if (isObj(this.#feedback) && this.#feedback.blockReason !== undefined)
      r.error = { promptFeedback: this.#feedback };
    const why = this.#errorBody
      ? undefined
      : this.#error !== undefined
        ? 'error in stream'
        : (this.#bad ??
          (this.#chunks === 0 ? 'no chunks' : !this.done ? 'stream ended before finishReason' : undefined));
    if (why) r.incomplete = why;
    return r;
  }
}

/** Flatten a systemInstruction (Content or string) to its text when it is only text. */
function systemText(si: unknown): unknown {
  if (typeof si === 'string') return si;
  if (isObj(si) && Array.isArray(si.parts) && si.parts.every((p: unknown) => isObj(p) && typeof p.text === 'string')) {
    return si.parts.map((p: unknown) => (p as Obj).text as string).join('');
  }
  return si;
}

function message(m: Obj): Message {
  const parts: Part[] = [];
  for (const p of Array.isArray(m.parts) ? m.parts : []) {
    if (!isObj(p)) continue;
    const fc = p.functionCall;
    const fr = p.functionResponse;
    if (typeof p.text === 'string') parts.push(p.thought ? { type: 'reasoning', content: p.text } : textPart(p.text));
    else if (isObj(fc))
      parts.push({ type: 'tool_call', id: str(fc.id), name: text(fc.name, ''), arguments: fc.args ?? null });
    else if (isObj(fr)) {
      // Gemini CLI answers with ids of its own (`run_shell_command_<ms>_<n>`): pair by name and order.
      parts.push({
        type: 'tool_call_response',
        id: str(fr.id),
        ...(typeof fr.name === 'string' ? { name: fr.name } : {}),
        result: fr.response ?? null,
        ...(isObj(fr.response) && 'error' in fr.response ? { is_error: true as const } : {}),
        by_name: true,
      });
    } else parts.push({ type: 'unknown', content: p });
  }
  return { role: m.role === 'model' ? 'assistant' : text(m.role, 'user'), parts };
}

export const gemini: ApiModule = {
  api: 'gemini',
  provider: 'google',
  operation: 'generate_content',
  message,
  // candidatesTokenCount leaves the thoughts out; they are billed as output.
  usage: (u) => {
    const n = plainUsage(u);
    if (n.reasoning !== undefined) n.output = (n.output ?? 0) + n.reasoning;
    return n;
  },
  // Gemini CLI sends its session id with each Code Assist request.
  session: (params) => (typeof params.session_id === 'string' ? params.session_id : undefined),
  request(raw: unknown, path: string): RequestInfo {
    const m = MODEL_RE.exec(path);
    const stream = /:streamGenerateContent/.test(path);
    let model = m ? decodeURIComponent(m[1]!) : null;
    if (!isObj(raw)) return { model, stream };
    let body = raw;
    // Code Assist: {model, project, user_prompt_id, request: {contents, …}}.
    if (isObj(raw.request) && raw.contents === undefined) {
      body = raw.request;
      model = str(raw.model) ?? model;
    }
    return {
      model: model ?? str(body.model),
      system: body.systemInstruction !== undefined ? systemText(body.systemInstruction) : undefined,
      messages: Array.isArray(body.contents) ? body.contents : undefined,
      tools: Array.isArray(body.tools) ? body.tools : undefined,
      params: restParams(body, ['contents', 'systemInstruction', 'tools', 'model']),
      stream,
    };
  },
  accumulator: () => new GeminiAccumulator(),
};
