import koffi from 'koffi';
import { datasecVars, type RodataValue, writeVars } from './btf.js';
import { BpfError, fail } from './errors.js';
import { BPF_TRACE_UPROBE_MULTI, errno, libbpf, type Ptr, uprobeOpts } from './libbpf.js';
import { createUprobeMultiLink, Link, type UprobeMultiTarget, type UprobeTarget } from './link.js';
import { installLogger, takeLog } from './log.js';
import { BpfMap, checkSameMap } from './map.js';
import { type RingOptions, RingReader } from './ringbuf.js';

// The object and its life cycle; maps (map.ts), links (link.ts) and BTF (btf.ts) are
// each their own file.

export interface OpenOptions {
  /** `const volatile` globals to set before load, by name. Strings fill char arrays. */
  rodata?: Record<string, RodataValue>;
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
      process.on('exit', () => {
        for (const o of [...live]) o.close();
      });
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
    writeVars(mem, vars, values, this.path);
  }

  #rodataVars(): Map<string, { offset: number; size: number }> {
    const btf = libbpf().obj_btf(this.#ptr()) as Ptr;
    if (!btf) throw new BpfError(`${this.path}: no BTF in object (build with clang -g)`);
    return datasecVars(btf, '.rodata');
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
    checkSameMap(m, fd, name, this.path);
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
    const r = withSignalsHeld(() => libbpf().obj_load(this.#ptr()) as number);
    if (r < 0) fail(`load ${this.path}`, r);
    this.#loaded = true;
  }

  #track(ptr: Ptr, what: string): Link {
    if (!ptr) fail(what, errno());
    const l = new Link(ptr, what, this.#forget);
    this.#links.add(l);
    return l;
  }

  /** Attach a uprobe or uretprobe to a file offset (or a symbol libbpf resolves). */
  attachUprobe(prog: string, t: UprobeTarget): Link {
    if (!this.#loaded) throw new BpfError('load the object before attaching');
    const p = this.#prog(prog);
    const { buf, keep } = uprobeOpts({
      cookie: t.cookie === undefined ? 0n : BigInt(t.cookie),
      retprobe: t.retprobe,
      funcName: t.func,
    });
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
    const n = t.offsets.length;
    const what = `attach ${t.retprobe ? 'uretprobe' : 'uprobe'}.multi ${prog} to ${t.path} (${n} offsets)`;
    if (!n) throw new BpfError(`${what}: no offsets`);
    const fd = createUprobeMultiLink(libbpf().prog_fd(this.#prog(prog)) as number, t, what);
    const l = new Link({ fd }, what, this.#forget);
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

  #forget = (l: Link): void => {
    this.#links.delete(l);
  };

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

/** sigset_t is 1024 bits on Linux; SIG_BLOCK and SIG_SETMASK are 0 and 2. */
const ALL_SIGNALS = Buffer.alloc(128, 0xff);

/**
 * Runs `fn` with this thread's signals blocked. The verifier gives up with EAGAIN whenever
 * the loading thread has a signal pending, and libbpf retries only a few times: an agent
 * whose children exit fast (SIGCHLD) or a busy host's signals made the load fail. Signals
 * that arrive meanwhile are delivered once the mask is restored.
 */
function withSignalsHeld<T>(fn: () => T): T {
  const lb = libbpf();
  const old = Buffer.alloc(128);
  const held = lb.sigmask(0, ALL_SIGNALS, old) === 0;
  try {
    return fn();
  } finally {
    if (held) lb.sigmask(2, old, null);
  }
}
