// Bindings to the system libbpf.so.1 (Debian 12: libbpf 1.1) and the few libc calls the
// loader needs. Every libbpf object is handled as an opaque `void *`, which koffi 3 gives
// us as a BigInt; nothing here knows libbpf's struct layouts except the option structs
// we build by hand (bpf_uprobe_opts), whose 1.1 layout is fixed below.
import koffi, { type LibraryHandle, type TypeObject } from 'koffi';

export type Ptr = bigint | null;

/** libbpf log levels (enum libbpf_print_level). */
export const LIBBPF_WARN = 0;
export const LIBBPF_INFO = 1;
export const LIBBPF_DEBUG = 2;

/** BTF kinds used here (linux/btf.h). */
export const BTF_KIND_VAR = 14;
export const BTF_KIND_DATASEC = 15;

/** enum bpf_attach_type BPF_TRACE_UPROBE_MULTI (kernel 6.6+; libbpf 1.1 predates it). */
export const BPF_TRACE_UPROBE_MULTI = 48;
/** BPF_F_UPROBE_MULTI_RETURN: the uprobe_multi link's probes are uretprobes. */
export const BPF_F_UPROBE_MULTI_RETURN = 1;
/** bpf(2) command BPF_LINK_CREATE, and the syscall number on x86-64. */
export const BPF_LINK_CREATE = 28;
export const NR_BPF_X86_64 = 321;

/* eslint-disable @typescript-eslint/no-explicit-any */
type Fn = ((...args: any[]) => any) & { async: (...args: any[]) => void };

export interface Libbpf {
  lib: LibraryHandle;
  libc: LibraryHandle;
  PrintFn: TypeObject;
  set_print: Fn;
  major: number;
  minor: number;
  open_file: Fn;
  obj_load: Fn;
  obj_close: Fn;
  obj_name: Fn;
  find_prog: Fn;
  find_map: Fn;
  next_prog: Fn;
  next_map: Fn;
  prog_name: Fn;
  prog_section: Fn;
  prog_set_autoload: Fn;
  prog_attach: Fn;
  prog_attach_uprobe_opts: Fn;
  link_destroy: Fn;
  map_name: Fn;
  map_fd: Fn;
  map_set_max_entries: Fn;
  map_reuse_fd: Fn;
  obj_get_info_by_fd: Fn;
  prog_set_expected_attach_type: Fn;
  prog_fd: Fn;
  syscall: Fn;
  close: Fn;
  map_max_entries: Fn;
  map_key_size: Fn;
  map_value_size: Fn;
  map_type: Fn;
  map_initial_value: Fn;
  obj_btf: Fn;
  btf_find_by_name_kind: Fn;
  btf_type_by_id: Fn;
  btf_name_by_offset: Fn;
  map_update_elem: Fn;
  map_lookup_elem: Fn;
  map_delete_elem: Fn;
  num_possible_cpus: Fn;
  mmap: Fn;
  munmap: Fn;
  getpagesize: Fn;
  epoll_create1: Fn;
  epoll_ctl: Fn;
  vsnprintf: Fn;
  epoll_wait: Fn;
  setrlimit: Fn;
  getrlimit: Fn;
  mount: Fn;
  strerror: Fn;
  sigmask: Fn;
}

let cached: Libbpf | undefined;

/** Load libbpf and libc once per process. Throws with a one-line reason when libbpf is missing. */
export function libbpf(): Libbpf {
  if (cached) return cached;
  let lib: LibraryHandle;
  try {
    lib = koffi.load('libbpf.so.1');
  } catch (e) {
    throw new Error(`cannot load libbpf.so.1 (install the libbpf1 package): ${(e as Error).message}`);
  }
  const libc = koffi.load('libc.so.6');
  // va_list on x86-64 is an array type, so it is passed as a pointer: take it as void *.
  const PrintFn = koffi.proto('int agentsight_libbpf_print_fn(int level, const char *fmt, void *ap)');
  const f = (decl: string) => lib.func(decl) as Fn;
  const c = (decl: string) => libc.func(decl) as Fn;
  cached = {
    lib,
    libc,
    PrintFn,
    set_print: lib.func('libbpf_set_print', 'void *', [koffi.pointer(PrintFn)]) as Fn,
    major: (lib.func('uint32_t libbpf_major_version()') as Fn)() as number,
    minor: (lib.func('uint32_t libbpf_minor_version()') as Fn)() as number,
    open_file: f('void *bpf_object__open_file(const char *path, void *opts)'),
    obj_load: f('int bpf_object__load(void *obj)'),
    obj_close: f('void bpf_object__close(void *obj)'),
    obj_name: f('const char *bpf_object__name(void *obj)'),
    find_prog: f('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
    find_map: f('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
    next_prog: f('void *bpf_object__next_program(void *obj, void *prev)'),
    next_map: f('void *bpf_object__next_map(void *obj, void *prev)'),
    prog_name: f('const char *bpf_program__name(void *prog)'),
    prog_section: f('const char *bpf_program__section_name(void *prog)'),
    prog_set_autoload: f('int bpf_program__set_autoload(void *prog, bool autoload)'),
    prog_attach: f('void *bpf_program__attach(void *prog)'),
    prog_attach_uprobe_opts: f(
      'void *bpf_program__attach_uprobe_opts(void *prog, int pid, const char *path, size_t offset, void *opts)',
    ),
    link_destroy: f('int bpf_link__destroy(void *link)'),
    map_name: f('const char *bpf_map__name(void *map)'),
    map_fd: f('int bpf_map__fd(void *map)'),
    map_set_max_entries: f('int bpf_map__set_max_entries(void *map, uint32_t n)'),
    map_reuse_fd: f('int bpf_map__reuse_fd(void *map, int fd)'),
    obj_get_info_by_fd: f('int bpf_obj_get_info_by_fd(int fd, void *info, _Inout_ uint32_t *len)'),
    prog_set_expected_attach_type: f('int bpf_program__set_expected_attach_type(void *prog, int type)'),
    prog_fd: f('int bpf_program__fd(void *prog)'),
    syscall: c('long syscall(long n, ...)'),
    close: c('int close(int fd)'),
    map_max_entries: f('uint32_t bpf_map__max_entries(void *map)'),
    map_key_size: f('uint32_t bpf_map__key_size(void *map)'),
    map_value_size: f('uint32_t bpf_map__value_size(void *map)'),
    map_type: f('int bpf_map__type(void *map)'),
    map_initial_value: f('void *bpf_map__initial_value(void *map, _Out_ size_t *psize)'),
    obj_btf: f('void *bpf_object__btf(void *obj)'),
    btf_find_by_name_kind: f('int32_t btf__find_by_name_kind(void *btf, const char *name, uint32_t kind)'),
    btf_type_by_id: f('void *btf__type_by_id(void *btf, uint32_t id)'),
    btf_name_by_offset: f('const char *btf__name_by_offset(void *btf, uint32_t off)'),
    map_update_elem: f('int bpf_map_update_elem(int fd, void *key, void *value, uint64_t flags)'),
    map_lookup_elem: f('int bpf_map_lookup_elem(int fd, void *key, void *value)'),
    map_delete_elem: f('int bpf_map_delete_elem(int fd, void *key)'),
    num_possible_cpus: f('int libbpf_num_possible_cpus()'),
    mmap: c('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)'),
    munmap: c('int munmap(void *addr, size_t len)'),
    getpagesize: c('int getpagesize()'),
    epoll_create1: c('int epoll_create1(int flags)'),
    epoll_ctl: c('int epoll_ctl(int epfd, int op, int fd, void *event)'),
    vsnprintf: c('int vsnprintf(void *buf, size_t n, const char *fmt, void *ap)'),
    epoll_wait: c('int epoll_wait(int epfd, void *events, int maxevents, int timeout)'),
    setrlimit: c('int setrlimit(int resource, void *rlim)'),
    getrlimit: c('int getrlimit(int resource, void *rlim)'),
    mount: c(
      'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const void *data)',
    ),
    strerror: c('const char *strerror(int errnum)'),
    sigmask: c('int pthread_sigmask(int how, const void *set, _Out_ uint8_t *oldset)'),
  };
  return cached;
}

/** The errno of the last foreign call on this thread. */
export function errno(): number {
  return koffi.errno();
}

/**
 * Build `struct bpf_uprobe_opts` as laid out by libbpf 1.1:
 * { size_t sz; size_t ref_ctr_offset; u64 bpf_cookie; bool retprobe; const char *func_name; }
 * Newer libbpf versions append fields; they read `sz` and treat the rest as zero, so the
 * 1.1 layout stays valid for them.
 */
export function uprobeOpts(o: { cookie?: bigint; retprobe?: boolean; funcName?: string }): {
  buf: Buffer;
  keep: unknown[];
} {
  const buf = Buffer.alloc(40);
  buf.writeBigUInt64LE(40n, 0);
  buf.writeBigUInt64LE(0n, 8);
  buf.writeBigUInt64LE(BigInt.asUintN(64, o.cookie ?? 0n), 16);
  buf.writeUInt8(o.retprobe ? 1 : 0, 24);
  const keep: unknown[] = [];
  if (o.funcName) {
    const name = Buffer.from(o.funcName + '\0', 'utf8');
    keep.push(name);
    buf.writeBigUInt64LE(koffi.address(name), 32);
  }
  return { buf, keep };
}
