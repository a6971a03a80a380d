// Estimated list prices in USD per million tokens, by model-name prefix (longest prefix
// wins). They go stale: users override or extend them with `--prices FILE.json` (same
// shape) or AGENTSIGHT_PRICES=FILE. Costs are estimates and say so wherever shown.

export interface Price {
  input: number;
  output: number;
  /** Price of cached input read; defaults to `input`. */
  cache_read?: number;
  /** Price of writing the prompt cache (Anthropic); defaults to `input`. */
  cache_write?: number;
}

export type PriceTable = Record<string, Price>;

/** As of 2026-11 (public list prices); see agentsight(1). */
export const DEFAULT_PRICES: PriceTable = {
  'claude-opus-4': { input: 15, output: 75, cache_read: 1.5, cache_write: 18.75 },
  'claude-opus-4-5': { input: 5, output: 25, cache_read: 0.5, cache_write: 6.25 },
  'claude-sonnet-4': { input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 },
  'claude-3-7-sonnet': { input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 },
  'claude-3-5-sonnet': { input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 },
  'claude-haiku-4': { input: 1, output: 5, cache_read: 0.1, cache_write: 1.25 },
  'claude-3-5-haiku': { input: 0.8, output: 4, cache_read: 0.08, cache_write: 1 },
  'gpt-5': { input: 1.25, output: 10, cache_read: 0.125 },
  'gpt-5-mini': { input: 0.25, output: 2, cache_read: 0.025 },
  'gpt-5-nano': { input: 0.05, output: 0.4, cache_read: 0.005 },
  'gpt-4.1': { input: 2, output: 8, cache_read: 0.5 },
  'gpt-4.1-mini': { input: 0.4, output: 1.6, cache_read: 0.1 },
  'gpt-4.1-nano': { input: 0.1, output: 0.4, cache_read: 0.025 },
  'gpt-4o': { input: 2.5, output: 10, cache_read: 1.25 },
  'gpt-4o-mini': { input: 0.15, output: 0.6, cache_read: 0.075 },
  'o3': { input: 2, output: 8, cache_read: 0.5 },
  'o4-mini': { input: 1.1, output: 4.4, cache_read: 0.275 },
  'gemini-2.5-pro': { input: 1.25, output: 10, cache_read: 0.31 },
  'gemini-2.5-flash': { input: 0.3, output: 2.5, cache_read: 0.075 },
  'gemini-2.0-flash': { input: 0.1, output: 0.4, cache_read: 0.025 },
  'deepseek-chat': { input: 0.27, output: 1.1, cache_read: 0.07 },
  'deepseek-reasoner': { input: 0.55, output: 2.19, cache_read: 0.14 },
  'grok-3-mini': { input: 0.3, output: 0.5, cache_read: 0.075 },
};

export function findPrice(model: string | null | undefined, table: PriceTable): Price | undefined {
  if (!model) return undefined;
  const m = model.toLowerCase().replace(/^models\//, '');
  let best: string | undefined;
  for (const k of Object.keys(table)) if (m.startsWith(k.toLowerCase()) && (!best || k.length > best.length)) best = k;
  return best ? table[best] : undefined;
}

export interface TokenCounts {
  input: number;
  output: number;
  cache_read: number;
  cache_write: number;
  reasoning: number;
}

/**
 * Estimated cost of one call. APIs count differently: Anthropic's input_tokens exclude
 * cache reads and writes, OpenAI's and Gemini's include cached tokens; Gemini reports
 * thinking separately from output (billed as output), OpenAI and Anthropic include it.
 */
export function callCost(api: string, u: TokenCounts, p: Price | undefined): number | undefined {
  if (!p) return undefined;
  const cr = p.cache_read ?? p.input;
  const cw = p.cache_write ?? p.input;
  const uncached = api === 'anthropic.messages' ? u.input : Math.max(0, u.input - u.cache_read);
  const cacheWrite = api === 'anthropic.messages' ? u.cache_write : 0;
  const output = api === 'gemini' ? u.output + u.reasoning : u.output;
  return (uncached * p.input + u.cache_read * cr + cacheWrite * cw + output * p.output) / 1e6;
}
