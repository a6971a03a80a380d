// Processes by name, for `-c COMM` with no file named: an agent such as Claude Code or Bun
// carries its TLS in its own executable, which the system libraries do not cover.
import fs from 'node:fs';
import { type FindOptions, findTlsTargetCached, mappedFiles, type TlsTarget } from './targets.js';

/** Processes whose name (the thread group leader's comm, as the kernel filter sees it) is `comm`. */
export function pidsNamed(comm: string, procDir = '/proc'): number[] {
  const want = Buffer.from(comm).subarray(0, 15).toString('utf8');
  const out: number[] = [];
  for (const d of fs.readdirSync(procDir)) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`${procDir}/${d}/comm`, 'utf8').replace(/\n$/, '') === want) out.push(Number(d));
    } catch {
      /* gone meanwhile */
    }
  }
  return out;
}

/**
 * The TLS targets in the files that running processes named `comm` have mapped, each file
 * once (by device and inode) however many processes map it. Excludes this process.
 */
export function discoverForComm(comm: string, opts: FindOptions = {}): TlsTarget[] {
  return targetsMappedBy(pidsNamed(comm), opts);
}

/**
 * The TLS targets in the files any running process has mapped (a host-wide capture starting
 * after its agents: agentsight monitor), each file once. Large programs' answers are cached
 * (findTlsTargetCached): most of a host's processes run the same few files.
 */
export function discoverRunning(opts: FindOptions = {}, procDir = '/proc'): TlsTarget[] {
  const pids: number[] = [];
  for (const d of fs.readdirSync(procDir)) if (/^\d+$/.test(d)) pids.push(Number(d));
  return targetsMappedBy(pids, opts);
}

function targetsMappedBy(pids: Iterable<number>, opts: FindOptions): TlsTarget[] {
  const seen = new Set<string>();
  const out: TlsTarget[] = [];
  for (const pid of pids) {
    if (pid === process.pid) continue;
    let files: string[];
    try {
      files = mappedFiles(pid);
    } catch {
      continue;
    }
    for (const f of files) {
      let key: string;
      try {
        const st = fs.statSync(f);
        key = `${st.dev}:${st.ino}`;
      } catch {
        continue;
      }
      if (seen.has(key)) continue;
      seen.add(key);
      let t: TlsTarget | null = null;
      try {
        t = findTlsTargetCached(f, opts);
      } catch {
        /* unreadable or not ELF: nothing to hook there */
      }
      if (t?.symbols.length) out.push(t);
    }
  }
  return out;
}
