#!/usr/bin/env node
// Run one real agent against a fresh mock LLM server with the scripted session of the E2E
// tests (shell command, file write, final text), optionally under a wrapper such as
// `agentsight exec`, so that the wrapper can be tried on real agents by hand or from a test:
//
//   node dist/test/agents/session.js AGENT [-- WRAPPER ARGS...]
//   node dist/test/agents/session.js claude-code -- node dist/tools/agentsight.js exec --no-server -o /tmp/cc.ndjson --
//
// AGENT: sdk-anthropic sdk-openai python-json python-sse claude-code gemini-cli
// gemini-cli-relaunch codex. The wrapper gets the agent's command appended and the agent's
// environment. The agent's cwd and HOME are a fresh temporary directory (printed, kept).
// Exit status: the agent's (or the wrapper's); 2 for usage; 3 when the agent cannot run here.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMockLlm } from '@agentsight/mock-llm';
import { ALL_AGENTS, codex, SESSION, sessionScript, writeSettings } from '../lib/agents.js';

const argv = process.argv.slice(2);
const dd = argv.indexOf('--');
const name = argv[0];
const wrapper = dd >= 0 ? argv.slice(dd + 1) : [];
const agents = [...ALL_AGENTS(), codex()];
const agent = agents.find((a) => a.name === name);
if (!agent || (dd >= 0 && dd !== 1)) {
  process.stderr.write(
    `usage: session.js AGENT [-- WRAPPER ARGS...]\nagents: ${agents.map((a) => a.name).join(' ')}\n`,
  );
  process.exit(2);
}
const why = agent.available();
if (why) {
  process.stderr.write(`session: ${agent.name} cannot run here: ${why}\n`);
  process.exit(3);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), `as-session-${agent.name}-`));
const cwd = path.join(dir, 'work');
const home = path.join(dir, 'home');
fs.mkdirSync(cwd);
fs.mkdirSync(home);
const { script, served } = sessionScript(agent, SESSION.turns(agent)(cwd));
const mock = await startMockLlm({ script });
const l = agent.launch({ mock, prompt: SESSION.prompt, cwd, home });
writeSettings(l);
// The agent runs in its own directory: a wrapper's relative file arguments are ours.
const abs = (x: string) => (!x.startsWith('-') && !path.isAbsolute(x) && fs.existsSync(x) ? path.resolve(x) : x);
const cmd = [...wrapper.map(abs), ...l.cmd];
process.stderr.write(
  `session: mock ${mock.url} (CA ${mock.caPath}); dir ${dir}\nsession: env ${Object.entries(l.env)
    .filter(([k]) => k !== 'PATH')
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}\nsession: ${cmd.join(' ')}\n`,
);
// Agents retry for a long time when something is off: bound the run.
const child = spawn(cmd[0]!, cmd.slice(1), { cwd: l.cwd, env: l.env, stdio: 'inherit' });
const timer = setTimeout(() => {
  process.stderr.write('session: timed out after 120 s\n');
  child.kill('SIGKILL');
}, 120_000);
const code = await new Promise<number>((resolve) =>
  child.on('close', (c, sig) => resolve(c ?? (sig ? 128 + (os.constants.signals[sig] ?? 0) : 1))),
);
clearTimeout(timer);
process.stderr.write(
  `session: exit ${code}; ${served.length} model calls (${served.filter((s) => s.aside).length} aside); files: ${fs.readdirSync(cwd).join(' ')}\n`,
);
await mock.close();
process.exit(code);
