/**
 * Per-binary cache of heuristic TLS symbol locations, so a 250 MB executable is scanned once.
 * Keyed by size, mtime and a SHA-256 of its first and last MiB (hashing all of it would cost
 * about as much as the scan), plus the analysis version so a better heuristic invalidates it.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

// 2: rustls over aws-lc is found (a binary cached as "no TLS" before may have it).
export const ANALYSIS_VERSION = 2;
const MIB = 1 << 20;

/** $AGENTSIGHT_CACHE_DIR, else /var/cache/agentsight as root, else $XDG_CACHE_HOME/agentsight. */
export function cacheDir(): string {
  if (process.env.AGENTSIGHT_CACHE_DIR) return process.env.AGENTSIGHT_CACHE_DIR;
  if (process.getuid?.() === 0) return '/var/cache/agentsight';
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'agentsight');
}

export function binaryKey(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const st = fstatSync(fd);
    const h = createHash('sha256');
    h.update(`v${ANALYSIS_VERSION}:${st.size}:${Math.floor(st.mtimeMs)}:`);
    const buf = Buffer.allocUnsafe(Math.min(MIB, st.size));
    for (const pos of st.size > MIB ? [0, st.size - MIB] : [0]) {
      let got = 0;
      while (got < buf.length) {
        const r = readSync(fd, buf, got, buf.length - got, pos + got);
        if (r === 0) break;
        got += r;
      }
      h.update(buf.subarray(0, got));
    }
    return h.digest('hex');
  } finally {
    closeSync(fd);
  }
}

export function cacheGet<T>(key: string, dir = cacheDir()): T | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, `tls-${key}.json`), 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** Best effort: an unwritable cache only costs a rescan next time. */
export function cachePut(key: string, value: unknown, dir = cacheDir()): boolean {
  try {
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `tls-${key}.json`);
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(value) + '\n');
    renameSync(tmp, file);
    return true;
  } catch {
    return false;
  }
}
