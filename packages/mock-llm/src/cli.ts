#!/usr/bin/env node
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Reply } from './reply.js';
import { startMockLlm } from './server.js';

const USAGE = `agentsight-mock-llm: a local mock LLM server (Anthropic, OpenAI Chat/Responses, Gemini)

Usage: node packages/mock-llm/dist/cli.js [options]

  --port N          listen on port N (default: a free port)
  --host ADDR       listen address (default 127.0.0.1)
  --plain           plain HTTP instead of HTTPS
  --cert-dir DIR    where the CA and server certificate are kept
  --script FILE     JSON array of replies (see the package docs), answered in order
  --replay FILE     answer with this raw .http response byte for byte (repeatable, in order)
  --loop            when the script/replays run out, start them again (default: default replies)
  --chunk-size N    characters per streamed delta (default 16)
  --delay-ms N      pause between streamed events
  --write-size N    bytes per socket write
  -q, --quiet       do not log requests on stderr
  -h, --help

Prints {"url":…,"ca":…,"port":…} as one line on stdout when ready; stops on SIGINT/SIGTERM.
Exit status: 0 ok, 1 could not start, 2 usage.`;

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`agentsight-mock-llm: --${name} wants a non-negative integer\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        port: { type: 'string' },
        host: { type: 'string' },
        plain: { type: 'boolean' },
        'cert-dir': { type: 'string' },
        script: { type: 'string' },
        replay: { type: 'string', multiple: true },
        loop: { type: 'boolean' },
        'chunk-size': { type: 'string' },
        'delay-ms': { type: 'string' },
        'write-size': { type: 'string' },
        quiet: { type: 'boolean', short: 'q' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }));
  } catch (e) {
    process.stderr.write(`agentsight-mock-llm: ${(e as Error).message}\nTry --help.\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return;
  }
  const replies: Reply[] = [];
  if (values.script) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(fs.readFileSync(values.script, 'utf8'));
    } catch (e) {
      process.stderr.write(`agentsight-mock-llm: --script ${values.script}: ${(e as Error).message}\n`);
      process.exit(2);
    }
    if (!Array.isArray(parsed)) {
      process.stderr.write('agentsight-mock-llm: --script wants a JSON array of replies\n');
      process.exit(2);
    }
    replies.push(...(parsed as Reply[]));
  }
  for (const f of values.replay ?? []) {
    if (!fs.existsSync(f)) {
      process.stderr.write(`agentsight-mock-llm: --replay ${f}: no such file\n`);
      process.exit(2);
    }
    replies.push({ replay: path.resolve(f) });
  }
  let i = 0;
  const quiet = !!values.quiet;
  const mock = await startMockLlm({
    port: num(values.port, 'port') ?? 0,
    host: values.host ?? '127.0.0.1',
    tls: !values.plain,
    ...(values['cert-dir'] ? { certDir: values['cert-dir'] } : {}),
    script: values.loop && replies.length ? () => replies[i++ % replies.length]! : replies,
    chunkSize: num(values['chunk-size'], 'chunk-size'),
    delayMs: num(values['delay-ms'], 'delay-ms'),
    writeSize: num(values['write-size'], 'write-size'),
    log: quiet ? undefined : (l) => process.stderr.write(`agentsight-mock-llm: ${l}\n`),
  });
  process.stdout.write(JSON.stringify({ url: mock.url, ca: mock.caPath || null, port: mock.port }) + '\n');
  const stop = () => {
    void mock.close().then(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((e: unknown) => {
  process.stderr.write(`agentsight-mock-llm: ${(e as Error).message}\n`);
  process.exit(1);
});
