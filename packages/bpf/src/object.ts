import koffi from 'koffi';
import os from 'node:os';
import { BPF_F_UPROBE_MULTI_RETURN, BPF_LINK_CREATE, BPF_TRACE_UPROBE_MULTI, BTF_KIND_DATASEC, NR_BPF_X86_64, errno, libbpf, uprobeOpts, type Ptr } from './libbpf.js';
import { explain, installLogger, takeLog } from './log.js';
import { RingReader, type RingOptions } from './ringbuf.js';
import { BpfError } from './errors.js';

export { BpfError };

function strerror(e: number): string {
  return e ? String(libbpf().strerror(e)) : 'unknown error';
}

/** Throw a BpfError for a failed libbpf call: the call, errno text, and libbpf's own reason. */
function fail(what: string, err: number): never {
  const e = Math.abs(err) || errno();
  const log = takeLog();
  const why = explain(log);
  throw new BpfError(`${what}: ${strerror(e)}${why ? ` (${why})` : ''}`, e, log);
}

export type RodataValue = number | bigint | boolean | string;

export interface OpenOptions {
  /** `const volatile` globals to set before load, by name. Strings fill char arrays. */
  rodata?: Record<string, RodataValue>;
}

export interface UprobeTarget {
  /** The ELF file: a shared library or an executable. */
  path: string;
  /** File offset of the probed instruction (not a virtual address). */
  offset?: number;
  /** Let libbpf resolve this symbol instead (offset then is relative to it). */
  func?: string;
  retprobe?: boolean;
  /** Only this process (default: every process that maps the file). */
  pid?: number;
  /** Value the program reads with bpf_get_attach_cookie(). */
  cookie?: number | bigint;
}

export interface UprobeMultiTarget {
  /** The ELF file. */
  path: string;
  /** File offsets of the probed instructions, one probe each. */
  offsets: number[];
  /** bpf_get_attach_cookie() value for each offset (default 0). */
  cookies?: Array<number | bigint>;
  retprobe?: boolean;
  /** Only this process (default: every process that maps the file). */
  pid?: number;
}

/**
 * uprobe_multi links (one link, many probes in one file) exist since Linux 6.6; libbpf 1.1
 * cannot make them, so BpfObject does it with bpf(BPF_LINK_CREATE) itself.
 */
export function uprobeMultiSupported(release = os.release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  return !!m && process.arch === 'x64' && (Number(m[1]) > 6 || (Number(m[1]) === 6 && Number(m[2]) >= 6));
}

/** An attachment; destroying it detaches the program. */
export class Link {
  /** A libbpf `struct bpf_link *`, or (for links libbpf cannot make) a bare link fd. */
  #ptr: Ptr;
  #fd: number | null;
  constructor(handle: bigint | { fd: number }, readonly description: string, private readonly owner: BpfObject) {
    this.#ptr = typeof handle === 'bigint' ? handle : null;
    this.#fd = typeof handle === 'bigint' ? null : handle.fd;
  }
  get attached(): boolean {
    return this.#ptr !== null || this.#fd !== null;
  }
  destroy(): void {
    if (this.#fd !== null) {
      libbpf().close(this.#fd);
      this.#fd = null;
      this.owner._forget(this);
      return;
    }
    if (this.#ptr === null) return;
    libbpf().link_destroy(this.#ptr);
    this.#ptr = null;
    this.owner._forget(this);
  }

  /**
   * Detach on a libuv pool thread. Removing a uprobe waits for an RCU grace period
   * (~0.1 s on a busy VM); detaching many links this way overlaps those waits.
   */
  destroyAsync(): Promise<void> {
    const fd = this.#fd;
    if (fd !== null) {
      this.#fd = null;
      return new Promise((resolve) => {
        libbpf().close.async(fd, () => {
          this.owner._forget(this);
          resolve();
        });
      });
    }
    const ptr = this.#ptr;
    if (ptr === null) return Promise.resolve();
    this.#ptr = null;
    return new Promise((resolve) => {
      libbpf().link_destroy.async(ptr, () => {
        this.owner._forget(this);
        resolve();
      });
    });
  }
}

/** A BPF map of a loaded object, accessed through its fd. */
export class BpfMap {
  readonly keySize: number;
  readonly valueSize: number;
  readonly maxEntries: number;
  constructor(readonly name: string, private readonly ptr: bigint) {
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
    if (key.length !== this.keySize) throw new BpfError(`map ${this.name}: key is ${key.length} bytes, want ${this.keySize}`);
    return key;
  }
  update(key: Buffer, val: Buffer, flags = 0): void {
    if (val.length !== this.valueSize) throw new BpfError(`map ${this.name}: value is ${val.length} bytes, want ${this.valueSize}`);
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

const live = new Set<BpfObject>();
let exitHook = false;

/**
 * A BPF ELF object: open (set read-only config and map sizes), load, attach, read maps
 * and ring buffers, close. Closing (explicitly, or at process exit) detaches everything.
 */
export class BpfObject {
  #obj: Ptr;
  #loaded = false;
  #links = new Set<Link>();
  #rings = new Set<RingReader>();
  readonly path: string;

  private constructor(path: string, obj: bigint) {
    this.path = path;
    this.#obj = obj;
    live.add(this);
    if (!exitHook) {
      exitHook = true;
      // Links are fds and die with the process anyway; closing explicitly detaches uprobes
      // before our output is flushed, and keeps the kernel's work bounded by our lifetime.
      process.on('exit', () => { for (const o of [...live]) o.close(); });
    }
  }

  static open(path: string, opts: OpenOptions = {}): BpfObject {
    const lb = libbpf();
    installLogger();
    takeLog();
    const obj = lb.open_file(path, null) as Ptr;
    if (!obj) fail(`open ${path}`, errno());
    const o = new BpfObject(path, obj);
    try {
      if (opts.rodata) o.setRodata(opts.rodata);
    } catch (e) {
      o.close();
      throw e;
    }
    return o;
  }

  #ptr(): bigint {
    if (this.#obj === null) throw new BpfError(`${this.path}: object is closed`);
    return this.#obj;
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /** Names of the programs in the object. */
  programs(): Array<{ name: string; section: string }> {
    const lb = libbpf();
    const out: Array<{ name: string; section: string }> = [];
    for (let p = lb.next_prog(this.#ptr(), null) as Ptr; p; p = lb.next_prog(this.#ptr(), p) as Ptr) {
      out.push({ name: String(lb.prog_name(p)), section: String(lb.prog_section(p)) });
    }
    return out;
  }

  #prog(name: string): bigint {
    const p = libbpf().find_prog(this.#ptr(), name) as Ptr;
    if (!p) throw new BpfError(`${this.path}: no program named ${name}`);
    return p;
  }

  #mapPtr(name: string): bigint {
    const m = libbpf().find_map(this.#ptr(), name) as Ptr;
    if (!m) throw new BpfError(`${this.path}: no map named ${name}`);
    return m;
  }

  /**
   * Set `const volatile` globals before load. Offsets come from the object's BTF (the
   * `.rodata` DATASEC), so no generated skeleton is needed.
   */
  setRodata(values: Record<string, RodataValue>): void {
    if (this.#loaded) throw new BpfError('read-only config must be set before load');
    const lb = libbpf();
    const vars = this.#rodataVars();
    const mapPtr = this.#mapPtr('.rodata');
    const size = [0];
    const base = lb.map_initial_value(mapPtr, size) as Ptr;
    if (!base) throw new BpfError(`${this.path}: .rodata has no initial value`);
    const mem = Buffer.from(koffi.view(base, Number(size[0])));
    for (const [name, value] of Object.entries(values)) {
      const v = vars.get(name);
      if (!v) throw new BpfError(`${this.path}: no read-only global named ${name} (have: ${[...vars.keys()].join(', ') || 'none'})`);
      const { offset, size: sz } = v;
      if (typeof value === 'string') {
        const b = Buffer.from(value, 'utf8');
        if (b.length > sz) throw new BpfError(`${name}: ${b.length} bytes do not fit in ${sz}`);
        mem.fill(0, offset, offset + sz);
        b.copy(mem, offset);
        continue;
      }
      const n = typeof value === 'boolean' ? (value ? 1n : 0n) : BigInt(value);
      switch (sz) {
        case 1: mem.writeUInt8(Number(BigInt.asUintN(8, n)), offset); break;
        case 2: mem.writeUInt16LE(Number(BigInt.asUintN(16, n)), offset); break;
        case 4: mem.writeUInt32LE(Number(BigInt.asUintN(32, n)), offset); break;
        case 8: mem.writeBigUInt64LE(BigInt.asUintN(64, n), offset); break;
        default: throw new BpfError(`${name}: cannot set a ${sz}-byte global from a number`);
      }
    }
  }

  #rodataVars(): Map<string, { offset: number; size: number }> {
    const lb = libbpf();
    const btf = lb.obj_btf(this.#ptr()) as Ptr;
    if (!btf) throw new BpfError(`${this.path}: no BTF in object (build with clang -g)`);
    const id = lb.btf_find_by_name_kind(btf, '.rodata', BTF_KIND_DATASEC) as number;
    const out = new Map<string, { offset: number; size: number }>();
    if (id < 0) return out;
    const t = lb.btf_type_by_id(btf, id) as Ptr;
    if (!t) return out;
    // struct btf_type { u32 name_off; u32 info; u32 size; } then vlen btf_var_secinfo { u32 type, offset, size }.
    const head = Buffer.from(koffi.view(t, 12));
    const vlen = head.readUInt32LE(4) & 0xffff;
    const secinfo = Buffer.from(koffi.view(t + 12n, 12 * vlen));
    for (let i = 0; i < vlen; i++) {
      const varId = secinfo.readUInt32LE(i * 12);
      const offset = secinfo.readUInt32LE(i * 12 + 4);
      const size = secinfo.readUInt32LE(i * 12 + 8);
      const vt = lb.btf_type_by_id(btf, varId) as Ptr;
      if (!vt) continue;
      const nameOff = Buffer.from(koffi.view(vt, 4)).readUInt32LE(0);
      out.set(String(lb.btf_name_by_offset(btf, nameOff)), { offset, size });
    }
    return out;
  }

  setMapMaxEntries(name: string, n: number): void {
    if (this.#loaded) throw new BpfError('map sizes must be set before load');
    const r = libbpf().map_set_max_entries(this.#mapPtr(name), n) as number;
    if (r < 0) fail(`map ${name}: set max entries ${n}`, r);
  }

  /**
   * Make this object's map `name` the existing map behind `fd` (another object's, e.g. the
   * tracked-process set a proc session keeps), instead of creating its own. Before load.
   * The definitions must match (type, key and value size, max entries): libbpf 1.1 does
   * not check this for fds, and the verifier would accept programs using a map of another
   * kind. The fd is duplicated: the map lives as long as either object holds it.
   */
  reuseMap(name: string, fd: number): void {
    if (this.#loaded) throw new BpfError('maps must be shared before load');
    const lb = libbpf();
    const m = this.#mapPtr(name);
    // struct bpf_map_info { u32 type, id, key_size, value_size, max_entries, map_flags; ... }
    const info = Buffer.alloc(80);
    const r0 = lb.obj_get_info_by_fd(fd, info, [info.length]) as number;
    if (r0 < 0) fail(`map ${name}: fd ${fd} is not a BPF map`, r0);
    const theirs = [info.readUInt32LE(0), info.readUInt32LE(8), info.readUInt32LE(12), info.readUInt32LE(16)];
    const ours = [lb.map_type(m) as number, lb.map_key_size(m) as number, lb.map_value_size(m) as number, lb.map_max_entries(m) as number];
    if (theirs.some((v, i) => v !== ours[i])) {
      const show = (a: number[]) => `type ${a[0]}, key ${a[1]}, value ${a[2]}, ${a[3]} entries`;
      throw new BpfError(`map ${name}: cannot reuse fd ${fd}: it is ${show(theirs)}; ${this.path} wants ${show(ours)}`);
    }
    const r = lb.map_reuse_fd(m, fd) as number;
    if (r < 0) fail(`map ${name}: reuse fd ${fd}`, r);
  }

  /** Do not load this program (e.g. a probe for a library that is not present). */
  setAutoload(prog: string, on: boolean): void {
    const r = libbpf().prog_set_autoload(this.#prog(prog), on) as number;
    if (r < 0) fail(`program ${prog}: set autoload`, r);
  }

  load(): void {
    if (this.#loaded) return;
    takeLog();
    const r = libbpf().obj_load(this.#ptr()) as number;
    if (r < 0) fail(`load ${this.path}`, r);
    this.#loaded = true;
  }

  #track(ptr: Ptr, what: string): Link {
    if (!ptr) fail(what, errno());
    const l = new Link(ptr, what, this);
    this.#links.add(l);
    return l;
  }

  /** Attach a uprobe or uretprobe to a file offset (or a symbol libbpf resolves). */
  attachUprobe(prog: string, t: UprobeTarget): Link {
    if (!this.#loaded) throw new BpfError('load the object before attaching');
    const p = this.#prog(prog);
    const { buf, keep } = uprobeOpts({ cookie: t.cookie === undefined ? 0n : BigInt(t.cookie), retprobe: t.retprobe, funcName: t.func });
    takeLog();
    const ptr = libbpf().prog_attach_uprobe_opts(p, t.pid ?? -1, t.path, t.offset ?? 0, buf) as Ptr;
    void keep;
    const where = `${t.path}:${t.func ?? ''}${t.func && t.offset ? '+' : ''}${t.func && !t.offset ? '' : '0x' + (t.offset ?? 0).toString(16)}`;
    return this.#track(ptr, `attach ${t.retprobe ? 'uretprobe' : 'uprobe'} ${prog} to ${where}`);
  }

  /**
   * Make uprobe program `prog` one for uprobe_multi links (attachUprobeMulti), before load.
   * It can then only be attached that way. Worth it for many probes: detaching a link
   * waits for one RCU grace period however many probes it holds, where separate uprobes
   * wait for one each, one after the other (seconds for a few dozen).
   */
  setUprobeMulti(prog: string): void {
    if (this.#loaded) throw new BpfError('the attach type must be set before load');
    const r = libbpf().prog_set_expected_attach_type(this.#prog(prog), BPF_TRACE_UPROBE_MULTI) as number;
    if (r < 0) fail(`program ${prog}: set attach type uprobe_multi`, r);
  }

  /** One link for probes at many offsets of one file (see setUprobeMulti). */
  attachUprobeMulti(prog: string, t: UprobeMultiTarget): Link {
    if (!this.#loaded) throw new BpfError('load the object before attaching');
    const lb = libbpf();
    const n = t.offsets.length;
    const what = `attach ${t.retprobe ? 'uretprobe' : 'uprobe'}.multi ${prog} to ${t.path} (${n} offsets)`;
    if (!n) throw new BpfError(`${what}: no offsets`);
    const path = Buffer.from(t.path + '\0', 'utf8');
    const offsets = Buffer.alloc(8 * n);
    const cookies = Buffer.alloc(8 * n);
    t.offsets.forEach((o, i) => offsets.writeBigUInt64LE(BigInt(o), 8 * i));
    (t.cookies ?? []).forEach((c, i) => cookies.writeBigUInt64LE(BigInt.asUintN(64, BigInt(c)), 8 * i));
    // union bpf_attr, link_create: prog_fd, target_fd, attach_type, flags, then uprobe_multi
    // { u64 path, offsets, ref_ctr_offsets, cookies; u32 cnt, flags, pid }.
    const attr = Buffer.alloc(64);
    attr.writeUInt32LE(lb.prog_fd(this.#prog(prog)) as number, 0);
    attr.writeUInt32LE(BPF_TRACE_UPROBE_MULTI, 8);
    attr.writeBigUInt64LE(koffi.address(path), 16);
    attr.writeBigUInt64LE(koffi.address(offsets), 24);
    attr.writeBigUInt64LE(koffi.address(cookies), 40);
    attr.writeUInt32LE(n, 48);
    attr.writeUInt32LE(t.retprobe ? BPF_F_UPROBE_MULTI_RETURN : 0, 52);
    attr.writeUInt32LE(t.pid ?? 0, 56);
    const fd = Number(lb.syscall(NR_BPF_X86_64, 'int', BPF_LINK_CREATE, 'void *', attr, 'unsigned int', attr.length));
    if (fd < 0) fail(what, errno());
    const l = new Link({ fd }, what, this);
    this.#links.add(l);
    return l;
  }

  /** Attach by section name: tp/, tracepoint/, tp_btf/, raw_tp/, kprobe/, kretprobe/, fentry/, fexit/. */
  attach(prog: string): Link {
    if (!this.#loaded) throw new BpfError('load the object before attaching');
    takeLog();
    const ptr = libbpf().prog_attach(this.#prog(prog)) as Ptr;
    return this.#track(ptr, `attach ${prog}`);
  }

  map(name: string): BpfMap {
    return new BpfMap(name, this.#mapPtr(name));
  }

  /** Consume a BPF_MAP_TYPE_RINGBUF map on this thread's event loop. */
  ringBuffer(mapName: string, onRecord: (rec: Buffer) => void, opts: RingOptions = {}): RingReader {
    if (!this.#loaded) throw new BpfError('load the object before reading its ring buffer');
    const m = this.map(mapName);
    const r = new RingReader(m.fd, m.maxEntries, onRecord, opts, () => this.#rings.delete(r));
    this.#rings.add(r);
    return r;
  }

  /** @internal */
  _forget(l: Link): void {
    this.#links.delete(l);
  }

  get links(): number {
    return this.#links.size;
  }

  /** Detach every link, several at a time (see Link.destroyAsync); the object stays loaded. */
  async detachAll(): Promise<void> {
    await Promise.all([...this.#links].map((l) => l.destroyAsync()));
  }

  close(): void {
    if (this.#obj === null) return;
    for (const r of [...this.#rings]) r.close();
    for (const l of [...this.#links]) l.destroy();
    libbpf().obj_close(this.#obj);
    this.#obj = null;
    live.delete(this);
  }
}
