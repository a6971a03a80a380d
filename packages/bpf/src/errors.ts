import { errno, libbpf } from './libbpf.js';
import { explain, takeLog } from './log.js';

/**
 * A failure of libbpf or the kernel, as one line; `errno` is the positive error number.
 * It means a privilege or kernel feature this host lacks: runTool (@agentsight/cli) ends
 * the tool with exit 77 on it, so the loader needs no exit codes of its own.
 */
export class BpfError extends Error {
  constructor(
    message: string,
    readonly errno: number = 0,
    readonly log: string[] = [],
  ) {
    super(message);
    this.name = 'BpfError';
  }
}

function strerror(e: number): string {
  return e ? String(libbpf().strerror(e)) : 'unknown error';
}

/** Throw a BpfError for a failed libbpf call: the call, errno text, and libbpf's own reason. */
export function fail(what: string, err: number): never {
  const e = Math.abs(err) || errno();
  const log = takeLog();
  const why = explain(log);
  throw new BpfError(`${what}: ${strerror(e)}${why ? ` (${why})` : ''}`, e, log);
}
