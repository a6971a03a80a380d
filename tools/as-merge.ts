#!/usr/bin/env node
import { type CommonArgs, runFilter, runTool } from '@agentsight/cli';
import { chain, type Emit } from '@agentsight/events';
import { MergeStage } from '@agentsight/llm';
import { CorrelateStage } from '@agentsight/trace';
import type { Argv } from 'yargs';

interface Args {
  live: boolean;
  keepHttp: boolean;
  maxPending: number;
  idleTimeout: number;
  maxCallMb: number;
  correlate: boolean;
  loopThreshold: number;
}

await runTool<Args>(
  {
    name: 'as-merge',
    summary: 'merge HTTP exchanges into complete LLM calls (llm/call) and MCP calls (mcp/call)',
    usage: 'as-merge [options] [FILE…]   (FILE: NDJSON events, .gz ok; default stdin)',
    readsEvents: true,
    examples: [
      ['as-sslsniff | as-http | as-merge', 'LLM and MCP calls of everything on the machine, live'],
      ['as-merge capture.ndjson -o calls.ndjson', 'merge a recorded capture'],
      [
        'as-http cap.ndjson | as-merge --live | jq -r \'select(.type=="delta").text\'',
        'print model output as it streams',
      ],
    ],
    options: (y) =>
      y
        .option('live', {
          type: 'boolean',
          default: false,
          describe: 'Also emit llm/delta events as streamed output arrives',
        })
        .option('keep-http', {
          type: 'boolean',
          default: false,
          describe: 'Pass on the http events of LLM and MCP exchanges too (consumed by default)',
        })
        .option('max-pending', {
          type: 'number',
          default: 4096,
          describe: 'Calls awaiting a response before the oldest is reported incomplete',
        })
        .option('idle-timeout', {
          type: 'number',
          default: 900,
          describe: 'Seconds without any event for a call before it is reported incomplete',
        })
        .option('max-call-mb', {
          type: 'number',
          default: 256,
          describe: 'Streamed MiB merged per call; the rest is dropped and the call marked incomplete',
        })
        .option('correlate', {
          type: 'boolean',
          default: false,
          describe:
            'Also link tool calls to the processes, files and connections they caused (trace/link) and flag findings (trace/alert); feed it proc events too',
        })
        .option('loop-threshold', {
          type: 'number',
          default: 3,
          describe: 'With --correlate: identical failing tool calls in a row that raise a tool_loop alert',
        }) as unknown as Argv<Args & CommonArgs>,
  },
  async (args, ctx) => {
    let merge!: MergeStage;
    let correlate: CorrelateStage | undefined;
    const stage = chain(
      [
        (emit) =>
          (merge = new MergeStage(
            {
              live: args.live,
              keepHttp: args.keepHttp,
              maxPending: args.maxPending,
              idleTimeoutMs: args.idleTimeout * 1000,
              maxCallBytes: args.maxCallMb * 1024 * 1024,
              warn: (m) => ctx.warn(`${ctx.position}: ${m}`),
            },
            emit,
          )),
        ...(args.correlate
          ? [(emit: Emit) => (correlate = new CorrelateStage({ loopThreshold: args.loopThreshold }, emit))]
          : []),
      ],
      (ev) => {
        ctx.out.write(ev);
      },
    );
    await runFilter(args, ctx, stage);
    const s = merge.stats;
    if (correlate)
      ctx.summary.push(
        `${correlate.stats.links} links, ${correlate.stats.alerts} alerts, ${correlate.stats.agents} agents`,
      );
    ctx.summary.push(
      `${s.calls} LLM calls (${s.incomplete} incomplete), ${s.mcpCalls} MCP calls, ${s.mcpNotifications} MCP notifications, ${s.passed} events passed on`,
    );
  },
);
