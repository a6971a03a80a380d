// Names of a container and of its Kubernetes pod, read from what the runtimes and the kubelet
// keep on the node's disk: no API server, no runtime socket. Each source is tried in turn and
// a missing or unreadable one is simply no answer (the runtime may not be this one).
import fs from 'node:fs';
import path from 'node:path';
import type { ContainerInfo } from '@agentsight/events';
import type { CgroupContainer } from './cgroup.js';

const readJson = (file: string): unknown => {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined;
  }
};
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const annotations = (cfg: unknown): Record<string, unknown> =>
  ((cfg as { annotations?: Record<string, unknown> } | undefined)?.annotations ?? {}) as Record<string, unknown>;

/** The OCI bundle configs the runtimes write for a running container, by runtime. */
const BUNDLES = [
  // containerd's CRI plugin (Kubernetes) and other namespaces (nerdctl: "default")
  {
    runtime: 'containerd',
    glob: (id: string) =>
      ['k8s.io', 'moby', 'default'].map((ns) => `run/containerd/io.containerd.runtime.v2.task/${ns}/${id}/config.json`),
  },
  // CRI-O and podman share containers/storage
  {
    runtime: 'cri-o',
    glob: (id: string) => [
      `run/containers/storage/overlay-containers/${id}/userdata/config.json`,
      `var/lib/containers/storage/overlay-containers/${id}/userdata/config.json`,
    ],
  },
] as const;

/**
 * Everything known of a container from the node's disk under `root` ("/" on the host; a test
 * gives a recorded layout): runtime (a CRI-O bundle settles a cgroupfs path that could be
 * either), name, and the pod's namespace, name, uid and container name.
 */
export function describe(c: CgroupContainer, root = '/'): ContainerInfo {
  const info: ContainerInfo = { id: c.id, runtime: c.runtime };
  for (const b of BUNDLES) {
    for (const rel of b.glob(c.id)) {
      const cfg = readJson(path.join(root, rel));
      if (cfg === undefined) continue;
      const a = annotations(cfg);
      if (b.runtime === 'cri-o' && str(a['io.kubernetes.pod.uid'])) info.runtime = 'cri-o';
      else if (b.runtime === 'containerd') info.runtime = 'containerd';
      const pod = {
        uid: str(a['io.kubernetes.cri.sandbox-uid']) ?? str(a['io.kubernetes.pod.uid']) ?? c.podUid,
        namespace: str(a['io.kubernetes.cri.sandbox-namespace']) ?? str(a['io.kubernetes.pod.namespace']),
        name: str(a['io.kubernetes.cri.sandbox-name']) ?? str(a['io.kubernetes.pod.name']),
        container: str(a['io.kubernetes.cri.container-name']) ?? str(a['io.kubernetes.container.name']),
      };
      if (pod.uid || pod.namespace) info.pod = pod;
      break;
    }
  }
  if (!info.pod && c.podUid) info.pod = { uid: c.podUid, ...kubeletPod(c.podUid, root) };
  info.name ??= runtimeName(info, root);
  return info;
}

/** Namespace and pod name from the kubelet's pod directory (when no bundle said them). */
function kubeletPod(uid: string, root: string): { namespace?: string; name?: string; container?: string } {
  const dir = path.join(root, 'var/lib/kubelet/pods', uid);
  const out: { namespace?: string; name?: string; container?: string } = {};
  try {
    // Every pod with a service account token has its namespace in the projected volume.
    const projected = path.join(dir, 'volumes/kubernetes.io~projected');
    for (const v of fs.readdirSync(projected)) {
      try {
        out.namespace = fs.readFileSync(path.join(projected, v, 'namespace'), 'utf8').trim() || undefined;
        if (out.namespace) break;
      } catch {
        /* another volume */
      }
    }
  } catch {
    /* no projected volumes */
  }
  try {
    // The kubelet-managed hosts file ends with the pod's own address and hostname, which is
    // the pod's name unless the pod sets spec.hostname.
    const lines = fs.readFileSync(path.join(dir, 'etc-hosts'), 'utf8').trim().split('\n');
    const last = lines[lines.length - 1]?.trim().split(/\s+/);
    if (last && last.length >= 2 && !last[0]!.startsWith('#')) out.name = last[1];
  } catch {
    /* no hosts file */
  }
  try {
    const names = fs.readdirSync(path.join(dir, 'containers'));
    if (names.length === 1) out.container = names[0];
  } catch {
    /* no containers directory */
  }
  return out;
}

/** The container's own name, where its runtime keeps one on disk. */
function runtimeName(info: ContainerInfo, root: string): string | undefined {
  if (info.pod?.container) return info.pod.container;
  if (info.runtime === 'docker') {
    const cfg = readJson(path.join(root, 'var/lib/docker/containers', info.id, 'config.v2.json')) as
      | { Name?: unknown }
      | undefined;
    return str(cfg?.Name)?.replace(/^\//, '');
  }
  // podman and CRI-O: containers/storage's index of containers (root, then rootless is not
  // reachable without the user's home: left out).
  const list = readJson(path.join(root, 'var/lib/containers/storage/overlay-containers/containers.json'));
  if (Array.isArray(list)) {
    const hit = list.find((x) => (x as { id?: unknown }).id === info.id) as { names?: unknown } | undefined;
    if (Array.isArray(hit?.names)) return str(hit.names[0]);
  }
  return undefined;
}
