// The UI on a 100k-event capture (mock agent sessions padded with file opens and
// metrics samples): every view is usable within a budget, in headless Chromium.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bulkCapture, Store, serve } from '@agentsight/serve';
import t from 'tap';
import { ARTIFACTS, buildUi, CHROMIUM, openBrowser } from './serve-fixture.js';

const N = 100_000;
// Generous for a loaded 2-core CI machine; the figures measured are printed.
const BUDGET_MS = 5000;

if (!fs.existsSync(CHROMIUM)) {
  t.plan(0, `SKIP: ${CHROMIUM} not installed (apt-get install chromium): browser tests cannot run`);
} else {
  const assets = await buildUi();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-serve-large-'));
  const store = new Store(path.join(dir, 'l.db'));
  const t0 = performance.now();
  for (const e of bulkCapture(N, 1_790_000_000_000_000)) store.insert(e);
  store.commit();
  t.comment(`stored ${N} events in ${(performance.now() - t0).toFixed(0)} ms`);
  const srv = await serve(store, { host: '127.0.0.1', port: 0, assets });
  const { page } = await openBrowser(t, { timeoutMs: 20_000 });
  t.teardown(async () => {
    await srv.close();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const views: Array<[string, string]> = [
    ['conversations', 'section.call'],
    ['timeline', 'svg.tl g.proc-bar'],
    ['processes', '.node'],
    ['events', 'table.events tbody tr'],
    ['metrics', 'figure.chartbox svg'],
  ];
  for (const [view, sel] of views) {
    await t.test(`${view} on ${N} events`, async (t) => {
      const start = Date.now();
      await page.goto(`${srv.url}${view}`);
      await page.waitForSelector(sel);
      const ms = Date.now() - start;
      t.ok(ms < BUDGET_MS, `${view}: usable after ${ms} ms (budget ${BUDGET_MS} ms)`);
      await page.screenshot({ path: path.join(ARTIFACTS, `serve-large-${view}.png`) });
    });
  }
  await t.test('timeline zoom on a large capture stays responsive', async (t) => {
    await page.goto(`${srv.url}timeline`);
    await page.waitForSelector('svg.tl g.proc-bar');
    const start = Date.now();
    for (let i = 0; i < 3; i++) {
      const before = page.url();
      await page.click('button[title="zoom in"]');
      await page.waitForFunction((u) => (globalThis as any).location.href !== u, before);
      await page.waitForSelector('svg.tl');
    }
    t.ok(Date.now() - start < BUDGET_MS, `three zoom steps in ${Date.now() - start} ms`);
  });
}
