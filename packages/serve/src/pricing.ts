// List prices in USD per million tokens (input, output), for the Metrics view's cost
// estimate. Matched by model-name prefix, longest first; unknown models cost null (shown
// as "unknown", never as 0). Cache reads are billed at 10% of input, cache writes at 125%
// (Anthropic's published ratios; an approximation elsewhere).
const PRICES: Array<[string, number, number]> = [
  ['claude-opus-4', 15, 75], ['claude-3-opus', 15, 75],
  ['claude-sonnet-4', 3, 15], ['claude-3-7-sonnet', 3, 15], ['claude-3-5-sonnet', 3, 15],
  ['claude-haiku-4', 1, 5], ['claude-3-5-haiku', 0.8, 4], ['claude-3-haiku', 0.25, 1.25],
  ['gpt-4o-mini', 0.15, 0.6], ['gpt-4o', 2.5, 10], ['gpt-4.1-nano', 0.1, 0.4], ['gpt-4.1-mini', 0.4, 1.6], ['gpt-4.1', 2, 8],
  ['gpt-5-nano', 0.05, 0.4], ['gpt-5-mini', 0.25, 2], ['gpt-5', 1.25, 10],
  ['o4-mini', 1.1, 4.4], ['o3-mini', 1.1, 4.4], ['o3', 2, 8], ['o1', 15, 60],
  ['gemini-2.5-pro', 1.25, 10], ['gemini-2.5-flash-lite', 0.1, 0.4], ['gemini-2.5-flash', 0.3, 2.5],
  ['gemini-2.0-flash', 0.1, 0.4], ['gemini-1.5-pro', 1.25, 5], ['gemini-1.5-flash', 0.075, 0.3],
].sort((a, b) => (b[0] as string).length - (a[0] as string).length) as Array<[string, number, number]>;

export function priceOf(model: string | null | undefined): [number, number] | null {
  if (!model) return null;
  const m = model.toLowerCase().replace(/^models\//, '');
  for (const [prefix, i, o] of PRICES) if (m.startsWith(prefix)) return [i, o];
  return null;
}

/** Estimated cost of one call, or null when the model's price is unknown. */
export function costUsd(model: string | null | undefined, input: number | null, output: number | null, cacheRead?: number | null, cacheWrite?: number | null): number | null {
  const p = priceOf(model);
  if (!p) return null;
  const [pi, po] = p;
  return ((input ?? 0) * pi + (cacheRead ?? 0) * pi * 0.1 + (cacheWrite ?? 0) * pi * 1.25 + (output ?? 0) * po) / 1e6;
}
