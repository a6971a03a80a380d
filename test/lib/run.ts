// Helpers for tests that spawn the built tools (dist/tools/*.js) as a user would.
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentEvent } from '@agentsight/events';

/** Repository root (this file is compiled to dist/test/lib/run.js). */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** The shared corpus beside the project root. */
export const SHARED = path.resolve(ROOT, '../shared');
export const CORPUS = path.join(SHARED, 'corpus/llm-streams');

/** The body of a corpus `.http` response, de-chunked by hand: a reference independent of as-http (the corpus has no chunk extensions or trailers). */
export function corpusBody(http: Buffer): Buffer {
  const i = http.indexOf('\r\n\r\n');
  const body = http.subarray(i + 4);
  if (!/transfer-encoding: chunked/i.test(http.subarray(0, i).toString())) return body;
  const parts: Buffer[] = [];
  for (let p = 0; ; ) {
    const e = body.indexOf('\r\n', p);
    const n = parseInt(body.subarray(p, e).toString(), 16);
    if (!n) break;
    parts.push(body.subarray(e + 2, e + 2 + n));
    p = e + 2 + n + 2;
  }
  return Buffer.concat(parts);
}

export function toolPath(name: string): string {
  return path.join(ROOT, 'dist/tools', `${name}.js`);
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
  /** stdout parsed as NDJSON (lines that fail to parse throw). */
  events: Array<Record<string, any>>;
}

export function parseNdjson(buf: Buffer | string): Array<Record<string, any>> {
  return buf
    .toString()
    .split('\n')
    .filter((l) => l.length)
    .map((l) => JSON.parse(l));
}

/** Run a built tool to completion, feeding `stdin`; rejects after `timeoutMs`. */
export function runTool(
  name: string,
  args: string[],
  opts: { stdin?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<RunResult> {
  return runCommand(process.execPath, [toolPath(name), ...args], opts);
}

export function runCommand(
  cmd: string,
  args: string[],
  opts: { stdin?: string | Buffer; timeoutMs?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `${path.basename(args[0] ?? cmd)} timed out after ${opts.timeoutMs ?? 60000} ms; stderr: ${err.slice(-2000)}`,
        ),
      );
    }, opts.timeoutMs ?? 60000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out);
      let events: Array<Record<string, any>> = [];
      try {
        events = parseNdjson(stdout);
      } catch {
        /* not NDJSON: callers look at stdout */
      }
      resolve({ code, signal, stdout, stderr: err, events });
    });
    child.stdin!.on('error', () => {
      /* tool may exit before reading all input */
    });
    if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
    else child.stdin!.end();
  });
}

/** Start a long-running tool (e.g. a capture) and return the child; caller stops it. */
export function startTool(name: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  return spawn(process.execPath, [toolPath(name), ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

/** Resolve when `stream` has printed a line matching `re`, or reject after `timeoutMs`. */
export function waitForOutput(stream: NodeJS.ReadableStream, re: RegExp, timeoutMs = 30000): Promise<string> {
  return new Promise((resolve, reject) => {
    let acc = '';
    const onData = (d: Buffer) => {
      acc += d.toString();
      const m = acc.match(re);
      if (m) {
        cleanup();
        resolve(m[0]);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for ${re}; got: ${acc.slice(-1000)}`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      stream.off('data', onData);
    };
    stream.on('data', onData);
  });
}

/** `as-http FILE | as-merge --correlate`, the standalone tools as a user would pipe them. */
export async function correlateCapture(
  file: string,
): Promise<{ events: AgentEvent[]; stderr: string; code: number | null }> {
  const r = await runCommand(
    '/bin/sh',
    ['-c', '"$0" "$1" "$2" | "$0" "$3" --correlate', process.execPath, toolPath('as-http'), file, toolPath('as-merge')],
    { timeoutMs: 60_000 },
  );
  return { events: parseNdjson(r.stdout) as unknown as AgentEvent[], stderr: r.stderr, code: r.code };
}
