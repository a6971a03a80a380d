// `agentsight exec` and `agentsight record`: resolve what to trace, start the pipeline,
// run (or wait for) the agent, stop, summarise. The tool in tools/agentsight.ts is only
// argument parsing around these.
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CgroupTarget, cgroupProcs } from '@agentsight/container';
import { type AgentEvent, type Emit, formatEvent, type MetaRunEvent } from '@agentsight/events';
import {
  type Exit,
  environmentFor,
  exitStatus,
  resolveCommand,
  resolveElf,
  spawnGated,
  sudoUser,
  type User,
  userBinDirs,
} from '@agentsight/launch';
import { discoverForPid, findTlsTargetCached, systemTlsLibraries, type TlsTarget } from '@agentsight/sslsniff';
import { type PipelineOptions, type PipelineStats, TracePipeline } from './pipeline.js';

export class ExecError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** What exec and record share: the pipeline's options, with the targets worked out here. */
export type CaptureOptions = Omit<
  PipelineOptions,
  'gatedPid' | 'pids' | 'comm' | 'cgroup' | 'tlsTargets' | 'warn' | 'info'
> & {
  /** Extra files carrying TLS (a library the agent loads that we would not find). */
  binaryPaths?: string[];
  warn: (m: string) => void;
  info: (m: string) => void;
};

function tlsTargetsFor(files: string[], log: (m: string) => void): TlsTarget[] {
  const seen = new Set<string>();
  const out: TlsTarget[] = [];
  const add = (t: TlsTarget | null) => {
    if (t?.symbols.length && !seen.has(t.path)) {
      seen.add(t.path);
      out.push(t);
    }
  };
  // Cached per binary when large: node's symbols alone cost ~0.2 s of every start.
  for (const f of files) add(findTlsTargetCached(f, { log }));
  // Agents on python, curl and the like load the system's TLS library at run time.
  for (const t of systemTlsLibraries({ log })) add(t);
  return out;
}

export interface ExecResult {
  /** The agent's exit status (code, or 128 + signal). */
  status: number;
  exit: Exit;
  stats: PipelineStats;
  elf: string;
  /** The TLS probes' detach, still running when the result is ready (TracePipeline.detached). */
  detached: Promise<void>;
}

/**
 * Run `argv` traced, in the user's terminal. Under sudo the agent runs as the user who
 * ran sudo, found through their own bin directories too.
 */
export async function execTraced(
  argv: string[],
  opts: CaptureOptions & {
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    interactive?: boolean;
    onStart?: (pid: number) => void;
  },
): Promise<ExecResult> {
  const env = opts.env ?? process.env;
  const user: User | null = sudoUser(env);
  const extra = user ? userBinDirs(user.home) : [];
  const [cmd, ...args] = argv;
  if (!cmd) throw new ExecError('exec: no command given (agentsight exec -- CMD ARGS…)', 2);
  const file = resolveCommand(cmd, env, extra);
  if (!file) throw new ExecError(`${cmd}: command not found`, 127);
  let elf: string;
  try {
    elf = resolveElf(file, environmentFor(user, env), extra).elf;
  } catch (e) {
    throw new ExecError((e as Error).message, 126);
  }
  const targets = tlsTargetsFor([elf, ...(opts.binaryPaths ?? [])], opts.info);
  opts.info(
    `${cmd}: ${elf}${targets.length ? `; TLS in ${targets.map((t) => `${path.basename(t.path)} (${t.lib})`).join(', ')}` : '; no TLS library found'}`,
  );

  const gate = spawnGated(file, args, {
    user,
    env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    stdio: opts.interactive === false ? 'pipe' : 'inherit',
  });
  let pipeline: TracePipeline;
  try {
    pipeline = TracePipeline.start({ ...opts, gatedPid: gate.pid, tlsTargets: targets });
  } catch (e) {
    gate.child.kill('SIGKILL');
    throw e;
  }
  opts.onStart?.(gate.pid);
  gate.release();
  const exit = await gate.exited;
  // The agent's last TLS records and its exit event were committed to the rings before its
  // parent could see it exit (the exit tracepoint runs first): stop drains them.
  const stats = pipeline.stop();
  return { status: exitStatus(exit), exit, stats, elf, detached: pipeline.detached };
}

/** `record`: trace processes started elsewhere until `until` resolves. */
export async function recordTraced(
  target: { pids?: number[]; comm?: string; cgroup?: CgroupTarget },
  until: Promise<unknown>,
  opts: CaptureOptions,
): Promise<PipelineStats & { detached: Promise<void> }> {
  const files = [...(opts.binaryPaths ?? [])];
  let targets: TlsTarget[] = [];
  const pids = [...(target.pids ?? []), ...(target.cgroup ? cgroupProcs(target.cgroup.dir) : [])];
  if (pids.length) {
    // A container's processes map the same files, each through its own /proc/PID/root: one attach per file.
    const hooked = new Set<string>();
    for (const p of pids) {
      try {
        for (const t of discoverForPid(p, { log: opts.info })) {
          const st = fs.statSync(t.path);
          if (hooked.has(`${st.dev}:${st.ino}`)) continue;
          hooked.add(`${st.dev}:${st.ino}`);
          targets.push(t);
        }
      } catch (e) {
        // A container's process may have exited since its cgroup was listed: not news.
        if (fs.existsSync(`/proc/${p}`) || target.pids?.includes(p)) opts.warn(`-p ${p}: ${(e as Error).message}`);
      }
    }
  }
  targets = [...targets, ...tlsTargetsFor(files, opts.info).filter((t) => !targets.some((u) => u.path === t.path))];
  const pipeline = TracePipeline.start({ ...opts, ...target, tlsTargets: targets });
  opts.info(
    `recording ${target.cgroup ? `${target.cgroup.spec}: every process in cgroup ${target.cgroup.cgroup}, now and later${target.comm ? `, and processes named ${target.comm}` : ''}` : target.pids?.length ? `process ${target.pids.join(', ')} and descendants` : target.comm ? `processes named ${target.comm} and descendants` : 'every process'}; Ctrl-C to stop`,
  );
  await until;
  return { ...pipeline.stop(), detached: pipeline.detached };
}

/** Where the built tools are, for starting as-serve beside us. */
function toolPath(name: string): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../dist/tools', `${name}.js`);
}

/**
 * as-serve as a child reading our events on its stdin: the UI stays the standalone tool.
 * Events it cannot take fast enough are buffered in the pipe; if it dies we go on without it.
 */
export class ServeChild {
  readonly child: ChildProcess;
  readonly url: string;
  #dead = false;

  constructor(opts: {
    db: string;
    host: string;
    port: number;
    token?: string;
    /** --prices FILE, for the costs the UI shows. */
    prices?: string;
    warn: (m: string) => void;
  }) {
    const args = [toolPath('as-serve'), '--db', opts.db, '--host', opts.host, '--port', String(opts.port), '--quiet'];
    if (opts.token) args.push('--token', opts.token);
    if (opts.prices) args.push('--prices', opts.prices);
    this.child = spawn(process.execPath, args, { stdio: ['pipe', 'ignore', 'inherit'], detached: true });
    this.url = `http://${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}/`;
    this.child.stdin!.on('error', () => {
      this.#dead = true;
    });
    this.child.on('exit', (code) => {
      if (!this.#dead && code)
        opts.warn(
          `as-serve exited with status ${code}; the capture file is complete, serve it later with: as-serve FILE`,
        );
      this.#dead = true;
    });
  }

  write(ev: AgentEvent): void {
    if (!this.#dead) this.child.stdin!.write(formatEvent(ev));
  }

  /** End of events; the server keeps serving until stopped. */
  endInput(): void {
    if (!this.#dead) this.child.stdin!.end();
  }

  stop(): void {
    if (!this.#dead) {
      try {
        this.child.kill('SIGTERM');
      } catch {
        /* gone */
      }
    }
  }
}

/** A capture file name that sorts by time: agentsight-20261126-143005.ndjson. */
export function defaultCaptureName(now = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `agentsight-${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}-${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}.ndjson`;
}

/**
 * The `meta/run` event that starts a run's events (agentsight-events(7)), and the
 * `meta/stop` that ends them: the store's runs and every output's sessions read them.
 */
export function runEvents(
  what: { tool: string; command: string; capture?: string },
  now: () => number = () => Date.now() * 1000,
): { start: MetaRunEvent; stop: () => AgentEvent } {
  const ts = now();
  const host = os.hostname();
  const run = `${host}:${ts}:${process.pid}`;
  const start: MetaRunEvent = {
    v: 1,
    ts,
    src: 'meta',
    type: 'run',
    run,
    host,
    command: what.command,
    tool: what.tool,
    ...(what.capture ? { capture: path.resolve(what.capture) } : {}),
  };
  return { start, stop: () => ({ v: 1, ts: Math.max(now(), ts), src: 'meta', type: 'stop', tool: what.tool, run }) };
}

/** Tee: every event to each consumer. */
export function tee(...sinks: Array<Emit | undefined>): Emit {
  const live = sinks.filter((s): s is Emit => !!s);
  return (ev) => {
    for (const s of live) s(ev);
  };
}
