// The one cost function every view uses (the web UI, `agentsight report`, the exit summary,
// the OTLP attribute). Prices come from @pydantic/genai-prices, a maintained dataset of
// providers' list prices (cache reads and writes, long-context tiers, dated changes) that
// ships inside the npm package: it is read offline and never updated at run time (its
// `updatePrices` fetches from GitHub; we never call it). A `PriceTable` (model-name prefixes,
// the longest matching key wins; a key may name the provider first, `groq/llama-3.3-70b`)
// goes over the dataset: the few rows it lacks below, and `--prices FILE.json` (same shape).
// Costs are estimates and every view says so. Batch and priority rates are not modelled.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type * as GenaiPrices from '@pydantic/genai-prices';
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

/**
 * Models the dataset does not price: Qwen on Alibaba Cloud Model Studio (international,
 * smallest input tier; as of 2026-11) and the mock LLM's models (priced as Claude Sonnet 4.5,
 * GPT-4o and Gemini 2.5 Flash, so a demo shows a plausible cost).
 */
export const DEFAULT_PRICES: PriceTable = {
  'qwen-max': { input: 1.6, output: 6.4 },
  'qwen-plus': { input: 0.4, output: 1.2 },
  'qwen-turbo': { input: 0.05, output: 0.2 },
  'qwen-flash': { input: 0.05, output: 0.4 },
  'qwen3-max': { input: 1.2, output: 6 },
  'qwen3-coder-plus': { input: 1, output: 5 },
  'qwen3-coder-flash': { input: 0.3, output: 1.5 },
  'claude-mock': { input: 3, output: 15, cache_read: 0.3, cache_write: 3.75 },
  'gpt-mock': { input: 2.5, output: 10, cache_read: 1.25 },
  'gemini-mock': { input: 0.3, output: 2.5, cache_read: 0.03 },
};

/** Our provider names (providers.ts) where the dataset's differ. */
const DATASET_PROVIDER: Record<string, string> = {
  bedrock: 'aws',
  xai: 'x-ai',
  vertex: 'google',
  'google-code-assist': 'google',
  moonshot: 'moonshotai',
};

/** Model names as routers and clouds spell them: `models/x`, `us.anthropic.x-v1:0`, `claude-x@date`. */
function modelKey(model: string): string {
  return model
    .toLowerCase()
    .replace(/^models\//, '')
    .replace(/^(?:[a-z]{2,6}\.)?(?:anthropic|meta|mistral|amazon|qwen)\./, '')
    .replace(/-v\d+(?::\d+)?$/, '')
    .replace(/@(\d{4})(\d{2})(\d{2})$/, '-$1$2$3');
}

/** The table's row for a model, or undefined. */
function tableRow(model: string, provider: string | null | undefined, table: PriceTable): Price | undefined {
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

type DatasetPrice = ReturnType<typeof GenaiPrices.calcPrice>;

// The dataset is read at the first price asked for, not at start-up: it costs ~0.1 s of CPU,
// on the path of every `agentsight exec` before the agent may run. Its CommonJS build, the
// only one `require` loads synchronously; nothing else imports the package.
let dataset: typeof GenaiPrices | undefined;
const genai = (): typeof GenaiPrices =>
  (dataset ??= createRequire(import.meta.url)('@pydantic/genai-prices') as typeof GenaiPrices);

/**
 * The dataset's price for a usage: under the provider as the dataset names it when it knows
 * that provider; else by the model name alone (the dataset says which provider makes it),
 * then as the plain model name a cloud or router wraps (`us.anthropic.claude-…-v1:0`).
 */
function fromDataset(
  model: string,
  provider: string | null | undefined,
  usage: Record<string, number>,
  at: Date,
): DatasetPrice {
  const p = provider ? (DATASET_PROVIDER[provider.toLowerCase()] ?? provider.toLowerCase()) : undefined;
  const { calcPrice } = genai();
  const calc = (m: string, providerId?: string): DatasetPrice => {
    try {
      return calcPrice(usage, m, { timestamp: at, ...(providerId ? { providerId } : {}) });
    } catch {
      return null; // usage the dataset finds inconsistent (cache larger than input): unpriced
    }
  };
  const plain = modelKey(model);
  return (
    (p ? calc(model, p) : null) ??
    calc(model) ??
    (plain !== model.toLowerCase() ? calc(plain) : null) ??
    (plain.includes('/') ? calc(plain.slice(plain.lastIndexOf('/') + 1)) : null)
  );
}

function datasetUsage(u: TokenUsage): Record<string, number> {
  const read = u.cache_read ?? 0;
  const write = u.cache_write ?? 0;
  // The dataset's input_tokens, like ours, counts the cached tokens.
  return {
    input_tokens: Math.max(u.input ?? 0, read + write),
    cache_read_tokens: read,
    cache_write_tokens: write,
    output_tokens: u.output ?? 0,
  };
}

const toDate = (at: Date | number | undefined): Date =>
  at === undefined ? new Date() : typeof at === 'number' ? new Date(at / 1000) : at;

/**
 * The price of a model in USD per million tokens (the short-context tier, in force at `at`),
 * or undefined when neither the table nor the dataset has one (shown as unknown, never as 0).
 */
export function findPrice(
  model: string | null | undefined,
  provider?: string | null,
  table: PriceTable = DEFAULT_PRICES,
  at?: Date | number,
): Price | undefined {
  if (!model) return undefined;
  const row = tableRow(model, provider, table);
  if (row) return row;
  const r = fromDataset(model, provider, {}, toDate(at));
  if (!r) return undefined;
  const base = (k: string): number | undefined => {
    const v = r.model_price[k];
    return v === undefined ? undefined : typeof v === 'number' ? v : v.base;
  };
  const input = base('input_mtok') ?? 0;
  const read = base('cache_read_mtok');
  const write = base('cache_write_mtok');
  return {
    input,
    output: base('output_mtok') ?? 0,
    ...(read !== undefined ? { cache_read: read } : {}),
    ...(write !== undefined ? { cache_write: write } : {}),
  };
}

/**
 * Estimated cost in USD of one call from its normalized usage (input counts cached tokens,
 * output counts reasoning), or undefined when the model's price is unknown. `at` is the
 * call's time (a Date, or microseconds since the epoch as events carry it; default now): the
 * dataset's prices change on dated days. Long-context tiers apply by the call's input.
 */
export function costOf(
  model: string | null | undefined,
  provider: string | null | undefined,
  u: TokenUsage,
  table: PriceTable = DEFAULT_PRICES,
  at?: Date | number,
): number | undefined {
  if (!model) return undefined;
  const p = tableRow(model, provider, table);
  if (!p) return fromDataset(model, provider, datasetUsage(u), toDate(at))?.total_price;
  const read = u.cache_read ?? 0;
  const write = u.cache_write ?? 0;
  const uncached = Math.max(0, (u.input ?? 0) - read - write);
  return (
    (uncached * p.input +
      read * (p.cache_read ?? p.input) +
      write * (p.cache_write ?? p.input) +
      (u.output ?? 0) * p.output) /
    1e6
  );
}

/**
 * The price table every view uses: `file` (`--prices FILE`, else $AGENTSIGHT_PRICES), a JSON
 * PriceTable whose rows win over ours and the dataset's, or ours alone. Throws with a
 * message naming the file when it cannot be read or is not a price table.
 */
export function loadPrices(file?: string, env: NodeJS.ProcessEnv = process.env): PriceTable {
  const f = file ?? (env.AGENTSIGHT_PRICES || undefined);
  if (!f) return DEFAULT_PRICES;
  let table: unknown;
  try {
    table = JSON.parse(fs.readFileSync(f, 'utf8'));
  } catch (e) {
    throw new Error(`${f}: ${(e as Error).message}`);
  }
  if (!table || typeof table !== 'object' || Array.isArray(table))
    throw new Error(`${f}: want a JSON object of model prefix -> {input, output, cache_read?, cache_write?}`);
  for (const [k, v] of Object.entries(table as Record<string, unknown>)) {
    const p = v as Record<string, unknown> | null;
    const num = (x: unknown, opt: boolean) => (opt && x === undefined) || (typeof x === 'number' && x >= 0);
    if (
      !p ||
      typeof p !== 'object' ||
      !num(p.input, false) ||
      !num(p.output, false) ||
      !num(p.cache_read, true) ||
      !num(p.cache_write, true)
    )
      throw new Error(`${f}: ${k}: want {input, output, cache_read?, cache_write?} in USD per million tokens`);
  }
  return { ...DEFAULT_PRICES, ...(table as PriceTable) };
}
