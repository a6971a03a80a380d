// Container targets: a name a user gives (docker://NAME, podman://NAME, k8s://NS/POD[/CONTAINER],
// cgroup:///PATH) resolved to the cgroup v2 directory whose every process, present and
// later, is traced. The kernel side follows the cgroup (bpf/tracked.h), not one pid: an
// init like tini is the container's main process, the agent is its child.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cgroupPath } from './cgroup.js';

export const TARGET_SCHEMES = ['docker', 'podman', 'k8s', 'cgroup'] as const;

/** A target that names no running container (or no cgroup): one line, said before anything is recorded. */
export class TargetError extends Error {}

export interface CgroupTarget {
  /** As the user wrote it. */
  spec: string;
  /** The cgroup's path below the v2 root ("/machine.slice/libpod-….scope"). */
  cgroup: string;
  /** Its directory on this host. */
  dir: string;
  /** Its id (the directory's inode): what bpf_get_current_cgroup_id() gives. */
  id: number;
  /** Its depth below the root: bpf_get_current_ancestor_cgroup_id's level. */
  level: number;
}

export interface ResolveOptions {
  /** The node's root ("/"; a test gives a recorded layout). */
  root?: string;
  /** Runs a runtime's CLI (docker/podman inspect); returns its stdout. */
  run?: (cmd: string, args: string[]) => string;
}

export const isContainerTarget = (s: string): boolean => /^(docker|podman|k8s|cgroup):\/\//.test(s);

/**
 * Where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup, or /sys/fs/cgroup/unified on a
 * hybrid (v1 controllers beside an empty v2 tree, whose ids BPF still reports).
 */
export function cgroupV2Root(root = '/'): string {
  const unified = path.join(root, 'sys/fs/cgroup/unified');
  if (fs.existsSync(path.join(unified, 'cgroup.procs'))) return unified;
  return path.join(root, 'sys/fs/cgroup');
}

const defaultRun = (cmd: string, args: string[]): string => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15000 });
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string };
    if (err.code === 'ENOENT') throw new TargetError(`the ${cmd} CLI is not installed`);
    throw new TargetError(`${cmd} ${args[0]} failed: ${(err.stderr || err.message).toString().trim().split('\n')[0]}`);
  }
};

/** Resolve a target, or throw TargetError with a one-line reason. */
export function resolveTarget(spec: string, opts: ResolveOptions = {}): CgroupTarget {
  const root = opts.root ?? '/';
  const m = /^([a-z0-9]+):\/\/(.*)$/.exec(spec);
  if (!m || !(TARGET_SCHEMES as readonly string[]).includes(m[1]!))
    throw new TargetError(`${spec}: not a target (${TARGET_SCHEMES.map((s) => `${s}://`).join(', ')})`);
  const [, scheme, rest] = m as unknown as [string, string, string];
  const fail = (why: string): never => {
    throw new TargetError(`${spec}: ${why}`);
  };
  if (!rest) fail('no name given');
  let cg: string;
  try {
    if (scheme === 'cgroup') cg = `/${rest.replace(/^\/+/, '').replace(/\/+$/, '')}`;
    else if (scheme === 'k8s') cg = k8sCgroup(rest, root);
    else {
      const out = (opts.run ?? defaultRun)(scheme, ['inspect', '--format', '{{.State.Pid}}', rest]).trim();
      const pid = Number(out);
      if (!Number.isInteger(pid) || pid <= 0) fail('the container is not running');
      cg = pidCgroup(pid, root);
    }
  } catch (e) {
    if (e instanceof TargetError) throw e.message.startsWith(spec) ? e : new TargetError(`${spec}: ${e.message}`);
    throw e;
  }
  if (cg === '/') fail('that is the root cgroup (every process): name a container');
  const dir = path.join(cgroupV2Root(root), cg);
  let id: number;
  try {
    const st = fs.statSync(dir);
    if (!st.isDirectory()) throw new Error('not a directory');
    id = st.ino;
  } catch {
    return fail(`no cgroup ${cg} (under ${cgroupV2Root(root)})`);
  }
  return { spec, cgroup: cg, dir, id, level: cg.split('/').filter(Boolean).length };
}

/** The v2 cgroup of a running process. */
function pidCgroup(pid: number, root: string): string {
  let text: string;
  try {
    text = fs.readFileSync(path.join(root, 'proc', String(pid), 'cgroup'), 'utf8');
  } catch {
    throw new TargetError(`its process ${pid} has exited`);
  }
  const v2 = /^0::(\/.*)$/m.exec(text)?.[1];
  if (v2 === undefined) throw new TargetError(`process ${pid} is in no cgroup v2 (${cgroupPath(text) ?? 'none'})`);
  return v2;
}

/**
 * k8s://NAMESPACE/POD[/CONTAINER]: the container's cgroup, or the pod's (the parent of its
 * containers') when no container is named. Found from the runtime's bundles on this node
 * (containerd's task directories, CRI-O's userdata), as names.ts reads them.
 */
function k8sCgroup(rest: string, root: string): string {
  const [ns, pod, container, ...extra] = rest.split('/');
  if (!ns || !pod || extra.length) throw new TargetError('want k8s://NAMESPACE/POD[/CONTAINER]');
  const found: Array<{ name: string; pidFile: string }> = [];
  const bundles: Array<{ dir: string; config: (id: string) => string; pid: (id: string) => string }> = [
    {
      dir: 'run/containerd/io.containerd.runtime.v2.task/k8s.io',
      config: (id) => `${id}/config.json`,
      pid: (id) => `${id}/init.pid`,
    },
    {
      dir: 'run/containers/storage/overlay-containers',
      config: (id) => `${id}/userdata/config.json`,
      pid: (id) => `${id}/userdata/pidfile`,
    },
  ];
  for (const b of bundles) {
    let ids: string[];
    try {
      ids = fs.readdirSync(path.join(root, b.dir));
    } catch {
      continue;
    }
    for (const id of ids) {
      let a: Record<string, unknown>;
      try {
        a = JSON.parse(fs.readFileSync(path.join(root, b.dir, b.config(id)), 'utf8')).annotations ?? {};
      } catch {
        continue;
      }
      const type = a['io.kubernetes.cri.container-type'] ?? a['io.kubernetes.cri-o.ContainerType'];
      if (type === 'sandbox') continue;
      const podNs = a['io.kubernetes.cri.sandbox-namespace'] ?? a['io.kubernetes.pod.namespace'];
      const podName = a['io.kubernetes.cri.sandbox-name'] ?? a['io.kubernetes.pod.name'];
      const name = a['io.kubernetes.cri.container-name'] ?? a['io.kubernetes.container.name'];
      if (podNs !== ns || podName !== pod || typeof name !== 'string') continue;
      if (container && name !== container) continue;
      found.push({ name, pidFile: path.join(root, b.dir, b.pid(id)) });
    }
  }
  if (!found.length)
    throw new TargetError(`no ${container ? `container ${container} of ` : ''}pod ${ns}/${pod} runs on this node`);
  const cgroups = new Set<string>();
  for (const f of found) {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(f.pidFile, 'utf8').trim());
    } catch {
      continue;
    }
    try {
      const cg = pidCgroup(pid, root);
      cgroups.add(container ? cg : path.posix.dirname(cg));
    } catch {
      /* that container has exited; another may run */
    }
  }
  if (!cgroups.size) throw new TargetError(`pod ${ns}/${pod}: no running container`);
  if (cgroups.size > 1) throw new TargetError(`pod ${ns}/${pod}: its containers are in different cgroups`);
  return [...cgroups][0]!;
}

/** The processes in a cgroup and every cgroup below it, now. */
export function cgroupProcs(dir: string): number[] {
  const out: number[] = [];
  const walk = (d: string) => {
    try {
      for (const l of fs.readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n')) if (l) out.push(Number(l));
    } catch {
      return;
    }
    let subs: fs.Dirent[] = [];
    try {
      subs = fs.readdirSync(d, { withFileTypes: true });
    } catch {
      /* removed meanwhile */
    }
    for (const s of subs) if (s.isDirectory()) walk(path.join(d, s.name));
  };
  walk(dir);
  return out;
}
