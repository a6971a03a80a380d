// Running as-proc / as-stdiocap for real in kernel tests: spawn the built tool, wait until
// it is attached, collect and validate its NDJSON output, bounded in time.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { type AgentEvent, validateEvent } from '@agentsight/events';

import { ROOT } from './lib/run.js';

export { ROOT };
export const TOOLS = path.join(ROOT, 'dist/tools');

/** Why kernel tests cannot run here, or null when they can. */
export function kernelSkipReason(objects: string[]): string | null {
  if (process.geteuid?.() !== 0) return 'kernel test: needs root (real eBPF programs are loaded)';
  if (!fs.existsSync('/sys/kernel/btf/vmlinux')) return 'kernel test: kernel has no BTF (/sys/kernel/btf/vmlinux)';
  for (const o of objects) {
    if (!fs.existsSync(path.join(ROOT, 'bpf', o))) return `kernel test: bpf/${o} not built (run make bpf)`;
  }
  return null;
}

export interface ToolRun {
  events: AgentEvent[];
  /** Lines that were not valid events, with the reason. */
  invalid: string[];
  stdout: Buffer;
  stderr: string;
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Started {
  pid: number;
  /** Resolves once the tool says it is tracing (programs attached, set seeded). */
  ready: Promise<void>;
  /** Resolves when the tool exits by itself. */
  done: Promise<ToolRun>;
  /** SIGINT, then collect. */
  stop(): Promise<ToolRun>;
}

function parse(stdout: Buffer): { events: AgentEvent[]; invalid: string[] } {
  const events: AgentEvent[] = [];
  const invalid: string[] = [];
  for (const line of stdout.toString('utf8').split('\n')) {
    if (!line) continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      invalid.push(`${(e as Error).message}: ${line.slice(0, 100)}`);
      continue;
    }
    const why = validateEvent(obj);
    if (why) invalid.push(`${why}: ${line.slice(0, 100)}`);
    else events.push(obj as AgentEvent);
  }
  return { events, invalid };
}

export function startTool(
  tool: string,
  args: string[],
  opts: { stdin?: Buffer | string; timeoutMs?: number; cwd?: string } = {},
): Started {
  const child = spawn(process.execPath, [path.join(TOOLS, `${tool}.js`), ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    cwd: opts.cwd ?? ROOT,
  });
  const out: Buffer[] = [];
  let err = '';
  child.stdout.on('data', (d: Buffer) => out.push(d));
  let readyResolve!: () => void;
  let readyReject!: (e: Error) => void;
  const ready = new Promise<void>((res, rej) => {
    readyResolve = res;
    readyReject = rej;
  });
  ready.catch(() => {
    /* observed through done too */
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    err += d;
    if (/: tracing /.test(err)) readyResolve();
  });
  if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
  else child.stdin.end();
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<ToolRun>((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      readyReject(new Error(`${tool} exited before it was ready: ${err.trim()}`));
      const stdout = Buffer.concat(out);
      resolve({ ...parse(stdout), stdout, stderr: err, code, signal });
    });
  });
  return {
    pid: child.pid!,
    ready,
    done,
    stop: async () => {
      child.kill('SIGINT');
      return done;
    },
  };
}

/** Run a tool that ends by itself (--cmd). */
export function runTool(
  tool: string,
  args: string[],
  opts: { stdin?: Buffer | string; timeoutMs?: number; cwd?: string } = {},
): Promise<ToolRun> {
  return startTool(tool, args, opts).done;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run a command to completion (not traced by the test harness itself). */
export function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string } = {},
): Promise<{ code: number | null; pid: number }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: 'ignore', ...opts });
    c.on('error', reject);
    c.on('exit', (code) => resolve({ code, pid: c.pid! }));
  });
}
