// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * as-proc: process lifecycle (exec/fork/exit) and what tracked processes touch
 * (open/unlink/rename, connect/bind/listen), filtered in the kernel by the tracked set.
 *
 * Syscalls are seen through the generic sys_enter/sys_exit BTF tracepoints: one pair
 * of programs instead of two dozen, and no tracefs needed. Arguments are saved per
 * thread at entry and one record carrying arguments and result is written at exit, when
 * the user memory holding paths and addresses is still there.
 *
 * Record layouts are mirrored in packages/proc/src/decode.ts; the _Static_asserts keep
 * the two honest.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "tracked.h"
#include "pathwalk.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile bool no_files = false;
const volatile bool no_net = false;

#define AT_FDCWD -100
#define FILENAME_MAX_ 256
#define ARGV_MAX 16384
#define UPATH_MAX 256
#define ADDR_MAX 112

/* x86-64 syscall numbers. */
#define NR_open 2
#define NR_connect 42
#define NR_bind 49
#define NR_listen 50
#define NR_rename 82
#define NR_creat 85
#define NR_unlink 87
#define NR_openat 257
#define NR_unlinkat 263
#define NR_renameat 264
#define NR_renameat2 316
#define NR_openat2 437

enum file_op { FOP_OPEN = 1, FOP_UNLINK = 2, FOP_RENAME = 3 };
enum net_op { NOP_CONNECT = 1, NOP_BIND = 2, NOP_LISTEN = 3 };

struct exec_rec {
	struct rec_hdr h;
	__u32 uid;
	__u32 old_pid;
	__u16 filename_len;
	__u16 cwd_len;
	__u16 argv_len;
	__u8 cwd_flags;
	__u8 argv_trunc;
	char filename[FILENAME_MAX_];
	char cwd[PATH_AREA];
	char argv[ARGV_MAX];
};
_Static_assert(__builtin_offsetof(struct exec_rec, filename) == 56, "exec_rec layout");
_Static_assert(__builtin_offsetof(struct exec_rec, argv) == 56 + FILENAME_MAX_ + PATH_AREA, "exec_rec layout");

struct exit_rec {
	struct rec_hdr h;
	__u32 exit_code; /* wait status: (code << 8) | signal */
	__u32 pad;
	__u64 duration_ns;
	__u64 cpu_ns;
	__u64 maxrss_kb;
};
_Static_assert(sizeof(struct exit_rec) == 72, "exit_rec layout");

struct file_rec {
	struct rec_hdr h;
	__u32 op;
	__s32 ret;
	__u32 flags;
	__u16 p1_len;
	__u16 p2_len;
	__u16 b1_len;   /* base directory of a relative p1 (walk_path format) */
	__u16 b2_len;
	__u8 b1_flags;  /* bit 7: base wanted (p1 relative); low bits: PW_* */
	__u8 b2_flags;
	__u16 pad;
	char p1[UPATH_MAX];
	char b1[PATH_AREA];
	char p2[UPATH_MAX];
	char b2[PATH_AREA];
};
_Static_assert(__builtin_offsetof(struct file_rec, p1) == 64, "file_rec layout");
_Static_assert(__builtin_offsetof(struct file_rec, p2) == 64 + UPATH_MAX + PATH_AREA, "file_rec layout");

struct net_rec {
	struct rec_hdr h;
	__u32 op;
	__s32 ret;
	__s32 fd;
	__u16 family;  /* filled for listen (from the socket); else parse addr */
	__u16 port;    /* host order, for listen */
	__u32 addr_len;
	__u32 pad;
	__u8 addr[ADDR_MAX]; /* connect/bind: the sockaddr as passed; listen: 4 or 16 address bytes */
};
_Static_assert(sizeof(struct net_rec) == 64 + ADDR_MAX, "net_rec layout");

union scratch_rec {
	struct exec_rec exec;
	struct file_rec file;
	struct net_rec net;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, union scratch_rec);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct pending {
	__u64 id;
	__u64 args[5];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct pending);
} pending SEC(".maps");

static __always_inline void output(void *rec, __u64 size)
{
	if (bpf_ringbuf_output(&events, rec, size, 0))
		count_loss(1, size);
}

static __always_inline void *get_scratch(void)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(&scratch, &k);
}

/* ------------------------------------------------------------------ lifecycle */

SEC("tp_btf/sched_process_exec")
int BPF_PROG(proc_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct exec_rec *r;
	struct fs_struct *fs;
	struct mm_struct *mm;
	unsigned long as, ae;
	__u64 n;
	long len;

	if (!track_exec(p))
		return 0;
	r = get_scratch();
	if (!r)
		return 0;
	fill_hdr(&r->h, REC_EXEC);
	r->uid = (__u32)bpf_get_current_uid_gid();
	r->old_pid = old_pid;
	len = bpf_probe_read_kernel_str(r->filename, sizeof(r->filename), BPF_CORE_READ(bprm, filename));
	r->filename_len = len > 0 ? len - 1 : 0;

	r->cwd_flags = 0;
	fs = BPF_CORE_READ(p, fs);
	r->cwd_len = fs ? walk_path(&fs->pwd, r->cwd, &r->cwd_flags) : 0;

	/* The argument block of the new image: argv strings back to back, NUL separated. */
	mm = BPF_CORE_READ(p, mm);
	as = BPF_CORE_READ(mm, arg_start);
	ae = BPF_CORE_READ(mm, arg_end);
	n = ae > as ? ae - as : 0;
	r->argv_trunc = n > ARGV_MAX;
	if (n > ARGV_MAX)
		n = ARGV_MAX;
	barrier_var(n);
	if (n && bpf_probe_read_user(r->argv, n & (ARGV_MAX * 2 - 1), (void *)as)) {
		count_fault();
		n = 0;
	}
	r->argv_len = n;
	output(r, __builtin_offsetof(struct exec_rec, argv) + (n & (ARGV_MAX * 2 - 1)));
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(proc_fork, struct task_struct *parent, struct task_struct *child)
{
	struct rec_hdr h = {};

	if (!track_fork(parent, child))
		return 0;
	h.kind = REC_FORK;
	h.pid = BPF_CORE_READ(child, tgid);
	h.tid = BPF_CORE_READ(child, pid);
	h.ppid = BPF_CORE_READ(parent, tgid);
	h.ts = bpf_ktime_get_ns();
	BPF_CORE_READ_STR_INTO(&h.comm, child, comm);
	output(&h, sizeof(h));
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(proc_exit, struct task_struct *p)
{
	struct exit_rec r = {};
	struct signal_struct *sig;
	__u64 start;
	__u32 tid = BPF_CORE_READ(p, pid);

	/* A thread killed inside a traced syscall never reaches sys_exit: forget its arguments. */
	bpf_map_delete_elem(&pending, &tid);
	if (!track_exit(p))
		return 0;
	r.h.kind = REC_EXIT;
	r.h.pid = BPF_CORE_READ(p, tgid);
	r.h.tid = BPF_CORE_READ(p, pid);
	r.h.ppid = BPF_CORE_READ(p, real_parent, tgid);
	r.h.ts = bpf_ktime_get_ns();
	BPF_CORE_READ_STR_INTO(&r.h.comm, p, comm);
	r.exit_code = BPF_CORE_READ(p, exit_code);
	start = BPF_CORE_READ(p, group_leader, start_time);
	r.duration_ns = r.h.ts > start ? r.h.ts - start : 0;
	sig = BPF_CORE_READ(p, signal);
	/* Dead threads' times were folded into signal_struct; this one's are still its own. */
	r.cpu_ns = BPF_CORE_READ(p, utime) + BPF_CORE_READ(p, stime) +
		   BPF_CORE_READ(sig, utime) + BPF_CORE_READ(sig, stime);
	r.maxrss_kb = BPF_CORE_READ(sig, maxrss) * 4; /* pages of 4 KiB on x86-64 */
	output(&r, sizeof(r));
	return 0;
}

/* ------------------------------------------------------------------ syscalls */

static __always_inline bool is_file_nr(long id)
{
	switch (id) {
	case NR_open: case NR_creat: case NR_openat: case NR_openat2:
	case NR_unlink: case NR_unlinkat: case NR_rename: case NR_renameat: case NR_renameat2:
		return true;
	}
	return false;
}

static __always_inline bool is_net_nr(long id)
{
	return id == NR_connect || id == NR_bind || id == NR_listen;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(proc_sys_enter, struct pt_regs *regs, long id)
{
	struct pending pd = {};
	__u64 pt;
	__u32 tid;

	if (is_file_nr(id)) {
		if (no_files)
			return 0;
	} else if (is_net_nr(id)) {
		if (no_net)
			return 0;
	} else {
		return 0;
	}
	pt = bpf_get_current_pid_tgid();
	if (!is_tracked(pt >> 32))
		return 0;
	pd.id = id;
	pd.args[0] = BPF_CORE_READ(regs, di);
	pd.args[1] = BPF_CORE_READ(regs, si);
	pd.args[2] = BPF_CORE_READ(regs, dx);
	pd.args[3] = BPF_CORE_READ(regs, r10);
	pd.args[4] = BPF_CORE_READ(regs, r8);
	tid = (__u32)pt;
	bpf_map_update_elem(&pending, &tid, &pd, BPF_ANY);
	return 0;
}

/* Base directory for a relative path: the cwd, or the directory open on dirfd. */
static __always_inline __u16 resolve_base(int dfd, char *buf, __u8 *flags)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	*flags = 0x80;
	if (dfd == AT_FDCWD) {
		struct fs_struct *fs = BPF_CORE_READ(task, fs);

		if (!fs) {
			*flags |= PW_FAULT;
			return 0;
		}
		return walk_path(&fs->pwd, buf, flags);
	}
	struct file *f = fd_file(task, dfd);

	if (!f) {
		*flags |= PW_FAULT;
		return 0;
	}
	return walk_path(&f->f_path, buf, flags);
}

static __always_inline __u16 read_upath(char *dst, __u64 uptr)
{
	long n = bpf_probe_read_user_str(dst, UPATH_MAX, (void *)uptr);

	if (n <= 0) {
		dst[0] = 0;
		return 0;
	}
	return n - 1;
}

static __always_inline void do_file(struct pending *pd, long ret)
{
	struct file_rec *r = get_scratch();
	__u64 path1, path2 = 0;
	int dfd1 = AT_FDCWD, dfd2 = AT_FDCWD;

	if (!r)
		return;
	fill_hdr(&r->h, REC_FILE);
	r->ret = ret;
	r->flags = 0;
	switch (pd->id) {
	case NR_open:
		r->op = FOP_OPEN; path1 = pd->args[0]; r->flags = pd->args[1];
		break;
	case NR_creat:
		r->op = FOP_OPEN; path1 = pd->args[0]; r->flags = 01 | 0100 | 01000; /* O_WRONLY|O_CREAT|O_TRUNC */
		break;
	case NR_openat:
		r->op = FOP_OPEN; dfd1 = pd->args[0]; path1 = pd->args[1]; r->flags = pd->args[2];
		break;
	case NR_openat2: {
		__u64 fl = 0;

		bpf_probe_read_user(&fl, sizeof(fl), (void *)pd->args[2]); /* struct open_how.flags */
		r->op = FOP_OPEN; dfd1 = pd->args[0]; path1 = pd->args[1]; r->flags = fl;
		break;
	}
	case NR_unlink:
		r->op = FOP_UNLINK; path1 = pd->args[0];
		break;
	case NR_unlinkat:
		r->op = FOP_UNLINK; dfd1 = pd->args[0]; path1 = pd->args[1]; r->flags = pd->args[2];
		break;
	case NR_rename:
		r->op = FOP_RENAME; path1 = pd->args[0]; path2 = pd->args[1];
		break;
	case NR_renameat:
	case NR_renameat2:
		r->op = FOP_RENAME; dfd1 = pd->args[0]; path1 = pd->args[1];
		dfd2 = pd->args[2]; path2 = pd->args[3];
		r->flags = pd->id == NR_renameat2 ? pd->args[4] : 0;
		break;
	default:
		return;
	}
	r->p1_len = read_upath(r->p1, path1);
	r->b1_len = 0;
	r->b1_flags = 0;
	if (r->p1[0] != '/')
		r->b1_len = resolve_base(dfd1, r->b1, &r->b1_flags);
	if (r->op != FOP_RENAME) {
		output(r, __builtin_offsetof(struct file_rec, p2));
		return;
	}
	r->p2_len = read_upath(r->p2, path2);
	r->b2_len = 0;
	r->b2_flags = 0;
	if (r->p2[0] != '/')
		r->b2_len = resolve_base(dfd2, r->b2, &r->b2_flags);
	output(r, sizeof(*r));
}

static __always_inline void do_net(struct pending *pd, long ret)
{
	struct net_rec *r = get_scratch();
	__u32 n;

	if (!r)
		return;
	fill_hdr(&r->h, REC_NET);
	r->ret = ret;
	r->fd = pd->args[0];
	r->family = 0;
	r->port = 0;
	r->addr_len = 0;
	if (pd->id == NR_listen) {
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();
		struct file *f = fd_file(task, r->fd);
		struct socket *sock = f ? BPF_CORE_READ(f, private_data) : NULL;
		struct sock *sk = sock ? BPF_CORE_READ(sock, sk) : NULL;

		r->op = NOP_LISTEN;
		if (sk) {
			r->family = BPF_CORE_READ(sk, __sk_common.skc_family);
			r->port = BPF_CORE_READ(sk, __sk_common.skc_num);
			if (r->family == 2) {
				BPF_CORE_READ_INTO(&r->addr, sk, __sk_common.skc_rcv_saddr);
				r->addr_len = 4;
			} else if (r->family == 10) {
				BPF_CORE_READ_INTO(&r->addr, sk, __sk_common.skc_v6_rcv_saddr);
				r->addr_len = 16;
			}
		}
		output(r, sizeof(*r));
		return;
	}
	r->op = pd->id == NR_connect ? NOP_CONNECT : NOP_BIND;
	n = pd->args[2];
	if (n > ADDR_MAX)
		n = ADDR_MAX;
	barrier_var(n); /* keep clang from re-deriving n from the unbounded argument */
	if (n && bpf_probe_read_user(r->addr, n & 127, (void *)pd->args[1]))
		n = 0;
	r->addr_len = n;
	output(r, sizeof(*r));
}

SEC("tp_btf/sys_exit")
int BPF_PROG(proc_sys_exit, struct pt_regs *regs, long ret)
{
	long id = BPF_CORE_READ(regs, orig_ax);
	struct pending pd, *pp;
	__u32 tid;

	if (!is_file_nr(id) && !is_net_nr(id))
		return 0;
	tid = (__u32)bpf_get_current_pid_tgid();
	pp = bpf_map_lookup_elem(&pending, &tid);
	if (!pp)
		return 0;
	pd = *pp;
	bpf_map_delete_elem(&pending, &tid);
	if (pd.id != (__u64)id)
		return 0;
	if (is_net_nr(id))
		do_net(&pd, ret);
	else
		do_file(&pd, ret);
	return 0;
}
