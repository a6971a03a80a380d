import path from 'node:path';
import type { PathArg } from './decode.js';

/**
 * The absolute form of a path argument: as given when absolute, else joined to the
 * directory the kernel resolved (cwd or dirfd), else to `fallbackCwd` (the last cwd user
 * space knows for the process). Normalised lexically ("." and ".." folded, no symlinks
 * followed: the file may not exist, and following links would need the process's view).
 * A relative path with nothing to resolve against stays relative.
 */
export function absolutise(arg: PathArg, fallbackCwd?: string): string {
  if (!arg.relative && arg.path.startsWith('/')) return path.posix.normalize(arg.path);
  const base = arg.base ?? fallbackCwd;
  if (base === undefined) return arg.path;
  // An empty path (AT_EMPTY_PATH) names the directory itself.
  return arg.path === '' ? path.posix.normalize(base) : path.posix.resolve(base, arg.path);
}

/** The path a folded open is counted under (a directory, or the file); null to report it. */
export type FoldGroup = string;

const LIB_RE = /\.so(\.[0-9]+)*$/;
// Locale data every C program reads at startup (setlocale, iconv).
const LOCALE_RE = /^(\/usr\/lib\/locale|\/usr\/share\/locale|\/usr\/lib\/[^/]+\/gconv)(\/|$)/;
const O_ACCMODE = 3;

/**
 * Opens that every process makes and nobody reads: /proc and /sys lookups, the
 * dynamic loader finding libraries, libc reading locale data. They are counted per process and reported as one
 * `open` event per group (the directory) with `count`, instead of one line each.
 */
export function foldGroup(p: string, flags: number): FoldGroup | null {
  if (p === '/proc' || p.startsWith('/proc/')) return '/proc';
  if (p === '/sys' || p.startsWith('/sys/')) return '/sys';
  if ((flags & O_ACCMODE) !== 0) return null; // written: never noise
  if (p === '/etc/ld.so.cache' || p === '/etc/ld.so.preload') return p;
  if (LIB_RE.test(p)) return path.posix.dirname(p);
  const loc = LOCALE_RE.exec(p);
  if (loc) return loc[1]!;
  return null;
}
