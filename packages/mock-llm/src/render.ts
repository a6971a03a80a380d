import { type Plan, pieces } from './plan.js';
import type { Api } from './reply.js';

/**
 * Each API's wire format. A renderer turns a Plan into either a JSON body or a list of
 * complete SSE frames (the server decides how they are split into socket writes), and
 * knows the API's error body and its in-stream error event.
 */
export interface Renderer {
  json(p: Plan): unknown;
  sse(p: Plan): string[];
  /** Frames sent instead of the rest of the stream when a mid-stream error is scripted. */
  streamError(p: Plan, message: string, type: string | undefined, sent: number): string[];
  errorBody(status: number, type: string | undefined, message: string, p: { id: string }): unknown;
  /** Response header that carries the request id, if the API has one. */
  requestIdHeader?: string;
}

type Json = Record<string, unknown>;

const sseNamed = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
const sseData = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;

// ---------------------------------------------------------------- Anthropic Messages

const ANTHROPIC_ERROR_TYPE: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  529: 'overloaded_error',
};

function anthropicStop(stop: string): string {
  return ({ stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use' } as Record<string, string>)[stop] ?? stop;
}

function anthropicUsage(p: Plan, outputTokens: number): Json {
  const u: Json = {
    input_tokens: p.usage.input_tokens,
    cache_creation_input_tokens: p.usage.cache_creation_input_tokens ?? 0,
    cache_read_input_tokens: p.usage.cache_read_input_tokens ?? 0,
    output_tokens: outputTokens,
  };
  if (p.usage.reasoning_tokens !== undefined) u.output_tokens_details = { thinking_tokens: p.usage.reasoning_tokens };
  return u;
}

/** A signature is opaque to clients; make it look like one and keep it deterministic. */
const signatureFor = (p: Plan) => Buffer.from(`mock-signature:${p.id}:${p.thinking.length}`).toString('base64');

const anthropic: Renderer = {
  requestIdHeader: 'request-id',
  json(p) {
    const content: Json[] = [];
    if (p.thinking) content.push({ type: 'thinking', thinking: p.thinking, signature: signatureFor(p) });
    if (p.text) content.push({ type: 'text', text: p.text });
    for (const t of p.toolCalls) content.push({ type: 'tool_use', id: t.id, name: t.name, input: t.args });
    return {
      id: `msg_mock${p.id}`,
      type: 'message',
      role: 'assistant',
      model: p.model,
      content,
      stop_reason: anthropicStop(p.stop),
      stop_sequence: null,
      usage: anthropicUsage(p, p.usage.output_tokens),
    };
  },
  sse(p) {
    const out: string[] = [];
    out.push(
      sseNamed('message_start', {
        type: 'message_start',
        message: {
          id: `msg_mock${p.id}`,
          type: 'message',
          role: 'assistant',
          model: p.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: anthropicUsage(p, 1),
        },
      }),
    );
    let index = 0;
    const block = (start: Json, deltas: Json[]) => {
      out.push(sseNamed('content_block_start', { type: 'content_block_start', index, content_block: start }));
      // The real API sends one ping early in the stream, after the first block starts.
      if (index === 0) out.push(sseNamed('ping', { type: 'ping' }));
      for (const d of deltas)
        out.push(sseNamed('content_block_delta', { type: 'content_block_delta', index, delta: d }));
      out.push(sseNamed('content_block_stop', { type: 'content_block_stop', index }));
      index++;
    };
    if (p.thinking) {
      block({ type: 'thinking', thinking: '', signature: '' }, [
        ...pieces(p.thinking, p.chunkSize).map((s) => ({ type: 'thinking_delta', thinking: s })),
        { type: 'signature_delta', signature: signatureFor(p) },
      ]);
    }
    if (p.text)
      block(
        { type: 'text', text: '' },
        pieces(p.text, p.chunkSize).map((s) => ({ type: 'text_delta', text: s })),
      );
    for (const t of p.toolCalls) {
      const parts = pieces(t.argsText, p.chunkSize);
      block(
        { type: 'tool_use', id: t.id, name: t.name, input: {} },
        (parts.length ? parts : ['']).map((s) => ({ type: 'input_json_delta', partial_json: s })),
      );
    }
    const usage: Json = { output_tokens: p.usage.output_tokens };
    if (p.usage.reasoning_tokens !== undefined)
      usage.output_tokens_details = { thinking_tokens: p.usage.reasoning_tokens };
    out.push(
      sseNamed('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: anthropicStop(p.stop), stop_sequence: null },
        usage,
      }),
    );
    out.push(sseNamed('message_stop', { type: 'message_stop' }));
    return out;
  },
  streamError(_p, message, type) {
    return [sseNamed('error', { type: 'error', error: { type: type ?? 'overloaded_error', message } })];
  },
  errorBody(status, type, message, p) {
    return {
      type: 'error',
      error: {
        type: type ?? ANTHROPIC_ERROR_TYPE[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error'),
        message,
      },
      request_id: `req_mock${p.id}`,
    };
  },
};

// ---------------------------------------------------------------- OpenAI (shared)

function openaiErrorType(status: number): { type: string; code: string | null } {
  if (status === 401) return { type: 'invalid_request_error', code: 'invalid_api_key' };
  if (status === 404) return { type: 'invalid_request_error', code: 'model_not_found' };
  if (status === 429) return { type: 'requests', code: 'rate_limit_exceeded' };
  if (status >= 500) return { type: 'server_error', code: null };
  return { type: 'invalid_request_error', code: null };
}

function openaiErrorBody(status: number, type: string | undefined, message: string): unknown {
  const d = openaiErrorType(status);
  return { error: { message, type: type ?? d.type, param: null, code: d.code } };
}

// ---------------------------------------------------------------- OpenAI Chat Completions

function chatFinish(stop: string): string {
  return (
    ({ stop: 'stop', length: 'length', tool_calls: 'tool_calls', refusal: 'content_filter' } as Record<string, string>)[
      stop
    ] ?? stop
  );
}

function chatUsage(p: Plan): Json {
  return {
    prompt_tokens: p.usage.input_tokens,
    completion_tokens: p.usage.output_tokens,
    total_tokens: p.usage.input_tokens + p.usage.output_tokens,
    prompt_tokens_details: { cached_tokens: p.usage.cache_read_input_tokens ?? 0, audio_tokens: 0 },
    completion_tokens_details: {
      reasoning_tokens: p.usage.reasoning_tokens ?? 0,
      audio_tokens: 0,
      accepted_prediction_tokens: 0,
      rejected_prediction_tokens: 0,
    },
  };
}

function includeUsage(p: Plan): boolean {
  const so = (p.request.json as { stream_options?: { include_usage?: unknown } } | undefined)?.stream_options;
  return so?.include_usage === true;
}

const openaiChat: Renderer = {
  requestIdHeader: 'x-request-id',
  json(p) {
    const message: Json = {
      role: 'assistant',
      content: p.text || (p.toolCalls.length ? null : ''),
      refusal: null,
      annotations: [],
    };
    // Not an OpenAI field: DeepSeek/xAI/Qwen return reasoning this way on the same endpoint.
    if (p.thinking) message.reasoning_content = p.thinking;
    if (p.toolCalls.length)
      message.tool_calls = p.toolCalls.map((t) => ({
        id: t.id,
        type: 'function',
        function: { name: t.name, arguments: t.argsText },
      }));
    return {
      id: `chatcmpl-mock${p.id}`,
      object: 'chat.completion',
      created: p.created,
      model: p.model,
      choices: [{ index: 0, message, logprobs: null, finish_reason: chatFinish(p.stop) }],
      usage: chatUsage(p),
      service_tier: 'default',
      system_fingerprint: 'fp_mock',
    };
  },
  sse(p) {
    const withUsage = includeUsage(p);
    const chunk = (delta: Json, finish: string | null = null) =>
      sseData({
        id: `chatcmpl-mock${p.id}`,
        object: 'chat.completion.chunk',
        created: p.created,
        model: p.model,
        service_tier: 'default',
        system_fingerprint: 'fp_mock',
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
        ...(withUsage ? { usage: null } : {}),
      });
    const out = [chunk({ role: 'assistant', content: '', refusal: null })];
    for (const s of pieces(p.thinking, p.chunkSize)) out.push(chunk({ reasoning_content: s }));
    for (const s of pieces(p.text, p.chunkSize)) out.push(chunk({ content: s }));
    p.toolCalls.forEach((t, index) => {
      out.push(
        chunk({ tool_calls: [{ index, id: t.id, type: 'function', function: { name: t.name, arguments: '' } }] }),
      );
      for (const s of pieces(t.argsText, p.chunkSize))
        out.push(chunk({ tool_calls: [{ index, function: { arguments: s } }] }));
    });
    out.push(chunk({}, chatFinish(p.stop)));
    if (withUsage) {
      out.push(
        sseData({
          id: `chatcmpl-mock${p.id}`,
          object: 'chat.completion.chunk',
          created: p.created,
          model: p.model,
          service_tier: 'default',
          system_fingerprint: 'fp_mock',
          choices: [],
          usage: chatUsage(p),
        }),
      );
    }
    out.push('data: [DONE]\n\n');
    return out;
  },
  streamError(_p, message, type) {
    return [sseData({ error: { message, type: type ?? 'server_error', param: null, code: null } })];
  },
  errorBody: openaiErrorBody,
};

// ---------------------------------------------------------------- OpenAI Responses

function responseObject(p: Plan, status: string, output: Json[], usage: Json | null): Json {
  return {
    id: `resp_mock${p.id}`,
    object: 'response',
    created_at: p.created,
    status,
    background: false,
    error: null,
    incomplete_details: status === 'incomplete' ? { reason: 'max_output_tokens' } : null,
    instructions: null,
    max_output_tokens: null,
    model: p.model,
    output,
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: false,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage,
    metadata: {},
  };
}

function responsesUsage(p: Plan): Json {
  return {
    input_tokens: p.usage.input_tokens,
    input_tokens_details: { cached_tokens: p.usage.cache_read_input_tokens ?? 0 },
    output_tokens: p.usage.output_tokens,
    output_tokens_details: { reasoning_tokens: p.usage.reasoning_tokens ?? 0 },
    total_tokens: p.usage.input_tokens + p.usage.output_tokens,
  };
}

const responsesStatus = (p: Plan) => (p.stop === 'length' ? 'incomplete' : 'completed');

function responsesItems(p: Plan): Json[] {
  const items: Json[] = [];
  if (p.thinking)
    items.push({ id: `rs_mock${p.id}`, type: 'reasoning', summary: [{ type: 'summary_text', text: p.thinking }] });
  if (p.text) {
    items.push({
      id: `msg_mock${p.id}`,
      type: 'message',
      status: 'completed',
      role: 'assistant',
      content: [{ type: 'output_text', annotations: [], logprobs: [], text: p.text }],
    });
  }
  p.toolCalls.forEach((t, i) =>
    items.push({
      id: `fc_mock${p.id}_${i}`,
      type: 'function_call',
      status: 'completed',
      arguments: t.argsText,
      call_id: t.id,
      name: t.name,
    }),
  );
  return items;
}

const openaiResponses: Renderer = {
  requestIdHeader: 'x-request-id',
  json(p) {
    return responseObject(p, responsesStatus(p), responsesItems(p), responsesUsage(p));
  },
  sse(p) {
    const out: string[] = [];
    let seq = 0;
    const ev = (type: string, data: Json) => out.push(sseNamed(type, { type, sequence_number: seq++, ...data }));
    ev('response.created', { response: responseObject(p, 'in_progress', [], null) });
    ev('response.in_progress', { response: responseObject(p, 'in_progress', [], null) });
    const final = responsesItems(p);
    final.forEach((item, output_index) => {
      const item_id = item.id as string;
      if (item.type === 'reasoning') {
        ev('response.output_item.added', { output_index, item: { ...item, summary: [] } });
        ev('response.reasoning_summary_part.added', {
          item_id,
          output_index,
          summary_index: 0,
          part: { type: 'summary_text', text: '' },
        });
        for (const delta of pieces(p.thinking, p.chunkSize))
          ev('response.reasoning_summary_text.delta', { item_id, output_index, summary_index: 0, delta });
        ev('response.reasoning_summary_text.done', { item_id, output_index, summary_index: 0, text: p.thinking });
        ev('response.reasoning_summary_part.done', {
          item_id,
          output_index,
          summary_index: 0,
          part: { type: 'summary_text', text: p.thinking },
        });
      } else if (item.type === 'message') {
        ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } });
        const part = { type: 'output_text', annotations: [], logprobs: [], text: '' };
        ev('response.content_part.added', { item_id, output_index, content_index: 0, part });
        for (const delta of pieces(p.text, p.chunkSize))
          ev('response.output_text.delta', { item_id, output_index, content_index: 0, delta, logprobs: [] });
        ev('response.output_text.done', { item_id, output_index, content_index: 0, text: p.text, logprobs: [] });
        ev('response.content_part.done', { item_id, output_index, content_index: 0, part: { ...part, text: p.text } });
      } else {
        ev('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } });
        const args = item.arguments as string;
        for (const delta of pieces(args, p.chunkSize))
          ev('response.function_call_arguments.delta', { item_id, output_index, delta });
        ev('response.function_call_arguments.done', { item_id, output_index, arguments: args });
      }
      ev('response.output_item.done', { output_index, item });
    });
    const status = responsesStatus(p);
    ev(status === 'completed' ? 'response.completed' : 'response.incomplete', {
      response: responseObject(p, status, final, responsesUsage(p)),
    });
    return out;
  },
  streamError(p, message, type, sent) {
    const code = type ?? 'server_error';
    const failed = { ...responseObject(p, 'failed', [], null), error: { code, message } };
    return [
      // Shape as recorded from the live API (the error nested under `error`), which is also what the SDK checks for.
      sseNamed('error', { type: 'error', sequence_number: sent, error: { type: code, code, message, param: null } }),
      sseNamed('response.failed', { type: 'response.failed', sequence_number: sent + 1, response: failed }),
    ];
  },
  errorBody: openaiErrorBody,
};

// ---------------------------------------------------------------- Gemini

const GOOGLE_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ABORTED',
  429: 'RESOURCE_EXHAUSTED',
  499: 'CANCELLED',
  500: 'INTERNAL',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

function geminiFinish(stop: string): string {
  return (
    ({ stop: 'STOP', tool_calls: 'STOP', length: 'MAX_TOKENS', refusal: 'SAFETY' } as Record<string, string>)[stop] ??
    stop.toUpperCase()
  );
}

function geminiUsage(p: Plan, final: boolean): Json {
  const u: Json = { promptTokenCount: p.usage.input_tokens };
  if (final) u.candidatesTokenCount = p.usage.output_tokens;
  u.totalTokenCount = p.usage.input_tokens + (final ? p.usage.output_tokens + (p.usage.reasoning_tokens ?? 0) : 0);
  if (p.usage.cache_read_input_tokens !== undefined) u.cachedContentTokenCount = p.usage.cache_read_input_tokens;
  u.promptTokensDetails = [{ modality: 'TEXT', tokenCount: p.usage.input_tokens }];
  if (final && p.usage.reasoning_tokens !== undefined) u.thoughtsTokenCount = p.usage.reasoning_tokens;
  return u;
}

function functionCallPart(t: Plan['toolCalls'][number]): Json {
  return { functionCall: { ...(t.explicitId ? { id: t.id } : {}), name: t.name, args: t.args } };
}

const gemini: Renderer = {
  json(p) {
    const parts: Json[] = [];
    if (p.thinking) parts.push({ text: p.thinking, thought: true });
    if (p.text) parts.push({ text: p.text });
    for (const t of p.toolCalls) parts.push(functionCallPart(t));
    if (!parts.length) parts.push({ text: '' });
    return {
      candidates: [{ content: { parts, role: 'model' }, finishReason: geminiFinish(p.stop), index: 0 }],
      usageMetadata: geminiUsage(p, true),
      modelVersion: p.model,
      responseId: `mock${p.id}`,
    };
  },
  sse(p) {
    const partsList: Json[][] = [
      ...pieces(p.thinking, p.chunkSize).map((text) => [{ text, thought: true }]),
      ...pieces(p.text, p.chunkSize).map((text) => [{ text }]),
      ...p.toolCalls.map((t) => [functionCallPart(t)]),
    ];
    if (!partsList.length) partsList.push([{ text: '' }]);
    // Gemini puts the finish reason and the final usage on the last content chunk; its SSE uses CRLF.
    return partsList.map((parts, i) => {
      const last = i === partsList.length - 1;
      const cand: Json = { content: { parts, role: 'model' }, index: 0 };
      if (last) cand.finishReason = geminiFinish(p.stop);
      return `data: ${JSON.stringify({ candidates: [cand], usageMetadata: geminiUsage(p, last), modelVersion: p.model, responseId: `mock${p.id}` })}\r\n\r\n`;
    });
  },
  streamError(_p, message, type) {
    return [`data: ${JSON.stringify({ error: { code: 500, message, status: type ?? 'INTERNAL' } })}\r\n\r\n`];
  },
  errorBody(status, type, message) {
    return {
      error: {
        code: status,
        message,
        status: type ?? GOOGLE_STATUS[status] ?? (status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION'),
      },
    };
  },
};

export const RENDERERS: Record<Api, Renderer> = {
  'anthropic.messages': anthropic,
  'openai.chat': openaiChat,
  'openai.responses': openaiResponses,
  gemini,
};
