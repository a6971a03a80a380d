import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { runHarness } from './harness-child.js';
import type { Api } from './reply.js';
import type { Job } from './sdk-harness.js';
import { startMockLlm } from './server.js';

// The corpus lives beside the work tree (../shared/corpus/llm-streams), never inside it.
const CORPUS =
  process.env.AGENTSIGHT_CORPUS ??
  path.resolve(fileURLToPath(new URL('.', import.meta.url)), '../../../../shared/corpus/llm-streams');

interface Expected {
  api: Api;
  model?: string;
  text?: string;
  thinking?: string | null;
  tool_calls?: unknown[];
  finish_reason?: string | null;
  usage?: Record<string, number>;
  error?: string;
  error_class?: string;
}

t.test(
  'every recorded response, replayed over HTTPS, is read by the official SDK as it was when recorded',
  async (t) => {
    if (!fs.existsSync(CORPUS)) {
      t.fail(`corpus not found at ${CORPUS} (set AGENTSIGHT_CORPUS)`);
      return;
    }
    const files = fs
      .readdirSync(CORPUS, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .flatMap((d) =>
        fs
          .readdirSync(path.join(CORPUS, d.name))
          .filter((f) => f.endsWith('.http'))
          .map((f) => path.join(CORPUS, d.name, f)),
      )
      .sort();
    t.equal(files.length, 42, 'the corpus holds 42 recorded responses');

    const mock = await startMockLlm();
    t.teardown(() => mock.close());
    const cases = files.map((file) => {
      const stem = file.replace(/\.http$/, '');
      const expected = JSON.parse(fs.readFileSync(`${stem}.expected.json`, 'utf8')) as Expected;
      const body = JSON.parse(fs.readFileSync(`${stem}.request.json`, 'utf8')) as Record<string, unknown>;
      const raw = fs.readFileSync(file);
      const head = raw.subarray(0, raw.indexOf('\r\n\r\n')).toString('latin1');
      const stream = /content-type:\s*text\/event-stream/i.test(head);
      const job: Job = {
        api: expected.api,
        baseURL: mock.url,
        stream,
        body: { ...body, ...(expected.api !== 'gemini' ? { stream } : {}) },
      };
      if (expected.api === 'gemini') job.model = expected.model ?? 'gemini-2.5-flash';
      return { name: path.relative(CORPUS, stem), file, expected, job };
    });
    for (const c of cases) mock.replay(c.file);

    const results = await runHarness(
      cases.map((c) => c.job),
      mock.caPath,
    );
    t.equal(results.length, cases.length, 'one SDK result per file');
    t.equal(mock.pending(), 0, 'every replay was requested');
    let sdkAccepted = 0;
    cases.forEach((c, i) => {
      const r = results[i]!;
      const e = c.expected;
      if (e.error !== undefined) {
        t.match(r, { ok: false, error: e.error, error_class: e.error_class }, `${c.name}: SDK rejects it the same way`);
        return;
      }
      if (!r.ok) {
        t.fail(`${c.name}: SDK rejected it: ${r.error_class}: ${r.error}`);
        return;
      }
      sdkAccepted++;
      const got = r.result;
      t.same(
        {
          text: got.text,
          thinking: got.thinking,
          tool_calls: got.tool_calls,
          finish_reason: got.finish_reason,
          usage: got.usage,
          model: got.model,
        },
        {
          text: e.text,
          thinking: e.thinking,
          tool_calls: e.tool_calls,
          finish_reason: e.finish_reason,
          usage: e.usage,
          model: e.model,
        },
        `${c.name}: merged result matches expected.json`,
      );
    });
    t.equal(
      sdkAccepted,
      cases.filter((c) => c.expected.error === undefined).length,
      'SDK accepted every file it accepted when recorded',
    );
    // Byte-for-byte: each request was answered from the file, so the replay count is the request count.
    t.equal(mock.requests.filter((r) => r.api !== null).length, cases.length, 'one model call per file');
  },
);
