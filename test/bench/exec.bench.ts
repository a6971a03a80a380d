// Overhead of `agentsight exec` on a real agent: wall time of a scripted multi-call session
// (the SDK agent, 8 model calls each asking for a shell tool) with and without tracing.
// Measured twice: with model latency like a real API's (streamed events 15 ms apart), and
// on a bare loopback mock (no latency), the worst case where every uprobe's cost shows.
// First, the fixed cost on its own: `agentsight exec -- true` against `true`, and start to
// first event, for exec (the agent's exec) and as-sslsniff -p (a running client's first TLS call).
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

/** A command's wall time, its CPU (user + sys, children included, from the shell's cutime/cstime) and its stdout lines with their arrival times. */
function timed(
  cmd: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ wall: number; cpu: number; t0: number; lines: string[] }> {
  const t0 = Date.now();
  const p0 = performance.now();
  return new Promise((resolve, reject) => {
    const c = spawn('/bin/sh', ['-c', '"$@"; s=$?; cat /proc/$$/stat >&3; exit $s', 'sh', ...cmd], {
      cwd: work,
      env,
      stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let stat = '';
    c.stdout!.on('data', (d) => {
      out += d;
    });
    c.stderr!.on('data', (d) => {
      err += d;
    });
    c.stdio[3]!.on('data', (d) => {
      stat += d;
    });
    c.on('close', (code) => {
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // Fields 16 and 17 (cutime, cstime): every child the shell waited for.
      const cpu = ((Number(f[13]) + Number(f[14])) / 100) * 1000;
      if (code === 0) resolve({ wall: performance.now() - p0, cpu, t0, lines: out.split('\n').filter(Boolean) });
      else reject(new Error(`${cmd.join(' ')}: exit ${code}: ${err.slice(-500)}`));
    });
  });
}

/** as-sslsniff -p PID of a client making an HTTPS call every 10 ms: ms from its start to the first TLS event's timestamp. */
async function sniffFirstEvent(): Promise<{ first: number; cpu: number }> {
  const mock = await startMockLlm({ script: Array.from({ length: 2000 }, () => ({ text: 'ok' })) });
  const client = spawn(
    process.execPath,
    [
      '-e',
      `const https = require('node:https'); const a = new https.Agent({ keepAlive: true });
       setInterval(() => https.request(process.argv[1] + '/v1/messages', { method: 'POST', agent: a, headers: { 'content-type': 'application/json' } }, (r) => r.resume()).on('error', () => {}).end('{"model":"m","max_tokens":1,"messages":[]}'), 10);`,
      mock.url,
    ],
    { env: { ...process.env, NODE_EXTRA_CA_CERTS: mock.caPath }, stdio: 'ignore' },
  );
  try {
    await new Promise((r) => setTimeout(r, 300));
    const c = spawn(process.execPath, [toolPath('as-sslsniff'), '-q', '-p', String(client.pid)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const t0 = Date.now();
    let buf = '';
    let err = '';
    c.stderr!.on('data', (d) => {
      err += d;
    });
    const first = await new Promise<number>((resolve, reject) => {
      c.stdout!.on('data', (d) => {
        buf += d;
        const line = buf.split('\n').find((l) => l.includes('"src":"ssl"'));
        if (line) resolve((JSON.parse(line) as { ts: number }).ts / 1000 - t0);
      });
      c.on('close', (code) => reject(new Error(`as-sslsniff exited ${code}: ${err.slice(-500)}`)));
      setTimeout(() => reject(new Error('as-sslsniff: no TLS event in 20 s')), 20000).unref();
    });
    const cpu = procCpuMs(c.pid!);
    const closed = new Promise((r) => c.on('close', r));
    c.kill('SIGINT');
    await closed;
    return { first, cpu };
  } finally {
    client.kill();
    await mock.close();
  }
}

function procCpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const r = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return ((Number(r[11]) + Number(r[12])) / 100) * 1000;
}

{
  const plain: Array<{ wall: number; cpu: number }> = [];
  const traced: Array<{ wall: number; cpu: number; first: number }> = [];
  const sniff: Array<{ first: number; cpu: number }> = [];
  const N = size('BENCH_START_REPS', 7, 1);
  for (let i = 0; i < N; i++) {
    plain.push(await timed(['/bin/true']));
    const r = await timed([
      process.execPath,
      toolPath('agentsight'),
      'exec',
      '--no-server',
      '-q',
      '--interval',
      '0',
      '-o',
      '-',
      '--',
      '/bin/true',
    ]);
    // The first captured event: the agent's own exec, stamped by the kernel.
    const ex = r.lines
      .map((l) => JSON.parse(l) as { src: string; type: string; ts: number })
      .find((e) => e.src === 'proc' && e.type === 'exec');
    if (!ex) throw new Error('agentsight exec -- true: no proc/exec event');
    traced.push({ ...r, first: ex.ts / 1000 - r.t0 });
    sniff.push(await sniffFirstEvent());
  }
  const m = (xs: number[]) => median(xs).toFixed(0);
  console.log(`start-up: ${N} runs each, alternating (medians)`);
  console.log(
    `  agentsight exec -- true: ${m(traced.map((x) => x.wall))} ms wall (true alone ${m(plain.map((x) => x.wall))} ms), ${m(traced.map((x) => x.cpu))} ms CPU; start to first event (the agent's exec) ${m(traced.map((x) => x.first))} ms`,
  );
  console.log(
    `  as-sslsniff -p PID: start to first TLS event ${m(sniff.map((x) => x.first))} ms (a client calling every 10 ms), ${m(sniff.map((x) => x.cpu))} ms CPU by then`,
  );
}

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
