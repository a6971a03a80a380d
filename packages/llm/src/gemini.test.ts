import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { GeminiAccumulator, gemini } from './gemini.js';
import { jsonCall, streamCall } from './testing.js';

const CORPUS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../shared/corpus/llm-streams');

/** The `data:` payloads of a (content-length framed) corpus stream. */
function dataLines(file: string): string[] {
  const raw = fs.readFileSync(path.join(CORPUS, file), 'utf8');
  return [...raw.matchAll(/^data: (.*?)\r?$/gm)].map((m) => m[1]!);
}

const file = 'gemini/no-args-tool-thoughts.http';
const skip = fs.existsSync(path.join(CORPUS, file)) ? false : `the shared corpus is missing at ${CORPUS}`;
t.test(
  'Code Assist (Gemini CLI under OAuth): wrapped requests and chunks merge like the plain API',
  { skip },
  async (t) => {
    const lines = dataLines(file);
    t.ok(lines.length > 5);
    const inner = {
      contents: [{ role: 'user', parts: [{ text: 'go' }] }],
      systemInstruction: { parts: [{ text: 'You are ' }, { text: 'Gemini CLI' }] },
      generationConfig: { temperature: 0 },
    };
    const plain = streamCall(
      '/v1beta/models/gemini-3-flash-preview:streamGenerateContent?alt=sse',
      inner,
      lines.map((d) => ({ data: d })),
      { host: 'generativelanguage.googleapis.com' },
    );
    const wrapped = streamCall(
      '/v1internal:streamGenerateContent?alt=sse',
      { model: 'gemini-3-flash-preview', project: 'p-123', user_prompt_id: 'u1', request: inner },
      lines.map((d) => ({ data: `{"traceId":"abc","response":${d}}` })),
      { host: 'cloudcode-pa.googleapis.com' },
    );
    t.equal(wrapped.provider, 'google-code-assist');
    t.same(wrapped.response, plain.response);
    t.same(wrapped.usage, plain.usage);
    t.equal(wrapped.model, plain.model);
    t.equal(plain.response.tool_calls.length, 4);
    t.equal(wrapped.request.system, 'You are Gemini CLI', 'systemInstruction text flattened');
    t.same(wrapped.request.messages, inner.contents);
    t.same(wrapped.request.params, { generationConfig: { temperature: 0 } });
    t.equal(wrapped.request.stream, true);
  },
);

t.test('streamGenerateContent without alt=sse: a JSON array of chunks', async (t) => {
  const chunks = [
    {
      candidates: [{ content: { role: 'model', parts: [{ text: 'Hel' }] } }],
      modelVersion: 'gemini-2.5-pro',
      responseId: 'r1',
    },
    {
      candidates: [
        {
          content: {
            role: 'model',
            parts: [{ text: 'lo', thought: false }, { functionCall: { name: 'f', args: { a: 1 }, id: 'fc1' } }],
          },
          finishReason: 'STOP',
        },
      ],
      usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, cachedContentTokenCount: 1 },
    },
  ];
  const c = jsonCall('/v1beta/models/gemini-2.5-pro:streamGenerateContent', { contents: [] }, 200, chunks);
  t.equal(c.response.text, 'Hello');
  t.same(c.response.tool_calls, [{ id: 'fc1', name: 'f', arguments: { a: 1 } }]);
  t.same(c.usage, { input_tokens: 3, output_tokens: 2, cache_read_input_tokens: 1 });
  t.equal(c.model, 'gemini-2.5-pro');
  t.equal(c.response.id, 'r1');
  t.equal(c.incomplete, undefined);
});

t.test('streamed function-call arguments: nested paths, numbers, appended strings', async (t) => {
  const a = new GeminiAccumulator();
  const part = (fc: object) => JSON.stringify({ candidates: [{ content: { parts: [{ functionCall: fc }] } }] });
  a.sse(undefined, part({ name: 'edit', willContinue: true }));
  a.sse(
    undefined,
    part({ partialArgs: [{ jsonPath: '$.file.path', stringValue: '/tmp/', willContinue: true }], willContinue: true }),
  );
  a.sse(
    undefined,
    part({
      partialArgs: [
        { jsonPath: '$.file.path', stringValue: 'x.txt' },
        { jsonPath: '$.lines[1]', numberValue: 7 },
        { jsonPath: '$.dry', boolValue: true },
        { jsonPath: '$.__proto__.polluted', stringValue: 'no' },
      ],
      willContinue: true,
    }),
  );
  a.sse(undefined, part({}));
  a.sse(undefined, JSON.stringify({ candidates: [{ content: { parts: [{ text: '' }] }, finishReason: 'STOP' }] }));
  const r = a.result();
  t.same(r.tool_calls, [
    { id: null, name: 'edit', arguments: { file: { path: '/tmp/x.txt' }, lines: [undefined, 7], dry: true } },
  ]);
  t.equal(({} as Record<string, unknown>).polluted, undefined, 'no prototype pollution through jsonPath');
  t.equal(r.incomplete, undefined);
});

t.test('errors, blocked prompts and cut streams', async (t) => {
  const e = jsonCall('/v1beta/models/gemini-2.5-flash:generateContent', { contents: [] }, 429, {
    error: { code: 429, message: 'Resource exhausted', status: 'RESOURCE_EXHAUSTED' },
  });
  t.same(e.error, { code: 429, message: 'Resource exhausted', status: 'RESOURCE_EXHAUSTED' });
  t.equal(e.model, 'gemini-2.5-flash', 'model from the path');
  t.equal(e.request.stream, false);
  const blocked = streamCall('/v1beta/models/m:streamGenerateContent?alt=sse', { contents: [] }, [
    { data: { promptFeedback: { blockReason: 'SAFETY' }, usageMetadata: { promptTokenCount: 4 } } },
  ]);
  t.same(blocked.error, { promptFeedback: { blockReason: 'SAFETY' } });
  t.equal(blocked.response.finish_reason, null);
  t.equal(blocked.incomplete, undefined);
  const cut = streamCall('/v1beta/models/m:streamGenerateContent?alt=sse', { contents: [] }, [
    { data: { candidates: [{ content: { parts: [{ text: 'so far' }] } }] } },
  ]);
  t.equal(cut.response.text, 'so far');
  t.equal(cut.incomplete, 'stream ended before finishReason');
  t.equal(gemini.request('garbage', '/v1beta/models/x:generateContent').model, 'x');
});
