import fs from 'node:fs';
import path from 'node:path';

export interface User {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

/** The user who ran `sudo`, when we run under it: the agent runs as them, not root. */
export function sudoUser(env: NodeJS.ProcessEnv = process.env): User | null {
  const name = env.SUDO_USER;
  const uid = Number(env.SUDO_UID);
  const gid = Number(env.SUDO_GID);
  if (!name || !Number.isInteger(uid) || !Number.isInteger(gid) || uid === 0) return null;
  return { name, uid, gid, home: homeOf(name) ?? `/home/${name}` };
}

function homeOf(user: string): string | undefined {
  try {
    for (const line of fs.readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if (f[0] === user) return f[5];
    }
  } catch {
    /* no passwd: fall back */
  }
  return undefined;
}

/**
 * Where a user's own tools live, which sudo's secure_path drops: ~/.local/bin, ~/bin,
 * nvm's node versions, ~/.bun/bin, and the npm global prefix from ~/.npmrc.
 */
export function userBinDirs(home: string): string[] {
  const dirs = [path.join(home, '.local/bin'), path.join(home, 'bin'), path.join(home, '.bun/bin')];
  const nvm = path.join(home, '.nvm/versions/node');
  try {
    for (const v of fs.readdirSync(nvm).sort().reverse()) dirs.push(path.join(nvm, v, 'bin'));
  } catch {
    /* no nvm */
  }
  try {
    const m = fs.readFileSync(path.join(home, '.npmrc'), 'utf8').match(/^\s*prefix\s*=\s*(.+)$/m);
    if (m) dirs.push(path.join(m[1]!.trim().replace(/^~/, home), 'bin'));
  } catch {
    /* no npmrc */
  }
  dirs.push(path.join(home, '.npm-global/bin'));
  return dirs;
}

function isExecutableFile(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Resolve a command name the way a shell would, plus `extraDirs` after $PATH. */
export function resolveCommand(
  cmd: string,
  env: NodeJS.ProcessEnv = process.env,
  extraDirs: string[] = [],
): string | null {
  if (cmd.includes('/')) return isExecutableFile(cmd) ? path.resolve(cmd) : null;
  const dirs = [...(env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(':').filter(Boolean), ...extraDirs];
  for (const d of dirs) {
    const p = path.join(d, cmd);
    if (isExecutableFile(p)) return p;
  }
  return null;
}

export interface ElfResolution {
  /** The ELF binary that runs (and so carries or loads the TLS library). */
  elf: string;
  /** How we got there: each symlink target and interpreter, for messages. */
  chain: string[];
}

/**
 * Follow symlinks and `#!` wrappers to the ELF that actually runs: `claude` ->
 * `../lib/node_modules/.../cli.js` -> `#!/usr/bin/env node` -> /usr/bin/node.
 */
export function resolveElf(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  extraDirs: string[] = [],
  depth = 0,
): ElfResolution {
  if (depth > 8) throw new Error(`${file}: too many levels of #! interpreters`);
  const real = fs.realpathSync(file);
  const chain = real === file ? [file] : [file, real];
  const fd = fs.openSync(real, 'r');
  const head = Buffer.alloc(256);
  let n: number;
  try {
    n = fs.readSync(fd, head, 0, head.length, 0);
  } finally {
    fs.closeSync(fd);
  }
  if (n >= 4 && head.readUInt32BE(0) === 0x7f454c46) return { elf: real, chain };
  if (n >= 2 && head[0] === 0x23 && head[1] === 0x21) {
    const line = head.subarray(2, n).toString('latin1').split('\n')[0]!.trim();
    const parts = line.split(/\s+/);
    let interp = parts[0]!;
    let rest = parts.slice(1);
    if (path.basename(interp) === 'env') {
      rest = rest.filter((a) => !a.startsWith('-') && !a.includes('='));
      const name = rest[0];
      if (!name) throw new Error(`${real}: cannot tell the interpreter from '#!${line}'`);
      const found = resolveCommand(name, env, extraDirs);
      if (!found) throw new Error(`${real}: interpreter '${name}' not found in PATH`);
      interp = found;
    }
    const inner = resolveElf(interp, env, extraDirs, depth + 1);
    return { elf: inner.elf, chain: [...chain, ...inner.chain] };
  }
  throw new Error(`${real}: neither an ELF binary nor a #! script`);
}
