// Real provider traffic in the UI: the 42 recorded LLM responses of the shared corpus
// (Anthropic, OpenAI Chat and Responses, Gemini; streaming and JSON; text, thinking,
// tool calls, errors) go through the real as-http and as-merge stages into the store,
// and every call must render in the Conversations view with its text and tool calls,
// without a script error. One agent process per API, so four sessions.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent } from '@agentsight/events';
import { HttpStage, sslEvents } from '@agentsight/http';
import { MergeStage } from '@agentsight/llm';
import { Store, serve } from '@agentsight/serve';
import t from 'tap';
import { ARTIFACTS, buildUi, CHROMIUM, openBrowser, ROOT } from './serve-fixture.js';

const CORPUS = path.resolve(ROOT, '../shared/corpus/llm-streams');
const APIS: Record<string, { host: string; path: (model: string, stream: boolean) => string; pid: number }> = {
  anthropic: { host: 'api.anthropic.com', path: () => '/v1/messages', pid: 7001 },
  'openai-chat': { host: 'api.openai.com', path: () => '/v1/chat/completions', pid: 7002 },
  'openai-responses': { host: 'api.openai.com', path: () => '/v1/responses', pid: 7003 },
  gemini: {
    host: 'generativelanguage.googleapis.com',
    path: (m, s) => `/v1beta/models/${m}:${s ? 'streamGenerateContent?alt=sse' : 'generateContent'}`,
    pid: 7004,
  },
};

interface Expected {
  text?: string;
  tool_calls?: Array<{ name: string }>;
  error?: string;
  model?: string;
}

if (!fs.existsSync(CHROMIUM) || !fs.existsSync(CORPUS)) {
  t.plan(0, `SKIP: needs ${CHROMIUM} (apt-get install chromium) and the corpus at ${CORPUS}`);
} else {
  const assets = await buildUi();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-serve-corpus-'));
  const store = new Store(path.join(dir, 'c.db'));
  const expected = new Map<number, Expected[]>();
  const calls: AgentEvent[] = [];
  const merge = new MergeStage({}, (e) => {
    if (e.src === 'llm' && e.type === 'call') calls.push(e);
    store.insert(e);
  });
  const http = new HttpStage({}, (e) => merge.write(e));
  let ts = 1_790_000_000_000_000;
  let n = 0;
  for (const api of Object.keys(APIS).sort()) {
    const a = APIS[api]!;
    for (const f of fs
      .readdirSync(path.join(CORPUS, api))
      .filter((x) => x.endsWith('.http'))
      .sort()) {
      const base = path.join(CORPUS, api, f.slice(0, -5));
      const exp = JSON.parse(fs.readFileSync(`${base}.expected.json`, 'utf8')) as Expected;
      const body = fs.readFileSync(`${base}.request.json`);
      const res = fs.readFileSync(`${base}.http`);
      const stream = /text\/event-stream/i.test(res.subarray(0, 2000).toString('latin1'));
      const req = Buffer.concat([
        Buffer.from(
          `POST ${a.path(exp.model ?? 'gemini-2.5-flash', stream)} HTTP/1.1\r\nhost: ${a.host}\r\nauthorization: Bearer sk-corpus-0123456789abcdef\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
        ),
        body,
      ]);
      const conn = `corpus-${n++}`;
      for (const e of sslEvents(req, { conn, dir: 'write', ts, pid: a.pid, comm: api.slice(0, 15) })) http.write(e);
      ts += 300_000;
      for (const e of sslEvents(res, {
        conn,
        dir: 'read',
        ts,
        pid: a.pid,
        comm: api.slice(0, 15),
        cuts: [Math.floor(res.length / 2)],
      }))
        http.write(e);
      ts += 700_000;
      const l = expected.get(a.pid) ?? [];
      l.push(exp);
      expected.set(a.pid, l);
    }
  }
  http.end();
  merge.end();
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
