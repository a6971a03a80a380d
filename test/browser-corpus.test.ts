// Real provider traffic in the UI: the 42 recorded LLM responses of the shared corpus
// (Anthropic, OpenAI Chat and Responses, Gemini; streaming and JSON; text, thinking,
// tool calls, errors) go through the real as-http and as-merge stages into the store,
// and every call must render in the Conversations view with its text and tool calls,
// without a script error. One agent process per API, so four sessions.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Store, serve } from '@agentsight/serve';
import t from 'tap';
import { ARTIFACTS, buildUi, CHROMIUM, CORPUS, corpusCapture, openBrowser } from './serve-fixture.js';

if (!fs.existsSync(CHROMIUM) || !fs.existsSync(CORPUS)) {
  t.plan(0, `SKIP: needs ${CHROMIUM} (apt-get install chromium) and the corpus at ${CORPUS}`);
} else {
  const assets = await buildUi();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-serve-corpus-'));
  const store = new Store(path.join(dir, 'c.db'));
  const { calls, expected, exchanges: n } = corpusCapture((e) => store.insert(e));
  store.commit();
  const srv = await serve(store, { host: '127.0.0.1', port: 0, assets });
  const { page, errors } = await openBrowser(t, { timeoutMs: 15_000 });
  t.teardown(async () => {
    await srv.close();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  t.ok(calls.length >= 40, `${calls.length} llm/call events from ${n} recorded exchanges`);
  for (const [pid, exps] of expected) {
    await t.test(`session ${pid}: ${exps.length} recorded calls render`, async (t) => {
      const mine = calls.filter((c) => c.pid === pid);
      await page.goto(`${srv.url}conversations?pid=${pid}`);
      await page.waitForFunction(
        (k) => (globalThis as any).document.querySelectorAll('section.call').length >= k,
        mine.length,
      );
      t.equal(await page.locator('section.call').count(), mine.length, 'one card per call');
      const text = (await page.innerText('.calls')).replace(/\s+/g, ' ');
      for (const c of mine) {
        const r = (c as unknown as { response: { text: string; tool_calls: Array<{ name: string }> }; id: string })
          .response;
        // A stretch of plain words: markdown rendering leaves those as they are.
        const plain = /[A-Za-z][A-Za-z0-9 ,']{14,}/
          .exec(r.text ?? '')?.[0]
          ?.replace(/\s+/g, ' ')
          .trim();
        if (plain)
          t.ok(
            text.includes(plain.slice(0, 30)),
            `${(c as unknown as { id: string }).id}: response text "${plain.slice(0, 30)}" shown`,
          );
        for (const tc of r.tool_calls ?? []) t.ok(text.includes(tc.name), `tool call ${tc.name} shown`);
      }
      t.notOk((await page.content()).includes('sk-corpus-0123456789abcdef'), 'the request key is not shown');
      await page.screenshot({ path: path.join(ARTIFACTS, `serve-corpus-${pid}.png`) });
    });
  }
  t.test('no script errors', async (t) => {
    t.same(errors, []);
  });
}
