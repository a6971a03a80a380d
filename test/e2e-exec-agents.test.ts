// `agentsight exec` on real agents, as root with real eBPF: the same scripted session as
// e2e-agents (shell command, file write, final text), but traced by the one-process
// pipeline with no help from the test (it finds the TLS file, follows the tree, merges).
// The capture must pass the same checks as the standalone tools' capture.

import fs from 'node:fs';
import t from 'tap';
import { checkSession } from './lib/agent-checks.js';
import { ALL_AGENTS, execAgent, SESSION } from './lib/agents.js';
import { runTool, toolPath } from './lib/run.js';
import { kernelSkipReason as procSkipReason } from './proc-harness.js';
import { kernelSkipReason } from './sslsniff-helpers.js';

// Known gaps of `agentsight exec`, reported and tracked rather than hidden: the test still
// runs and prints every failing assertion, but does not fail the suite. (None now: Gemini
// CLI's relaunch as a child node is captured since TLS follows the tracked process tree.)
const TODO: Record<string, string> = {};

async function execProblem(): Promise<string | null> {
  if (!fs.existsSync(toolPath('agentsight'))) return `${toolPath('agentsight')} not built`;
  const r = await runTool('agentsight', ['exec', '--help'], { timeoutMs: 30_000 });
  return r.code === 0 ? null : `agentsight exec --help exits ${r.code}: ${r.stderr.trim().slice(0, 200)}`;
}

const why = kernelSkipReason() || procSkipReason(['proc.bpf.o']) || (await execProblem());
if (why) {
  t.test('agentsight exec on real agents', { skip: `kernel test: ${why}` }, async () => {});
} else {
  for (const agent of ALL_AGENTS()) {
    const un = agent.available();
    if (un) t.comment(`SKIP ${agent.name}: ${un}`);
    const todo = TODO[agent.name];
    t.test(
      `agentsight exec -- ${agent.name}: every call, tool process and file write`,
      { skip: un ?? false, todo: todo ?? false, timeout: 120_000 },
      async (t) => {
        const s = await execAgent(agent, SESSION.turns(agent), { prompt: SESSION.prompt, timeoutMs: 90_000 });
        t.teardown(() => fs.rmSync(s.dir, { recursive: true, force: true }));
        t.ok(s.pid > 0, `the agent's exec is in the capture (pid ${s.pid})`);
        checkSession(t, s);
      },
    );
  }
}

// Codex (rustls over aws-lc, two releases, native and npm launcher): test/sslsniff-codex.test.ts.
