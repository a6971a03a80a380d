import fs from 'node:fs';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { type AgentEvent, EventWriter, nowUs, readEvents, type Stage } from '@agentsight/events';
import { Chalk } from 'chalk';
import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { EXIT, ToolError } from './exit.js';
import { openOutput } from './output.js';

export const VERSION: string = (() => {
  try {
    const url = new URL('../../../package.json', import.meta.url);
    return (JSON.parse(fs.readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
})();

/** Flags every tool has. */
export interface CommonArgs {
  output?: string;
  rotateMb?: number;
  quiet: boolean;
  strict: boolean;
  _: (string | number)[];
}

export interface ToolSpec<A> {
  name: string;
  /** One line: what the tool does. */
  summary: string;
  usage?: string;
  examples?: Array<[string, string]>;
  /** Does it read events (files given as arguments, else stdin)? Adds --strict. */
  readsEvents?: boolean;
  options?: (y: Argv<CommonArgs>) => Argv<A>;
  /** Man page section reference printed at the end of --help. */
  epilog?: string;
  /**
   * Called on SIGINT/SIGTERM/SIGHUP before the default (stop and exit 0); return true to
   * take the signal over (agentsight exec leaves Ctrl-C to the agent it runs).
   */
  onSignal?: (sig: NodeJS.Signals) => boolean;
  /**
   * Checks run after parsing and before the output file is opened (throw a ToolError), so
   * a usage error or a missing privilege leaves no empty capture file behind.
   */
  preflight?: (args: A & CommonArgs) => void;
  /** Where events go when -o is not given (default: stdout). */
  defaultOutput?: (args: A & CommonArgs) => string | undefined;
}

export interface ToolContext {
  name: string;
  out: EventWriter;
  /** The file events are written to, or undefined for stdout. */
  outputPath: string | undefined;
  /** Diagnostics on stderr, never stdout. */
  warn(msg: string): void;
  info(msg: string): void;
  /** Registered cleanups run once, on normal end, signal, or closed output. */
  onStop(fn: () => void | Promise<void>): void;
  /** Resolves when a stop was requested (signal, or the reader of our output went away). */
  stopped: Promise<string>;
  readonly stopping: boolean;
  /** `file:line` of the event a filter tool (runFilter) is processing, for diagnostics about it. */
  position: string;
  /** Lines printed on stderr at exit when stderr is a terminal and --quiet is not set. */
  summary: string[];
  color: InstanceType<typeof Chalk>;
}

function colorFor(stream: NodeJS.WriteStream): InstanceType<typeof Chalk> {
  const level =
    process.env.NO_COLOR !== undefined && process.env.NO_COLOR !== ''
      ? 0
      : stream.isTTY
        ? stream.hasColors?.(256)
          ? 2
          : 1
        : 0;
  return new Chalk({ level: level as 0 | 1 | 2 });
}

// biome-ignore lint/suspicious/noConfusingVoidType: a main that returns nothing exits 0, one that returns a number exits with it
type MainResult = Promise<void | number>;

/**
 * Parse the command line and run `main` with the shared conventions: --help with
 * examples, --version, -o FILE (0600, append, --rotate-mb), --quiet, exit codes,
 * diagnostics on stderr, clean exit 0 on SIGINT/SIGTERM and on a closed pipe.
 */
export async function runTool<A>(
  spec: ToolSpec<A>,
  main: (args: A & CommonArgs, ctx: ToolContext) => MainResult,
): Promise<never> {
  const color = colorFor(process.stderr);
  let y = yargs(hideBin(process.argv))
    .scriptName(spec.name)
    .usage(`${spec.name}: ${spec.summary}\n\nUsage: ${spec.usage ?? `${spec.name} [options]`}`)
    .option('output', {
      alias: 'o',
      type: 'string',
      describe: 'Write events to FILE (mode 0600, appended) instead of stdout',
    })
    .option('rotate-mb', {
      type: 'number',
      describe: 'With -o: rotate FILE when it reaches this many MiB (FILE.1 … FILE.5)',
    })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'No summary or progress on stderr' })
    .option('strict', {
      type: 'boolean',
      default: false,
      hidden: !spec.readsEvents,
      describe: 'Stop at the first malformed input line (exit 1) instead of reporting it and going on',
    })
    .version(VERSION)
    .alias('version', 'V')
    .help()
    .alias('help', 'h')
    .strictOptions()
    .wrap(Math.min(100, process.stderr.columns || 100))
    .epilog(
      spec.epilog ??
        `Exit status: 0 ok, 1 runtime failure, 2 usage, 77 missing privilege or kernel feature.\nSee ${spec.name}(1) and agentsight-events(7).`,
    )
    .fail((msg, err, yy) => {
      if (err) throw err;
      process.stderr.write(`${spec.name}: ${msg}\nTry '${spec.name} --help'.\n`);
      void yy;
      process.exit(EXIT.USAGE);
    }) as unknown as Argv<CommonArgs>;
  for (const [cmd, what] of spec.examples ?? []) y = y.example(cmd, what);
  const parsed = (spec.options ? spec.options(y) : y) as Argv<A & CommonArgs>;
  // yargs renders the whole --help text after running any subcommand, to cache it for a
  // later showHelp() we never make: ~0.1 s of text wrapping on every `agentsight exec`.
  // --help itself is answered before that point and is unaffected.
  const usage = (
    parsed as unknown as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } }
  )
    .getInternalMethods?.()
    .getUsageInstance?.();
  if (usage?.cacheHelpMessage) usage.cacheHelpMessage = () => {};
  const args = (await parsed.parseAsync()) as A & CommonArgs;

  try {
    spec.preflight?.(args);
  } catch (e) {
    // A usage error, or a missing privilege or kernel feature (BpfError: 77), in one line.
    const code = e instanceof ToolError ? e.code : (e as Error)?.name === 'BpfError' ? EXIT.NOPERM : undefined;
    if (code === undefined) throw e;
    process.stderr.write(`${spec.name}: ${(e as Error).message}\n`);
    process.exit(code);
  }
  const outputPath = args.output ?? spec.defaultOutput?.(args);
  let outStream: ReturnType<typeof openOutput>;
  try {
    outStream = openOutput(outputPath, { rotateMb: args.rotateMb });
  } catch (e) {
    process.stderr.write(`${spec.name}: ${outputPath}: ${(e as Error).message.replace(/^[A-Z]+: /, '')}\n`);
    process.exit(EXIT.FAILURE);
  }
  const out = new EventWriter(outStream);
  const stops: Array<() => void | Promise<void>> = [];
  let stopping = false;
  let resolveStopped!: (why: string) => void;
  const stopped = new Promise<string>((r) => {
    resolveStopped = r;
  });
  const ctx: ToolContext = {
    name: spec.name,
    out,
    outputPath: outputPath === '-' ? undefined : outputPath,
    warn: (m) => process.stderr.write(`${spec.name}: ${color.yellow(m)}\n`),
    info: (m) => {
      if (!args.quiet) process.stderr.write(`${spec.name}: ${m}\n`);
    },
    onStop: (fn) => {
      stops.push(fn);
    },
    stopped,
    get stopping() {
      return stopping;
    },
    summary: [],
    position: '',
    color,
  };

  let stopsRun: Promise<void> | undefined;
  const runStops = () =>
    (stopsRun ??= (async () => {
      for (const fn of stops.splice(0).reverse()) {
        try {
          await fn();
        } catch (e) {
          ctx.warn(`cleanup: ${(e as Error).message}`);
        }
      }
    })());

  const requestStop = (why: string) => {
    if (stopping) return;
    stopping = true;
    resolveStopped(why);
    void runStops();
    // main should now wind down; if it does not, do not hang the user's terminal.
    setTimeout(() => finish(EXIT.OK), 5000).unref();
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
    process.on(sig, () => {
      if (!spec.onSignal?.(sig)) requestStop(sig);
    });
  outStream.on('error', (e: NodeJS.ErrnoException) => {
    // The reader went away (`| head`): not an error of ours.
    if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') requestStop('EPIPE');
    else {
      ctx.warn(`output: ${e.message}`);
      finish(EXIT.FAILURE);
    }
  });

  let finishing = false;
  const finish = (code: number) => {
    if (finishing) return;
    finishing = true;
    out.flush();
    if (!args.quiet && process.stderr.isTTY && ctx.summary.length) {
      process.stderr.write(ctx.summary.map((l) => color.dim(`${spec.name}: `) + l).join('\n') + '\n');
    }
    const exit = () => process.exit(code);
    if (outStream === process.stdout) {
      // Flush what is buffered; an EPIPE here is fine.
      if (process.stdout.writableLength === 0 || process.stdout.destroyed) exit();
      else {
        // The callback of a write runs once everything before it is out. ('drain' comes
        // only after a write that returned false: waiting for it with less than the
        // high-water mark queued left nothing to wait on, and the process ended with
        // Node's exit code 13 for an unsettled await.)
        process.stdout.write('', () => exit());
        process.stdout.once('error', exit);
        setTimeout(exit, 2000).unref();
      }
    } else {
      outStream.end(exit);
      outStream.once('error', exit);
    }
  };

  try {
    const code = await main(args, ctx);
    await runStops();
    finish(typeof code === 'number' ? code : EXIT.OK);
  } catch (e) {
    await runStops();
    if (e instanceof ToolError) {
      process.stderr.write(`${spec.name}: ${e.message}\n`);
      finish(e.code);
    } else if ((e as Error)?.name === 'BpfError') {
      // The kernel refused a program or map the checks before did not foresee: a missing
      // kernel feature, told in one line (libbpf's whole log with AGENTSIGHT_BPF_DEBUG=1).
      process.stderr.write(`${spec.name}: ${(e as Error).message}\n`);
      finish(EXIT.NOPERM);
    } else {
      process.stderr.write(`${spec.name}: ${(e as Error)?.stack ?? String(e)}\n`);
      finish(EXIT.FAILURE);
    }
  }
  return new Promise<never>(() => {});
}

/** Open an input: "-" is stdin; a name ending in .gz is gunzipped as it is read. */
export function openInput(name: string): Readable {
  if (name === '-') return process.stdin;
  const s = fs.createReadStream(name);
  return name.endsWith('.gz') ? s.pipe(zlib.createGunzip()) : s;
}

/**
 * The body of every filter tool (as-http, as-merge, as-otel …): read events from the
 * files named on the command line (or stdin), push them through `stage`, write what it
 * emits. Backpressure from the output pauses the input, so memory stays bounded.
 */
export async function runFilter(
  args: CommonArgs,
  ctx: ToolContext,
  stage: Stage,
  opts: { tickMs?: number } = {},
): Promise<void> {
  const files = args._.length ? args._.map(String) : ['-'];
  const tick = setInterval(() => stage.tick?.(nowUs()), opts.tickMs ?? 1000);
  tick.unref();
  let current: Readable | undefined;
  ctx.onStop(() => {
    current?.destroy();
  });
  try {
    for (const name of files) {
      if (ctx.stopping) break;
      let input: Readable;
      try {
        input = openInput(name);
      } catch (e) {
        throw new ToolError(`${name}: ${(e as Error).message}`);
      }
      current = input;
      const shown = name === '-' ? '<stdin>' : name;
      const ended = readEvents(
        input,
        (ev: AgentEvent, lineNo: number) => {
          ctx.position = `${shown}:${lineNo}`;
          stage.write(ev);
          if (ctx.out.closed) {
            input.destroy();
            return;
          }
          if (!input.isPaused() && ctx.out.full) {
            input.pause();
            void ctx.out.drained().then(() => input.resume());
          }
        },
        { name: shown, strict: args.strict },
      );
      const stop = ctx.stopped.then(() => null);
      try {
        const r = await Promise.race([ended, stop]);
        if (r === null) break;
      } catch (e) {
        if ((e as { lineNo?: number }).lineNo !== undefined) throw new ToolError((e as Error).message);
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'EACCES')
          throw new ToolError(`${name}: ${(e as Error).message}`);
        throw e;
      }
    }
  } finally {
    clearInterval(tick);
    stage.end();
  }
}

/** For tools whose issue is still open: --help and --version work; anything else exits 2. */
export async function notBuilt(name: string, summary: string, issue: number): Promise<never> {
  return runTool(
    { name, summary, usage: `${name} [options]`, epilog: `Not built yet: see issue #${issue}.` },
    async () => {
      throw new ToolError(`not built yet (issue #${issue}); see '${name} --help'`, EXIT.USAGE);
    },
  );
}
