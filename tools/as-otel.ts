#!/usr/bin/env node
// as-otel: argument parsing and wiring only; the mapping and export live in @agentsight/otel.
import { EXIT, runFilter, runTool, ToolError, VERSION } from '@agentsight/cli';
import type { Stage } from '@agentsight/events';
import { loadPrices } from '@agentsight/llm';
import { FlowControlledWriter, OtelStage, resolveConfig } from '@agentsight/otel';
import { RedactStage } from '@agentsight/redact';

await runTool(
  {
    name: 'as-otel',
    summary: 'export LLM calls, tool calls, MCP calls and agent processes as OpenTelemetry GenAI spans over OTLP/HTTP',
    usage: 'as-otel [options] [FILE...]',
    readsEvents: true,
    examples: [
      ['as-merge cap.ndjson | as-otel', 'send to the collector at http://localhost:4318/v1/traces'],
      ['as-otel --endpoint http://tempo:4318 --compression gzip cap.ndjson', 'send a saved capture, gzipped'],
      ['as-otel --stdout --capture-content cap.ndjson | jq .', 'print the OTLP/JSON requests instead of sending them'],
    ],
    options: (y) =>
      y
        .option('endpoint', {
          type: 'string',
          describe:
            'OTLP/HTTP endpoint; /v1/traces is appended unless given (default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, OTEL_EXPORTER_OTLP_ENDPOINT, http://localhost:4318)',
        })
        .option('protocol', {
          type: 'string',
          choices: ['http/protobuf', 'http/json'],
          describe: 'Encoding (default: OTEL_EXPORTER_OTLP_PROTOCOL or http/protobuf)',
        })
        .option('compression', {
          type: 'string',
          choices: ['gzip', 'none'],
          describe: 'Request compression (default: OTEL_EXPORTER_OTLP_COMPRESSION or none)',
        })
        // One value per flag: a greedy array would swallow the FILE after it as a second header.
        .option('header', {
          type: 'string',
          array: true,
          nargs: 1,
          describe: 'Extra request header KEY=VALUE (one per flag, repeatable; adds to OTEL_EXPORTER_OTLP_HEADERS)',
        })
        .option('service-name', {
          type: 'string',
          describe: 'Resource service.name (default: OTEL_SERVICE_NAME or agentsight)',
        })
        .option('capture-content', {
          type: 'boolean',
          default: false,
          describe: 'Record prompts, answers, system instructions, tool arguments and results',
        })
        .option('prices', {
          type: 'string',
          describe:
            'JSON price table (USD per 1M tokens by model prefix) whose rows win over the built-in genai-prices dataset, for agentsight.llm.cost_usd (default $AGENTSIGHT_PRICES)',
        })
        .option('stdout', {
          type: 'boolean',
          default: false,
          describe: 'Write the OTLP/JSON export requests as NDJSON instead of sending them',
        })
        .option('redact', {
          type: 'boolean',
          default: true,
          describe:
            'Replace API keys, tokens and cookies in what is exported by a sha256 fingerprint (--no-redact keeps them)',
        })
        .option('tee', {
          type: 'boolean',
          default: false,
          describe: 'Also pass the input events through to the output',
        })
        .option('batch-size', {
          type: 'number',
          describe: 'Spans per export request (default: OTEL_BSP_MAX_EXPORT_BATCH_SIZE or 512)',
        })
        .option('batch-delay-ms', {
          type: 'number',
          describe: 'Longest a span waits before a partial batch is sent (default: OTEL_BSP_SCHEDULE_DELAY or 1000)',
        })
        .option('max-queue', {
          type: 'number',
          describe:
            'Spans held for export (default: OTEL_BSP_MAX_QUEUE_SIZE or 8192); input pauses at half while the collector is slow, spans beyond it are dropped and counted while it fails',
        })
        .option('timeout-ms', {
          type: 'number',
          describe: 'Timeout of one export request (default: OTEL_EXPORTER_OTLP_TIMEOUT or 10000)',
        })
        .option('max-retries', {
          type: 'number',
          default: 5,
          describe: 'Retries of a batch on 429, 5xx or network errors before it is given up',
        })
        .option('flush-timeout-ms', {
          type: 'number',
          default: 10000,
          describe: 'At end of input, longest wait for the queue to drain (4 s at most after a signal)',
        }),
  },
  async (args, ctx) => {
    if (args.stdout && args.tee)
      throw new ToolError('--stdout and --tee both write to the output: choose one', EXIT.USAGE);
    for (const [k, v] of [
      ['batch-size', args['batch-size']],
      ['max-queue', args['max-queue']],
    ] as const) {
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 1))
        throw new ToolError(`--${k}: want a positive integer`, EXIT.USAGE);
    }
    let cfg;
    try {
      cfg = resolveConfig(
        {
          endpoint: args.endpoint,
          protocol: args.protocol,
          compression: args.compression,
          headers: args.header,
          serviceName: args['service-name'],
        },
        process.env,
        VERSION,
      );
    } catch (e) {
      throw new ToolError((e as Error).message, EXIT.USAGE);
    }
    let prices;
    try {
      prices = loadPrices(args.prices as string | undefined);
    } catch (e) {
      throw new ToolError(`--prices ${(e as Error).message}`, EXIT.USAGE);
    }
    const stage = new OtelStage(
      {
        prices,
        ...cfg,
        scope: { name: 'agentsight.as-otel', version: VERSION },
        captureContent: args['capture-content'],
        batchSize: args['batch-size'] ?? cfg.batchSize ?? 512,
        delayMs: args['batch-delay-ms'] ?? cfg.delayMs ?? 1000,
        maxQueueSpans: args['max-queue'] ?? cfg.maxQueueSpans ?? 8192,
        timeoutMs: args['timeout-ms'] ?? cfg.timeoutMs ?? 10_000,
        maxAttempts: Math.max(0, args['max-retries']) + 1,
        sink: args.stdout
          ? (req) => {
              ctx.out.write(req as unknown as Record<string, unknown>);
            }
          : undefined,
        warn: ctx.warn,
      },
      args.tee
        ? (ev) => {
            ctx.out.write(ev);
          }
        : undefined,
    );
    if (!args.stdout)
      ctx.info(`exporting to ${cfg.url} (${cfg.protocol}${cfg.compression === 'gzip' ? ', gzip' : ''})`);

    // Input waits while the collector is slower than the input; it is dropped only while the collector fails.
    const flowCtx = Object.create(ctx, { out: { value: new FlowControlledWriter(ctx.out, stage) } }) as typeof ctx;
    // Spans carry prompts, tool arguments and command lines: a key in them leaves the machine.
    const redact = new RedactStage((ev) => stage.write(ev));
    const input: Stage = args.redact
      ? { write: (ev) => redact.write(ev), end: () => stage.end(), tick: (t) => stage.tick?.(t) }
      : stage;
    await runFilter(args, flowCtx, input);
    const st = await stage.shutdown(ctx.stopping ? Math.min(args['flush-timeout-ms'], 4000) : args['flush-timeout-ms']);
    const lost = st.dropped + st.failed;
    const line =
      `${st.exported} of ${st.spans} spans exported in ${st.requests} requests` +
      (st.retries ? `, ${st.retries} retries` : '') +
      (lost ? `; ${lost} lost (${st.dropped} dropped: queue full, ${st.failed} failed)` : '');
    if (lost) ctx.warn(line + (stage.exporter.lastError ? `; last error: ${stage.exporter.lastError}` : ''));
    else ctx.info(line);
  },
);
