import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import os from 'node:os';
import type { Writable } from 'node:stream';
import { type User, userBinDirs } from './resolve.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface GatedChild {
  /** The pid the agent will have: the gate execs into it, so it does not change. */
  pid: number;
  child: ChildProcess;
  /** Let the agent run (call once tracing is attached). */
  release(): void;
  exited: Promise<Exit>;
}

// The gate: a shell that blocks on fd 3 until released, then execs the command in its
// own pid. Tracing filtered on that pid is therefore in place before the agent's first
// instruction, and nothing it starts is missed. If we die before releasing, read sees
// EOF and the agent never runs untraced.
const GATE = 'IFS= read -r _ <&3 || exit 125; exec 3<&-; exec "$0" "$@"';

export interface SpawnOptions {
  /** Run as this user (drop root), with their HOME, USER, LOGNAME and bin dirs on PATH. */
  user?: User | null;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Default: inherit our terminal, so the agent sees a TTY and gets its signals. */
  stdio?: 'inherit' | 'pipe';
  /** With 'inherit': send the child's stdout to this fd instead (a tool whose own stdout carries events). */
  stdout?: number;
}

export function environmentFor(user: User | null | undefined, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (!user) return env;
  const out: NodeJS.ProcessEnv = { ...env, HOME: user.home, USER: user.name, LOGNAME: user.name };
  const extra = userBinDirs(user.home);
  out.PATH = [...(env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':'), ...extra].join(':');
  for (const k of ['SUDO_COMMAND', 'SUDO_USER', 'SUDO_UID', 'SUDO_GID', 'MAIL']) delete out[k];
  return out;
}

export function spawnGated(file: string, args: string[], opts: SpawnOptions = {}): GatedChild {
  const mode = opts.stdio ?? 'inherit';
  const stdio: StdioOptions =
    mode === 'inherit' ? ['inherit', opts.stdout ?? 'inherit', 'inherit', 'pipe'] : ['pipe', 'pipe', 'pipe', 'pipe'];
  const child = spawn('/bin/sh', ['-c', GATE, file, ...args], {
    stdio,
    cwd: opts.cwd,
    env: environmentFor(opts.user, opts.env ?? process.env),
    // libuv drops supplementary groups (setgroups(0)) when it changes uid from root.
    ...(opts.user ? { uid: opts.user.uid, gid: opts.user.gid } : {}),
  });
  const gate = child.stdio[3] as Writable;
  gate.on('error', () => {
    /* the child died before release */
  });
  const exited = new Promise<Exit>((resolve) => {
    // A command that cannot be started at all: the shell's "not found" status.
    child.once('error', () => resolve({ code: 127, signal: null }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  if (child.pid === undefined) throw new Error(`cannot start ${file}`);
  let released = false;
  return {
    pid: child.pid,
    child,
    exited,
    release() {
      if (released) return;
      released = true;
      gate.end('go\n');
    },
  };
}

/** The shell convention for a child's status: its code, or 128 + the signal number. */
export function exitStatus(e: Exit): number {
  if (e.code !== null) return e.code;
  const n = e.signal ? os.constants.signals[e.signal] : undefined;
  return 128 + (n ?? 0);
}
