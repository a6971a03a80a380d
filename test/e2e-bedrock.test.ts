// Claude Code on Amazon Bedrock, end to end as root with real eBPF: the mock serves Bedrock's
// invoke-with-response-stream (AWS event-stream frames, each Anthropic event base64 in a
// `chunk`), Claude Code's own AWS SDK decodes them, and as-http | as-merge must give the same
// llm/call per model call as on the direct API, with provider `bedrock` and the model id of
// the path.
import t from 'tap';
import fs from 'node:fs';
import { kernelSkipReason } from './sslsniff-helpers.js';
import { kernelSkipReason as procSkipReason } from './proc-harness.js';
import { BEDROCK_MODEL, SESSION, claudeCodeBedrock, traceAgent } from './lib/agents.js';
import { checkSession } from './lib/agent-checks.js';

const why = kernelSkipReason() || procSkipReason(['proc.bpf.o']);
const agent = claudeCodeBedrock();
const un = why ? `kernel test: ${why}` : agent.available();
if (un) t.comment(`SKIP ${agent.name}: ${un}`);
t.test('Claude Code on Bedrock: every call merged like the direct API', { skip: un ?? false, timeout: 150_000 }, async (t) => {
  // Bedrock calls are named by the path's model id, whatever name the body gives the model:
  // the scripted turns keep the request's model.
  const turns = (cwd: string) => SESSION.turns(agent)(cwd).map(({ model: _m, ...r }) => r);
  const s = await traceAgent(agent, turns, { prompt: SESSION.prompt, timeoutMs: 120_000 });
  t.teardown(() => fs.rmSync(s.dir, { recursive: true, force: true }));
  checkSession(t, s);
  const calls = s.merged.filter((e) => e.src === 'llm' && e.type === 'call') as Array<Record<string, any>>;
  t.ok(s.requests.filter((r) => r.api).every((r) => r.bedrock === 'invoke' && /\/model\/[^/]+\/invoke(-with-response-stream)?$/.test(r.path)), 'every model call went to a Bedrock invoke path');
  t.ok(calls.length > 0 && calls.every((c) => c.provider === 'bedrock' && c.model === BEDROCK_MODEL), `provider bedrock, model from the path (${calls.map((c) => `${c.provider}/${c.model}`)})`);
  t.ok(calls.some((c) => c.request.stream === true), 'streamed calls (event-stream) merged');
});
