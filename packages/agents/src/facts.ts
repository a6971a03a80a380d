// What a selector needs to know of a running process, from /proc: for captures that see a
// process only through its TLS calls (as-sslsniff), not its exec. Every read tolerates the
// process having exited meanwhile.
import fs from 'node:fs';
import { classify } from './classify.js';
import type { SelectFacts } from './selector.js';

export interface LiveFacts extends SelectFacts {
  ppid?: number;
}

function read(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** The process's program, argv, comm, real uid, parent and agent; undefined when it is gone. */
export function processFacts(pid: number, procDir = '/proc'): LiveFacts | undefined {
  const stat = read(`${procDir}/${pid}/stat`);
  if (stat === undefined) return undefined;
  const close = stat.lastIndexOf(')');
  const ppid = Number(stat.slice(close + 2).split(' ')[1]);
  const comm = stat.slice(stat.indexOf('(') + 1, close);
  const argv = (read(`${procDir}/${pid}/cmdline`) ?? '').split('\0');
  if (argv.at(-1) === '') argv.pop();
  let exe: string | undefined;
  try {
    exe = fs.readlinkSync(`${procDir}/${pid}/exe`).replace(/ \(deleted\)$/, '');
  } catch {
    /* a kernel thread, or gone */
  }
  const uid = /^Uid:\s+(\d+)/m.exec(read(`${procDir}/${pid}/status`) ?? '')?.[1];
  const f: LiveFacts = { comm, argv, ...(exe ? { exe } : {}), ...(Number.isInteger(ppid) ? { ppid } : {}) };
  if (uid !== undefined) f.uid = Number(uid);
  const agent = classify(f);
  if (agent) f.agent = agent;
  return f;
}
