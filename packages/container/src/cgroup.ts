// A container is known to the kernel only as a cgroup: each runtime names the cgroup of a
// container after its id, in a shape of its own, which differs again between the cgroupfs
// and the systemd cgroup drivers and between cgroup v1 and v2. One table of those shapes.
import type { ContainerRuntime } from '@agentsight/events';

/**
 * The cgroup path of a process from the text of /proc/PID/cgroup: the v2 (unified) line,
 * else the v1 hierarchy that runtimes always place containers in (pids, memory, cpu, or
 * systemd's named one).
 */
export function cgroupPath(procCgroup: string): string | undefined {
  const v1 = new Map<string, string>();
  for (const line of procCgroup.split('\n')) {
    const a = line.indexOf(':');
    const b = line.indexOf(':', a + 1);
    if (a < 0 || b < 0) continue;
    const controllers = line.slice(a + 1, b);
    const path = line.slice(b + 1);
    if (line.slice(0, a) === '0' && controllers === '') return path;
    for (const c of controllers.split(',')) v1.set(c, path);
  }
  for (const c of ['pids', 'memory', 'cpu', 'name=systemd']) if (v1.has(c)) return v1.get(c);
  return undefined;
}

const ID = '([0-9a-f]{64})';

// Most specific first: a Kubernetes pod's container is also under a runtime's name.
// `*-conmon-*` scopes are the runtimes' monitors, not containers: the id pattern excludes them
// (conmon's scope name has "conmon-" where the id would start).
const SHAPES: Array<{ runtime: ContainerRuntime; re: RegExp }> = [
  // systemd driver: .../kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope
  { runtime: 'containerd', re: new RegExp(`/cri-containerd-${ID}\\.scope$`) },
  { runtime: 'cri-o', re: new RegExp(`/crio-${ID}\\.scope$`) },
  // podman (root: machine.slice; rootless: user.slice/.../libpod-<id>.scope; cgroupfs: libpod_parent)
  { runtime: 'podman', re: new RegExp(`/libpod-${ID}(?:\\.scope)?(?:/container)?$`) },
  // docker: systemd driver, cgroupfs driver (v1 and v2 alike)
  { runtime: 'docker', re: new RegExp(`/docker-${ID}\\.scope$`) },
  { runtime: 'docker', re: new RegExp(`^/docker/${ID}$`) },
  // cgroupfs driver under Kubernetes: /kubepods/burstable/pod<uid>/<id> (containerd or CRI-O:
  // the path does not say which; the bundle found on disk does, see kubernetes.ts)
  { runtime: 'containerd', re: new RegExp(`^/kubepods(?:/[a-z]+)?/pod[0-9a-f-]{36}/${ID}$`) },
  // nerdctl / plain containerd: /<namespace>/<id>
  { runtime: 'containerd', re: new RegExp(`^/[a-z0-9._-]+/${ID}$`) },
];

export interface CgroupContainer {
  runtime: ContainerRuntime;
  id: string;
  /** The Kubernetes pod's uid, where the cgroup is a pod's. */
  podUid?: string;
}

/** The container a cgroup path belongs to, if any. */
export function containerOfCgroup(path: string): CgroupContainer | undefined {
  // Inside a container with a private cgroup namespace the path is "/"; nothing to learn.
  for (const { runtime, re } of SHAPES) {
    const m = re.exec(path);
    if (!m) continue;
    const c: CgroupContainer = { runtime, id: m[1]! };
    const pod = /[/-]pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})(?:\.slice)?\//.exec(
      path,
    );
    // The systemd driver writes the uid with underscores (a "-" would nest the slice).
    if (pod) c.podUid = pod[1]!.replace(/_/g, '-');
    return c;
  }
  return undefined;
}
