#!/usr/bin/env node
import fs from 'node:fs';
import { type CommonArgs, EXIT, runTool, ToolError } from '@agentsight/cli';
import { exitStatus } from '@agentsight/launch';
import { bpfObjectPath, runCapture, targetsFrom } from '@agentsight/proc';
import { outputPipeIdentity, StdioAssembler } from '@agentsight/stdiocap';
import type { Argv } from 'yargs';

interface Args {
  pid?: string[];
  comm?: string;
  cmd?: boolean;
  maxCallKb: number;
  ringMb?: number;
}

await runTool<Args>(
  {
    name: 'as-stdiocap',
    summary: 'what a process tree reads on stdin and writes on stdout/stderr, from the kernel',
    usage: 'as-stdiocap [-p PID | -c COMM | --cmd -- PROG [ARGS...]] [options]',
    examples: [
      ['as-stdiocap -c mcp-server-git | as-merge', 'MCP calls of a local stdio MCP server'],
      ['as-stdiocap --cmd -- claude', 'run an agent; capture the stdio of it and of every MCP server it starts'],
      ['as-stdiocap -p 1234 -o stdio.ndjson', 'a running process tree, to a file'],
    ],
    options: (y) =>
      y
        .option('pid', {
          alias: 'p',
          type: 'string',
          array: true,
          nargs: 1,
          describe: 'Capture PID and its descendants (repeatable, or comma separated)',
        })
        .option('comm', {
          alias: 'c',
          type: 'string',
          describe: 'Capture processes with this name (now, or when they exec) and their descendants',
        })
        .option('cmd', {
          type: 'boolean',
          describe: 'Run the command after -- (gated: captured from its first instruction); stop when it exits',
        })
        .option('max-call-kb', {
          type: 'number',
          default: 4096,
          describe: 'Bytes copied per read/write call, KiB; longer calls are marked truncated',
        })
        .option('ring-mb', {
          type: 'number',
          describe: 'Kernel ring buffer size, MiB (power of two; default 32)',
        }) as unknown as Argv<Args & CommonArgs>,
    // yargs also sets the camelCase names at run time; its types only know the dashed ones.
  },
  async (args, ctx) => {
    const targets = targetsFrom({ ...args, _: args._ });
    if (!(args.maxCallKb >= 1 && args.maxCallKb <= 1024 * 1024))
      throw new ToolError(`--max-call-kb: want 1..1048576, got ${args.maxCallKb}`, EXIT.USAGE);
    if (args.ringMb !== undefined && !(args.ringMb >= 1 && (args.ringMb & (args.ringMb - 1)) === 0))
      throw new ToolError(`--ring-mb: want a power of two >= 1, got ${args.ringMb}`, EXIT.USAGE);
    // Payloads go from the ring into the output bytes without becoming strings.
    const asm = new StdioAssembler(
      (ev) => {
        ctx.out.write(ev);
      },
      {
        emitData: (head, bytes) => {
          ctx.out.writePayload(head, bytes);
        },
      },
    );
    const run = await runCapture(
      ctx,
      {
        ...targets,
        object: bpfObjectPath('stdiocap.bpf.o'),
        rodata: {
          max_call_bytes: Math.floor(args.maxCallKb * 1024),
          ...(args.output ? {} : outputPipeIdentity(fs.fstatSync(1))),
        },
        lostSrc: 'stdio',
        ...(args.ringMb ? { ringMb: args.ringMb } : {}),
        // The child's stdout is captured in the kernel wherever it goes; it must not mix with
        // our events on stdout.
        ...(targets.cmd && !args.output ? { childStdout: 2 } : {}),
      },
      {
        record: (rec) => asm.record(rec),
        tick: () => asm.tick(),
        tickMs: 500,
        end: () => asm.end(),
      },
    );
    if (asm.malformed) ctx.warn(`${asm.malformed} malformed kernel records skipped`);
    ctx.summary.push(`${asm.calls} calls, ${asm.bytes} bytes`);
    // With --cmd, the command's exit status is ours, as with `agentsight exec`.
    if (run.child) return exitStatus(run.child);
  },
);
