// Overhead of `agentsight exec` on a real agent: wall time of a scripted multi-call session
// (the SDK agent, 8 model calls each asking for a shell tool) with and without tracing.
// Measured twice: with model latency like a real API's (streamed events 15 ms apart), and
// on a bare loopback mock (no latency), the worst case where every uprobe's cost shows.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Reply, startMockLlm } from '@agentsight/mock-llm';
import { ROOT, toolPath } from '../lib/run.js';
import { SMOKE, size } from './smoke.js';

if (process.getuid?.() !== 0) {
  console.log('exec bench: needs root (eBPF); skipped');
  process.exit(0);
}

const AGENT = path.join(ROOT, 'dist/test/agents/sdk-agent.js');
const CALLS = 8;
const REPS = size('BENCH_REPS', 5, 1);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'as-exec-bench-'));

function script(delayMs: number): Reply[] {
  const r: Reply[] = [];
  for (let i = 0; i < CALLS - 1; i++)
    r.push({
      text: `step ${i}: checking the tree `.repeat(8),
      toolCalls: [{ name: 'bash', arguments: { command: `ls -la / > /dev/null; echo ${i}` } }],
      delayMs,
    });
  r.push({ text: 'All done. '.repeat(20), delayMs });
  return r;
}

/** Wall time of the whole command, and the agent's own run time (it reports it). */
function run(cmd: string[], env: NodeJS.ProcessEnv): Promise<{ wall: number; agent: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn(cmd[0]!, cmd.slice(1), {
      cwd: work,
      env: { ...env, AGENT_TIMING: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    c.stderr.on('data', (d) => {
      err += d;
    });
    c.on('close', (code) => {
      const m = err.match(/agent-ms: ([\d.]+)/);
      if (code === 0 && m) resolve({ wall: performance.now() - t0, agent: Number(m[1]) });
      else reject(new Error(`exit ${code}: ${err.slice(-500)}`));
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};

const modes = [
  ['with API-like latency (15 ms between streamed events)', 15],
  ['bare loopback, no latency (worst case)', 0],
] as const;
for (const [label, delayMs] of SMOKE ? modes.slice(1) : modes) {
  const plain: Array<{ wall: number; agent: number }> = [];
  const traced: Array<{ wall: number; agent: number }> = [];
  for (let i = 0; i < REPS; i++) {
    for (const withTrace of [false, true]) {
      const mock = await startMockLlm({ script: script(delayMs) });
      const env = { ...process.env, NODE_EXTRA_CA_CERTS: mock.caPath };
      const agent = [process.execPath, AGENT, '--base-url', mock.url, '--max-turns', String(CALLS), 'work'];
      const cmd = withTrace
        ? [
            process.execPath,
            toolPath('agentsight'),
            'exec',
            '--no-server',
            '-q',
            '--interval',
            '0',
            '-o',
            path.join(work, `b${i}.ndjson`),
            '--',
            ...agent,
          ]
        : agent;
      const ms = await run(cmd, env);
      await mock.close();
      (withTrace ? traced : plain).push(ms);
    }
  }
  // What the agent notices (its own run time, probes in place) apart from the fixed cost of
  // loading, attaching and detaching around it (the whole command's wall time).
  const pa = median(plain.map((x) => x.agent)),
    qa = median(traced.map((x) => x.agent));
  const pw = median(plain.map((x) => x.wall)),
    qw = median(traced.map((x) => x.wall));
  console.log(`${label}: ${CALLS} calls, ${REPS} runs each (medians)`);
  console.log(
    `  agent's own run time: ${pa.toFixed(0)} ms untraced, ${qa.toFixed(0)} ms traced: ratio ${(qa / pa).toFixed(3)} (${(((qa - pa) / pa) * 100).toFixed(1)}% slower)`,
  );
  console.log(
    `  whole command:        ${pw.toFixed(0)} ms untraced, ${qw.toFixed(0)} ms with agentsight exec: +${(qw - qa - (pw - pa)).toFixed(0)} ms fixed cost (load, attach, detach)`,
  );
}
fs.rmSync(work, { recursive: true, force: true });
