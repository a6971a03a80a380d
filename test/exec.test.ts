// agentsight exec end to end (root, real eBPF): the SDK agent against the mock LLM server,
// traced with zero configuration. Checks the calls, the tools' processes and files, the
// exit status passed through, and that the in-process pipeline and the standalone tools
// give the same calls for the same bytes.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Reply, startMockLlm } from '@agentsight/mock-llm';
import t from 'tap';
import { parseNdjson, ROOT, runTool } from './lib/run.js';

const AGENT = path.join(ROOT, 'dist/test/agents/sdk-agent.js');

const skip = process.getuid?.() !== 0 ? 'agentsight exec needs root (eBPF): NOT TESTED' : false;
{
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'as-exec-e2e-'));

  async function traced(provider: string, script: Reply[], extra: string[] = [], agentArgs: string[] = []) {
    const mock = await startMockLlm({ script });
    const out = path.join(work, `${provider}-${Date.now()}.ndjson`);
    try {
      const r = await runTool(
        'agentsight',
        [
          'exec',
          '--no-server',
          '--interval',
          '0',
          '-o',
          out,
          ...extra,
          '--',
          process.execPath,
          AGENT,
          '--provider',
          provider,
          '--base-url',
          mock.url,
          ...agentArgs,
          'do the task',
        ],
        {
          cwd: work,
          timeoutMs: 90_000,
          env: { ...process.env, NODE_EXTRA_CA_CERTS: mock.caPath },
        },
      );
      return { r, events: fs.existsSync(out) ? parseNdjson(fs.readFileSync(out)) : [], mock, out };
    } finally {
      await mock.close();
    }
  }

  t.test('anthropic agent: calls, tool processes with exit codes, file writes, summary', { skip }, async (t) => {
    const { r, events, mock, out } = await traced('anthropic', [
      {
        toolCalls: [{ name: 'bash', arguments: { command: 'echo from-the-tool; exit 3' } }],
        usage: { input_tokens: 100, output_tokens: 7 },
      },
      { toolCalls: [{ name: 'write_file', arguments: { path: 'result.txt', content: 'hello from the agent' } }] },
      { text: 'Finished: result.txt written.' },
    ]);
    t.equal(r.code, 0, `exit status of the agent (stderr: ${r.stderr.slice(-500)})`);
    t.equal(r.stdout.toString(), 'Finished: result.txt written.\n', "the agent's own stdout is untouched");
    t.equal(fs.statSync(out).mode & 0o777, 0o600, 'capture is 0600');
    const calls = events.filter((e) => e.src === 'llm' && e.type === 'call');
    t.equal(calls.length, 3, 'one llm/call per model call');
    t.equal(mock.requests.length, 3);
    t.same(
      calls.map((c) => c.model),
      ['claude-haiku-4-5', 'claude-haiku-4-5', 'claude-haiku-4-5'],
    );
    t.same(
      calls[0].response.tool_calls.map((c: any) => [c.name, c.arguments]),
      [['bash', { command: 'echo from-the-tool; exit 3' }]],
    );
    t.same(calls[0].usage.input_tokens, 100);
    t.equal(calls[2].response.text, 'Finished: result.txt written.');
    // What the agent sent back to the model is what the tool printed.
    t.match(JSON.stringify(calls[1].request.messages), /from-the-tool/);
    const execs = events.filter((e) => e.src === 'proc' && e.type === 'exec');
    const sh = execs.find((e) => e.argv.join(' ') === '/bin/sh -c echo from-the-tool; exit 3');
    t.ok(sh, "the tool's shell appears with its argv");
    const exit = events.find((e) => e.src === 'proc' && e.type === 'exit' && e.pid === sh?.pid);
    t.equal(exit?.exit_code, 3, 'and its exit code');
    const agentExec = execs.find((e) => e.argv[1] === AGENT);
    t.ok(agentExec, 'the agent itself is traced from its exec');
    t.notOk(
      execs.some((e) => /read -r _/.test(e.argv.join(' '))),
      'the gate shell is not reported as the agent',
    );
    const wrote = events.find((e) => e.src === 'proc' && e.type === 'open' && e.path === path.join(work, 'result.txt'));
    t.ok(wrote && wrote.flags & 0o1 && wrote.ret >= 0, 'the file write appears, absolute path, write flags');
    t.equal(fs.readFileSync(path.join(work, 'result.txt'), 'utf8'), 'hello from the agent');
    const link = events.find(
      (e) =>
        e.src === 'trace' &&
        e.type === 'link' &&
        e.kind === 'tool_process' &&
        e.from === calls[0].response.tool_calls[0].id,
    );
    t.ok(link && [link.to].flat().includes(sh?.pid), 'the tool call is linked to its process');
    t.match(r.stderr, /llm calls +3/, 'summary on stderr');
    t.match(r.stderr, /tool calls +2 +\(bash×1, write_file×1\)/);
    t.match(r.stderr, /lost +nothing/);
    t.notMatch(r.stderr, /sk-ant-demo-key/);
    t.notMatch(fs.readFileSync(out, 'utf8'), /sk-ant-demo-key/, 'the API key is redacted in the capture');
  });

  t.test(
    'exit status passes through; --raw bytes give the same calls through the standalone tools',
    { skip },
    async (t) => {
      const { r, events, out } = await traced(
        'openai',
        [{ toolCalls: [{ name: 'bash', arguments: { command: 'ls /' } }] }, { text: 'done' }],
        ['--raw', '--no-files', '--no-stdio'],
        ['--max-turns', '1'],
      );
      t.equal(r.code, 0);
      const calls = events.filter((e) => e.src === 'llm' && e.type === 'call');
      t.equal(calls.length, 1, 'max-turns 1: one call');
      t.ok(
        events.some((e) => e.src === 'ssl' && e.type === 'data'),
        '--raw keeps ssl/data',
      );
      t.notOk(
        events.some((e) => e.src === 'proc' && e.type === 'open'),
        '--no-files',
      );
      t.notOk(
        events.some((e) => e.src === 'stdio'),
        '--no-stdio',
      );
      const ssl =
        events
          .filter((e) => e.src === 'ssl')
          .map((e) => JSON.stringify(e))
          .join('\n') + '\n';
      const http = await runTool('as-http', [], { stdin: ssl });
      const merged = await runTool('as-merge', [], { stdin: http.stdout });
      const standalone = merged.events.filter((e) => e.src === 'llm' && e.type === 'call');
      t.same(
        standalone.map((c) => [c.id, c.model, c.response, c.usage]),
        calls.map((c) => [c.id, c.model, c.response, c.usage]),
        'same calls as in-process',
      );
      fs.rmSync(out);

      const failing = await runTool(
        'agentsight',
        ['exec', '--no-server', '-q', '-o', path.join(work, 'f.ndjson'), '--', '/bin/sh', '-c', 'exit 42'],
        { timeoutMs: 60_000 },
      );
      t.equal(failing.code, 42, "the agent's exit code is ours");
      const killed = await runTool(
        'agentsight',
        ['exec', '--no-server', '-q', '-o', path.join(work, 'k.ndjson'), '--', '/bin/sh', '-c', 'kill -TERM $$'],
        { timeoutMs: 60_000 },
      );
      t.equal(killed.code, 143, 'killed by a signal: 128 + n');
      const missing = await runTool(
        'agentsight',
        ['exec', '--no-server', '-o', path.join(work, 'm.ndjson'), '--', 'no-such-agent-xyz'],
        { timeoutMs: 60_000 },
      );
      t.equal(missing.code, 127);
      t.match(missing.stderr, /no-such-agent-xyz: command not found/);
    },
  );

  t.test('record -p stops by itself when the process exits, with its events', { skip }, async (t) => {
    const { spawn } = await import('node:child_process');
    const target = spawn('/bin/sh', ['-c', 'read _; ls / > /dev/null; sleep 0.3'], {
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    const out = path.join(work, 'rec.ndjson');
    const rec = spawn(
      process.execPath,
      [
        path.join(ROOT, 'dist/tools/agentsight.js'),
        'record',
        '--no-server',
        '--interval',
        '0',
        '-p',
        String(target.pid),
        '-o',
        out,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let err = '';
    rec.stderr.on('data', (d) => {
      err += d;
    });
    // Release the target once every probe is in place.
    await new Promise<void>((res) => {
      const w = setInterval(() => {
        if (/recording process/.test(err)) {
          clearInterval(w);
          res();
        }
      }, 50);
    });
    target.stdin!.end('go\n');
    const code = await new Promise<number | null>((res) => {
      rec.on('exit', (c) => res(c));
      setTimeout(() => rec.kill('SIGKILL'), 30_000).unref();
    });
    t.equal(code, 0, `record exits 0 when the process is gone (stderr: ${err.slice(-400)})`);
    t.match(err, new RegExp(`process ${target.pid} exited`));
    const events = parseNdjson(fs.readFileSync(out));
    t.ok(
      events.some((e) => e.src === 'proc' && e.type === 'snapshot' && e.pid === target.pid),
      'the process as it was at the start',
    );
    t.ok(
      events.some((e) => e.src === 'proc' && e.type === 'exec' && e.argv[0] === 'ls'),
      'what it ran after',
    );
  });

  t.test('exec --otel exports the run as GenAI spans while it goes', { skip }, async (t) => {
    const { startOtlpReceiver } = await import('@agentsight/otel');
    const recv = await startOtlpReceiver();
    t.teardown(() => recv.close());
    const { r, events } = await traced(
      'anthropic',
      [{ toolCalls: [{ name: 'bash', arguments: { command: 'true' } }] }, { text: 'ok' }],
      ['--otel', recv.url],
    );
    t.equal(r.code, 0, r.stderr.slice(-400));
    t.match(r.stderr, /otel: \d+ of \d+ spans exported/);
    const spans = recv.accepted();
    const chats = spans.filter((x) => x.name === 'chat claude-haiku-4-5');
    t.equal(chats.length, 2, 'one chat span per model call');
    t.equal(chats[0]!.attributes['gen_ai.provider.name'], 'anthropic');
    t.ok(
      spans.some((x) => x.name === 'execute_tool bash'),
      'the tool call',
    );
    const root = spans.find((x) => x.name.startsWith('invoke_agent'));
    t.ok(root, 'an agent root span');
    t.ok(
      chats.every((c) => c.traceId === root?.traceId),
      "calls in the agent's trace",
    );
    t.equal(events.filter((e) => e.src === 'llm').length, 2, 'the capture file has the calls too');
  });
}
