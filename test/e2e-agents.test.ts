// Real agents, end to end, as root with real eBPF: each agent runs gated against the mock
// LLM server over HTTPS, with as-sslsniff on the file that carries its TLS (filtered to its
// pid) and as-proc on its process tree; the capture goes through as-http | as-merge. The
// mock is scripted to make the agent run a shell command (which writes a file, and ends
// with a failing `ls`) and then write a file with its own file tool. Every llm/call must
// carry what the mock sent (model, text, tool calls, usage) and what the agent sent (the
// request the mock received); the tool's processes must appear with argv and exit code,
// and both file writes as opens with write flags (or, for an atomic write, a rename into place).

import fs from 'node:fs';
import t from 'tap';
import { checkSession } from './lib/agent-checks.js';
import { ALL_AGENTS, SESSION, traceAgent } from './lib/agents.js';
import { kernelSkipReason as procSkipReason } from './proc-harness.js';
import { kernelSkipReason } from './sslsniff-helpers.js';

const { prompt: PROMPT, turns } = SESSION;

const why = kernelSkipReason() || procSkipReason(['proc.bpf.o']);
if (why) {
  t.test('real agents end to end', { skip: `kernel test: ${why}` }, async () => {});
} else {
  for (const agent of ALL_AGENTS()) {
    const un = agent.available();
    if (un) t.comment(`SKIP ${agent.name}: ${un}`);
    t.test(
      `${agent.name}: every call, tool process and file write captured`,
      { skip: un ?? false, timeout: 120_000 },
      async (t) => {
        const s = await traceAgent(agent, turns(agent), { prompt: PROMPT, timeoutMs: 90_000 });
        t.teardown(() => fs.rmSync(s.dir, { recursive: true, force: true }));
        checkSession(t, s);
      },
    );
  }
}

// Codex (rustls over aws-lc, two releases, native and npm launcher): test/sslsniff-codex.test.ts.
