#!/usr/bin/env node
// as-sslsniff: argument parsing and wiring; the capture is @agentsight/sslsniff.
import fs from 'node:fs';
import os from 'node:os';
import { ProcessFilter, SELECTOR_FLAGS, SelectorError, selectorOptions } from '@agentsight/agents';
import { checkPrivileges } from '@agentsight/bpf';
import { EXIT, runTool, ToolError } from '@agentsight/cli';
import { environmentFor, resolveCommand, resolveElf, sudoUser, userBinDirs } from '@agentsight/launch';
import {
  describeTargets,
  discoverForComm,
  discoverForPid,
  findTlsTargetCached,
  resolveDockerTarget,
  SslSniffer,
  sslDataHeadJson,
  summaryLine,
  systemTlsLibraries,
  TLS_FUNCTION_NAMES,
  TLS_TITLES,
  type TlsTarget,
} from '@agentsight/sslsniff';

interface Args {
  binaryPath?: string[];
  pid?: number;
  comm?: string;
  uid?: number;
  maxCallMb: number;
  ringMb: number;
  listTargets: boolean;
  nice: number;
  hold: boolean;
  allow?: string[];
  deny?: string[];
}

await runTool<Args>(
  {
    name: 'as-sslsniff',
    summary: `TLS plaintext capture with eBPF uprobes (${TLS_TITLES})`,
    usage: 'as-sslsniff [--binary-path PATH]... [-p PID] [-c COMM] [--uid UID] [options]',
    examples: [
      ['as-sslsniff -c curl', 'capture what curl sends and receives over TLS (system libssl)'],
      [
        'as-sslsniff --binary-path "$(command -v node)" -p 1234',
        'a node process: OpenSSL is linked into the node binary',
      ],
      ['as-sslsniff -p 1234 --list-targets', 'show which TLS functions of process 1234 would be hooked, and where'],
      ['as-sslsniff -c claude | as-http | as-merge', 'LLM calls of Claude Code, running now or started later'],
      ['as-sslsniff -o host.ndjson', 'every process on the host that uses a TLS library we can hook, from now on'],
      ['as-sslsniff --allow agent:* --deny uid:0', 'every agent on the host, not those running as root'],
    ],
    options: (y) =>
      y
        .option('binary-path', {
          type: 'string',
          array: true,
          nargs: 1,
          describe:
            "A TLS library or a binary with TLS linked in (repeatable); docker://NAME for a container's main binary",
        })
        .option('pid', {
          alias: 'p',
          type: 'number',
          describe: 'Only this process; with no --binary-path, hook the TLS libraries it has mapped',
        })
        .option('comm', {
          alias: 'c',
          type: 'string',
          describe: "Only processes with this name (the process name, not a thread's), running or started later",
        })
        .option('uid', { type: 'number', describe: 'Only processes running as this user id' })
        .options(SELECTOR_FLAGS)
        .option('max-call-mb', {
          type: 'number',
          default: 64,
          describe: 'Bytes captured per read/write call at most (MiB); longer calls are marked truncated',
        })
        .option('ring-mb', {
          type: 'number',
          default: 64,
          describe: 'Kernel ring buffer size (MiB, rounded up to a power of two)',
        })
        .option('nice', {
          type: 'number',
          default: -10,
          describe:
            'Run at this scheduling priority, so the reader keeps up with the kernel ring on a busy machine (0: unchanged)',
        })
        .option('hold', {
          type: 'boolean',
          default: true,
          describe:
            'Hold a process that maps a program or library not seen before stopped until its TLS is hooked, unless a job-control shell may see it (--no-hold: never)',
        })
        .option('list-targets', {
          type: 'boolean',
          default: false,
          describe: 'Print what would be hooked (files, functions, offsets) and exit; attaches nothing',
        })
        .check((a) => {
          if (a.pid !== undefined && (!Number.isInteger(a.pid) || a.pid <= 0))
            throw new Error('--pid: want a process id');
          if (a.uid !== undefined && (!Number.isInteger(a.uid) || a.uid < 0)) throw new Error('--uid: want a user id');
          if (!(a['max-call-mb'] > 0)) throw new Error('--max-call-mb: want a positive number');
          if (!(a['ring-mb'] > 0) || a['ring-mb'] > 4096) throw new Error('--ring-mb: want 1..4096');
          return true;
        }) as never,
  },
  async (args, ctx) => {
    const log = (m: string) => ctx.info(m);
    let filter: ProcessFilter;
    try {
      filter = new ProcessFilter(selectorOptions(args));
    } catch (e) {
      if (e instanceof SelectorError) throw new ToolError(`--allow/--deny: ${e.message}`, EXIT.USAGE);
      throw e;
    }
    // Privileges first: without them, reading other processes' maps fails less clearly.
    if (!args.listTargets) checkPrivileges();
    const targets: TlsTarget[] = [];
    for (const p of args.binaryPath ?? []) {
      let file = p;
      if (p.startsWith('docker://')) {
        try {
          file = resolveDockerTarget(p).path;
        } catch (e) {
          throw new ToolError((e as Error).message);
        }
      }
      if (!fs.existsSync(file)) throw new ToolError(`${p}: no such file`, EXIT.USAGE);
      const t = findTlsTargetCached(file, { log });
      if (!t?.symbols.length) throw new ToolError(`${p}: no TLS library found in it (none of ${TLS_FUNCTION_NAMES})`);
      targets.push(t);
    }
    if (args.pid !== undefined && !args.binaryPath?.length) {
      let found: TlsTarget[];
      try {
        found = discoverForPid(args.pid, { log });
      } catch (e) {
        throw new ToolError((e as Error).message);
      }
      if (!found.length) throw new ToolError(`process ${args.pid} has no TLS library mapped that we can hook`);
      targets.push(...found);
    }
    // Without files named, programs and libraries mapped from now on are followed too.
    const discover = !args.binaryPath?.length;
    if (!targets.length) {
      targets.push(...systemTlsLibraries({ log }));
      // Programs that carry their own TLS (node, Bun, Claude Code) are found by their name:
      // running ones, and the command of that name (hooked before it is ever started, which
      // matters where a process cannot be held: see --hold).
      if (args.comm) {
        targets.push(...discoverForComm(args.comm, { log }));
        const t = commandTarget(args.comm, log);
        if (t && !targets.some((u) => u.path === t.path)) targets.push(t);
      }
    }

    if (args.listTargets) {
      process.stdout.write(describeTargets(targets));
      return;
    }

    if (args.nice) {
      try {
        os.setPriority(args.nice);
      } catch (e) {
        ctx.warn(`cannot set priority ${args.nice}: ${(e as Error).message}`);
      }
    }
    const backpressure = (ok: boolean) => {
      if (!ok && !ctx.out.closed && !sniffer.ring?.paused) {
        // Our reader is slower than the traffic: stop taking records and let the kernel
        // ring absorb it (what overflows there is counted and reported as `lost`).
        sniffer.pause();
        void ctx.out.drained().then(() => sniffer.resume());
      }
    };
    const sniffer = new SslSniffer({
      targets,
      pid: args.pid,
      comm: args.comm,
      uid: args.uid,
      ...(discover
        ? { discover: { hold: args.hold, ...(filter.empty ? {} : { skip: (m) => !filter.allowsAfterExec(m.pid) }) } }
        : {}),
      maxCallBytes: Math.round(args.maxCallMb * (1 << 20)),
      ringBytes: Math.round(args.ringMb * (1 << 20)),
      warn: (m) => ctx.warn(m),
      info: log,
      emit: (ev) => {
        if (filter.filter(ev)) backpressure(ctx.out.write(ev));
      },
      // Payloads go from the ring into the output bytes without becoming strings.
      emitData: (head, bytes) => {
        if (filter.allows(head.pid)) backpressure(ctx.out.writePayload(sslDataHeadJson(head), bytes));
      },
    });
    let done: Promise<void> | undefined;
    const finish = () =>
      (done ??= (async () => {
        // Output first (complete once quiesced), then the slow part: detaching the probes.
        const { kernel, user } = sniffer.quiesce();
        ctx.info(summaryLine(kernel, user));
        const d = sniffer.discoveryStats;
        if (d?.files)
          ctx.info(
            `followed: ${d.files} new files looked at, ${d.hooked} with TLS hooked; ${d.held} processes held, ${d.maxHoldMs} ms at most`,
          );
        await sniffer.detachAsync();
      })());
    ctx.onStop(finish);
    const n = sniffer.attach();
    if (!n && !discover) {
      await finish();
      throw new ToolError('no probe could be attached (see the messages above)');
    }
    sniffer.start();
    ctx.info(
      `capturing: ${n} functions hooked in ${targets.length} file${targets.length === 1 ? '' : 's'}${args.pid ? `, process ${args.pid}` : ''}${args.comm ? `, name ${args.comm}` : ''}${discover ? `; following programs started from now on${args.hold ? '' : ' (not held)'}` : ''}${filter.empty ? '' : `; ${filter.selector.describe()}`}`,
    );

    const tick = setInterval(() => {
      sniffer.tick();
      if (args.pid !== undefined && !fs.existsSync(`/proc/${args.pid}`)) {
        ctx.info(`process ${args.pid} exited`);
        clearInterval(tick);
        stopSoon = true;
      }
    }, 1000);
    let stopSoon = false;
    ctx.onStop(() => clearInterval(tick));
    await Promise.race([
      ctx.stopped,
      new Promise<void>((r) => {
        const w = setInterval(() => {
          if (stopSoon) {
            clearInterval(w);
            r();
          }
        }, 200);
        w.unref();
      }),
    ]);
    await finish();
  },
);

/** The executable `comm` names on PATH (and the sudo user's bin directories), if it carries TLS. */
function commandTarget(comm: string, log: (m: string) => void): TlsTarget | null {
  const user = sudoUser();
  const extra = user ? userBinDirs(user.home) : [];
  const file = resolveCommand(comm, process.env, extra);
  if (!file) return null;
  try {
    const t = findTlsTargetCached(resolveElf(file, environmentFor(user, process.env), extra).elf, { log });
    return t?.symbols.length ? t : null;
  } catch {
    return null;
  }
}
