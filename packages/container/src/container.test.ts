// Container and pod attribution on recorded /proc/PID/cgroup texts and node disk layouts
// (docker, podman, containerd and CRI-O; cgroup v1 and v2; cgroupfs and systemd drivers).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ContainerLookup, cgroupPath, containerOfCgroup, describe } from './index.js';

const ID = 'f1c2e3d4a5b6978877665544332211000112233445566778899aabbccddeeff0';
const ID2 = '0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9';
const UID = '8d1f3c2e-7b6a-4c5d-9e8f-0a1b2c3d4e5f';

t.test('cgroupPath: the v2 line, else the v1 hierarchy containers live in', async (t) => {
  t.equal(cgroupPath(`0::/system.slice/docker-${ID}.scope\n`), `/system.slice/docker-${ID}.scope`);
  const v1 = [
    '12:hugetlb:/docker/' + ID,
    '11:memory:/docker/' + ID,
    '5:pids:/docker/' + ID,
    '1:name=systemd:/docker/' + ID,
    '0::/',
  ].join('\n');
  t.equal(cgroupPath(v1), '/', 'hybrid: the unified line wins when present');
  t.equal(cgroupPath(v1.replace('\n0::/', '')), `/docker/${ID}`, 'v1 only: the pids hierarchy');
  t.equal(cgroupPath(`3:cpu,cpuacct:/kubepods/besteffort/pod${UID}/${ID}\n`), `/kubepods/besteffort/pod${UID}/${ID}`);
  t.equal(cgroupPath('garbage'), undefined);
});

t.test('containerOfCgroup: each runtime and driver', async (t) => {
  const us = UID.replace(/-/g, '_');
  const cases: Array<[string, unknown]> = [
    [`/system.slice/docker-${ID}.scope`, { runtime: 'docker', id: ID }],
    [`/docker/${ID}`, { runtime: 'docker', id: ID }],
    [`/machine.slice/libpod-${ID}.scope`, { runtime: 'podman', id: ID }],
    [`/machine.slice/libpod-${ID}.scope/container`, { runtime: 'podman', id: ID }],
    [`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`, { runtime: 'podman', id: ID }],
    [`/libpod_parent/libpod-${ID}`, { runtime: 'podman', id: ID }],
    [
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${us}.slice/cri-containerd-${ID}.scope`,
      { runtime: 'containerd', id: ID, podUid: UID },
    ],
    [
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${us}.slice/crio-${ID}.scope`,
      { runtime: 'cri-o', id: ID, podUid: UID },
    ],
    [`/kubepods.slice/kubepods-pod${us}.slice/crio-${ID}.scope`, { runtime: 'cri-o', id: ID, podUid: UID }],
    [`/kubepods/burstable/pod${UID}/${ID}`, { runtime: 'containerd', id: ID, podUid: UID }],
    [`/kubepods/pod${UID}/${ID}`, { runtime: 'containerd', id: ID, podUid: UID }],
    [`/default/${ID}`, { runtime: 'containerd', id: ID }],
  ];
  for (const [p, want] of cases) t.same(containerOfCgroup(p), want, p);
  // Not containers: the host, a user session, the runtimes' monitors, a private namespace.
  for (const p of [
    '/',
    '/user.slice/user-0.slice/session-3.scope',
    '/system.slice/containerd.service',
    `/machine.slice/libpod-conmon-${ID}.scope`,
    `/kubepods.slice/kubepods-pod${us}.slice/crio-conmon-${ID}.scope`,
    `/kubepods/burstable/pod${UID}`,
  ])
    t.equal(containerOfCgroup(p), undefined, p);
});

/** A node's disk under a temp root, with the files named. */
function node(files: Record<string, string>): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'as-node-'));
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), text);
  }
  return root;
}

t.test('describe: names from containerd and CRI-O bundles, the kubelet, docker and podman', async (t) => {
  const containerd = node({
    [`run/containerd/io.containerd.runtime.v2.task/k8s.io/${ID}/config.json`]: JSON.stringify({
      annotations: {
        'io.kubernetes.cri.container-type': 'container',
        'io.kubernetes.cri.container-name': 'agent',
        'io.kubernetes.cri.sandbox-name': 'claude-job-x7k2p',
        'io.kubernetes.cri.sandbox-namespace': 'agents',
        'io.kubernetes.cri.sandbox-uid': UID,
      },
    }),
  });
  t.same(describe({ runtime: 'containerd', id: ID, podUid: UID }, containerd), {
    id: ID,
    runtime: 'containerd',
    pod: { uid: UID, namespace: 'agents', name: 'claude-job-x7k2p', container: 'agent' },
    name: 'agent',
  });

  // cgroupfs driver: the path cannot tell CRI-O from containerd; CRI-O's bundle does.
  const crio = node({
    [`run/containers/storage/overlay-containers/${ID}/userdata/config.json`]: JSON.stringify({
      annotations: {
        'io.kubernetes.container.name': 'gemini',
        'io.kubernetes.pod.name': 'gemini-0',
        'io.kubernetes.pod.namespace': 'ml',
        'io.kubernetes.pod.uid': UID,
      },
    }),
  });
  const c = describe({ runtime: 'containerd', id: ID, podUid: UID }, crio);
  t.equal(c.runtime, 'cri-o');
  t.same(c.pod, { uid: UID, namespace: 'ml', name: 'gemini-0', container: 'gemini' });

  // No bundle readable (another mount namespace, say): the kubelet's pod directory.
  const kubelet = node({
    [`var/lib/kubelet/pods/${UID}/volumes/kubernetes.io~projected/kube-api-access-5x9zq/namespace`]: 'agents\n',
    [`var/lib/kubelet/pods/${UID}/etc-hosts`]:
      '# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n10.244.1.17\tcodex-runner-5d9f\n',
    [`var/lib/kubelet/pods/${UID}/containers/codex/0a1b2c3d`]: '',
  });
  t.same(describe({ runtime: 'containerd', id: ID2, podUid: UID }, kubelet).pod, {
    uid: UID,
    namespace: 'agents',
    name: 'codex-runner-5d9f',
    container: 'codex',
  });

  const docker = node({ [`var/lib/docker/containers/${ID}/config.v2.json`]: JSON.stringify({ Name: '/devbox' }) });
  t.same(describe({ runtime: 'docker', id: ID }, docker), { id: ID, runtime: 'docker', name: 'devbox' });

  const podman = node({
    'var/lib/containers/storage/overlay-containers/containers.json': JSON.stringify([
      { id: ID2, names: ['other'] },
      { id: ID, names: ['sandbox'] },
    ]),
  });
  t.same(describe({ runtime: 'podman', id: ID }, podman), { id: ID, runtime: 'podman', name: 'sandbox' });
  t.same(describe({ runtime: 'podman', id: ID }, node({})), { id: ID, runtime: 'podman' }, 'nothing on disk: id only');
});

t.test('ContainerLookup: this process on the real host; a recorded one in a container', async (t) => {
  const host = new ContainerLookup().of(process.pid);
  t.ok(host, 'the running process has a cgroup');
  t.type(host?.cgroup, 'string');
  t.equal(new ContainerLookup().of(2 ** 22 + 7), undefined, 'an exited pid: no answer');

  const root = node({
    'proc/4242/cgroup': `0::/system.slice/docker-${ID}.scope\n`,
    'proc/4242/status': 'Name:\tnode\nNSpid:\t4242\t17\n',
    [`var/lib/docker/containers/${ID}/config.v2.json`]: JSON.stringify({ Name: '/devbox' }),
  });
  fs.mkdirSync(path.join(root, `sys/fs/cgroup/system.slice/docker-${ID}.scope`), { recursive: true });
  const p = new ContainerLookup(root).of(4242);
  t.equal(p?.ns_pid, 17, 'the pid as the container sees it');
  t.same(p?.container, { id: ID, runtime: 'docker', name: 'devbox' });
  t.equal(p?.cgroup_id, fs.statSync(path.join(root, `sys/fs/cgroup/system.slice/docker-${ID}.scope`)).ino);
});
