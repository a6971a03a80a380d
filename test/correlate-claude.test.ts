// End to end with Claude Code (the native binary `make agents` installs): the real agent,
// in print mode with its Bash tool allowed, against the mock LLM scripted by turn: one
// command, two in parallel, then the same failing command three times. Captured for real
// (as-sslsniff on the claude binary, pid-filtered, and as-proc), then as-http | as-merge
// --correlate. Claude Code runs each command inside its own bash wrapper
// (`bash -c … eval 'CMD' …`), and runs helper processes of its own; the truth is the
// wrapper whose argv carries the command and everything under it.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AgentEvent, ProcExecEvent, ProcForkEvent } from '@agentsight/events';
import { type MockRequest, type Reply, startMockLlm } from '@agentsight/mock-llm';
import { testing } from '@agentsight/trace';
import t from 'tap';
import { correlateCapture } from './lib/run.js';
import { kernelSkipReason, ROOT, startTool } from './proc-harness.js';
import { startCapture } from './sslsniff-helpers.js';

const { links, alerts, linkPids, precisionRecall } = testing;
const TOOLS = path.join(ROOT, 'dist/tools');
const CLAUDE = path.join(ROOT, '.cache/agents/node_modules/@anthropic-ai/claude-code-linux-x64/claude');

function skipReason(): string | null {
  const k = kernelSkipReason(['proc.bpf.o', 'sslsniff.bpf.o']);
  if (k) return k;
  for (const f of ['as-sslsniff.js', 'as-proc.js', 'as-http.js', 'as-merge.js']) {
    if (!fs.existsSync(path.join(TOOLS, f))) return `dist/tools/${f} not built (make build)`;
  }
  if (!fs.existsSync(CLAUDE)) return `MISSING ${CLAUDE}: run \`make agents\``;
  return null;
}

// Tool calls per turn of the main loop; ids chosen here so the truth can name them.
const TURNS: Array<Array<[string, string]>> = [
  [['toolu_c1', 'echo hello > hello.txt && wc -c hello.txt']],
  [
    ['toolu_c2', 'ls -la'],
    ['toolu_c3', 'uname -sr'],
  ],
  [['toolu_c4', 'cat missing-input.txt']],
  [['toolu_c5', 'cat missing-input.txt']],
  [['toolu_c6', 'cat missing-input.txt']],
];

/** Tool results already in the conversation: which turn of the script this request is at. */
function turnOf(req: MockRequest): number {
  const msgs = (req.json as { messages?: Array<{ role: string; content: unknown }> })?.messages ?? [];
  return msgs.filter((m) => m.role === 'assistant').length;
}

function reply(req: MockRequest): Reply {
  const body = req.json as { tools?: Array<{ name: string }> } | undefined;
  // Claude Code's side requests (titles, topic checks) carry no Bash tool: answer in text.
  if (!body?.tools?.some((x) => x.name === 'Bash')) return { text: 'ok' };
  const turn = turnOf(req);
  const calls = TURNS[turn];
  if (!calls) return { text: 'The input file is missing; stopping.' };
  return {
    toolCalls: calls.map(([id, command]) => ({
      id,
      name: 'Bash',
      arguments: { command, description: `step ${turn}` },
    })),
  };
}

const why = skipReason();
t.test(
  'Claude Code, real capture: Bash tool calls link to exactly their processes',
  { skip: why ? `Claude Code correlation E2E: ${why}` : false, timeout: 180_000 },
  async (t) => {
    const mock = await startMockLlm({ script: reply });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-correlate-claude-'));
    const home = path.join(dir, 'home');
    const proj = path.join(dir, 'proj');
    fs.mkdirSync(home);
    fs.mkdirSync(proj);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      NODE_EXTRA_CA_CERTS: mock.caPath,
      ANTHROPIC_BASE_URL: mock.url,
      ANTHROPIC_API_KEY: 'sk-ant-agentsight-test',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      DISABLE_TELEMETRY: '1',
      DISABLE_AUTOUPDATER: '1',
      IS_SANDBOX: '1',
    };
    const child = spawn(
      '/bin/sh',
      [
        '-c',
        'read go; exec "$0" "$@"',
        CLAUDE,
        '-p',
        'Check the input file.',
        '--allowedTools',
        'Bash',
        '--max-turns',
        '12',
      ],
      {
        cwd: proj,
        env,
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
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    const proc = startTool('as-proc', ['--interval', '0', '-p', String(child.pid)], { timeoutMs: 150_000 });
    t.teardown(async () => {
      child.kill('SIGKILL');
      await mock.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });
    await proc.ready;
    const cap = await startCapture(['-p', String(child.pid), '--binary-path', CLAUDE], 60_000);
    child.stdin!.end('go\n');
    const killer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    const code = await exited;
    clearTimeout(killer);
    t.comment(`claude exit ${code}: ${out.trim().slice(0, 200)} ${err.trim().slice(0, 300)}`);
    const sniffed = await cap.stop();
    await new Promise((r) => setTimeout(r, 300));
    const procRun = await proc.stop();
    t.same(procRun.invalid, []);
    const main = mock.requests.filter((r) =>
      (r.json as { tools?: Array<{ name: string }> } | undefined)?.tools?.some((x) => x.name === 'Bash'),
    );
    t.equal(
      main.length,
      TURNS.length + 1,
      `Claude Code made every scripted main-loop call (${mock.requests.length} requests in all)`,
    );

    const all = [...procRun.events, ...(sniffed.events as AgentEvent[])]
      .map((e, i) => ({ e, i }))
      .sort((x, y) => x.e.ts - y.e.ts || x.i - y.i)
      .map((x) => x.e);
    const capFile = path.join(dir, 'cap.ndjson');
    fs.writeFileSync(capFile, all.map((e) => JSON.stringify(e)).join('\n') + '\n');
    if (process.env.AS_KEEP_CAPTURE) fs.copyFileSync(capFile, process.env.AS_KEEP_CAPTURE);
    const { events, stderr, code: pcode } = await correlateCapture(capFile);
    t.equal(pcode, 0, stderr);

    // Truth: for each tool call in order, the first not yet claimed process under claude whose
    // argv carries the command (Claude's wrapper), and everything under it.
    const procs = procRun.events.filter(
      (e): e is ProcExecEvent | ProcForkEvent => e.src === 'proc' && (e.type === 'exec' || e.type === 'fork'),
    );
    const parent = new Map<number, number>();
    for (const e of procs) parent.set(e.pid, e.ppid);
    const under = (pid: number, anc: number) => {
      for (let p: number | undefined = pid, i = 0; p && i < 64; p = parent.get(p), i++) if (p === anc) return true;
      return false;
    };
    const execs = procs.filter((e): e is ProcExecEvent => e.type === 'exec' && e.ppid === child.pid);
    const truth = new Map<string, number[]>();
    const claimed = new Set<number>();
    for (const [id, command] of TURNS.flat()) {
      const w = execs.find((e) => !claimed.has(e.pid) && e.argv.slice(1).some((a) => a.includes(command)));
      if (!w) continue;
      claimed.add(w.pid);
      truth.set(id, [...new Set(procs.filter((e) => under(e.pid, w.pid)).map((e) => e.pid))]);
    }
    t.equal(truth.size, TURNS.flat().length, 'the kernel saw a process for every Bash call');
    t.comment(`claude's own children: ${execs.map((e) => e.argv.slice(0, 3).join(' ').slice(0, 60)).join(' | ')}`);

    const tp = links(events, 'tool_process');
    const pr = precisionRecall(
      tp.filter((l) => linkPids(l).length > 0),
      truth,
    );
    t.comment(
      `Claude Code tool call -> process links: precision ${(pr.precision * 100).toFixed(1)}%, recall ${(pr.recall * 100).toFixed(1)}% (${pr.tp} right, ${pr.fp} wrong, ${pr.fn} missed)`,
    );
    t.equal(pr.precision, 1, 'precision 100%');
    t.equal(pr.recall, 1, 'recall 100%');
    const loops = alerts(events, 'tool_loop');
    t.equal(loops.length, 1, 'loop alert fires once');
    t.match(loops[0]?.evidence, { tool_calls: ['toolu_c4', 'toolu_c5', 'toolu_c6'] });
    // Claude's wrapper records its cwd in /tmp: flagged, but only as info.
    t.same(
      alerts(events)
        .filter((a) => a.rule !== 'tool_loop' && a.severity !== 'info')
        .map((a) => a.message),
      [],
      'nothing else to flag above info',
    );
    t.comment(
      `alerts: ${
        alerts(events)
          .map((a) => `${a.rule}: ${a.message}`)
          .join(' | ') || 'none'
      }`,
    );
  },
);
