/**
 * @agentsight/bpf: the one eBPF loader every capture tool shares (as-sslsniff, as-proc,
 * as-stdiocap). It drives the system libbpf.so.1 through koffi: open an object, set its
 * read-only config and map sizes, load, attach (uprobes by file offset, or by section
 * name), read and write maps, and consume ring buffers on Node's own event loop.
 * Everything attached is detached on close and at process exit. Errors are one line.
 */

export type { RodataValue } from './btf.js';
export { BpfError } from './errors.js';
export { Link, type UprobeMultiTarget, type UprobeTarget, uprobeMultiSupported } from './link.js';
export { takeLog } from './log.js';
export { BpfMap, possibleCpus } from './map.js';
export { BpfObject, type OpenOptions } from './object.js';
export { type RingOptions, RingReader } from './ringbuf.js';
export { checkPrivileges, effectiveCaps, ensureTracefs, type PrivilegeNeeds, raiseMemlock } from './system.js';
