// End to end, for real: two SDK agents (Anthropic and OpenAI) run at once against mock LLMs
// scripted to ask for tool calls (one, two in parallel, a file write the agent does itself,
// and one that fails three times in a row). Their TLS plaintext is captured with
// as-sslsniff (on the node binary, one capture per agent pid) and their processes with
// as-proc, their output with as-stdiocap; all go through as-http | as-merge --correlate. Every tool call must
// link to exactly the processes it ran, the loop alert must fire once, and nothing may
// link across the two agents.
//
// The truth is independent of the correlator: the agent runs its tools one after another
// in the order the model asked, each bash call as one `/bin/sh -c CMD` child, so the k-th
// such child of an agent (found by its exact argv in the kernel's exec events), and the
// processes under it, belong to that agent's k-th bash call.

import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent, ProcExecEvent, ProcForkEvent, TraceAlertEvent, TraceLinkEvent } from '@agentsight/events';
import { type Reply, startMockLlm } from '@agentsight/mock-llm';
import { testing } from '@agentsight/trace';
import t from 'tap';
import { correlateCapture } from './lib/run.js';
import { kernelSkipReason, ROOT, startTool } from './proc-harness.js';
import { type Capture, startCapture } from './sslsniff-helpers.js';

const { links, alerts, linkPids, precisionRecall } = testing;
const TOOLS = path.join(ROOT, 'dist/tools');
const AGENT = path.join(ROOT, 'dist/test/agents/sdk-agent.js');

function skipReason(): string | null {
  const k = kernelSkipReason(['proc.bpf.o', 'sslsniff.bpf.o', 'stdiocap.bpf.o']);
  if (k) return k;
  for (const f of ['as-sslsniff.js', 'as-proc.js', 'as-stdiocap.js', 'as-http.js', 'as-merge.js']) {
    if (!fs.existsSync(path.join(TOOLS, f))) return `dist/tools/${f} not built (make build)`;
  }
  if (!fs.existsSync(AGENT)) return `${AGENT} not built (make build)`;
  return null;
}

interface AgentPlan {
  name: string;
  provider: 'anthropic' | 'openai';
  script: Reply[];
  /** Per bash tool call, in the order the agent runs them: [tool call id, command]. */
  bash: Array<[string, string]>;
  /** write_file calls: [tool call id, path relative to the project]. */
  writes: Array<[string, string]>;
  failing: string;
  /** Files in the project before the agent starts. */
  files?: Record<string, string>;
}

const bash = (id: string, command: string) => ({ id, name: 'bash', arguments: { command } });

// Agent A: Anthropic. One call, two in parallel, a write the agent does itself, then the
// same failing command three times, then an answer.
const PLAN_A: AgentPlan = {
  name: 'A',
  provider: 'anthropic',
  failing: 'cat missing-input.txt',
  script: [
    { toolCalls: [bash('toolu_a1', 'echo hello > hello.txt && wc -c hello.txt')] },
    { toolCalls: [bash('toolu_a2', 'ls -la'), bash('toolu_a3', 'uname -sr; id -u')] },
    { toolCalls: [{ id: 'toolu_a4', name: 'write_file', arguments: { path: 'notes.txt', content: 'all good\n' } }] },
    { toolCalls: [bash('toolu_a5', 'cat missing-input.txt')] },
    { toolCalls: [bash('toolu_a6', 'cat missing-input.txt')] },
    { toolCalls: [bash('toolu_a7', 'cat missing-input.txt')] },
    { text: 'The input file is missing; stopping.' },
  ],
  bash: [
    ['toolu_a1', 'echo hello > hello.txt && wc -c hello.txt'],
    ['toolu_a2', 'ls -la'],
    ['toolu_a3', 'uname -sr; id -u'],
    ['toolu_a5', 'cat missing-input.txt'],
    ['toolu_a6', 'cat missing-input.txt'],
    ['toolu_a7', 'cat missing-input.txt'],
  ],
  writes: [['toolu_a4', 'notes.txt']],
};

// Agent B: OpenAI Chat, at the same time, running some of the very same commands.
const PLAN_B: AgentPlan = {
  name: 'B',
  provider: 'openai',
  failing: '',
  script: [
    { toolCalls: [bash('call_b1', 'ls -la')] },
    { toolCalls: [bash('call_b2', 'echo beta > b.txt'), bash('call_b3', 'uname -sr; id -u')] },
    { toolCalls: [bash('call_b4', 'cat missing-input.txt')] },
    { toolCalls: [bash('call_b5', 'sh ./fetch.sh')] },
    { text: 'Done.' },
  ],
  bash: [
    ['call_b1', 'ls -la'],
    ['call_b2', 'echo beta > b.txt'],
    ['call_b3', 'uname -sr; id -u'],
    ['call_b4', 'cat missing-input.txt'],
    ['call_b5', 'sh ./fetch.sh'],
  ],
  writes: [],
  // A script the model never saw: it reads the secrets file and connects to an address no
  // one mentioned (port 9 on a loopback address: refused, but attempted).
  files: {
    '.env': 'API_TOKEN=not-a-real-token\n',
    'fetch.sh': `cat .env > /dev/null\n"${process.execPath}" -e "require('net').connect(9, '127.0.0.3').on('error', () => {})"\n`,
  },
};

interface Running {
  plan: AgentPlan;
  dir: string;
  child: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; out: string; err: string }>;
}

/** The test runner's environment without its Node hooks: the agent is a plain program. */
function agentEnv(ca: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(NODE_OPTIONS|TAP|_TAP)/.test(k)) env[k] = v;
  return { ...env, NODE_EXTRA_CA_CERTS: ca };
}

function spawnGated(plan: AgentPlan, baseUrl: string, ca: string): Running {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `as-correlate-${plan.name}-`));
  for (const [name, text] of Object.entries(plan.files ?? {})) fs.writeFileSync(path.join(dir, name), text);
  // The shell waits for a line on stdin, then becomes the agent (same pid), so the captures
  // can be attached to that pid before the agent's first byte of TLS.
  // NODE_OPTIONS: the test runner's hooks (which tap injects into children) stay out of it.
  const child = spawn(
    '/bin/sh',
    [
      '-c',
      'read go; unset NODE_OPTIONS; exec "$0" "$@"',
      process.execPath,
      AGENT,
      '--provider',
      plan.provider,
      '--base-url',
      baseUrl,
      'Do the task.',
    ],
    {
      cwd: dir,
      env: agentEnv(ca),
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    err += d;
  });
  const exited = new Promise<{ code: number | null; out: string; err: string }>((res) =>
    child.on('close', (code) => res({ code, out, err })),
  );
  return { plan, dir, child, pid: child.pid!, exited };
}

const why = skipReason();
t.test(
  'two SDK agents at once, real capture: tool calls link to exactly their processes',
  { skip: why ? `correlation E2E: ${why}` : false, timeout: 150_000 },
  async (t) => {
    const mockA = await startMockLlm({ script: PLAN_A.script });
    const mockB = await startMockLlm({ script: PLAN_B.script });
    const captures: Capture[] = [];
    const agents = [spawnGated(PLAN_A, mockA.url, mockA.caPath), spawnGated(PLAN_B, mockB.url, mockB.caPath)];
    t.teardown(async () => {
      for (const a of agents) a.child.kill('SIGKILL');
      for (const c of captures) c.child.kill('SIGKILL');
      await mockA.close();
      await mockB.close();
      for (const a of agents) fs.rmSync(a.dir, { recursive: true, force: true });
    });

    const proc = startTool('as-proc', ['--interval', '0', ...agents.flatMap((a) => ['-p', String(a.pid)])], {
      timeoutMs: 120_000,
    });
    // The tools' output, to check the results the agents sent back against what ran.
    const stdio = startTool(
      'as-stdiocap',
      agents.flatMap((a) => ['-p', String(a.pid)]),
      { timeoutMs: 120_000 },
    );
    await proc.ready;
    await stdio.ready;
    for (const a of agents) captures.push(await startCapture(['-p', String(a.pid), '--binary-path', process.execPath]));

    for (const a of agents) a.child.stdin!.end('go\n');
    const results = await Promise.all(agents.map((a) => a.exited));
    results.forEach((r, i) => t.equal(r.code, 0, `agent ${agents[i]!.plan.name} exits 0: ${r.err.slice(-500)}`));
    t.match(results[0]!.out, /input file is missing/);
    t.equal(mockA.requests.length, PLAN_A.script.length, 'agent A made every scripted call');
    t.equal(mockB.requests.length, PLAN_B.script.length, 'agent B made every scripted call');

    const sniffed = await Promise.all(captures.map((c) => c.stop()));
    // Give as-proc time to read the last exits before asking it to stop.
    await new Promise((r) => setTimeout(r, 300));
    const procRun = await proc.stop();
    const stdioRun = await stdio.stop();
    t.same(procRun.invalid, [], 'as-proc output valid');
    t.same(stdioRun.invalid, [], 'as-stdiocap output valid');
    sniffed.forEach((s, i) => t.equal(s.code, 0, `as-sslsniff ${i} exits 0: ${s.stderr.slice(-300)}`));

    // One stream as a single capture would give it: merged in time order.
    const all = [...procRun.events, ...stdioRun.events, ...sniffed.flatMap((s) => s.events as AgentEvent[])]
      .map((e, i) => ({ e, i }))
      .sort((x, y) => x.e.ts - y.e.ts || x.i - y.i)
      .map((x) => x.e);
    const capFile = path.join(agents[0]!.dir, '..', `as-correlate-${process.pid}.ndjson`);
    fs.writeFileSync(capFile, all.map((e) => JSON.stringify(e)).join('\n') + '\n');
    // AS_KEEP_CAPTURE=FILE keeps the merged capture for a look afterwards.
    t.teardown(() => {
      if (process.env.AS_KEEP_CAPTURE) fs.copyFileSync(capFile, process.env.AS_KEEP_CAPTURE);
      fs.rmSync(capFile, { force: true });
    });
    const { events, stderr, code } = await correlateCapture(capFile);
    t.equal(code, 0, stderr);

    const calls = events.filter((e) => e.src === 'llm' && e.type === 'call');
    t.equal(calls.length, PLAN_A.script.length + PLAN_B.script.length, 'every model call merged');

    // Truth from the kernel's exec events: the k-th `/bin/sh -c CMD` child of each agent,
    // and everything under it.
    const procs = procRun.events.filter(
      (e): e is ProcExecEvent | ProcForkEvent => e.src === 'proc' && (e.type === 'exec' || e.type === 'fork'),
    );
    const parent = new Map<number, number>();
    for (const e of procs) parent.set(e.pid, e.ppid);
    const under = (pid: number, anc: number) => {
      for (let p: number | undefined = pid, i = 0; p && i < 64; p = parent.get(p), i++) if (p === anc) return true;
      return false;
    };
    const truth = new Map<string, number[]>();
    const agentOf = new Map<string, Running>();
    for (const a of agents) {
      const shells = procs.filter(
        (e): e is ProcExecEvent =>
          e.type === 'exec' && e.ppid === a.pid && e.argv[0] === '/bin/sh' && e.argv[1] === '-c',
      );
      t.same(
        shells.map((s) => s.argv[2]),
        a.plan.bash.map(([, c]) => c),
        `agent ${a.plan.name}: the kernel saw each bash call's shell, in order`,
      );
      a.plan.bash.forEach(([id], k) => {
        const root = shells[k]?.pid;
        if (root === undefined) return;
        const pids = [...new Set(procs.filter((e) => under(e.pid, root)).map((e) => e.pid))];
        truth.set(id, pids);
        agentOf.set(id, a);
      });
    }

    t.equal(truth.size, PLAN_A.bash.length + PLAN_B.bash.length, 'truth for every bash call');
    const tp = links(events, 'tool_process');
    const processLinks = tp.filter((l) => linkPids(l).length > 0);
    const pr = precisionRecall(processLinks, truth);
    t.comment(
      `tool call -> process links: precision ${(pr.precision * 100).toFixed(1)}%, recall ${(pr.recall * 100).toFixed(1)}% (${pr.tp} right, ${pr.fp} wrong, ${pr.fn} missed pairs over ${truth.size} bash calls)`,
    );
    t.equal(pr.precision, 1, 'precision 100%');
    t.equal(pr.recall, 1, 'recall 100%');
    for (const [id, pids] of truth) {
      const l = tp.find((x) => x.from === id);
      t.ok(l, `${id} linked`);
      if (l) t.same(linkPids(l).sort(), [...pids].sort(), `${id} -> exactly ${pids.join(',')}`);
    }
    // Nothing crosses agents: every linked pid sits under the agent that made the call.
    for (const l of processLinks) {
      const a = agentOf.get(l.from);
      for (const p of linkPids(l)) t.ok(a && under(p, a.pid), `${l.from}: pid ${p} is under its own agent`);
    }

    // The write the agent did itself: linked through its own file operation, no process.
    const w = tp.find((l) => l.from === 'toolu_a4');
    t.ok(w, 'write_file linked');
    if (w) {
      t.same(w.to, []);
      const files = (w.detail as { agent_files?: Array<{ path: string; op: string }> }).agent_files ?? [];
      t.ok(
        files.some((f) => f.path === path.join(agents[0]!.dir, 'notes.txt') && f.op === 'w'),
        JSON.stringify(files),
      );
    }

    // Tool results: each tool call linked to the next request of its own agent.
    const tr = links(events, 'tool_result');
    const allIds = [...PLAN_A.bash, ...PLAN_A.writes, ...PLAN_B.bash].map(([id]) => id);
    t.same(tr.map((l) => l.from).sort(), [...allIds].sort(), 'every tool result linked once');
    const callPid = new Map(calls.map((c) => [(c as { id: string }).id, c.pid]));
    for (const l of tr) {
      const a = agentOf.get(l.from) ?? agents[0]!;
      t.equal(callPid.get(String(l.to)), a.pid, `${l.from}: result carried by its own agent's next call`);
    }
    // What each bash call's processes wrote is what the agent sent back as its result.
    // (`echo beta > b.txt` and the script print nothing: nothing to match.)
    for (const l of tr.filter((x) => truth.has(x.from))) {
      t.equal(
        (l.detail as { output_match: boolean | null }).output_match,
        ['call_b2', 'call_b5'].includes(l.from) ? null : true,
        `${l.from}: result vs captured output (${l.reasons.join(',')})`,
      );
    }
    const failed = tr
      .filter((l) => (l.detail as { failed: boolean }).failed)
      .map((l) => l.from)
      .sort();
    t.same(failed, ['call_b4', 'toolu_a5', 'toolu_a6', 'toolu_a7']);

    const loops = alerts(events, 'tool_loop');
    t.equal(loops.length, 1, 'loop alert fires once');
    t.match(loops[0]?.evidence, { tool_calls: ['toolu_a5', 'toolu_a6', 'toolu_a7'], agent_pid: agents[0]!.pid });
    t.same(alerts(events, 'tool_mismatch'), [], 'no tool ran anything else');
    // What the script did that no one asked for, attributed to the tool call that ran it.
    const b = agents[1]!;
    t.same(
      alerts(events, 'sensitive_file').map((a) => [
        (a.evidence as { path: string }).path,
        (a.evidence as { tool_call: unknown }).tool_call,
      ]),
      [[path.join(b.dir, '.env'), ['call_b5']]],
      'the .env read is flagged',
    );
    t.same(
      alerts(events, 'unknown_host').map((a) => [
        (a.evidence as { addr: string }).addr,
        (a.evidence as { port: number }).port,
        (a.evidence as { agent_pid: number }).agent_pid,
      ]),
      [['127.0.0.3', 9, b.pid]],
      'the connection to an address never mentioned is flagged',
    );
    t.same(
      alerts(events).filter((a) => !['tool_loop', 'sensitive_file', 'unknown_host'].includes(a.rule)),
      [],
      'and nothing else to flag',
    );

    // One session per agent.
    const sessions = links(events, 'session');
    const byAgent = new Map<number, Set<string>>();
    for (const s of sessions) {
      const pid = callPid.get(String(s.to))!;
      byAgent.set(pid, (byAgent.get(pid) ?? new Set()).add(s.from));
    }
    t.same(
      [...byAgent.values()].map((s) => s.size),
      [1, 1],
    );
    const alertList = alerts(events).map((a: TraceAlertEvent) => `${a.rule}: ${a.message}`);
    t.comment(`alerts: ${alertList.join(' | ') || 'none'}`);
    const conf = processLinks.map((l: TraceLinkEvent) => l.confidence);
    t.comment(`confidence of process links: min ${Math.min(...conf)}, max ${Math.max(...conf)}`);
  },
);
