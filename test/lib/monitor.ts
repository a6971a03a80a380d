// `agentsight monitor` as a user runs it, for the kernel test and the soak bench: started on a
// store directory, ready once it says it is watching, stopped or killed; and its store read.
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { openStoreReadOnly } from '@agentsight/serve';
import { toolPath } from './run.js';

export interface RunningMonitor {
  child: ChildProcess;
  pid: number;
  stderr(): string;
  /** Resolves once capture is attached ("monitoring every process…"); rejects if it exits first. */
  ready: Promise<void>;
  /** Resolves with the exit code (or signal name) once it has exited. */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

export function startMonitor(dir: string, args: string[] = [], timeoutMs = 60_000): RunningMonitor {
  const child = spawn(process.execPath, [toolPath('agentsight'), 'monitor', '--dir', dir, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => {
    err += d.toString();
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  const ready = new Promise<void>((resolve, reject) => {
    const t0 = Date.now();
    const poll = setInterval(() => {
      if (/monitoring every process/.test(err)) {
        clearInterval(poll);
        resolve();
      } else if (Date.now() - t0 > timeoutMs) {
        clearInterval(poll);
        child.kill('SIGKILL');
        reject(new Error(`monitor not ready after ${timeoutMs} ms: ${err}`));
      }
    }, 50);
    void exited.then((c) => {
      clearInterval(poll);
      reject(new Error(`monitor exited ${c} before it was ready: ${err}`));
    });
  });
  ready.catch(() => {
    /* the caller awaits it */
  });
  return {
    child,
    pid: child.pid!,
    stderr: () => err,
    ready,
    exited,
    stop(signal = 'SIGTERM') {
      child.kill(signal);
      return exited;
    },
  };
}

export const storeFile = (dir: string) => path.join(dir, 'agentsight.db');

/** Events of the store as parsed objects, optionally of one src/type, in stored order. */
export function storeEvents(dir: string, src?: string, type?: string): Array<Record<string, any>> {
  const db = openStoreReadOnly(storeFile(dir));
  try {
    const rows = (
      src
        ? db.prepare('SELECT json FROM events WHERE src = ? AND type = ? ORDER BY id').all(src, type)
        : db.prepare('SELECT json FROM events ORDER BY id').all()
    ) as Array<{ json: string }>;
    return rows.map((r) => JSON.parse(r.json));
  } finally {
    db.close();
  }
}

/** Poll `fn` until it returns something truthy, or give up after `ms` (returning the last value). */
export async function waitFor<T>(fn: () => T, ms: number, everyMs = 200): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    let v: T | undefined;
    try {
      v = fn();
    } catch {
      v = undefined;
    }
    if (v || Date.now() - t0 > ms) return v as T;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Runs a command to its end without blocking this event loop (a mock answering it may run here); killed with its group after `timeoutMs`. */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd?: string, timeoutMs = 90_000) {
  return new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
    const c = spawn(cmd, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    c.stdout!.on('data', (d) => {
      out += d;
    });
    c.stderr!.on('data', (d) => {
      err += d;
    });
    const timer = setTimeout(() => {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeoutMs);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}
