#!/usr/bin/env node
// agentsight: the whole pipeline in one command (exec, record), answers from a
// capture (report), and the live view of every agent (top). Argument parsing and wiring only; the logic lives in packages/.
import fs from 'node:fs';
import { SELECTOR_FLAGS, Selector, SelectorError, selectorOptions } from '@agentsight/agents';
import { checkPrivileges } from '@agentsight/bpf';
import { EXIT, openInput, runTool, type ToolContext, ToolError, VERSION } from '@agentsight/cli';
import { type CgroupTarget, isContainerTarget, resolveTarget, TargetError } from '@agentsight/container';
import { type AgentEvent, type Emit, readEvents, type Stage } from '@agentsight/events';
import {
  type CaptureOptions,
  defaultCaptureName,
  ExecError,
  execTraced,
  recordTraced,
  runEvents,
  ServeChild,
  tee,
} from '@agentsight/exec';
import { loadPrices, type PriceTable } from '@agentsight/llm';
import { OtelStage, resolveConfig } from '@agentsight/otel';
import {
  formatAudit,
  formatPrompts,
  formatSessions,
  formatTokens,
  Report,
  Sessions,
  summaryLines,
  toCsv,
  toJsonl,
} from '@agentsight/report';
import { chooseSource, DEFAULT_STORE, runTop, SORT_KEYS, type SourceChoice, UsageError, VIEWS } from '@agentsight/top';
import { FILTER_NAMES, FilterError, parseFilter, type SessionFilter } from '@agentsight/trace';

interface Args {
  mode?: string;
  captures?: string[];
  json: boolean;
  by?: string;
  prices?: string;
  filter?: string[];
  format: 'jsonl' | 'csv';
  what: 'calls' | 'sessions' | 'tools';
  // exec / record
  server: boolean;
  host: string;
  port: number;
  token?: string;
  otel?: string;
  captureContent: boolean;
  binaryPath?: string[];
  /** record: the container target (docker://, podman://, k8s://, cgroup:///), resolved by checkUsage. */
  target?: CgroupTarget;
  pid?: number[];
  comm?: string;
  files: boolean;
  net: boolean;
  stdio: boolean;
  raw: boolean;
  redact: boolean;
  correlate: boolean;
  interval: number;
  keepServing?: boolean;
  allow?: string[];
  deny?: string[];
  // top
  store?: string;
  once: boolean;
  plain: boolean;
  since: number;
  view: (typeof VIEWS)[number];
  sort?: (typeof SORT_KEYS)[number];
  reverse: boolean;
}

let topSource: SourceChoice | undefined;

function prices(file: string | undefined): PriceTable {
  try {
    return loadPrices(file);
  } catch (e) {
    throw new ToolError(`--prices ${(e as Error).message}`, EXIT.USAGE);
  }
}

let agentPid = 0;
function onSignal(sig: NodeJS.Signals): boolean {
  if (!agentPid) return false;
  // A Ctrl-C at the terminal reaches the agent directly (same foreground process group);
  // anything else we pass on. Either way we stop when the agent does.
  if (sig !== 'SIGINT' || !process.stdin.isTTY) {
    try {
      process.kill(agentPid, sig);
    } catch {
      /* gone */
    }
  }
  return true;
}

await runTool<Args>(
  {
    name: 'agentsight',
    summary: 'trace an agent end to end, or answer questions from a capture',
    usage: 'agentsight <exec|record|report|top> [options] …',
    readsEvents: true,
    onSignal,
    preflight: (a) => {
      const cmd = String(a._[0]);
      if (cmd === 'top') {
        if (!(a.interval > 0)) throw new ToolError('top: --interval must be more than 0 seconds', EXIT.USAGE);
        try {
          topSource = chooseSource({ store: a.store, comm: a.comm });
        } catch (e) {
          if (e instanceof UsageError) throw new ToolError(`top: ${e.message}`, EXIT.USAGE);
          throw e;
        }
        // Without a monitor's store, top captures itself.
        if (topSource.kind === 'live') checkPrivileges();
        return;
      }
      if (cmd !== 'exec' && cmd !== 'record') return;
      checkUsage(cmd, a);
      checkPrivileges();
    },
    // exec and record write a capture file by default: the terminal belongs to the agent.
    defaultOutput: (a) => (a._[0] === 'exec' || a._[0] === 'record' ? defaultCaptureName() : undefined),
    examples: [
      ['sudo agentsight exec -- claude -p "fix the build"', 'run an agent traced; writes a capture and serves the UI'],
      [
        'sudo agentsight record -c node --allow agent:*',
        'node agents (Gemini CLI, Qwen Code, Amp, ...), running or started later',
      ],
      ['agentsight report tokens cap.ndjson', 'tokens and estimated cost by model, provider, process and day'],
      ['agentsight report audit --json cap.ndjson | jq .hosts', 'every process run, file written and host contacted'],
      ['sudo agentsight top', "live view of every agent on this machine (the monitor's store, else a capture)"],
      ['agentsight top --once --json | jq .agents', 'one snapshot for a script'],
    ],
    options: (y) =>
      y
        .command(
          'report [mode] [captures..]',
          'answers from a capture: summary, tokens, audit, prompts, sessions, export',
          (c) =>
            c
              // No choices here: `report CAP.ndjson` (no mode) is a summary of CAP.ndjson, see reportArgs.
              .positional('mode', {
                type: 'string',
                describe: 'summary (default), tokens, audit, prompts, sessions or export',
              })
              .positional('captures', {
                type: 'string',
                array: true,
                describe: 'NDJSON captures (.gz ok); default stdin',
              }),
        )
        .command(
          'exec',
          'run an agent (CMD ARGS… after --) with tracing attached to it and its process tree; its exit status is ours',
        )
        .command(
          'record',
          'trace an agent started elsewhere (-c COMM, -p PID, or TARGET: docker://NAME, podman://NAME, k8s://NAMESPACE/POD[/CONTAINER], cgroup:///PATH: every process in that container, now and later) until Ctrl-C or its exit',
        )
        .command(
          'top',
          "live view of the agents on this machine: tokens, cost, calls, tools, errors, CPU, memory, files, network, models (the running monitor's store, else a capture of its own)",
        )
        .option('server', {
          type: 'boolean',
          default: true,
          describe: 'exec/record: serve the web UI while tracing (--no-server: just write the capture)',
        })
        .option('host', {
          type: 'string',
          default: '127.0.0.1',
          describe: 'exec/record: web UI address (non-loopback needs --token)',
        })
        .option('port', { type: 'number', default: 7395, describe: 'exec/record: web UI port' })
        .option('token', { type: 'string', describe: 'exec/record: token the web UI requires' })
        .option('keep-serving', {
          type: 'boolean',
          describe: 'exec: keep the web UI up after the agent exits, until Ctrl-C (default: when stdin is a terminal)',
        })
        .option('otel', {
          type: 'string',
          describe:
            'exec/record: also export spans over OTLP/HTTP (URL, or "" for OTEL_EXPORTER_OTLP_ENDPOINT / localhost:4318)',
        })
        .option('capture-content', {
          type: 'boolean',
          default: false,
          describe: 'with --otel: include prompts, outputs and tool arguments in spans',
        })
        .option('binary-path', {
          type: 'string',
          array: true,
          nargs: 1,
          describe: "exec/record: another file carrying the agent's TLS library",
        })
        .option('pid', {
          alias: 'p',
          type: 'number',
          array: true,
          nargs: 1,
          describe: 'record: these processes and their descendants',
        })
        .option('comm', {
          alias: 'c',
          type: 'string',
          describe:
            'record, top: processes with this name, running or started later, and their descendants (top: capture these only)',
        })
        .option('files', { type: 'boolean', default: true, describe: 'exec/record: file events (--no-files: none)' })
        .option('net', { type: 'boolean', default: true, describe: 'exec/record: network events (--no-net: none)' })
        .option('stdio', {
          type: 'boolean',
          default: true,
          describe: 'exec/record: stdio capture, for MCP over stdio (--no-stdio: none)',
        })
        .option('raw', {
          type: 'boolean',
          default: false,
          describe: 'exec/record: also keep raw ssl/data events (large; lets as-http re-parse)',
        })
        .option('redact', {
          type: 'boolean',
          default: true,
          describe: 'exec/record: redact API keys and cookies (--no-redact keeps them)',
        })
        .option('correlate', {
          type: 'boolean',
          default: true,
          describe: 'exec/record: link tool calls to processes, flag findings (--no-correlate: not)',
        })
        .option('interval', {
          type: 'number',
          default: 5,
          describe: 'exec/record: seconds between CPU/memory samples (0: none); top: between samples and refreshes',
        })
        .options({
          allow: { ...SELECTOR_FLAGS.allow, describe: `exec/record: ${SELECTOR_FLAGS.allow.describe}` },
          deny: { ...SELECTOR_FLAGS.deny, describe: `exec/record: ${SELECTOR_FLAGS.deny.describe}` },
        })
        .option('json', {
          type: 'boolean',
          default: false,
          describe: 'report: machine-readable JSON instead of tables; top: one JSON document per refresh (TOP_SCHEMA)',
        })
        .option('store', {
          type: 'string',
          describe: `top: read this store (default ${DEFAULT_STORE} when a monitor has it open)`,
        })
        .option('once', { type: 'boolean', default: false, describe: 'top: one snapshot, then exit' })
        .option('plain', {
          type: 'boolean',
          default: false,
          describe: 'top: plain text tables, one per refresh, no terminal UI (the default when stdout is no terminal)',
        })
        .option('since', {
          type: 'number',
          default: 3600,
          describe: 'top: with a store, count the last SECONDS of it (0: all of it)',
        })
        .option('view', {
          choices: VIEWS,
          default: 'agents' as const,
          describe: 'top: the view --plain prints and the UI opens with',
        })
        .option('sort', { choices: SORT_KEYS, describe: "top: sort rows by this (default: the view's own)" })
        .option('reverse', { type: 'boolean', default: false, describe: 'top: smallest first' })
        .option('by', {
          choices: ['model', 'provider', 'process', 'day'],
          describe: 'report tokens: one grouping only',
        })
        .option('filter', {
          type: 'string',
          array: true,
          nargs: 1,
          describe:
            'report sessions/export: NAME=VALUE, as the web UI filters (q, agent, model, provider, tool, host, status, alerts, from, to); repeatable, all must hold',
        })
        .option('format', {
          choices: ['jsonl', 'csv'],
          default: 'jsonl',
          describe: 'report export: JSON lines or CSV',
        })
        .option('what', {
          choices: ['calls', 'sessions', 'tools'],
          default: 'calls',
          describe: 'report export: LLM calls, sessions, or tool calls with the processes they ran',
        })
        .option('prices', {
          type: 'string',
          describe:
            'JSON price table (USD per 1M tokens by model prefix) whose rows win over the built-in genai-prices dataset: costs in report, top, the exit summary, the web UI and OTLP (default $AGENTSIGHT_PRICES)',
        })
        .demandCommand(1, 'say what to do: exec, record, report or top') as never,
  },
  async (args, ctx) => {
    const cmd = String(args._[0]);
    if (cmd === 'exec' || cmd === 'record') return capture(cmd, args, ctx);
    if (cmd === 'top')
      return runTop({
        source: topSource!,
        mode: args.json ? 'json' : args.plain || !process.stdout.isTTY ? 'plain' : 'tui',
        once: args.once,
        intervalS: args.interval,
        sinceS: args.since,
        view: args.view,
        ...(args.sort ? { sort: args.sort } : {}),
        reverse: args.reverse,
        prices: prices(args.prices),
        out: process.stdout,
        stdin: process.stdin,
        stopped: ctx.stopped,
        warn: ctx.warn,
        info: ctx.info,
      });
    const { mode, files } = reportArgs(args.mode, args.captures ?? []);
    const report = new Report(prices(args.prices));
    for (const f of files) {
      let input;
      try {
        input = openInput(f);
      } catch (e) {
        throw new ToolError(`${f}: ${(e as Error).message}`);
      }
      try {
        await readEvents(input, (ev) => report.add(ev), { name: f === '-' ? '<stdin>' : f, strict: args.strict });
      } catch (e) {
        throw new ToolError((e as Error).message);
      }
    }
    const out = (s: string) => process.stdout.write(s.endsWith('\n') ? s : s + '\n');
    const groupings = (args.by ? [args.by] : ['model', 'provider', 'process', 'day']) as Array<
      'model' | 'provider' | 'process' | 'day'
    >;
    if (mode === 'sessions' || mode === 'export') {
      const filter = filterArgs(args.filter ?? []);
      const sessions = new Sessions(report);
      if (mode === 'sessions') {
        const rows = sessions.filter(filter);
        out(args.json ? JSON.stringify(rows, null, process.stdout.isTTY ? 2 : 0) : formatSessions(rows));
        return;
      }
      const rows =
        args.what === 'sessions'
          ? sessions.filter(filter)
          : args.what === 'tools'
            ? sessions.tools(filter)
            : sessions.calls(filter);
      if (rows.length || args.format === 'csv')
        process.stdout.write(args.format === 'csv' ? toCsv(rows) : toJsonl(rows));
      return;
    }
    if (args.json) {
      const data =
        mode === 'summary'
          ? report.summary()
          : mode === 'tokens'
            ? Object.fromEntries(groupings.map((g) => [g, report.tokens(g)]))
            : mode === 'audit'
              ? report.audit()
              : report.prompts();
      out(JSON.stringify(data, null, process.stdout.isTTY ? 2 : 0));
    } else if (mode === 'summary') out(summaryLines(report.summary()).join('\n'));
    else if (mode === 'tokens')
      out(
        groupings.map((g) => formatTokens(report.tokens(g), g)).join('\n\n') +
          '\n\nCosts are estimates from list prices (see agentsight(1), --prices).',
      );
    else if (mode === 'audit') out(formatAudit(report));
    else out(formatPrompts(report));
    void ctx;
  },
);

/** `report [mode] [captures..]`: the mode is optional, so a first word that is no mode is a capture. */
function reportArgs(first: string | undefined, rest: string[]): { mode: string; files: string[] } {
  const MODES = ['summary', 'tokens', 'audit', 'prompts', 'sessions', 'export'];
  const files = [...rest];
  let mode = 'summary';
  if (first !== undefined && MODES.includes(first)) mode = first;
  else if (first !== undefined) {
    // A mistyped mode is a usage error, not "no such file".
    if (first !== '-' && !fs.existsSync(first))
      throw new ToolError(`report: ${first}: not a mode (${MODES.join(', ')}) nor a capture file`, EXIT.USAGE);
    files.unshift(first);
  }
  if (!files.length) files.push('-');
  return { mode, files };
}

/** `--filter NAME=VALUE …` as the web UI's filter, by its parser. */
function filterArgs(pairs: string[]): SessionFilter {
  const got = new Map<string, string>();
  for (const p of pairs) {
    const i = p.indexOf('=');
    const name = i > 0 ? p.slice(0, i) : '';
    if (!(FILTER_NAMES as readonly string[]).includes(name))
      throw new ToolError(`--filter ${p}: want NAME=VALUE, NAME one of ${FILTER_NAMES.join(', ')}`, EXIT.USAGE);
    if (got.has(name)) throw new ToolError(`--filter: ${name} given twice`, EXIT.USAGE);
    got.set(name, p.slice(i + 1));
  }
  try {
    return parseFilter((n) => got.get(n));
  } catch (e) {
    if (e instanceof FilterError) throw new ToolError(`--filter ${e.message}`, EXIT.USAGE);
    throw e;
  }
}

/** Resolves once none of `pids` exists any more. */
function pidsGone(pids: number[]): Promise<void> {
  return new Promise((resolve) => {
    const t = setInterval(() => {
      if (pids.every((p) => !fs.existsSync(`/proc/${p}`))) {
        clearInterval(t);
        resolve();
      }
    }, 250);
    t.unref();
  });
}

/** Usage errors of exec and record, found before anything is written. */
function checkUsage(
  cmd: 'exec' | 'record',
  args: Pick<Args, 'pid' | 'comm' | 'allow' | 'deny' | 'binaryPath' | 'target'> & { _: (string | number)[] },
): void {
  let argv = args._.slice(1).map(String);
  // A container target, as record's argument (or, as as-sslsniff takes docker://, a --binary-path):
  // resolved now, so one that names nothing fails before anything is recorded.
  const specs = [...(cmd === 'record' ? argv : []), ...(args.binaryPath ?? [])].filter(isContainerTarget);
  if (specs.length) {
    if (cmd === 'exec') throw new ToolError(`exec: ${specs[0]} is a target for record`, EXIT.USAGE);
    if (specs.length > 1)
      throw new ToolError(`record: one container target at a time (${specs.join(', ')})`, EXIT.USAGE);
    try {
      args.target = resolveTarget(specs[0]!);
    } catch (e) {
      if (e instanceof TargetError) throw new ToolError(e.message, EXIT.USAGE);
      throw e;
    }
    argv = argv.filter((a) => a !== specs[0]);
    args.binaryPath = args.binaryPath?.filter((p) => p !== specs[0]);
  }
  for (const p of args.binaryPath ?? [])
    if (!fs.existsSync(p)) throw new ToolError(`--binary-path ${p}: no such file`, EXIT.USAGE);
  try {
    new Selector(selectorOptions(args));
  } catch (e) {
    if (e instanceof SelectorError) throw new ToolError(`--allow/--deny: ${e.message}`, EXIT.USAGE);
    throw e;
  }
  if (cmd === 'exec' && !argv.length)
    throw new ToolError('exec: say what to run: agentsight exec [options] -- CMD ARGS…', EXIT.USAGE);
  if (cmd === 'record' && !args.pid?.length && !args.comm && !args.target)
    throw new ToolError('record: say what to trace: -c COMM, -p PID or a container target', EXIT.USAGE);
  if (cmd === 'record' && argv.length)
    throw new ToolError(`record: unexpected arguments: ${argv.join(' ')} (did you mean exec?)`, EXIT.USAGE);
}

async function capture(
  cmd: 'exec' | 'record',
  args: Args & { _: (string | number)[]; output?: string; rotateMb?: number; quiet: boolean },
  ctx: ToolContext,
): Promise<number> {
  const argv = args._.slice(1).map(String);
  // `-o -` sends events to stdout (beside the agent's own output): allowed, if odd.
  const file = ctx.outputPath;
  const out = ctx.out;
  // One price table for the summary, the UI's store and the OTLP attribute.
  const table = prices(args.prices);
  const report = new Report(table);
  const serve = args.server
    ? new ServeChild({
        prices: args.prices ?? (process.env.AGENTSIGHT_PRICES || undefined),
        db: (file ?? 'agentsight').replace(/\.ndjson$/, '') + '.db',
        host: args.host,
        port: args.port,
        token: args.token,
        warn: ctx.warn,
      })
    : undefined;
  const tail: Array<(emit: Emit) => Stage> = [];
  let otel: OtelStage | undefined;
  if (args.otel !== undefined) {
    let cfg;
    try {
      cfg = resolveConfig({ endpoint: args.otel || undefined }, process.env, VERSION);
    } catch (e) {
      throw new ToolError(`--otel: ${(e as Error).message}`, EXIT.USAGE);
    }
    tail.push(
      (emit) =>
        (otel = new OtelStage(
          {
            ...cfg,
            scope: { name: 'agentsight.exec', version: VERSION },
            captureContent: args.captureContent,
            prices: table,
            warn: ctx.warn,
          },
          emit,
        )),
    );
  }
  const emit = tee(
    (ev: AgentEvent) => {
      out.write(ev);
    },
    (ev) => report.add(ev),
    serve ? (ev) => serve.write(ev) : undefined,
  );
  const opts: CaptureOptions = {
    binaryPaths: args.binaryPath,
    files: args.files,
    net: args.net,
    stdio: args.stdio,
    raw: args.raw,
    redact: args.redact,
    correlate: args.correlate,
    metricsIntervalS: args.interval,
    select: selectorOptions(args),
    emit,
    tail,
    warn: ctx.warn,
    info: ctx.info,
  };
  // The run's first event: what every output groups this segment's sessions under.
  const run = runEvents({
    tool: `agentsight ${cmd}`,
    command:
      cmd === 'exec'
        ? argv.join(' ')
        : [
            args.target?.spec ?? '',
            args.pid?.length ? `-p ${args.pid.join(',')}` : '',
            args.comm ? `-c ${args.comm}` : '',
          ]
            .join(' ')
            .trim(),
    ...(file ? { capture: file } : {}),
  });
  emit(run.start);
  if (serve) ctx.info(`web UI: ${serve.url}`);
  ctx.info(`capture: ${file ?? 'stdout'}`);
  let status = EXIT.OK as number;
  let tls = '';
  let uncaptured: string[] = [];
  // The capture is complete before the TLS probes are detached (slow); that overlaps the
  // exporter's shutdown and the summary, and is awaited before we exit (see below).
  let detached: Promise<void> = Promise.resolve();
  try {
    if (cmd === 'exec') {
      const r = await execTraced(argv, {
        ...opts,
        onStart: (pid) => {
          agentPid = pid;
        },
      });
      status = r.status;
      tls = r.stats.tls;
      uncaptured = r.stats.uncaptured;
      detached = r.detached;
    } else {
      // -p: also stop when every process named has exited (their children are then orphans we do not wait for).
      const until = args.pid?.length
        ? Promise.race([
            ctx.stopped,
            pidsGone(args.pid).then(() =>
              ctx.info(`process${args.pid!.length > 1 ? 'es' : ''} ${args.pid!.join(', ')} exited`),
            ),
          ])
        : ctx.stopped;
      const stats = await recordTraced(
        {
          ...(args.pid?.length ? { pids: args.pid } : {}),
          ...(args.comm ? { comm: args.comm } : {}),
          ...(args.target ? { cgroup: args.target } : {}),
        },
        until,
        opts,
      );
      tls = stats.tls;
      uncaptured = stats.uncaptured;
      detached = stats.detached;
    }
  } catch (e) {
    serve?.stop();
    if (e instanceof ExecError) throw new ToolError(e.message, e.status);
    throw e;
  } finally {
    agentPid = 0;
  }
  emit(run.stop());
  if (otel) {
    const st = await otel.shutdown(5000);
    ctx.info(
      `otel: ${st.exported} of ${st.spans} spans exported${st.dropped + st.failed ? `, ${st.dropped + st.failed} lost` : ''}`,
    );
  }
  if (!args.quiet) {
    process.stderr.write(
      summaryLines(report.summary())
        .map((l) => `agentsight: ${l}`)
        .join('\n') + '\n',
    );
    if (tls) process.stderr.write(`agentsight: tls         ${tls}\n`);
    // Connections whose plaintext could not be read: "lost nothing" is not the whole story.
    for (const l of uncaptured) process.stderr.write(`agentsight: tls         ${l}\n`);
    if (file) process.stderr.write(`agentsight: capture     ${file}  (agentsight report tokens ${file})\n`);
  }
  if (serve) {
    serve.endInput();
    const keep = args.keepServing ?? (process.stdin.isTTY && cmd === 'exec');
    if (keep && !ctx.stopping) {
      ctx.info(`trace complete; browse it at ${serve.url} (Ctrl-C to stop)`);
      await ctx.stopped;
    }
    serve.stop();
  }
  // Exiting with probes still attached would detach them one at a time in the exit hook.
  await detached;
  return status;
}
