// The container of a running process, looked up once per cgroup: many processes share one.
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerInfo } from '@agentsight/events';
import { cgroupPath, containerOfCgroup } from './cgroup.js';
import { describe } from './names.js';
import { cgroupV2Root } from './target.js';

export interface ProcessPlace {
  /** The cgroup path (v2, else the v1 hierarchy containers are placed in). */
  cgroup: string;
  /** The cgroup's id as BPF's bpf_get_current_cgroup_id() gives it (cgroup v2: its inode). */
  cgroup_id?: number;
  container?: ContainerInfo;
  /** The pid as the process's own pid namespace sees it, where that differs. */
  ns_pid?: number;
}

/** Caches answers per cgroup path: bounded by the number of cgroups on the host. */
export class ContainerLookup {
  readonly #byCgroup = new Map<string, { id?: number; container?: ContainerInfo }>();
  constructor(readonly root = '/') {}

  /** Where `pid` runs, or undefined when it has exited. */
  of(pid: number): ProcessPlace | undefined {
    let text: string;
    try {
      text = fs.readFileSync(path.join(this.root, 'proc', String(pid), 'cgroup'), 'utf8');
    } catch {
      return undefined;
    }
    const cg = cgroupPath(text);
    if (cg === undefined) return undefined;
    let known = this.#byCgroup.get(cg);
    if (!known) {
      const c = containerOfCgroup(cg);
      known = { id: cgroupId(this.root, cg), container: c && describe(c, this.root) };
      // Cgroups come and go with containers: keep the map from growing without end.
      if (this.#byCgroup.size >= 4096) this.#byCgroup.delete(this.#byCgroup.keys().next().value as string);
      this.#byCgroup.set(cg, known);
    }
    const place: ProcessPlace = { cgroup: cg };
    if (known.id !== undefined) place.cgroup_id = known.id;
    if (known.container) place.container = known.container;
    const ns = nsPid(this.root, pid);
    if (ns !== undefined && ns !== pid) place.ns_pid = ns;
    return place;
  }
}

function cgroupId(root: string, cg: string): number | undefined {
  try {
    return fs.statSync(path.join(cgroupV2Root(root), cg)).ino;
  } catch {
    return undefined;
  }
}

/** The innermost pid of NSpid in /proc/PID/status (the last: the process's own namespace). */
export function nsPid(root: string, pid: number): number | undefined {
  try {
    const status = fs.readFileSync(path.join(root, 'proc', String(pid), 'status'), 'utf8');
    const m = /^NSpid:\s*([\d\s]+)$/m.exec(status);
    if (!m) return undefined;
    const pids = m[1]!.trim().split(/\s+/).map(Number);
    return pids[pids.length - 1];
  } catch {
    return undefined;
  }
}
