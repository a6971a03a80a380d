#!/usr/bin/env node
// agentsight: the whole pipeline in one command (exec, record), the long-running service over
// every agent of the host (monitor), answers from a capture (report), and the live view of
// every agent (top). Argument parsing and wiring only; the logic lives in packages/.
import fs from 'node:fs';
import path from 'node:path';
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
import type { ClickHouseSink } from '@agentsight/fleet';
import { loadPrices, type PriceTable } from '@agentsight/llm';
import {
  DB_NAME,
  DEFAULT_DIR,
  daemonSetText,
  documentation,
  formatSize,
  installService,
  LockedError,
  Monitor,
  parseAge,
  parseSize,
  systemdRunning,
  UNIT_NAME,
  uninstallService,
} from '@agentsight/monitor';
import type { OtelStage } from '@agentsight/otel';
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
import { openStoreReadOnly, storedEvents } from '@agentsight/serve';
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
  clickhouse?: string;
  captureContent: boolean;
  binaryPath?: string[];
  /** record: the container target (docker://, podman://, k8s://, cgroup:///), resolved by checkUsage. */
  target?: CgroupTarget;
  pid?: number[];
  comm?: string;
  /** Unset: on for exec/record, off for monitor (it sees every process of the host). */
  files?: boolean;
  net: boolean;
  stdio?: boolean;
  raw: boolean;
  redact: boolean;
  correlate: boolean;
  interval: number;
  keepServing?: boolean;
  allow?: string[];
  deny?: string[];
  // report, top
  store?: string;
  // top
  once: boolean;
  plain: boolean;
  since: number;
  view: (typeof VIEWS)[number];
  sort?: (typeof SORT_KEYS)[number];
  reverse: boolean;
  // monitor
  action?: string;
  dir: string;
  maxSize: string;
  maxAge: string;
  statsInterval: number;
  unitDir?: string;
  image?: string;
  namespace: string;
  start: boolean;
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
    summary: 'trace an agent end to end, watch every agent on the host, or answer questions from a capture',
    usage: 'agentsight <exec|record|monitor|report|top> [options] …',
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
      if (cmd === 'monitor' && !a.action) checkPrivileges();
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
      ['sudo agentsight monitor install-service', 'watch every agent on this host from now on (systemd)'],
      ['sudo agentsight report tokens --store', 'tokens and cost over everything the monitor stored'],
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
        .command(
          'monitor [action]',
          'every agent on the host, from its first call, into one bounded store, until stopped; or install it as a service',
          (c) =>
            c.positional('action', {
              choices: ['install-service', 'uninstall-service', 'daemonset'],
              describe:
                'install-service: a hardened systemd unit, enabled and started; uninstall-service: removed; daemonset: print a Kubernetes manifest running it on every node',
            }),
        )
        .option('dir', {
          type: 'string',
          default: DEFAULT_DIR,
          describe: `monitor: store directory (${DB_NAME} inside; created 0700)`,
        })
        .option('max-size', {
          type: 'string',
          default: '2G',
          describe: 'monitor: the store is kept under this size, oldest events deleted first (0: unbounded)',
        })
        .option('max-age', {
          type: 'string',
          default: '30d',
          describe: 'monitor: events older than this are deleted (s, m, h, d, w; 0: kept)',
        })
        .option('stats-interval', {
          type: 'number',
          default: 60,
          describe: 'monitor: seconds between meta stats events on its own CPU, memory, loss and store size (0: none)',
        })
        .option('unit-dir', {
          type: 'string',
          describe:
            'install-service/uninstall-service: this directory instead of /etc/systemd/system, and no systemctl',
        })
        .option('image', {
          type: 'string',
          describe: 'daemonset: the image built from deploy/Containerfile',
        })
        .option('namespace', {
          type: 'string',
          default: 'agentsight',
          describe: 'daemonset: the namespace it runs in',
        })
        .option('start', {
          type: 'boolean',
          default: true,
          describe: 'install-service: enable and start it (--no-start: only write the unit)',
        })
        .option('server', {
          type: 'boolean',
          default: true,
          describe: 'exec/record/monitor: serve the web UI while tracing (--no-server: just write the capture)',
        })
        .option('host', {
          type: 'string',
          default: '127.0.0.1',
          describe: 'exec/record/monitor: web UI address (non-loopback needs --token)',
        })
        .option('port', { type: 'number', default: 7395, describe: 'exec/record/monitor: web UI port' })
        .option('token', { type: 'string', describe: 'exec/record/monitor: token the web UI requires' })
        .option('keep-serving', {
          type: 'boolean',
          describe: 'exec: keep the web UI up after the agent exits, until Ctrl-C (default: when stdin is a terminal)',
        })
        .option('otel', {
          type: 'string',
          describe:
            'exec/record/monitor: also export spans over OTLP/HTTP (URL, or "" for OTEL_EXPORTER_OTLP_ENDPOINT / localhost:4318)',
        })
        .option('clickhouse', {
          type: 'string',
          describe:
            'exec/record/monitor: also ship every event into ClickHouse, as as-clickhouse does (URL, or "" for $AGENTSIGHT_CLICKHOUSE_URL / localhost:8123)',
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
        .option('files', {
          type: 'boolean',
          describe: 'file events (exec/record: on, --no-files: none; monitor: off, --files: on)',
        })
        .option('net', {
          type: 'boolean',
          default: true,
          describe: 'exec/record/monitor: network events (--no-net: none)',
        })
        .option('stdio', {
          type: 'boolean',
          describe: 'stdio capture, for MCP over stdio (exec/record: on, --no-stdio: none; monitor: off, --stdio: on)',
        })
        .option('raw', {
          type: 'boolean',
          default: false,
          describe: 'exec/record: also keep raw ssl/data events (large; lets as-http re-parse)',
        })
        .option('redact', {
          type: 'boolean',
          default: true,
          describe: 'exec/record/monitor: redact API keys and cookies (--no-redact keeps them)',
        })
        .option('correlate', {
          type: 'boolean',
          default: true,
          describe: 'exec/record/monitor: link tool calls to processes, flag findings (--no-correlate: not)',
        })
        .option('interval', {
          type: 'number',
          default: 5,
          describe:
            'exec/record/monitor: seconds between CPU/memory samples (monitor: of processes that made LLM calls; 0: none); top: between samples and refreshes',
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
          describe: `report: answer from the monitor's store (default ${DEFAULT_DIR}/${DB_NAME}) instead of capture files; top: read this store (default ${DEFAULT_STORE} when a monitor has it open)`,
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
        .demandCommand(1, 'say what to do: exec, record, monitor, report or top') as never,
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
    if (cmd === 'monitor') return monitor(args, ctx);
    const { mode, files } = reportArgs(args.mode, args.captures ?? [], args.store !== undefined);
    const report = new Report(prices(args.prices));
    if (args.store !== undefined) {
      let file = args.store || `${DEFAULT_DIR}/${DB_NAME}`;
      if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = `${file}/${DB_NAME}`;
      let db;
      try {
        db = openStoreReadOnly(file);
      } catch (e) {
        throw new ToolError(`--store: ${(e as Error).message.replace(/^[A-Z]+: /, '')}`);
      }
      try {
        for (const ev of storedEvents(db)) report.add(ev);
      } finally {
        db.close();
      }
    }
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
function reportArgs(first: string | undefined, rest: string[], store: boolean): { mode: string; files: string[] } {
  const MODES = ['summary', 'tokens', 'audit', 'prompts', 'sessions', 'export'];
  const files = [...rest];
  let mode = 'summary';
  if (first !== undefined && MODES.includes(first)) mode = first;
  else if (store && first !== undefined)
    throw new ToolError(`report: ${first}: not a mode (${MODES.join(', ')})`, EXIT.USAGE);
  else if (first !== undefined) {
    // A mistyped mode is a usage error, not "no such file".
    if (first !== '-' && !fs.existsSync(first))
      throw new ToolError(`report: ${first}: not a mode (${MODES.join(', ')}) nor a capture file`, EXIT.USAGE);
    files.unshift(first);
  }
  if (store) {
    if (files.length)
      throw new ToolError(`report: --store or capture files, not both (${files.join(' ')})`, EXIT.USAGE);
    return { mode, files };
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
  const { tail, ship, exporter } = await exportTail(args, ctx, 'agentsight.exec', table);
  const emit = tee(
    (ev: AgentEvent) => {
      out.write(ev);
    },
    ship,
    (ev) => report.add(ev),
    serve ? (ev) => serve.write(ev) : undefined,
  );
  const opts: CaptureOptions = {
    binaryPaths: args.binaryPath,
    files: args.files ?? true,
    net: args.net,
    stdio: args.stdio ?? true,
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
  await exporter.shutdown();
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

/**
 * The exports and their shutdown (a no-op without): with --otel, a last pipeline stage that
 * makes calls into OTLP spans; with --clickhouse, `ship`, given every event written (meta
 * events included), into the fleet table.
 */
async function exportTail(
  args: Pick<Args, 'otel' | 'captureContent' | 'clickhouse'>,
  ctx: ToolContext,
  scope: string,
  prices: PriceTable,
  /** Where rows wait while ClickHouse is away (default: the user's state directory). */
  bufferDir?: string,
): Promise<{
  tail: Array<(emit: Emit) => Stage>;
  ship?: (ev: AgentEvent) => void;
  exporter: { shutdown(): Promise<void> };
}> {
  const tail: Array<(emit: Emit) => Stage> = [];
  let fleet: ClickHouseSink | undefined;
  if (args.clickhouse !== undefined) {
    // Loaded only when asked for, as the OTLP exporter is.
    const { ClickHouseSink, defaultBufferDir } = await import('@agentsight/fleet');
    try {
      const url = args.clickhouse || process.env.AGENTSIGHT_CLICKHOUSE_URL || 'http://localhost:8123';
      new URL(url);
      fleet = new ClickHouseSink({ url, bufferDir: bufferDir ?? defaultBufferDir(), warn: ctx.warn });
    } catch (e) {
      throw new ToolError(`--clickhouse: ${(e as Error).message}`, EXIT.USAGE);
    }
  }
  let otel: OtelStage | undefined;
  if (args.otel !== undefined) {
    // Loaded only when asked for: the exporter and its HTTP client cost ~0.1 s of start-up.
    const { OtelStage, resolveConfig } = await import('@agentsight/otel');
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
            scope: { name: scope, version: VERSION },
            captureContent: args.captureContent,
            prices,
            warn: ctx.warn,
          },
          emit,
        )),
    );
  }
  return {
    tail,
    ...(fleet ? { ship: (ev: AgentEvent) => fleet.write(ev) } : {}),
    exporter: {
      async shutdown() {
        if (otel) {
          const st = await otel.shutdown(5000);
          ctx.info(
            `otel: ${st.exported} of ${st.spans} spans exported${st.dropped + st.failed ? `, ${st.dropped + st.failed} lost` : ''}`,
          );
        }
        if (fleet) {
          const st = await fleet.shutdown(10_000);
          const left = st.buffered ? `, ${st.buffered} left in ${fleet.buffer.dir} (sent by the next start)` : '';
          const lost = st.dropped ? `, ${st.dropped} dropped (buffer full)` : '';
          const line = `clickhouse: ${st.sent} of ${st.rows} events sent${left}${lost}`;
          if (st.dropped) ctx.warn(line);
          else ctx.info(line);
        }
      },
    },
  };
}

/** The monitor options of this command line, for a unit or a DaemonSet to run with the same bounds and switches. */
function monitorArgs(args: Args): string[] {
  const pass: string[] = ['--max-size', args.maxSize, '--max-age', args.maxAge];
  if (!args.server) pass.push('--no-server');
  else if (args.port !== 7395) pass.push('--port', String(args.port));
  if (args.files) pass.push('--files');
  if (args.stdio) pass.push('--stdio');
  if (args.otel !== undefined) pass.push('--otel', args.otel);
  if (args.clickhouse !== undefined) pass.push('--clickhouse', args.clickhouse);
  return pass;
}

/** `monitor`: run until stopped; `monitor install-service` / `uninstall-service` / `daemonset`. */
async function monitor(args: Args & { _: (string | number)[]; quiet: boolean }, ctx: ToolContext): Promise<number> {
  const size = (flag: string, v: string, parse: (s: string) => number) => {
    try {
      return parse(v);
    } catch (e) {
      throw new ToolError(`--${flag}: ${(e as Error).message}`, EXIT.USAGE);
    }
  };
  const maxBytes = size('max-size', args.maxSize, parseSize);
  const maxAgeMs = size('max-age', args.maxAge, parseAge);
  const dir = path.resolve(args.dir);
  if (args.action === 'daemonset') {
    if (!args.image)
      throw new ToolError('daemonset: --image IMAGE is required (built from deploy/Containerfile)', EXIT.USAGE);
    process.stdout.write(daemonSetText({ image: args.image, namespace: args.namespace, args: monitorArgs(args) }));
    return EXIT.OK;
  }
  if (args.action === 'install-service') {
    let r;
    try {
      const tool = fs.realpathSync(process.argv[1]!);
      r = installService({
        node: process.execPath,
        tool,
        doc: documentation(path.resolve(path.dirname(tool), '../../man/agentsight.1')),
        dir,
        args: monitorArgs(args),
        ...(args.unitDir ? { unitDir: args.unitDir } : {}),
        start: args.start,
      });
    } catch (e) {
      throw new ToolError(`install-service: ${(e as Error).message}`);
    }
    ctx.info(`wrote ${r.path}`);
    if (r.ran.length) ctx.info(`${r.ran.map((a) => `systemctl ${a.join(' ')}`).join('; ')}: done`);
    else if (!args.unitDir)
      ctx.info(
        systemdRunning()
          ? `not started (--no-start): systemctl enable --now ${UNIT_NAME}`
          : `systemd is not running here: nothing enabled (systemctl enable --now ${UNIT_NAME} where it is)`,
      );
    return EXIT.OK;
  }
  if (args.action === 'uninstall-service') {
    let r;
    try {
      r = uninstallService(args.unitDir ? { unitDir: args.unitDir } : {});
    } catch (e) {
      throw new ToolError(`uninstall-service: ${(e as Error).message}`);
    }
    ctx.info(r ? `removed ${r.path}; the store in ${dir} is kept` : `no ${UNIT_NAME} installed`);
    return EXIT.OK;
  }

  const { tail, ship, exporter } = await exportTail(
    args,
    ctx,
    'agentsight.monitor',
    prices(args.prices),
    path.join(dir, 'clickhouse-buffer'),
  );
  let m: Monitor;
  try {
    m = await Monitor.start({
      dir,
      maxBytes,
      maxAgeMs,
      statsIntervalS: args.statsInterval,
      metricsIntervalS: args.interval,
      files: args.files ?? false,
      net: args.net,
      stdio: args.stdio ?? false,
      redact: args.redact,
      correlate: args.correlate,
      tail,
      ...(ship ? { also: ship } : {}),
      ...(args.server
        ? { server: { host: args.host, port: args.port, ...(args.token ? { token: args.token } : {}) } }
        : {}),
      command: ['agentsight', ...process.argv.slice(2)],
      warn: ctx.warn,
      info: ctx.info,
    });
  } catch (e) {
    if (e instanceof LockedError) throw new ToolError(e.message);
    throw e;
  }
  ctx.info(
    `monitoring every process on this host into ${m.dbPath} (kept under ${maxBytes ? formatSize(maxBytes) : 'no size bound'}, ${maxAgeMs ? args.maxAge : 'no age bound'}); Ctrl-C or SIGTERM to stop`,
  );
  let failure: Error | undefined;
  const failed = new Promise<void>((resolve) =>
    m.onFailure((e) => {
      failure = e;
      resolve();
    }),
  );
  await Promise.race([ctx.stopped, failed]);
  await m.stop();
  await exporter.shutdown();
  ctx.info(
    `stopped: ${m.stats.events} events stored, ${m.stats.lostRecords ? `${m.stats.lostRecords} records lost` : 'nothing lost'}; store ${formatSize(m.stats.storeBytes)}`,
  );
  await m.detached;
  if (failure) throw new ToolError(`${m.dbPath}: ${failure.message}; the events stored before it are kept`);
  return EXIT.OK;
}
