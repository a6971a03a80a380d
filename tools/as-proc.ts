#!/usr/bin/env node
import { ProcessFilter, SELECTOR_FLAGS, SelectorError, selectorOptions } from '@agentsight/agents';
import { type CommonArgs, EXIT, runTool, ToolError } from '@agentsight/cli';
import { type AgentEvent, SCHEMA_VERSION } from '@agentsight/events';
import { exitStatus } from '@agentsight/launch';
import { bpfObjectPath, MetricsSampler, ProcEvents, readInfo, runCapture, targetsFrom } from '@agentsight/proc';
import type { Argv } from 'yargs';

interface Args {
  pid?: string[];
  comm?: string;
  cmd?: boolean;
  files: boolean;
  net: boolean;
  allFiles: boolean;
  interval: number;
  snapshot: boolean;
  ringMb?: number;
  allow?: string[];
  deny?: string[];
}

await runTool<Args>(
  {
    name: 'as-proc',
    summary: 'process, file and network events of a process tree, from kernel tracepoints',
    usage: 'as-proc [-p PID | -c COMM | --cmd -- PROG [ARGS...]] [options]',
    examples: [
      ['as-proc --cmd -- bash -c "make test"', 'trace a command and everything it starts'],
      ['as-proc -p 1234 --no-files', 'processes and connections of pid 1234 and its descendants'],
      ['as-proc -c claude -o proc.ndjson', 'every process named claude (running or started later), to a file'],
      ['as-proc --allow agent:* --no-files', 'every agent on the host and what it runs: processes and connections'],
    ],
    options: (y) =>
      y
        .option('pid', {
          alias: 'p',
          type: 'string',
          array: true,
          nargs: 1,
          describe: 'Trace PID and its descendants (repeatable, or comma separated)',
        })
        .option('comm', {
          alias: 'c',
          type: 'string',
          describe: 'Trace processes with this name (now, or when they exec) and their descendants',
        })
        .option('cmd', {
          type: 'boolean',
          describe: 'Run the command after -- (gated: traced from its first instruction); stop when it exits',
        })
        .option('files', {
          type: 'boolean',
          default: true,
          describe: 'File events (open, unlink, rename); --no-files to leave them out',
        })
        .option('net', {
          type: 'boolean',
          default: true,
          describe: 'Network events (connect, bind, listen); --no-net to leave them out',
        })
        .option('all-files', {
          type: 'boolean',
          default: false,
          describe: 'Report /proc, /sys and dynamic-loader opens one by one instead of folding them per process',
        })
        .option('interval', {
          type: 'number',
          default: 5,
          describe: 'Seconds between metrics samples (CPU %, RSS, threads) per process; 0: none',
        })
        .option('snapshot', {
          type: 'boolean',
          default: true,
          describe: 'Report processes already running as snapshot events at start',
        })
        .option('ring-mb', {
          type: 'number',
          describe: 'Kernel ring buffer size, MiB (power of two; default 16)',
        })
        .options(SELECTOR_FLAGS) as unknown as Argv<Args & CommonArgs>,
    // yargs also sets the camelCase names at run time; its types only know the dashed ones.
  },
  async (args, ctx) => {
    const targets = targetsFrom({ ...args, _: args._ });
    if (!Number.isFinite(args.interval) || args.interval < 0)
      throw new ToolError(`--interval: want seconds >= 0, got ${args.interval}`, EXIT.USAGE);
    if (args.ringMb !== undefined && !(args.ringMb >= 1 && (args.ringMb & (args.ringMb - 1)) === 0))
      throw new ToolError(`--ring-mb: want a power of two >= 1, got ${args.ringMb}`, EXIT.USAGE);
    let filter: ProcessFilter;
    try {
      filter = new ProcessFilter(selectorOptions(args));
    } catch (e) {
      if (e instanceof SelectorError) throw new ToolError(`--allow/--deny: ${e.message}`, EXIT.USAGE);
      throw e;
    }
    const emit = (ev: Parameters<typeof ctx.out.write>[0]) => {
      if (filter.filter(ev as AgentEvent)) ctx.out.write(ev);
    };
    const proc = new ProcEvents(emit, { allFiles: args.allFiles });
    const sampler = new MetricsSampler();
    const sample = () => {
      for (const m of sampler.sample([...proc.live.keys()])) {
        emit({ v: SCHEMA_VERSION, ts: Date.now() * 1000, src: 'proc', type: 'metrics', ...m });
      }
    };
    const run = await runCapture(
      ctx,
      {
        ...targets,
        object: bpfObjectPath('proc.bpf.o'),
        rodata: { no_files: !args.files, no_net: !args.net },
        lostSrc: 'proc',
        ...(args.ringMb ? { ringMb: args.ringMb } : {}),
        ...(targets.cmd && !args.output ? { childStdout: 2 } : {}),
      },
      {
        record: (rec) => proc.record(rec),
        started: (s) => {
          if (!args.snapshot) {
            if (args.interval > 0) sample();
            return;
          }
          for (const pid of s.existing) {
            const info = readInfo(pid);
            if (info) proc.snapshot(info);
          }
          // A first sample now (CPU % over each process's life so far), then every interval.
          if (args.interval > 0) sample();
        },
        ...(args.interval > 0 ? { tick: () => sample(), tickMs: args.interval * 1000 } : {}),
        end: () => proc.end(),
      },
    );
    if (proc.malformed) ctx.warn(`${proc.malformed} malformed kernel records skipped`);
    ctx.summary.push(
      Object.entries(proc.counts)
        .map(([k, n]) => `${n} ${k}`)
        .join(', ') || 'no events',
    );
    if (filter.dropped)
      ctx.summary.push(`${filter.dropped} events of processes not selected (${filter.selector.describe()})`);
    // With --cmd, the command's exit status is ours, as with `agentsight exec`.
    if (run.child) return exitStatus(run.child);
  },
);
