import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { costOf, DEFAULT_PRICES, findPrice, loadPrices } from './prices.js';

t.test('prices from the dataset; routers, clouds and the table over it', async (t) => {
  t.equal(findPrice('gpt-4o-mini-2024-07-18')!.input, 0.15);
  t.equal(findPrice('gpt-4o', 'openai')!.input, 2.5);
  t.equal(findPrice('models/gemini-2.5-pro', 'google')!.output, 10);
  t.equal(findPrice('claude-opus-4-5-20251101', 'anthropic')!.input, 5, 'Opus 4.5 is not priced as Opus 4');
  t.equal(findPrice('claude-opus-4-1-20250805', 'anthropic')!.input, 15);
  t.equal(findPrice('claude-3-opus-20240229', 'anthropic')!.output, 75);
  t.equal(findPrice('claude-sonnet-4-5', 'anthropic')!.cache_read, 0.3, 'cache reads');
  t.equal(findPrice('claude-sonnet-4-5', 'anthropic')!.cache_write, 3.75, 'cache writes');
  t.equal(findPrice('o1-2024-12-17', 'openai')!.output, 60);
  t.equal(findPrice('mistral-large-latest', 'mistral')!.input, findPrice('mistral-large', 'mistral')!.input);
  t.equal(findPrice('qwen-plus', 'qwen')!.output, 1.2, 'Qwen from our own rows (the dataset has no Alibaba Cloud)');
  t.equal(findPrice('llama-3.3-70b-versatile', 'groq')!.input, 0.59, 'Llama priced by who serves it');
  t.ok(findPrice('anthropic/claude-sonnet-4', 'openrouter'), "a router's vendor/model");
  for (const m of [
    'anthropic.claude-sonnet-4-5-20250929-v1:0',
    'us.anthropic.claude-sonnet-4-20250514-v1:0',
    'global.anthropic.claude-sonnet-4-5-20250929-v1:0',
  ]) {
    t.ok(findPrice(m, 'bedrock')!.input >= 3, `Bedrock id ${m}`);
    t.ok(findPrice(m, 'anthropic'), `${m} under another provider name: priced as the Anthropic model`);
  }
  t.equal(findPrice('mock-model', null, { mock: { input: 1, output: 2 } })!.output, 2);
  t.equal(
    findPrice('gpt-4o', 'openai', { 'gpt-4o': { input: 7, output: 8 } })!.input,
    7,
    'a --prices row wins over the dataset',
  );
  t.equal(findPrice(null), undefined);
  t.equal(findPrice('my-local-llama'), undefined);
});

t.test('cost from the normalized count: cache, long-context tiers, the price of the day', async (t) => {
  const feb = new Date('2026-02-01T00:00:00Z');
  // 3M input of which 1M cache reads and 1M cache writes, 1M out at Sonnet 4.5's long-context
  // tier (over 200k input, all of it at the tier): 6 + 0.6 + 7.5 + 22.5.
  t.equal(
    Math.round(
      costOf(
        'claude-sonnet-4-5',
        'anthropic',
        { input: 3e6, cache_read: 1e6, cache_write: 1e6, output: 1e6 },
        undefined,
        feb,
      )! * 1e6,
    ) / 1e6,
    36.6,
  );
  // The same under 200k: 3 + 0.3 + 3.75 + 15 per million.
  t.equal(
    Math.round(
      costOf(
        'claude-sonnet-4-5',
        'anthropic',
        { input: 30_000, cache_read: 10_000, cache_write: 10_000, output: 10_000 },
        undefined,
        feb,
      )! * 1e9,
    ) / 1e9,
    0.2205,
  );
  // Opus 4.6 had a long-context tier until 2026-03-13; events carry microseconds.
  const before = costOf('claude-opus-4-6', 'anthropic', { input: 300_000 }, undefined, feb.getTime() * 1000)!;
  const after = costOf(
    'claude-opus-4-6',
    'anthropic',
    { input: 300_000 },
    undefined,
    new Date('2026-06-01T00:00:00Z'),
  )!;
  t.equal(Math.round(before * 1e6) / 1e6, 3, 'before: 300k at $10');
  t.equal(Math.round(after * 1e6) / 1e6, 1.5, 'after: 300k at $5');
  t.equal(costOf('claude-opus-4-5', 'anthropic', { input: 1e6, output: 1e6 }), 30);
  t.equal(costOf('unknown', null, { input: 10, output: 10 }), undefined, 'unknown stays unknown, not 0');
  t.equal(costOf('gpt-4o', 'openai', {}), 0, 'no usage reported costs nothing');
  t.ok(
    costOf('claude-sonnet-4-5', 'anthropic', { input: 10, cache_read: 100 }) !== undefined,
    'a cache count above the input is not an error',
  );
  for (const [k, p] of Object.entries(DEFAULT_PRICES))
    t.ok(p.input > 0 && p.output > 0 && (p.cache_read ?? 0) <= p.input, k);
});

t.test('the dataset is read offline: nothing here asks it to update', async (t) => {
  const src = fs.readFileSync(new URL('prices.js', import.meta.url), 'utf8');
  t.notMatch(src, /\b(?:updatePrices|waitForUpdate)\s*\(/, 'updatePrices fetches from GitHub at run time');
  t.ok(createRequire(import.meta.url).resolve('@pydantic/genai-prices'), 'the dataset ships in the npm package');
});

t.test('loadPrices: --prices FILE, else $AGENTSIGHT_PRICES, over our table; bad files named', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-prices-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const f = path.join(dir, 'p.json');
  fs.writeFileSync(f, JSON.stringify({ 'my-model': { input: 1, output: 2, cache_read: 0.1 } }));
  t.equal(loadPrices(undefined, {}), DEFAULT_PRICES, 'none: ours');
  t.same(loadPrices(f, {})['my-model'], { input: 1, output: 2, cache_read: 0.1 });
  t.ok(loadPrices(f, {})['claude-mock'], 'over our rows');
  t.same(loadPrices(undefined, { AGENTSIGHT_PRICES: f })['my-model']?.input, 1, 'from the environment');
  t.throws(() => loadPrices(path.join(dir, 'nope.json'), {}), /nope\.json: ENOENT/);
  fs.writeFileSync(f, '[1]');
  t.throws(() => loadPrices(f, {}), /want a JSON object/);
  fs.writeFileSync(f, JSON.stringify({ m: { input: 'x', output: 1 } }));
  t.throws(() => loadPrices(f, {}), /m: want \{input, output/);
  fs.writeFileSync(f, '{');
  t.throws(() => loadPrices(f, {}), /p\.json: /);
});
