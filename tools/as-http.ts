#!/usr/bin/env node
import { type CommonArgs, EXIT, runFilter, runTool, ToolError } from '@agentsight/cli';
import { HttpStage } from '@agentsight/http';
import type { Argv } from 'yargs';

interface Args {
  redact: boolean;
  maxBodyMb: number;
  idleTimeout: number;
  reorderWaitMs: number;
}

await runTool<Args>(
  {
    name: 'as-http',
    summary: 'reassemble HTTP messages from TLS plaintext chunks',
    usage: 'as-http [options] [FILE...]',
    readsEvents: true,
    examples: [
      ['as-sslsniff | as-http', 'live HTTP requests, responses and SSE messages'],
      ['as-http capture.ndjson | jq -c \'select(.type=="sse")\'', 'the SSE messages of a capture'],
      ['as-http --no-redact -o http.ndjson capture.ndjson.gz', 'keep API keys and cookies (careful)'],
    ],
    options: (y) =>
      y
        .option('redact', {
          type: 'boolean',
          default: true,
          describe:
            'Replace secrets by a sha256 fingerprint: auth headers, cookies, key-like query parameters, and key-like fields and values in bodies, SSE and WebSocket messages (--no-redact keeps them)',
        })
        .option('max-body-mb', {
          type: 'number',
          default: 16,
          describe: 'Body bytes kept per message, MiB; longer bodies are cut and marked body_truncated',
        })
        .option('idle-timeout', {
          type: 'number',
          default: 300,
          describe: 'Seconds without data after which a connection is flushed and dropped',
        })
        .option('reorder-wait-ms', {
          type: 'number',
          default: 2000,
          describe: 'How long a missing ssl seq is waited for before it counts as lost',
        }) as unknown as Argv<Args & CommonArgs>,
    // yargs also sets the camelCase names at run time; its types only know the dashed ones.
  },
  async (args, ctx) => {
    for (const [k, v] of [
      ['--max-body-mb', args.maxBodyMb],
      ['--idle-timeout', args.idleTimeout],
      ['--reorder-wait-ms', args.reorderWaitMs],
    ] as const) {
      if (!Number.isFinite(v) || v <= 0) throw new ToolError(`${k}: want a positive number, got ${v}`, EXIT.USAGE);
    }
    const stage = new HttpStage(
      {
        redact: args.redact,
        maxBodyBytes: Math.floor(args.maxBodyMb * 1024 * 1024),
        idleTimeoutS: args.idleTimeout,
        reorderWaitMs: args.reorderWaitMs,
      },
      (ev) => ctx.out.write(ev),
    );
    await runFilter(args, ctx, stage);
    const s = stage.stats;
    ctx.summary.push(
      `${s.connections} connections, ${s.requests} requests, ${s.responses} responses, ${s.sse} SSE messages, ${s.ws} WebSocket messages, ${s.unparsed} unparsed, ${s.holes} capture holes`,
    );
  },
);
