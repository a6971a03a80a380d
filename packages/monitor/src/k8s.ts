// `agentsight monitor daemonset`: the monitor on every node of a Kubernetes cluster. The same
// capabilities as the systemd unit (CAPABILITIES, one table), granted to a root container that
// keeps no others, with the host's process table (hostPID) so that every pod's agents are seen.
import { CAPABILITIES, DEFAULT_DIR } from './service.js';

export interface DaemonSetOptions {
  /** The image built from deploy/Containerfile. */
  image: string;
  namespace?: string;
  /** More monitor arguments (--otel URL, --clickhouse URL, bounds). */
  args?: string[];
  memoryLimit?: string;
  cpuLimit?: string;
}

/** One YAML scalar: quoted unless plainly safe. */
function y(s: string): string {
  return /^[A-Za-z0-9_./:=@-]+$/.test(s) && !/^(true|false|yes|no|null|~|[0-9.]+)$/i.test(s) ? s : JSON.stringify(s);
}

/** The manifest's text: a Namespace and a DaemonSet. */
export function daemonSetText(o: DaemonSetOptions): string {
  const ns = o.namespace ?? 'agentsight';
  const args = ['monitor', '--dir', DEFAULT_DIR, ...(o.args ?? [])];
  const host = (name: string, p: string, type: string, readOnly: boolean) => ({ name, p, type, readOnly });
  // The store and the cache of located TLS functions outlive the pod; the kernel's tracing
  // and BTF files are read from the host.
  const vols = [
    host('store', DEFAULT_DIR, 'DirectoryOrCreate', false),
    host('cache', '/var/cache/agentsight', 'DirectoryOrCreate', false),
    host('tracing', '/sys/kernel/tracing', 'Directory', false),
    host('btf', '/sys/kernel/btf', 'Directory', true),
    host('cgroup', '/sys/fs/cgroup', 'Directory', true),
  ];
  return `# Written by \`agentsight monitor daemonset\`: the monitor on every node.
# kubectl port-forward -n ${ns} POD 7395 opens a node's UI (it listens on the pod's loopback).
apiVersion: v1
kind: Namespace
metadata:
  name: ${y(ns)}
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agentsight
  namespace: ${y(ns)}
  labels: {app.kubernetes.io/name: agentsight}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: agentsight}
  template:
    metadata:
      labels: {app.kubernetes.io/name: agentsight}
    spec:
      # Every process of the node, by the pids the kernel reports (hooks follow execs in any pod).
      hostPID: true
      # Every node, tainted or not: an agent on a control-plane node is an agent too.
      tolerations: [{operator: Exists}]
      terminationGracePeriodSeconds: 30
      containers:
        - name: monitor
          image: ${y(o.image)}
          args: [${args.map(y).join(', ')}]
          securityContext:
            # Root in the container, with only these capabilities (as the systemd unit):
${CAPABILITIES.map(([c, why]) => `            #   ${c.padEnd(20)} ${why}`).join('\n')}
            runAsUser: 0
            privileged: false
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities:
              drop: [ALL]
              add: [${CAPABILITIES.map(([c]) => c.replace(/^CAP_/, '')).join(', ')}]
            # The BPF syscall and perf events are refused by the runtime's default profile.
            seccompProfile: {type: Unconfined}
            appArmorProfile: {type: Unconfined}
          resources:
            requests: {cpu: 50m, memory: 128Mi}
            limits: {cpu: ${y(o.cpuLimit ?? '1')}, memory: ${y(o.memoryLimit ?? '1Gi')}}
          volumeMounts:
${vols.map((v) => `            - {name: ${v.name}, mountPath: ${v.p}${v.readOnly ? ', readOnly: true' : ''}}`).join('\n')}
            - {name: tmp, mountPath: /tmp}
      volumes:
${vols.map((v) => `        - {name: ${v.name}, hostPath: {path: ${v.p}, type: ${v.type}}}`).join('\n')}
        - {name: tmp, emptyDir: {}}
`;
}
