// Real agents started AFTER the capture, as root with real uprobes, against the mock LLM:
// what a new user does first (`as-sslsniff -c claude | as-http | as-merge` in one terminal,
// `claude` in another; `agentsight record -c node`, then a node agent). Each agent's first
// model call must be in the merged output, and every call merged must be what the mock
// served. The merged calls say which agent made them (packages/agents): by its User-Agent
// where the stream has no process events (the as-sslsniff pipeline), by its exec in record.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Reply } from '@agentsight/mock-llm';
import t from 'tap';
import { CLAUDE_BIN, claudeCode, GEMINI_JS, geminiCli, sessionScript, writeSettings } from './lib/agents.js';
import { parseNdjson, ROOT, runTool } from './lib/run.js';
import { kernelSkipReason, run, startCapture, tmpdir } from './sslsniff-helpers.js';

/** One distinct text per call, so a merged call names the reply it got. */
const replies = (n: number): Reply[] =>
  Array.from({ length: n }, (_, i) => ({
    text: `reply ${i + 1} from the mock`,
    usage: { input_tokens: 100 + i, output_tokens: 7 },
  }));

type Ev = Record<string, any>;

/** What the mock sent back, as text, in order: model calls only. */
function servedTexts(served: Array<{ req: { api: unknown }; reply: Reply }>): string[] {
  return served.filter((s) => s.req.api !== null).map((s) => s.reply.text ?? '');
}

const why = kernelSkipReason();
if (why) {
  t.test('agents started after the capture', { skip: `kernel test: ${why}` }, async () => {});
} else {
  const dir = tmpdir();
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));

  t.test(
    'as-sslsniff -c claude first, then Claude Code: its first call merged as served, named by its User-Agent',
    { skip: fs.existsSync(CLAUDE_BIN) ? false : `MISSING ${CLAUDE_BIN}: run \`make agents\``, timeout: 180_000 },
    async (t) => {
      const { startMockLlm } = await import('@agentsight/mock-llm');
      const agent = claudeCode();
      const { script, served } = sessionScript(agent, replies(4));
      const mock = await startMockLlm({ script });
      t.teardown(() => mock.close());
      const home = path.join(dir, 'claude-home');
      fs.mkdirSync(home, { recursive: true });
      const l = agent.launch({ mock: { url: mock.url, caPath: mock.caPath }, prompt: 'say hello', cwd: dir, home });
      const cap = await startCapture(['-c', 'claude'], 60_000);
      t.notMatch(cap.stderr(), /exec'd by claude/, 'nothing of claude before it starts');
      const r = await run(l.cmd[0]!, l.cmd.slice(1), { env: { ...l.env } as NodeJS.ProcessEnv, timeoutMs: 90_000 });
      const { events } = await cap.stop();
      t.equal(r.code, 0, `claude ran: ${r.stderr.slice(-300)}`);
      // The rest of the man page's pipeline, the real tools.
      const http = await runTool('as-http', [], { stdin: events.map((e) => JSON.stringify(e)).join('\n') + '\n' });
      t.equal(http.code, 0, http.stderr);
      const merged = await runTool('as-merge', [], { stdin: http.stdout });
      t.equal(merged.code, 0, merged.stderr);
      const calls = parseNdjson(merged.stdout).filter((e) => e.src === 'llm' && e.type === 'call' && e.pid === r.pid);
      const want = servedTexts(served);
      t.ok(want.length >= 1, `claude called the mock (${want.length} model calls)`);
      t.same(
        calls.map((c) => c.response.text).sort(),
        [...want].sort(),
        'every model call merged, each with the reply the mock sent',
      );
      t.ok(
        calls.some((c) => c.response.text === want[0]),
        'the first model call, made right after the exec the capture followed',
      );
      for (const c of calls) t.same(c.agent, { id: 'claude-code', name: 'Claude Code', via: 'user-agent' });
    },
  );

  t.test(
    'agentsight record -c node --allow agent:gemini-cli first, then Gemini CLI: its calls merged as served; other node processes left out',
    { skip: fs.existsSync(GEMINI_JS) ? false : `MISSING ${GEMINI_JS}: run \`make agents\``, timeout: 240_000 },
    async (t) => {
      const { startMockLlm } = await import('@agentsight/mock-llm');
      const agent = geminiCli();
      const { script, served } = sessionScript(agent, replies(4));
      const mock = await startMockLlm({ script });
      t.teardown(() => mock.close());
      const home = path.join(dir, 'gemini-home');
      fs.mkdirSync(home, { recursive: true });
      const l = agent.launch({ mock: { url: mock.url, caPath: mock.caPath }, prompt: 'say hello', cwd: dir, home });
      writeSettings(l);
      const out = path.join(dir, 'record.ndjson');
      const rec = spawn(
        process.execPath,
        [
          path.join(ROOT, 'dist/tools/agentsight.js'),
          'record',
          '--no-server',
          '--interval',
          '0',
          '--no-files',
          '-c',
          'node',
          '--allow',
          'agent:gemini-cli',
          '-o',
          out,
        ],
        { stdio: ['ignore', 'ignore', 'pipe'] },
      );
      t.teardown(() => rec.kill('SIGKILL'));
      let err = '';
      rec.stderr.on('data', (d) => {
        err += d;
      });
      const exited = new Promise<number | null>((res) => rec.on('exit', (c) => res(c)));
      await new Promise<void>((res, rej) => {
        const w = setInterval(() => {
          if (/recording processes named/.test(err)) {
            clearInterval(w);
            res();
          }
        }, 50);
        void exited.then(() => {
          clearInterval(w);
          rej(new Error(err));
        });
      });
      // Another node process at the same time, not an agent: not selected.
      const [r, other] = await Promise.all([
        run(l.cmd[0]!, l.cmd.slice(1), { env: { ...l.env } as NodeJS.ProcessEnv, timeoutMs: 120_000 }),
        run(process.execPath, ['-e', 'setTimeout(() => {}, 1500)']),
      ]);
      t.equal(r.code, 0, `gemini ran: ${r.stderr.slice(-300)}`);
      t.equal(other.code, 0);
      await new Promise((res) => setTimeout(res, 500));
      rec.kill('SIGINT');
      const killer = setTimeout(() => rec.kill('SIGKILL'), 30_000);
      t.equal(await exited, 0, err.slice(-600));
      clearTimeout(killer);
      const events = parseNdjson(fs.readFileSync(out));
      const exec = events.find((e) => e.src === 'proc' && e.type === 'exec' && e.pid === r.pid);
      t.same(exec?.agent, { id: 'gemini-cli', name: 'Gemini CLI', via: 'path' }, 'its exec names the agent');
      const calls = events.filter((e: Ev) => e.src === 'llm' && e.type === 'call' && e.pid === r.pid);
      const want = servedTexts(served);
      t.ok(want.length >= 1, `gemini called the mock (${want.length} model calls)`);
      t.same(
        calls.map((c) => c.response.text).sort(),
        [...want].sort(),
        `every model call merged, each with the reply the mock sent (${err.split('\n').filter(Boolean).slice(-3).join(' | ')})`,
      );
      t.ok(
        calls.some((c) => c.response.text === want[0]),
        'the first model call',
      );
      for (const c of calls) t.equal(c.agent?.id, 'gemini-cli');
      // Without its exec (as-sslsniff alone), its calls would be named by their User-Agent.
      const { classifyByTraffic } = await import('@agentsight/agents');
      t.equal(
        classifyByTraffic({ headers: mock.requests[0]!.headers, provider: 'gemini' })?.id,
        'gemini-cli',
        `its User-Agent: ${mock.requests[0]!.headers['user-agent']}`,
      );
      t.notOk(
        events.some((e) => e.pid === other.pid),
        'the other node process is not in the capture',
      );
      const pids = new Set(events.filter((e) => e.pid !== undefined).map((e) => e.pid));
      t.ok(pids.has(r.pid), 'gemini is');
    },
  );
}
