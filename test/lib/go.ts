// The Go programs of the tests (test/go/*.go, standard library only), built with the
// system's Go (Debian's golang-go) into a directory of the caller's.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ROOT } from './run.js';

export const GO_SRC = path.join(ROOT, 'test/go');

/** "go1.19.8", or null when there is no Go toolchain. */
export function goToolVersion(): string | null {
  try {
    return (
      /go version (go\S+)/.exec(execFileSync('go', ['version'], { encoding: 'utf8', timeout: 30000 }))?.[1] ?? null
    );
  } catch {
    return null;
  }
}

/**
 * Build test/go/NAME.go into dir/OUT (default NAME, with -stripped and -pie suffixes):
 * `stripped` links with -ldflags=-s -w (no ELF symbols or DWARF), `pie` builds a
 * position-independent executable (as distributions package Go programs). Without cgo
 * (CGO_ENABLED=0), as Go tools ship.
 */
export function goBuild(
  name: string,
  dir: string,
  opts: { stripped?: boolean; pie?: boolean; out?: string } = {},
): string {
  const out = path.join(dir, opts.out ?? `${name}${opts.stripped ? '-stripped' : ''}${opts.pie ? '-pie' : ''}`);
  execFileSync(
    'go',
    [
      'build',
      '-o',
      out,
      ...(opts.stripped ? ['-ldflags=-s -w'] : []),
      ...(opts.pie ? ['-buildmode=pie'] : []),
      path.join(GO_SRC, `${name}.go`),
    ],
    {
      env: { ...process.env, CGO_ENABLED: '0', GO111MODULE: 'off' },
      stdio: ['ignore', 'ignore', 'pipe'],
      timeout: 300_000,
    },
  );
  return out;
}
