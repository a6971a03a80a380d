/**
 * @agentsight/container: which container, and which Kubernetes pod, a process runs in.
 * From the process's cgroup path (each runtime names a container's cgroup after its id), the
 * runtime's bundle config (annotations name the pod and container) and the kubelet's pod
 * directory; no API server or runtime socket is asked.
 */
export { type CgroupContainer, cgroupPath, containerOfCgroup } from './cgroup.js';
export { describe } from './names.js';
export { ContainerLookup, nsPid, type ProcessPlace } from './process.js';
export {
  type CgroupTarget,
  cgroupProcs,
  cgroupV2Root,
  isContainerTarget,
  type ResolveOptions,
  resolveTarget,
  TARGET_SCHEMES,
  TargetError,
} from './target.js';
