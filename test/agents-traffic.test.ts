// The User-Agents packages/agents recognises SDK scripts by, checked against what the
// official SDKs really send: each SDK calls the mock LLM (plain HTTP: only the headers
// matter here) and the request it made is classified; then the real agents (.cache/agents).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { classifyByTraffic } from '@agentsight/agents';
import { startMockLlm } from '@agentsight/mock-llm';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import t from 'tap';
import { claudeCode, codex, geminiCli, sessionScript, writeSettings } from './lib/agents.js';
import { runCommand } from './lib/run.js';

/** The test launchers' names, and the agents table's ids. */
const AGENT_ID: Record<string, string> = { 'claude-code': 'claude-code', 'gemini-cli': 'gemini-cli', codex: 'codex' };

t.test('the official node SDKs are recognised by the User-Agent they send', async (t) => {
  const mock = await startMockLlm({ tls: false, script: () => ({ text: 'ok' }) });
  t.teardown(() => mock.close());
  await new Anthropic({ apiKey: 'sk-ant-x', baseURL: mock.url, maxRetries: 0 }).messages.create({
    model: 'claude-sonnet-4-5',
    max_tokens: 16,
    messages: [{ role: 'user', content: 'hi' }],
  });
  await new OpenAI({ apiKey: 'sk-x', baseURL: `${mock.url}/v1`, maxRetries: 0 }).chat.completions.create({
    model: 'gpt-5',
    messages: [{ role: 'user', content: 'hi' }],
  });
  const [a, o] = mock.requests;
  t.equal(
    classifyByTraffic({ headers: a!.headers, provider: 'anthropic' })?.id,
    'anthropic-sdk-node',
    a!.headers['user-agent'],
  );
  t.equal(
    classifyByTraffic({ headers: o!.headers, provider: 'openai' })?.id,
    'openai-sdk-node',
    o!.headers['user-agent'],
  );
});

// The agents themselves, against the mock (no capture): the User-Agent each sends names it.
for (const agent of [claudeCode(), geminiCli(), codex()]) {
  const why = agent.available();
  t.test(`${agent.name}: its User-Agent names it`, { skip: why ?? false, timeout: 120_000 }, async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `as-ua-${agent.name}-`));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    const { script } = sessionScript(agent, [{ text: 'done', usage: { input_tokens: 10, output_tokens: 2 } }]);
    const mock = await startMockLlm({ script });
    t.teardown(() => mock.close());
    fs.mkdirSync(path.join(dir, 'home'));
    const l = agent.launch({ mock, prompt: 'say done', cwd: dir, home: path.join(dir, 'home') });
    writeSettings(l);
    const r = await runCommand(l.cmd[0]!, l.cmd.slice(1), { env: l.env, cwd: dir, timeoutMs: 90_000 });
    const calls = mock.requests.filter((q) => q.api !== null);
    t.ok(calls.length >= 1, `${agent.name} called the mock (exit ${r.code}): ${r.stderr.slice(-200)}`);
    for (const q of calls)
      t.equal(
        classifyByTraffic({ headers: q.headers, provider: 'x' })?.id,
        AGENT_ID[agent.name],
        q.headers['user-agent'],
      );
  });
}
