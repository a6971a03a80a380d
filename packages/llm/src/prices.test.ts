import t from 'tap';
import { costOf, findPrice, DEFAULT_PRICES } from './prices.js';

t.test('longest prefix wins; provider-specific rows; routers and clouds', async (t) => {
  t.equal(findPrice('gpt-4o-mini-2024-07-18')!.input, 0.15);
  t.equal(findPrice('gpt-4o')!.input, 2.5);
  t.equal(findPrice('models/gemini-2.5-pro')!.output, 10);
  t.equal(findPrice('claude-opus-4-5-20251101')!.input, 5, 'Opus 4.5 is not priced as Opus 4');
  t.equal(findPrice('claude-opus-4-1-20250805')!.input, 15);
  t.equal(findPrice('claude-3-opus-20240229')!.output, 75);
  t.equal(findPrice('o1-2024-12-17')!.output, 60);
  t.equal(findPrice('mistral-large-latest')!.input, 2);
  t.equal(findPrice('qwen-plus')!.output, 1.2);
  t.equal(findPrice('llama-3.3-70b-versatile', 'groq')!.input, 0.59, 'Llama priced by who serves it');
  t.equal(findPrice('llama-3.3-70b-versatile', 'someone-else'), undefined);
  t.equal(findPrice('anthropic/claude-sonnet-4', 'openrouter')!.input, 3, "a router's vendor/model");
  t.equal(findPrice('us.anthropic.claude-sonnet-4-20250514-v1:0', 'bedrock')!.input, 3, 'a Bedrock model id');
  t.equal(findPrice('mock-model', null, { mock: { input: 1, output: 2 } })!.output, 2);
  t.equal(findPrice(null), undefined);
  t.equal(findPrice('my-local-llama'), undefined);
});

t.test('cost from the normalized count', async (t) => {
  // 3M input of which 1M cache reads and 1M cache writes, 1M out at Sonnet 4 prices: 3 + 0.3 + 3.75 + 15.
  t.equal(costOf('claude-sonnet-4', 'anthropic', { input: 3e6, cache_read: 1e6, cache_write: 1e6, output: 1e6 }), 22.05);
  t.equal(costOf('claude-opus-4-5', 'anthropic', { input: 1e6, output: 1e6 }), 30);
  t.equal(costOf('unknown', null, { input: 10, output: 10 }), undefined, 'unknown stays unknown, not 0');
  t.equal(costOf('gpt-4o', 'openai', {}), 0, 'no usage reported costs nothing');
  for (const [k, p] of Object.entries(DEFAULT_PRICES)) t.ok(p.input > 0 && p.output > 0 && (p.cache_read ?? 0) <= p.input, k);
});
