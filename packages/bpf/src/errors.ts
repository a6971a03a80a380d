import { errno, libbpf } from './libbpf.js';
import { explain, takeLog } from './log.js';

/**
 * A failure of libbpf or the kernel, as one line; `errno` is the positive error number.
 * `kind` says what the caller can do about it: 'missing' is a privilege or kernel feature
 * this host lacks (a tool exits 77 on it), 'failed' anything else.
 */
export class BpfError extends Error {
  constructor(message: string, readonly errno: number = 0, readonly log: string[] = [], readonly kind: 'missing' | 'failed' = 'failed') {
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
