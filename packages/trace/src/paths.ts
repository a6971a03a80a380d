// Path rules for the alerts: which files are secrets, which writes leave the project.
import path from 'node:path';

// Credentials and keys an agent has no business reading unasked. Matched against the
// absolute path the kernel reported.
const SENSITIVE: Array<[RegExp, string]> = [
  [/\/\.ssh\/[^/]+$/, 'SSH key or config'],
  [/^\/etc\/(shadow|gshadow)-?$/, 'password hashes'],
  [/^\/etc\/sudoers(\.d\/.*)?$/, 'sudo rules'],
  [/\/\.aws\/(credentials|config)$/, 'AWS credentials'],
  [/\/\.config\/gcloud\/.*(credentials|\.json)$/, 'Google Cloud credentials'],
  [/\/\.azure\/.*(token|credentials|\.json)/, 'Azure credentials'],
  [/\/\.kube\/config$/, 'Kubernetes credentials'],
  [/\/\.docker\/config\.json$/, 'Docker registry credentials'],
  [/\/\.netrc$/, 'netrc credentials'],
  [/\/\.git-credentials$/, 'git credentials'],
  [/\/\.pgpass$/, 'PostgreSQL passwords'],
  [/\/\.npmrc$/, 'npm token'],
  [/\/\.pypirc$/, 'PyPI token'],
  [/\/\.gnupg\//, 'GnuPG keys'],
  [/\/\.env(\.[\w.-]+)?$/, 'environment secrets (.env)'],
  [/\/id_(rsa|dsa|ecdsa|ed25519)$/, 'private key'],
  [/\.key$|\/ssl\/private\/|priv[^/]*\.pem$|[-_.]key\.pem$/, 'private key'],
];

// Templates and examples are not secrets, nor Claude Code's own per-session state
// (`~/.claude/sessions/<pid>.<hash>.key`, which it deletes at every exit).
const NOT_SECRET = /\/\.env\.(example|sample|template|dist)$|\.pub$|\/\.claude\/sessions\/[^/]+$/;

/** Why this path is sensitive, or null. */
export function sensitiveReason(p: string): string | null {
  if (NOT_SECRET.test(p)) return null;
  for (const [re, why] of SENSITIVE) if (re.test(p)) return why;
  return null;
}

/** Paths outside the project that every program writes to and that mean nothing. */
export const DEFAULT_ALLOWED_OUTSIDE = ['/dev/', '/proc/', '/sys/'];

export function isInside(p: string, dir: string): boolean {
  const rel = path.relative(dir, p);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

const O_ACCMODE = 3;
const O_CREAT = 0o100;
const O_TRUNC = 0o1000;

/** Whether open(2) flags ask to modify the file. */
export const isWriteOpen = (flags: number) => (flags & O_ACCMODE) !== 0 || (flags & (O_CREAT | O_TRUNC)) !== 0;

/** Resolve a path named in a tool call against the directory it would be used in. */
export function resolveArgPath(p: string, cwd: string | undefined, home: string | undefined): string | null {
  if (p.startsWith('~/')) return home ? path.join(home, p.slice(2)) : null;
  if (path.isAbsolute(p)) return path.normalize(p);
  return cwd ? path.resolve(cwd, p) : null;
}
