// List prices in USD per million tokens, and the one cost function every view uses (the web
// UI, `agentsight report`, the exit summary, the OTLP attribute). Keys are model-name
// prefixes (the longest matching key wins); a key may name the provider first
// (`groq/llama-3.3-70b`) where the price depends on who serves the model. Prices go stale:
// `agentsight report --prices FILE.json` (same shape) merges over these. Costs are estimates
// and every view says so. Short-context tiers; batch, priority and long-context surcharges
// are not modelled.
import type { TokenUsage } from './parts.js';

export interface Price {
  input: number;
  output: number;
  /** Cached input read; defaults to `input`. */
  cache_read?: number;
  /** Writing the prompt cache (Anthropic's 5-minute cache); defaults to `input`. */
  cache_write?: number;
}

export type PriceTable = Record<string, Price>;

const anthropic = (input: number, output: number): Price => ({ input, output, cache_read: input / 10, cache_write: input * 1.25 });

/** Public list prices as of 2026-11; see agentsight(1). */
export const DEFAULT_PRICES: PriceTable = {
  // Anthropic: cache reads 0.1x input, 5-minute cache writes 1.25x.
  'claude-opus-4-5': anthropic(5, 25),
  'claude-opus-4': anthropic(15, 75),
  'claude-3-opus': anthropic(15, 75),
  'claude-sonnet-4': anthropic(3, 15),
  'claude-3-7-sonnet': anthropic(3, 15),
  'claude-3-5-sonnet': anthropic(3, 15),
  'claude-haiku-4': anthropic(1, 5),
  'claude-3-5-haiku': anthropic(0.8, 4),
  'claude-3-haiku': anthropic(0.25, 1.25),
  // OpenAI: cached input as listed; writes cost nothing extra.
  'gpt-5': { input: 1.25, output: 10, cache_read: 0.125 },
  'gpt-5-pro': { input: 15, output: 120 },
  'gpt-5-mini': { input: 0.25, output: 2, cache_read: 0.025 },
  'gpt-5-nano': { input: 0.05, output: 0.4, cache_read: 0.005 },
  'gpt-4.1': { input: 2, output: 8, cache_read: 0.5 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6, cache_read: 0.1 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4, cache_read: 0.025 },
  'gpt-4o': { input: 2.5, output: 10, cache_read: 1.25 },
  'gpt-4o-mini': { input: 0.15, output: 0.6, cache_read: 0.075 },
  'o1': { input: 15, output: 60, cache_read: 7.5 },
  'o1-mini': { input: 1.1, output: 4.4, cache_read: 0.55 },
  'o1-pro': { input: 150, output: 600 },
  'o3': { input: 2, output: 8, cache_read: 0.5 },
  'o3-mini': { input: 1.1, output: 4.4, cache_read: 0.55 },
  'o3-pro': { input: 20, output: 80 },
  'o4-mini': { input: 1.1, output: 4.4, cache_read: 0.275 },
  // Google Gemini (prompts up to 200k tokens).
  'gemini-3-pro': { input: 2, output: 12, cache_read: 0.2 },
  'gemini-2.5-pro': { input: 1.25, output: 10, cache_read: 0.125 },
  'gemini-2.5-flash': { input: 0.3, output: 2.5, cache_read: 0.03 },
  'gemini-2.5-flash-lite': { input: 0.1, output: 0.4, cache_read: 0.01 },
  'gemini-2.0-flash': { input: 0.1, output: 0.4, cache_read: 0.025 },
  'gemini-2.0-flash-lite': { input: 0.075, output: 0.3 },
  'gemini-1.5-pro': { input: 1.25, output: 5 },
  'gemini-1.5-flash': { input: 0.075, output: 0.3 },
  // DeepSeek (V3.2 behind both names).
  'deepseek-chat': { input: 0.28, output: 0.42, cache_read: 0.028 },
  'deepseek-reasoner': { input: 0.28, output: 0.42, cache_read: 0.028 },
  // xAI.
  'grok-4': { input: 3, output: 15, cache_read: 0.75 },
  'grok-4-fast': { input: 0.2, output: 0.5, cache_read: 0.05 },
  'grok-3': { input: 3, output: 15, cache_read: 0.75 },
  'grok-3-mini': { input: 0.3, output: 0.5, cache_read: 0.075 },
  'grok-code-fast': { input: 0.2, output: 1.5, cache_read: 0.02 },
  // Mistral.
  'mistral-large': { input: 2, output: 6 },
  'mistral-medium': { input: 0.4, output: 2 },
  'mistral-small': { input: 0.1, output: 0.3 },
  'codestral': { input: 0.3, output: 0.9 },
  'devstral-small': { input: 0.1, output: 0.3 },
  'devstral-medium': { input: 0.4, output: 2 },
  'magistral-medium': { input: 2, output: 5 },
  'magistral-small': { input: 0.5, output: 1.5 },
  // Qwen on Alibaba Cloud Model Studio (international, smallest input tier).
  'qwen-max': { input: 1.6, output: 6.4 },
  'qwen-plus': { input: 0.4, output: 1.2 },
  'qwen-turbo': { input: 0.05, output: 0.2 },
  'qwen3-max': { input: 1.2, output: 6 },
  'qwen3-coder-plus': { input: 1, output: 5 },
  // Llama: priced by whoever serves it.
  'groq/llama-3.3-70b': { input: 0.59, output: 0.79 },
  'groq/llama-3.1-8b': { input: 0.05, output: 0.08 },
  'groq/meta-llama/llama-4-scout': { input: 0.11, output: 0.34 },
  'groq/meta-llama/llama-4-maverick': { input: 0.2, output: 0.6 },
  'together/meta-llama/llama-3.3-70b-instruct-turbo': { input: 0.88, output: 0.88 },
};

/** Model names as routers and clouds spell them: `models/x`, `us.anthropic.x-v1:0`, `claude-x@date`. */
function modelKey(model: string): string {
  return model.toLowerCase().replace(/^models\//, '').replace(/^(?:[a-z]{2,4}\.)?(?:anthropic|meta|mistral|amazon)\./, '');
}

/** The price of a model, or undefined when the table has none (shown as unknown, never as 0). */
export function findPrice(model: string | null | undefined, provider?: string | null, table: PriceTable = DEFAULT_PRICES): Price | undefined {
  if (!model) return undefined;
  const m = modelKey(model);
  // A router's `vendor/model` is priced as the model.
  const names = [provider ? `${provider.toLowerCase()}/${m}` : '', m, m.slice(m.lastIndexOf('/') + 1)].filter(Boolean);
  let best: string | undefined;
  for (const k of Object.keys(table)) {
    const key = k.toLowerCase();
    if ((!best || k.length > best.length) && names.some((n) => n.startsWith(key))) best = k;
  }
  return best ? table[best] : undefined;
}

/**
 * Estimated cost in USD of one call from its normalized usage (input counts cached tokens,
 * output counts reasoning), or undefined when the model's price is unknown.
 */
export function costOf(model: string | null | undefined, provider: string | null | undefined, u: TokenUsage, table: PriceTable = DEFAULT_PRICES): number | undefined {
  const p = findPrice(model, provider, table);
  if (!p) return undefined;
  const read = u.cache_read ?? 0;
  const write = u.cache_write ?? 0;
  const uncached = Math.max(0, (u.input ?? 0) - read - write);
  return (uncached * p.input + read * (p.cache_read ?? p.input) + write * (p.cache_write ?? p.input) + (u.output ?? 0) * p.output) / 1e6;
}
