#!/usr/bin/env node
// as-clickhouse: argument parsing and wiring only; the schema, buffer and sink live in @agentsight/fleet.
import { EXIT, runFilter, runTool, ToolError } from '@agentsight/cli';
import type { Stage } from '@agentsight/events';
import { ClickHouseSink, DEFAULT_TABLE, defaultBufferDir } from '@agentsight/fleet';
import { RedactStage } from '@agentsight/redact';

await runTool(
  {
    name: 'as-clickhouse',
    summary: 'ship events into ClickHouse (one table for many hosts), buffered on disk while ClickHouse is away',
    usage: 'as-clickhouse [options] [FILE...]',
    readsEvents: true,
    examples: [
      ['as-merge cap.ndjson | as-clickhouse --url http://ch:8123', 'ship a capture into agentsight_events'],
      ['agentsight record -c node -o - | as-clickhouse --url http://ch:8123', 'ship live, as this host'],
    ],
    options: (y) =>
      y
        .option('url', {
          type: 'string',
          describe:
            'ClickHouse HTTP interface, user:password@ allowed (default: $AGENTSIGHT_CLICKHOUSE_URL or http://localhost:8123)',
        })
        .option('table', {
          type: 'string',
          default: DEFAULT_TABLE,
          describe: 'Table (NAME or DATABASE.NAME), created if absent',
        })
        .option('buffer-dir', {
          type: 'string',
          describe:
            'On-disk buffer: one directory per as-clickhouse process (default: $XDG_STATE_HOME/agentsight/clickhouse-buffer)',
        })
        .option('buffer-mb', {
          type: 'number',
          default: 256,
          describe: 'Bound of the buffer; over it the oldest rows are dropped and counted',
        })
        .option('batch-rows', { type: 'number', default: 5000, describe: 'Rows per insert' })
        .option('batch-delay-ms', {
          type: 'number',
          default: 1000,
          describe: 'Longest a row waits for its batch to fill',
        })
        .option('host-name', { type: 'string', describe: 'Host name written with every row (default: this host name)' })
        .option('machine-id', {
          type: 'string',
          describe: 'Machine id written with every row (default: /etc/machine-id)',
        })
        .option('redact', {
          type: 'boolean',
          default: true,
          describe:
            'Replace API keys, tokens and cookies by a sha256 fingerprint before they leave (--no-redact keeps them)',
        })
        .option('flush-timeout-ms', {
          type: 'number',
          default: 30000,
          describe: 'At end of input, longest wait to empty the buffer; what is left is sent by the next start',
        }),
  },
  async (args, ctx) => {
    for (const k of ['buffer-mb', 'batch-rows', 'batch-delay-ms'] as const)
      if (!(args[k] > 0)) throw new ToolError(`--${k}: want a positive number`, EXIT.USAGE);
    const url = args.url ?? process.env.AGENTSIGHT_CLICKHOUSE_URL ?? 'http://localhost:8123';
    let sink: ClickHouseSink;
    try {
      new URL(url);
      sink = new ClickHouseSink({
        url,
        table: args.table,
        bufferDir: args['buffer-dir'] ?? defaultBufferDir(),
        maxBufferBytes: Math.floor(args['buffer-mb'] * 1024 * 1024),
        batchRows: Math.floor(args['batch-rows']),
        batchDelayMs: args['batch-delay-ms'],
        host: args['host-name'],
        machineId: args['machine-id'],
        warn: ctx.warn,
      });
    } catch (e) {
      throw new ToolError((e as Error).message, EXIT.USAGE);
    }
    ctx.info(`shipping to ${new URL(url).origin} table ${sink.table}, buffer ${sink.buffer.dir}`);
    const redact = new RedactStage((ev) => sink.write(ev));
    const input: Stage = args.redact ? { write: (ev) => redact.write(ev), end: () => sink.end() } : sink;
    await runFilter(args, ctx, input);
    const st = await sink.shutdown(ctx.stopping ? Math.min(args['flush-timeout-ms'], 4000) : args['flush-timeout-ms']);
    const line =
      `${st.sent} of ${st.rows} rows sent in ${st.inserts} inserts` +
      (st.retries ? `, ${st.retries} retries` : '') +
      (st.buffered ? `; ${st.buffered} rows left in ${sink.buffer.dir} (sent by the next start)` : '') +
      (st.dropped ? `; ${st.dropped} rows dropped (buffer over ${args['buffer-mb']} MiB)` : '');
    if (st.dropped || st.buffered) ctx.warn(line + (st.lastError ? `; last error: ${st.lastError}` : ''));
    else ctx.info(line);
    if (st.dropped) return EXIT.FAILURE;
  },
);
