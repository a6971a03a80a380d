#!/usr/bin/env node
// agentsight: the whole pipeline in one command (exec, record), the long-running service over
// every agent of the host (monitor), and answers from a
// capture (report). Argument parsing and wiring only; the logic lives in packages/.
import fs from 'node:fs';
import path from 'node:path';
import { checkPrivileges } from '@agentsight/bpf';
import { EXIT, openInput, runTool, type ToolContext, ToolError, VERSION } from '@agentsight/cli';
import { type AgentEvent, type Emit, readEvents, type Stage } from '@agentsight/events';
import {
  type CaptureOptions,
  defaultCaptureName,
  ExecError,
  execTraced,
  recordTraced,
  ServeChild,
  tee,
} from '@agentsight/exec';
import { DEFAULT_PRICES, type PriceTable } from '@agentsight/llm';
import {
  DB_NAME,
  DEFAULT_DIR,
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
import { OtelStage, resolveConfig } from '@agentsight/otel';
import { formatAudit, formatPrompts, formatTokens, Report, summaryLines } from '@agentsight/report';
import { openStoreReadOnly, storedEvents } from '@agentsight/serve';

interface Args {
  mode?: string;
  captures?: string[];
  json: boolean;
  by?: string;
  prices?: string;
  // exec / record
  server: boolean;
  host: string;
  port: number;
  token?: string;
  otel?: string;
  captureContent: boolean;
  binaryPath?: string[];
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
  // report
  store?: string;
  // monitor
  action?: string;
  dir: string;
  maxSize: string;
  maxAge: string;
  statsInterval: number;
  unitDir?: string;
  start: boolean;
}

function loadPrices(file: string | undefined): PriceTable {
  const f = file ?? process.env.AGENTSIGHT_PRICES;
  if (!f) return DEFAULT_PRICES;
  try {
    return { ...DEFAULT_PRICES, ...(JSON.parse(fs.readFileSync(f, 'utf8')) as PriceTable) };
  } catch (e) {
    throw new ToolError(`--prices ${f}: ${(e as Error).message}`, EXIT.USAGE);
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
    usage: 'agentsight <exec|record|monitor|report> [options] …',
    readsEvents: true,
    onSignal,
    preflight: (a) => {
      const cmd = String(a._[0]);
      if (cmd === 'monitor' && !a.action) checkPrivileges();
      if (cmd !== 'exec' && cmd !== 'record') return;
      checkUsage(cmd, a);
      checkPrivileges();
    },
    // exec and record write a capture file by default: the terminal belongs to the agent.
    defaultOutput: (a) => (a._[0] === 'exec' || a._[0] === 'record' ? defaultCaptureName() : undefined),
    examples: [
      ['sudo agentsight exec -- claude -p "fix the build"', 'run an agent traced; writes a capture and serves the UI'],
      ['agentsight report tokens cap.ndjson', 'tokens and estimated cost by model, provider, process and day'],
      ['agentsight report audit --json cap.ndjson | jq .hosts', 'every process run, file written and host contacted'],
      ['sudo agentsight monitor install-service', 'watch every agent on this host from now on (systemd)'],
      ['sudo agentsight report tokens --store', 'tokens and cost over everything the monitor stored'],
    ],
    options: (y) =>
      y
        .command('report [mode] [captures..]', 'answers from a capture: summary, tokens, audit, prompts', (c) =>
          c
            // No choices here: `report CAP.ndjson` (no mode) is a summary of CAP.ndjson, see reportArgs.
            .positional('mode', { type: 'string', describe: 'summary (default), tokens, audit or prompts' })
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
        .command('record', 'trace an agent started elsewhere (-c COMM or -p PID) until Ctrl-C or its exit')
        .command(
          'monitor [action]',
          'every agent on the host, from its first call, into one bounded store, until stopped; or install it as a service',
          (c) =>
            c.positional('action', {
              choices: ['install-service', 'uninstall-service'],
              describe: 'install-service: a hardened systemd unit, enabled and started; uninstall-service: removed',
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
        .option('start', {
          type: 'boolean',
          default: true,
          describe: 'install-service: enable and start it (--no-start: only write the unit)',
        })
        .option('store', {
          type: 'string',
          describe: `report: answer from the monitor's store (default ${DEFAULT_DIR}/${DB_NAME}) instead of capture files`,
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
          describe: 'record: processes with this name, running or started later, and their descendants',
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
            'exec/record/monitor: seconds between CPU/memory samples (monitor: of processes that made LLM calls; 0: none)',
        })
        .option('json', {
          type: 'boolean',
          default: false,
          describe: 'report: machine-readable JSON instead of tables',
        })
        .option('by', {
          choices: ['model', 'provider', 'process', 'day'],
          describe: 'report tokens: one grouping only',
        })
        .option('prices', {
          type: 'string',
          describe:
            'report: JSON price table (USD per 1M tokens by model prefix) whose rows win over the built-in genai-prices dataset',
        })
        .demandCommand(1, 'say what to do: exec, record, monitor or report') as never,
  },
  async (args, ctx) => {
    const cmd = String(args._[0]);
    if (cmd === 'exec' || cmd === 'record') return capture(cmd, args, ctx);
    if (cmd === 'monitor') return monitor(args, ctx);
    const { mode, files } = reportArgs(args.mode, args.captures ?? [], args.store !== undefined);
    const report = new Report(loadPrices(args.prices));
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
  const MODES = ['summary', 'tokens', 'audit', 'prompts'];
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
function checkUsage(cmd: 'exec' | 'record', args: Pick<Args, 'pid' | 'comm'> & { _: (string | number)[] }): void {
  const argv = args._.slice(1).map(String);
  if (cmd === 'exec' && !argv.length)
    throw new ToolError('exec: say what to run: agentsight exec [options] -- CMD ARGS…', EXIT.USAGE);
  if (cmd === 'record' && !args.pid?.length && !args.comm)
    throw new ToolError('record: say what to trace: -c COMM or -p PID', EXIT.USAGE);
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
  const report = new Report();
  const serve = args.server
    ? new ServeChild({
        db: (file ?? 'agentsight').replace(/\.ndjson$/, '') + '.db',
        host: args.host,
        port: args.port,
        token: args.token,
        warn: ctx.warn,
      })
    : undefined;
  const { tail, exporter } = otelTail(args, ctx, 'agentsight.exec');
  const emit = tee(
    (ev: AgentEvent) => {
      out.write(ev);
    },
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
    emit,
    tail,
    warn: ctx.warn,
    info: ctx.info,
  };
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
        { ...(args.pid?.length ? { pids: args.pid } : {}), ...(args.comm ? { comm: args.comm } : {}) },
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

/** With --otel: the OTLP exporter as the pipeline's last stage, and its shutdown (a no-op without). */
function otelTail(
  args: Pick<Args, 'otel' | 'captureContent'>,
  ctx: ToolContext,
  scope: string,
): { tail: Array<(emit: Emit) => Stage>; exporter: { shutdown(): Promise<void> } } {
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
          { ...cfg, scope: { name: scope, version: VERSION }, captureContent: args.captureContent, warn: ctx.warn },
          emit,
        )),
    );
  }
  return {
    tail,
    exporter: {
      async shutdown() {
        if (!otel) return;
        const st = await otel.shutdown(5000);
        ctx.info(
          `otel: ${st.exported} of ${st.spans} spans exported${st.dropped + st.failed ? `, ${st.dropped + st.failed} lost` : ''}`,
        );
      },
    },
  };
}

/** `monitor`: run until stopped; `monitor install-service` / `uninstall-service`. */
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
  if (args.action === 'install-service') {
    // The unit runs what this command line asked for, with the same bounds and switches.
    const pass: string[] = ['--max-size', args.maxSize, '--max-age', args.maxAge];
    if (!args.server) pass.push('--no-server');
    else if (args.port !== 7395) pass.push('--port', String(args.port));
    if (args.files) pass.push('--files');
    if (args.stdio) pass.push('--stdio');
    if (args.otel !== undefined) pass.push('--otel', args.otel);
    let r;
    try {
      const tool = fs.realpathSync(process.argv[1]!);
      r = installService({
        node: process.execPath,
        tool,
        doc: documentation(path.resolve(path.dirname(tool), '../../man/agentsight.1')),
        dir,
        args: pass,
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

  const { tail, exporter } = otelTail(args, ctx, 'agentsight.monitor');
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
