import { BpfError, fail } from './errors.js';
import { libbpf } from './libbpf.js';

/** A BPF map of a loaded object, accessed through its fd. */
export class BpfMap {
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  constructor(
    readonly name: string,
    private readonly ptr: bigint,
  ) {
    const lb = libbpf();
    this.keySize = lb.map_key_size(ptr) as number;
    this.valueSize = lb.map_value_size(ptr) as number;
    this.maxEntries = lb.map_max_entries(ptr) as number;
  }
  get fd(): number {
    const fd = libbpf().map_fd(this.ptr) as number;
    if (fd < 0) throw new BpfError(`map ${this.name}: not loaded`, -fd);
    return fd;
  }
  #key(key: Buffer): Buffer {
    if (key.length !== this.keySize)
      throw new BpfError(`map ${this.name}: key is ${key.length} bytes, want ${this.keySize}`);
    return key;
  }
  update(key: Buffer, val: Buffer, flags = 0): void {
    if (val.length !== this.valueSize)
      throw new BpfError(`map ${this.name}: value is ${val.length} bytes, want ${this.valueSize}`);
    const r = libbpf().map_update_elem(this.fd, this.#key(key), val, flags) as number;
    if (r < 0) fail(`map ${this.name}: update`, r);
  }
  lookup(key: Buffer): Buffer | null {
    const val = Buffer.alloc(this.valueSize);
    const r = libbpf().map_lookup_elem(this.fd, this.#key(key), val) as number;
    if (r < 0) {
      if (-r === 2 /* ENOENT */) return null;
      fail(`map ${this.name}: lookup`, r);
    }
    return val;
  }
  delete(key: Buffer): boolean {
    const r = libbpf().map_delete_elem(this.fd, this.#key(key)) as number;
    if (r < 0) {
      if (-r === 2) return false;
      fail(`map ${this.name}: delete`, r);
    }
    return true;
  }
  /** For per-CPU maps: one value per possible CPU. */
  lookupPerCpu(key: Buffer): Buffer[] {
    const ncpu = possibleCpus();
    const stride = (this.valueSize + 7) & ~7;
    const all = Buffer.alloc(stride * ncpu);
    const r = libbpf().map_lookup_elem(this.fd, this.#key(key), all) as number;
    if (r < 0) {
      if (-r === 2) return [];
      fail(`map ${this.name}: lookup`, r);
    }
    const out: Buffer[] = [];
    for (let i = 0; i < ncpu; i++) out.push(all.subarray(i * stride, i * stride + this.valueSize));
    return out;
  }
}

let ncpus: number | undefined;
export function possibleCpus(): number {
  if (ncpus === undefined) {
    const n = libbpf().num_possible_cpus() as number;
    if (n <= 0) throw new BpfError('cannot read the number of possible CPUs', -n);
    ncpus = n;
  }
  return ncpus;
}

/**
 * Check that the map behind `fd` has the definition of ours (`m`, a libbpf map pointer):
 * type, key and value size, max entries. libbpf 1.1 does not check this when a map is
 * reused by fd, and the verifier would accept programs using a map of another kind.
 */
export function checkSameMap(m: bigint, fd: number, name: string, owner: string): void {
  const lb = libbpf();
  // struct bpf_map_info { u32 type, id, key_size, value_size, max_entries, map_flags; ... }
  const info = Buffer.alloc(80);
  const r0 = lb.obj_get_info_by_fd(fd, info, [info.length]) as number;
  if (r0 < 0) fail(`map ${name}: fd ${fd} is not a BPF map`, r0);
  const theirs = [info.readUInt32LE(0), info.readUInt32LE(8), info.readUInt32LE(12), info.readUInt32LE(16)];
  const ours = [
    lb.map_type(m) as number,
    lb.map_key_size(m) as number,
    lb.map_value_size(m) as number,
    lb.map_max_entries(m) as number,
  ];
  if (theirs.some((v, i) => v !== ours[i])) {
    const show = (a: number[]) => `type ${a[0]}, key ${a[1]}, value ${a[2]}, ${a[3]} entries`;
    throw new BpfError(`map ${name}: cannot reuse fd ${fd}: it is ${show(theirs)}; ${owner} wants ${show(ours)}`);
  }
}
