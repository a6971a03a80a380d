// Claude Code on Amazon Bedrock, end to end as root with real eBPF: the mock serves Bedrock's
// invoke-with-response-stream (AWS event-stream frames, each Anthropic event base64 in a
// `chunk`), Claude Code's own AWS SDK decodes them, and as-http | as-merge must give the same
// llm/call per model call as on the direct API, with provider `bedrock` and the model id of
// the path.

import fs from 'node:fs';
import t from 'tap';
import { checkSession } from './lib/agent-checks.js';
import { BEDROCK_MODEL, claudeCodeBedrock, SESSION, traceAgent } from './lib/agents.js';
import { kernelSkipReason as procSkipReason } from './proc-harness.js';
import { kernelSkipReason } from './sslsniff-helpers.js';

const why = kernelSkipReason() || procSkipReason(['proc.bpf.o']);
const agent = claudeCodeBedrock();
const un = why ? `kernel test: ${why}` : agent.available();
if (un) t.comment(`SKIP ${agent.name}: ${un}`);
t.test(
  'Claude Code on Bedrock: every call merged like the direct API',
  { skip: un ?? false, timeout: 150_000 },
  async (t) => {
    // Bedrock calls are named by the path's model id, whatever name the body gives the model:
    // the scripted turns keep the request's model.
    const turns = (cwd: string) => SESSION.turns(agent)(cwd).map(({ model: _m, ...r }) => r);
    const s = await traceAgent(agent, turns, { prompt: SESSION.prompt, timeoutMs: 120_000 });
    t.teardown(() => fs.rmSync(s.dir, { recursive: true, force: true }));
    checkSession(t, s);
    const calls = s.merged.filter((e) => e.src === 'llm' && e.type === 'call') as Array<Record<string, any>>;
    t.ok(
      s.requests
        .filter((r) => r.api)
        .every((r) => r.bedrock === 'invoke' && /\/model\/[^/]+\/invoke(-with-response-stream)?$/.test(r.path)),
      'every model call went to a Bedrock invoke path',
    );
    t.ok(
      calls.length > 0 && calls.every((c) => c.provider === 'bedrock' && c.model === BEDROCK_MODEL),
      `provider bedrock, model from the path (${calls.map((c) => `${c.provider}/${c.model}`)})`,
    );
    t.ok(
      calls.some((c) => c.request.stream === true),
      'streamed calls (event-stream) merged',
    );
  },
);

t.test(
  'Claude Code on Bedrock: a cut stream, then its non-streaming invoke fallback',
  { skip: un ?? false, timeout: 150_000 },
  async (t) => {
    // Claude Code answers a stream that breaks off by asking again with plain `invoke`.
    const final = 'Answered without streaming.';
    const turns = () => [
      { text: 'this stream is cut short before it ends', cutAfterChunks: 2 },
      { text: final, usage: { input_tokens: 321, output_tokens: 7 } },
    ];
    const s = await traceAgent(agent, turns, { prompt: 'Say hello.', timeoutMs: 120_000 });
    t.teardown(() => fs.rmSync(s.dir, { recursive: true, force: true }));
    t.equal(s.exitCode, 0, `claude exit 0: ${s.stderr.trim().slice(-300)}`);
    const reqs = s.requests.filter((r) => r.api);
    t.same(
      reqs.map((r) => [r.bedrock, r.stream]),
      [
        ['invoke', true],
        ['invoke', false],
      ],
      'the mock saw a streamed invoke, then a plain one',
    );
    const calls = s.merged.filter((e) => e.src === 'llm' && e.type === 'call') as Array<Record<string, any>>;
    t.equal(calls.length, 2, 'one llm/call per model call');
    // The cut call is reported when its connection's end is seen, which may come after the other.
    const cut = calls.find((c) => c.request.stream === true);
    const plain = calls.find((c) => c.request.stream === false);
    t.ok(cut && plain, 'a streamed call and a plain one');
    t.ok(cut?.incomplete, `the cut stream is incomplete (${cut?.incomplete})`);
    t.equal(plain?.provider, 'bedrock');
    t.equal(plain?.model, BEDROCK_MODEL);
    t.equal(plain?.response.text, final, 'the non-streaming answer, as the mock sent it');
    t.match(plain?.usage, { input_tokens: 321, output_tokens: 7 });
    t.equal(plain?.incomplete, undefined);
    t.same(
      plain?.request.messages,
      (reqs[1]!.json as { messages: unknown[] }).messages,
      'the request as the mock received it',
    );
  },
);
