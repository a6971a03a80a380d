// Which LLM API a request speaks, and which provider serves it: from the path (the API
// shapes are distinctive), the host (the provider), and for ambiguous paths the body.
// Nothing is configured, so a new OpenAI-compatible server is recognised by its path.
import type { LlmApi } from '@agentsight/events';
import { anthropic } from './anthropic.js';
import { bedrockConverse, bedrockInvoke, bedrockPath } from './bedrock.js';
import { gemini } from './gemini.js';
import { openaiChat } from './openai-chat.js';
import { openaiResponses } from './openai-responses.js';
import { providerOfHost } from './providers.js';
import type { ApiModule } from './result.js';
import { isObj } from './util.js';

export interface Detected {
  module: ApiModule;
  provider: string;
}

const MODULES: Record<LlmApi, ApiModule> = {
  'anthropic.messages': anthropic,
  'openai.chat': openaiChat,
  'openai.responses': openaiResponses,
  gemini,
  'bedrock.converse': bedrockConverse,
};

/** The API a path speaks, or null. `path` may carry a query string. */
export function apiOfPath(path: string): LlmApi | null {
  const p = path.split('?')[0]!.replace(/\/+$/, '');
  const b = bedrockPath(p);
  if (b) return b.op === 'converse' ? 'bedrock.converse' : 'anthropic.messages';
  if (/\/messages$/.test(p) && !/\/threads\//.test(p)) return 'anthropic.messages';
  // Vertex / Bedrock-style Anthropic: …/publishers/anthropic/models/M:rawPredict
  if (/\/publishers\/anthropic\/models\/[^/]+:(stream)?[rR]awPredict$/.test(p)) return 'anthropic.messages';
  if (/\/chat\/completions$/.test(p)) return 'openai.chat';
  if (/\/responses$/.test(p)) return 'openai.responses';
  if (/\/models\/[^/]+:(streamGenerateContent|generateContent)$/.test(p)) return 'gemini';
  if (/\/v1internal:(streamGenerateContent|generateContent)$/.test(p)) return 'gemini';
  return null;
}

/**
 * Detect an LLM API call from a request. Only POSTs carry model calls. `body` is the
 * parsed request body, or undefined when there is none to look at (not captured):
 * then the path decides alone.
 */
export function detect(method: string, path: string, host: string | undefined, body?: unknown): Detected | null {
  if (method.toUpperCase() !== 'POST') return null;
  const b = bedrockPath(path);
  if (b?.op === 'invoke') {
    // Invoke carries the model vendor's body; only Anthropic Messages ones are read.
    if (body !== undefined && !(isObj(body) && (body.anthropic_version !== undefined || Array.isArray(body.messages))))
      return null;
    return { module: bedrockInvoke, provider: providerOfHost(host) ?? bedrockInvoke.provider };
  }
  let api = apiOfPath(path);
  if (!api) {
    // Unknown path: only a body with an unmistakable shape counts (proxies with odd routes).
    if (
      isObj(body) &&
      typeof body.model === 'string' &&
      Array.isArray(body.messages) &&
      typeof body.max_tokens === 'number' &&
      body.anthropic_version !== undefined
    )
      api = 'anthropic.messages';
    else return null;
  } else if (api !== 'gemini' && body !== undefined && !looksLikeModelCall(body)) {
    // `/messages` and `/responses` are common REST shapes elsewhere (mail, chat APIs).
    return null;
  }
  return { module: MODULES[api], provider: providerOfHost(host) ?? MODULES[api].provider };
}

function looksLikeModelCall(body: unknown): boolean {
  return isObj(body) && (typeof body.model === 'string' || Array.isArray(body.messages) || body.input !== undefined);
}

export function moduleFor(api: LlmApi): ApiModule {
  return MODULES[api];
}
