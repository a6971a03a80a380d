// `make demo`: trace a real agent end to end and show what was captured.
//
// Starts the mock LLM server (HTTPS, its own CA), then runs
//   agentsight exec -- node sdk-agent.js …
// where sdk-agent is a small agent on the official @anthropic-ai/sdk that runs the tools
// the model asks for. The mock is scripted to ask for a shell command and a file write,
// then to answer. agentsight prints its own summary at exit (stderr); then this prints the
// merged LLM calls with the processes each tool ran, the files written, and the audit.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startMockLlm } from '@agentsight/mock-llm';
import { parseNdjson, ROOT, toolPath } from './lib/run.js';

const bold = (s: string) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (process.stdout.isTTY && !process.env.NO_COLOR ? `\x1b[2m${s}\x1b[0m` : s);

if (process.getuid?.() !== 0) {
  process.stderr.write('demo: tracing with eBPF needs root: run `sudo make demo`\n');
  process.exit(77);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'agentsight-demo-'));
const capture = path.join(work, 'demo.ndjson');
const mock = await startMockLlm({
  script: [
    {
      thinking: 'I should look at the project first.',
      text: 'Let me look around.',
      toolCalls: [{ name: 'bash', arguments: { command: 'uname -sr && ls -la' } }],
    },
    {
      toolCalls: [
        {
          name: 'write_file',
          arguments: { path: 'NOTES.md', content: '# Notes\n\nThe project is empty; nothing to build yet.\n' },
        },
      ],
    },
    { text: 'I looked at the directory and wrote NOTES.md with what I found.' },
  ],
});

process.stdout.write(
  bold(`$ agentsight exec -- node sdk-agent.js --base-url ${mock.url} "Look around and take notes"\n`),
);
const child = spawn(
  process.execPath,
  [
    toolPath('agentsight'),
    'exec',
    '--no-server',
    '--interval',
    '1',
    '-o',
    capture,
    '--',
    process.execPath,
    path.join(ROOT, 'dist/test/agents/sdk-agent.js'),
    '--base-url',
    mock.url,
    'Look around and take notes',
  ],
  { cwd: work, stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, NODE_EXTRA_CA_CERTS: mock.caPath } },
);
const status = await new Promise<number>((res) => child.on('close', (code) => res(code ?? 1)));
await mock.close();
if (status !== 0) {
  process.stderr.write(`demo: agentsight exec exited with ${status}\n`);
  process.exit(status);
}

const events = parseNdjson(fs.readFileSync(capture));
const procs = new Map<number, { argv: string[]; exit?: number }>();
for (const e of events) {
  if (e.src === 'proc' && e.type === 'exec') procs.set(e.pid, { argv: e.argv });
  if (e.src === 'proc' && e.type === 'exit' && procs.has(e.pid)) procs.get(e.pid)!.exit = e.exit_code;
}
const links = events.filter((e) => e.src === 'trace' && e.type === 'link' && e.kind === 'tool_process');

process.stdout.write('\n' + bold('What the agent said to the model and got back') + '\n');
for (const c of events.filter((e) => e.src === 'llm' && e.type === 'call')) {
  const u = c.usage ?? {};
  process.stdout.write(
    `\n${bold(`${c.api} ${c.model}`)}  ${dim(`${c.status} · ${c.timing.duration_ms.toFixed(1)} ms · in ${u.input_tokens ?? '?'} / out ${u.output_tokens ?? '?'} tokens · ${c.response.finish_reason}`)}\n`,
  );
  if (c.response.thinking) process.stdout.write(`  thinking: ${c.response.thinking}\n`);
  if (c.response.text) process.stdout.write(`  text:     ${c.response.text}\n`);
  for (const t of c.response.tool_calls) {
    process.stdout.write(`  tool:     ${t.name} ${JSON.stringify(t.arguments)}\n`);
    for (const l of links.filter((x) => x.from === t.id)) {
      for (const pid of [l.to].flat()) {
        const p = procs.get(Number(pid));
        if (p) process.stdout.write(`            ran pid ${pid}: ${p.argv.join(' ')}  (exit ${p.exit ?? '?'})\n`);
      }
      // A tool the agent carries out itself (no process): the files it touched, from its own syscalls.
      for (const f of l.detail?.agent_files ?? [])
        process.stdout.write(`            the agent itself wrote ${f.path}\n`);
    }
  }
}
const written = events.filter(
  (e) => e.src === 'proc' && e.type === 'open' && e.ret >= 0 && (e.flags & 0o1103) !== 0 && e.path.startsWith(work),
);
process.stdout.write('\n' + bold('Files the agent wrote') + '\n');
for (const w of written) process.stdout.write(`  ${w.path}  (pid ${w.pid} ${w.comm})\n`);

process.stdout.write('\n' + bold(`$ agentsight report audit ${capture}`) + '\n');
const rep = spawn(process.execPath, [toolPath('agentsight'), 'report', 'audit', capture], { stdio: 'inherit' });
await new Promise((res) => rep.on('close', res));
process.stdout.write(dim(`\nThe capture is ${capture}; browse it with: as-serve ${capture}\n`));
