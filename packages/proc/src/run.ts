// The body of as-proc and as-stdiocap once arguments are parsed: start a session, stream
// its events with backpressure, stop on signal / end of the --cmd child / exit of the -p
// processes, and summarise.
import type { ToolContext } from '@agentsight/cli';
import { EXIT, ToolError } from '@agentsight/cli';
import type { AgentEvent } from '@agentsight/events';
import { type ChildExit, type SessionOptions, type Targets, TraceSession } from './session.js';

/** Record bytes taken while the output is not draining before we stop taking more. */
const MAX_BACKLOG = 128 << 20;

export interface TargetArgs {
  pid?: Array<string | number>;
  comm?: string;
  cmd?: boolean;
  ringMb?: number;
  _: (string | number)[];
}

/** -p/-c/--cmd as Targets; usage errors for impossible combinations. */
export function targetsFrom(args: TargetArgs): Targets {
  const cmd = args._.map(String);
  if (args.cmd && !cmd.length) throw new ToolError('--cmd needs a command after --', EXIT.USAGE);
  const t: Targets = {};
  const given = (args.pid ?? []).flatMap((p) => String(p).split(',')).filter((p) => p !== '');
  for (const p of given)
    if (!/^[0-9]+$/.test(p) || Number(p) <= 0) throw new ToolError(`-p: not a pid: ${p}`, EXIT.USAGE);
  const pids = given.map(Number);
  if (pids.length) t.pids = pids;
  if (args.comm !== undefined) {
    if (args.comm === '') throw new ToolError('-c: empty name', EXIT.USAGE);
    t.comm = args.comm;
  }
  if (cmd.length) t.cmd = cmd;
  const n = (t.pids ? 1 : 0) + (t.comm ? 1 : 0) + (t.cmd ? 1 : 0);
  if (n > 1) throw new ToolError('use one of -p, -c and --cmd', EXIT.USAGE);
  return t;
}

export interface RunHooks {
  /** Called for each ring record. */
  record(rec: Buffer): void;
  /** Events for processes already running (after seeding, before any record). */
  started?(s: TraceSession): void;
  /** Periodic housekeeping. */
  tick?(s: TraceSession): void;
  tickMs?: number;
  /** After the ring is drained: flush what is held. */
  end(): void;
}

/**
 * Run a capture session until it should stop. Returns the --cmd child's exit, if any.
 */
export async function runCapture(
  ctx: ToolContext,
  opts: Omit<SessionOptions, 'onRecord' | 'onLost'>,
  hooks: RunHooks,
): Promise<{ session: TraceSession; child?: ChildExit }> {
  const emitLost = (ev: AgentEvent) => ctx.out.write(ev);
  let session!: TraceSession;
  let backlog = 0;
  // The --cmd child's stdout must not mix with our events: send it to our stderr unless
  // events go to a file.
  const childStdout = opts.childStdout;
  session = TraceSession.start({
    ...opts,
    ...(childStdout !== undefined ? { childStdout } : {}),
    onRecord: (rec) => {
      hooks.record(rec);
      // A slow reader: keep taking records into our own buffer up to a bound (a file on a
      // busy disk lags in bursts; the kernel ring alone would then overflow), then stop
      // taking them; the kernel counts what it drops meanwhile.
      if (!ctx.out.full) {
        backlog = 0;
        return;
      }
      backlog += rec.length;
      if (backlog > MAX_BACKLOG && !session?.ring.paused) {
        session.ring.pause();
        void ctx.out.drained().then(() => {
          backlog = 0;
          session.ring.resume();
        });
      }
    },
    onLost: (ev) => emitLost(ev),
  });
  ctx.info(
    `tracing ${session.all ? 'all processes' : `${session.child ? `pid ${session.child.pid} (${opts.cmd?.[0]})` : opts.comm ? `comm ${opts.comm}` : `pid ${opts.pids?.join(',')}`} and descendants`}`,
  );
  hooks.started?.(session);
  const tick = hooks.tick ? setInterval(() => hooks.tick!(session), hooks.tickMs ?? 1000) : undefined;
  tick?.unref();

  const waits: Array<Promise<unknown>> = [ctx.stopped];
  let childExit: ChildExit | undefined;
  if (session.child)
    waits.push(
      session.child.exited.then((e) => {
        childExit = e;
      }),
    );
  let rootsTimer: NodeJS.Timeout | undefined;
  if (opts.pids?.length) {
    // Like strace -p: done when the processes asked for are gone.
    waits.push(
      new Promise<void>((resolve) => {
        rootsTimer = setInterval(() => {
          const alive = opts.pids!.some((p) => {
            try {
              process.kill(p, 0);
              return true;
            } catch (e) {
              return (e as NodeJS.ErrnoException).code === 'EPERM';
            }
          });
          if (!alive) resolve();
        }, 200);
      }),
    );
  }
  ctx.onStop(() => {
    /* the race below ends; cleanup follows */
  });
  await Promise.race(waits);
  if (rootsTimer) clearInterval(rootsTimer);
  if (tick) clearInterval(tick);
  // The exit of the last process is in the ring before its parent hears of it; a short
  // grace lets records of processes that outlived it arrive too.
  if (!ctx.stopping) await new Promise((r) => setTimeout(r, 100));
  session.stop();
  hooks.end();
  const loss = session.loss;
  if (loss.records || loss.faults) {
    ctx.summary.push(
      `lost ${loss.records} records (${loss.bytes} bytes)${loss.faults ? `, ${loss.faults} faulted reads` : ''}`,
    );
    if (loss.records)
      ctx.warn(`kernel dropped ${loss.records} records (${loss.bytes} bytes): ring buffer full; try --ring-mb`);
  }
  return { session, ...(childExit ? { child: childExit } : {}) };
}
