import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { cgroupProcs, isContainerTarget, resolveTarget, TargetError } from './index.js';

const ID = 'f1c2e3d4a5b6978877665544332211000112233445566778899aabbccddeeff0';
const ID2 = '0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9';
const SB = 'aa'.repeat(32);
const UID = '8d1f3c2e-7b6a-4c5d-9e8f-0a1b2c3d4e5f';

/** A node's disk under a temp root: files, and cgroup directories (a v2-only host). */
function node(files: Record<string, string>, cgroups: string[] = []): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'as-target-'));
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), text);
  }
  for (const c of cgroups) fs.mkdirSync(path.join(root, 'sys/fs/cgroup', c), { recursive: true });
  return root;
}

/** Throws a TargetError whose one-line message matches. */
function rejects(t: { ok: (v: unknown, what: string) => void }, fn: () => unknown, re: RegExp, what: string): void {
  try {
    fn();
    t.ok(false, `${what}: did not throw`);
  } catch (e) {
    const m = (e as Error).message;
    t.ok(e instanceof TargetError && re.test(m) && !m.includes('\n'), `${what}: ${m}`);
  }
}

t.test('isContainerTarget', async (t) => {
  for (const s of ['docker://x', 'podman://x', 'k8s://a/b', 'cgroup:///a']) t.ok(isContainerTarget(s), s);
  for (const s of ['/usr/bin/node', 'http://x', 'docker:x']) t.notOk(isContainerTarget(s), s);
});

t.test('cgroup:///PATH: its directory, id and depth', async (t) => {
  const cg = `machine.slice/libpod-${ID}.scope`;
  const root = node({}, [cg]);
  const r = resolveTarget(`cgroup:///${cg}`, { root });
  t.equal(r.cgroup, `/${cg}`);
  t.equal(r.level, 2);
  t.equal(r.id, fs.statSync(path.join(root, 'sys/fs/cgroup', cg)).ino);
  rejects(t, () => resolveTarget('cgroup:///nope', { root }), /^cgroup:\/\/\/nope: no cgroup \/nope/, 'missing');
  rejects(t, () => resolveTarget('cgroup:///', { root }), /root cgroup/, 'the root is not a container');
  rejects(t, () => resolveTarget('ftp://x', { root }), /not a target/, 'unknown scheme');
});

t.test('docker:// and podman://: the main process (from inspect) gives the cgroup', async (t) => {
  const cg = `system.slice/docker-${ID}.scope`;
  const root = node({ 'proc/4242/cgroup': `0::/${cg}\n` }, [cg]);
  const calls: string[][] = [];
  const run = (cmd: string, args: string[]) => {
    calls.push([cmd, ...args]);
    return args.at(-1) === 'devbox' ? '4242\n' : '0\n';
  };
  t.equal(resolveTarget('docker://devbox', { root, run }).cgroup, `/${cg}`);
  t.same(calls[0], ['docker', 'inspect', '--format', '{{.State.Pid}}', 'devbox']);
  rejects(
    t,
    () => resolveTarget('podman://stopped', { root, run }),
    /^podman:\/\/stopped: the container is not running$/,
    'stopped',
  );
  const failing = () => {
    throw new TargetError('the docker CLI is not installed');
  };
  rejects(
    t,
    () => resolveTarget('docker://x', { root, run: failing }),
    /^docker:\/\/x: the docker CLI is not installed$/,
    'no CLI',
  );
  const v1 = node({ 'proc/7/cgroup': `4:pids:/docker/${ID}\n` });
  rejects(t, () => resolveTarget('docker://x', { root: v1, run: () => '7' }), /no cgroup v2/, 'cgroup v1 only');
});

t.test('k8s://NS/POD[/CONTAINER]: containerd and CRI-O bundles on the node', async (t) => {
  const pod = `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID.replace(/-/g, '_')}.slice`;
  const task = 'run/containerd/io.containerd.runtime.v2.task/k8s.io';
  const ann = (type: string, name: string) =>
    JSON.stringify({
      annotations: {
        'io.kubernetes.cri.container-type': type,
        'io.kubernetes.cri.container-name': name,
        'io.kubernetes.cri.sandbox-name': 'claude-job-x7k2p',
        'io.kubernetes.cri.sandbox-namespace': 'agents',
      },
    });
  const root = node(
    {
      [`${task}/${SB}/config.json`]: ann('sandbox', ''),
      [`${task}/${SB}/init.pid`]: '10',
      [`${task}/${ID}/config.json`]: ann('container', 'agent'),
      [`${task}/${ID}/init.pid`]: '11',
      [`${task}/${ID2}/config.json`]: ann('container', 'sidecar'),
      [`${task}/${ID2}/init.pid`]: '12',
      'proc/10/cgroup': `0::/${pod}/cri-containerd-${SB}.scope\n`,
      'proc/11/cgroup': `0::/${pod}/cri-containerd-${ID}.scope\n`,
      'proc/12/cgroup': `0::/${pod}/cri-containerd-${ID2}.scope\n`,
    },
    [`${pod}/cri-containerd-${ID}.scope`, `${pod}/cri-containerd-${ID2}.scope`],
  );
  t.equal(resolveTarget('k8s://agents/claude-job-x7k2p/agent', { root }).cgroup, `/${pod}/cri-containerd-${ID}.scope`);
  const whole = resolveTarget('k8s://agents/claude-job-x7k2p', { root });
  t.equal(whole.cgroup, `/${pod}`, 'no container named: the pod, every container in it');
  t.equal(whole.level, 3);
  rejects(
    t,
    () => resolveTarget('k8s://agents/claude-job-x7k2p/nope', { root }),
    /no container nope of pod/,
    'no such container',
  );
  rejects(
    t,
    () => resolveTarget('k8s://other/claude-job-x7k2p', { root }),
    /no pod other\/claude-job-x7k2p/,
    'other namespace',
  );
  rejects(t, () => resolveTarget('k8s://agents', { root }), /want k8s:\/\/NAMESPACE\/POD/, 'malformed');

  const crio = node(
    {
      [`run/containers/storage/overlay-containers/${ID}/userdata/config.json`]: JSON.stringify({
        annotations: {
          'io.kubernetes.container.name': 'gemini',
          'io.kubernetes.pod.name': 'gemini-0',
          'io.kubernetes.pod.namespace': 'ml',
        },
      }),
      [`run/containers/storage/overlay-containers/${ID}/userdata/pidfile`]: '21\n',
      'proc/21/cgroup': `0::/kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/crio-${ID}.scope\n`,
    },
    [`kubepods.slice/kubepods-pod${UID.replace(/-/g, '_')}.slice/crio-${ID}.scope`],
  );
  t.match(resolveTarget('k8s://ml/gemini-0/gemini', { root: crio }).cgroup, new RegExp(`/crio-${ID}\\.scope$`));
});

t.test('cgroupProcs: the cgroup and those below it', async (t) => {
  const root = node({
    'sys/fs/cgroup/a/cgroup.procs': '1\n2\n',
    'sys/fs/cgroup/a/b/cgroup.procs': '3\n',
    'sys/fs/cgroup/a/c/cgroup.procs': '',
  });
  t.same(cgroupProcs(path.join(root, 'sys/fs/cgroup/a')).sort(), [1, 2, 3]);
  t.same(cgroupProcs(path.join(root, 'nope')), []);
});
