// A real capture in the UI: `agentsight exec` traces a real SDK agent (the official
// Anthropic SDK, test/agents/sdk-agent.ts) talking HTTPS to the mock LLM, which asks for
// two shell commands, one failing. The capture (eBPF TLS plaintext, processes, files,
// correlation links) is loaded by as-serve; the browser must show the answer, both tool
// calls with the processes they ran and their exit codes, and never the API key.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMockLlm } from '@agentsight/mock-llm';
import { ingestFile, Store, serve } from '@agentsight/serve';
import t from 'tap';
import { kernelSkipReason } from './proc-harness.js';
import { ARTIFACTS, buildUi, CHROMIUM, openBrowser, ROOT } from './serve-fixture.js';

const AGENT = path.join(ROOT, 'dist/test/agents/sdk-agent.js');
const EXEC = path.join(ROOT, 'dist/tools/agentsight.js');
const KEY = 'sk-ant-api03-BROWSERREALKEY0123456789abcdef';

function skipReason(): string | null {
  if (!fs.existsSync(CHROMIUM)) return `${CHROMIUM} not installed (apt-get install chromium)`;
  const k = kernelSkipReason(['proc.bpf.o', 'sslsniff.bpf.o']);
  if (k) return k;
  for (const f of [AGENT, EXEC]) if (!fs.existsSync(f)) return `${f} not built (make build)`;
  return null;
}

const why = skipReason();
if (why) {
  t.plan(0, `SKIP: ${why}`);
} else {
  const assets = await buildUi();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'as-serve-real-'));
  const cap = path.join(dir, 'real.ndjson');
  const mock = await startMockLlm({
    script: [
      {
        toolCalls: [{ id: 'toolu_r1', name: 'bash', arguments: { command: 'wc -l /etc/hostname && ls / >/dev/null' } }],
      },
      { toolCalls: [{ id: 'toolu_r2', name: 'bash', arguments: { command: 'cat /nonexistent-input-7395' } }] },
      { text: 'The hostname file has **1 line**; the input file is missing.' },
    ],
  });
  const { NODE_OPTIONS: _tapLoaders, ...agentEnv } = process.env;
  const code = await new Promise<number | null>((resolve) => {
    const p = spawn(
      process.execPath,
      [
        EXEC,
        'exec',
        '--no-server',
        '-q',
        '-o',
        cap,
        '--',
        process.execPath,
        AGENT,
        '--base-url',
        mock.url,
        'Count the lines of /etc/hostname',
      ],
      {
        // Without tap's NODE_OPTIONS loaders: the agent should be a plain Node program.
        cwd: dir,
        env: { ...agentEnv, NODE_EXTRA_CA_CERTS: mock.caPath, ANTHROPIC_API_KEY: KEY },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let err = '';
    p.stderr!.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => p.kill('SIGKILL'), 90_000);
    p.on('exit', (c) => {
      clearTimeout(timer);
      if (c !== 0) t.comment(err);
      resolve(c);
    });
  });
  await mock.close();
  t.equal(code, 0, 'agentsight exec ran the agent to completion');
  const store = new Store(path.join(dir, 'r.db'));
  await ingestFile(store, cap);
  const srv = await serve(store, { host: '127.0.0.1', port: 0, assets });
  const { page, errors } = await openBrowser(t, { timeoutMs: 15_000 });
  t.teardown(async () => {
    await srv.close();
    store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  await t.test('conversations: answer, tool calls, their processes and exit codes', async (t) => {
    await page.goto(`${srv.url}conversations`);
    await page.waitForFunction(() => (globalThis as any).document.querySelectorAll('section.call').length >= 3);
    const text = await page.innerText('.calls');
    t.match(text, 'The hostname file has 1 line', 'the final answer, markdown rendered');
    t.match(text, 'Count the lines of /etc/hostname', 'the prompt');
    const wc = page.locator('table.procs tr', { hasText: 'wc -l /etc/hostname' });
    t.ok((await wc.count()) >= 1, 'the command the first tool call ran');
    t.match(await wc.last().innerText(), 'exit 0');
    const cat = page.locator('table.procs tr', { hasText: /^cat \/nonexistent-input-7395/ });
    t.equal(await cat.count(), 1, 'the failing command');
    t.match(await cat.first().innerText(), 'exit 1', 'with its exit code');
    t.match(text, /ran \(correlated/, "tied by the correlator's links");
    t.notOk((await page.content()).includes(KEY), 'the API key is not shown');
    await page.screenshot({ path: path.join(ARTIFACTS, 'serve-real-conversations.png') });
  });

  await t.test('process tree and timeline of the real run', async (t) => {
    await page.goto(`${srv.url}processes`);
    await page.waitForSelector('.node');
    const tree = await page.innerText('.tree');
    t.match(tree, 'sdk-agent.js');
    t.match(tree, '/bin/sh -c "cat /nonexistent-input-7395"');
    await page.screenshot({ path: path.join(ARTIFACTS, 'serve-real-processes.png') });
    await page.goto(`${srv.url}timeline`);
    await page.waitForSelector('svg.tl g.call-bar');
    t.equal(await page.locator('svg.tl g.call-bar').count(), 3, 'three model calls');
    await page.screenshot({ path: path.join(ARTIFACTS, 'serve-real-timeline.png') });
  });

  t.test('no script errors', async (t) => {
    t.same(errors, []);
  });
}
