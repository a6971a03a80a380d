/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * The tracked process set, shared by proc.bpf.c and stdiocap.bpf.c.
 *
 * Filtering happens here, in the kernel: a hash of tgids is seeded by user space
 * (-p PID and its descendants, --cmd's gated child, processes whose comm matched at
 * start) and maintained on fork/exec/exit by the tracepoint programs, so a child that
 * lives for a millisecond is in the set before it runs its first instruction
 * (sched_process_fork fires in the parent, before the child is woken).
 */
#ifndef AGENTSIGHT_TRACKED_H
#define AGENTSIGHT_TRACKED_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#ifndef barrier_var
#define barrier_var(var) asm volatile("" : "+r"(var))
#endif

/* Set before load through .rodata (user space: BpfObject.open(path, { rodata })). */
const volatile bool targ_all = false;      /* trace every process (but ourselves) */
const volatile __u64 targ_comm0 = 0;       /* comm to match at exec: bytes 0..7 ... */
const volatile __u64 targ_comm1 = 0;       /* ... and 8..15, NUL padded; 0,0 = none */
const volatile __u32 self_tgid = 0;        /* the tool itself: never traced (no feedback loop) */
/* With targ_all: our process group (the pipeline we are part of, e.g. `as-stdiocap |
 * as-merge`) is not traced either, or the next tool's reads of our output, and what it
 * writes, would be captured and written again, without end. */
const volatile __u32 self_pgid = 0;
/* A container target (cgroup:///, docker://, podman://, k8s://): every process in this cgroup
 * v2 (its id, and its depth below the root) or below it joins the set at fork or exec, so
 * processes `docker exec` or an init like tini starts later are followed too. 0 = none. */
const volatile __u64 targ_cgroup = 0;
const volatile __u32 targ_cgroup_level = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);   /* tgid */
	__type(value, __u32); /* tgid of the process that brought it in (root of its subtree) */
} tracked SEC(".maps");

/* Value for a process that is tracked from its next exec on: --cmd's gate, a shell whose
 * own reads and writes (waiting to be released) are not the command's. */
#define TRACK_AT_EXEC 0xffffffffu

/* Is `task` in our own process group (global pid namespace numbers)? */
static __always_inline bool in_own_group(struct task_struct *task)
{
	if (!self_pgid)
		return false;
	struct pid *pg = BPF_CORE_READ(task, signal, pids[PIDTYPE_PGID]);

	return pg && BPF_CORE_READ(pg, numbers[0].nr) == (int)self_pgid;
}

static __always_inline bool is_tracked(__u32 tgid)
{
	if (tgid == self_tgid)
		return false;
	if (targ_all)
		return !in_own_group((struct task_struct *)bpf_get_current_task());
	__u32 *v = bpf_map_lookup_elem(&tracked, &tgid);

	return v && *v != TRACK_AT_EXEC;
}

static __always_inline bool comm_matches(struct task_struct *task)
{
	char comm[16] = {};
	__u64 a, b;

	if (!targ_comm0 && !targ_comm1)
		return false;
	/* Zeroed first, so the bytes past the NUL compare equal to user space's padding. */
	BPF_CORE_READ_STR_INTO(&comm, task, comm);
	__builtin_memcpy(&a, comm, 8);
	__builtin_memcpy(&b, comm + 8, 8);
	return a == targ_comm0 && b == targ_comm1;
}

/* Is the current task in the target cgroup or below it? (At fork the current task is the
 * parent, whose cgroup the child inherits.) */
static __always_inline bool in_target_cgroup(void)
{
	if (!targ_cgroup)
		return false;
	return bpf_get_current_ancestor_cgroup_id(targ_cgroup_level) == targ_cgroup;
}

/* On fork of a new process (not a thread): track the child if the parent is tracked. */
static __always_inline bool track_fork(struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	__u32 cpid = BPF_CORE_READ(child, pid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);

	if (cpid != ctgid)
		return false; /* a thread: its process is tracked or not already */
	if (ptgid == self_tgid)
		return false;
	if (targ_all)
		return !in_own_group(parent);
	__u32 *root = bpf_map_lookup_elem(&tracked, &ptgid);
	__u32 r;
	if (root && *root != TRACK_AT_EXEC)
		r = *root;
	else if (!root && in_target_cgroup())
		r = ctgid;
	else
		return false;
	bpf_map_update_elem(&tracked, &ctgid, &r, BPF_ANY);
	return true;
}

/* At exec: a process whose new comm matches -c joins the set (with its future children). */
static __always_inline bool track_exec(struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);

	if (tgid == self_tgid)
		return false;
	if (targ_all)
		return !in_own_group(task);
	__u32 *v = bpf_map_lookup_elem(&tracked, &tgid);

	if (v) {
		if (*v == TRACK_AT_EXEC)
			*v = tgid;
		return true;
	}
	if (!comm_matches(task) && !in_target_cgroup())
		return false;
	bpf_map_update_elem(&tracked, &tgid, &tgid, BPF_ANY);
	return true;
}

/* When the whole thread group is dead: returns whether it was tracked, and forgets it. */
static __always_inline bool group_dead(struct task_struct *task)
{
	return BPF_CORE_READ(task, signal, live.counter) == 0;
}

static __always_inline bool track_exit(struct task_struct *task)
{
	__u32 tgid = BPF_CORE_READ(task, tgid);

	if (!group_dead(task))
		return false;
	if (tgid == self_tgid)
		return false;
	if (targ_all)
		return !in_own_group(task);
	return bpf_map_delete_elem(&tracked, &tgid) == 0;
}

/* The struct file open on `fd` in `task`, or NULL. */
static __always_inline struct file *fd_file(struct task_struct *task, int fd)
{
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds;
	struct file *f = NULL;

	if (!fdt || fd < 0 || (unsigned int)fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* Loss counters, per CPU; user space sums them and reports deltas as `lost` events. */
struct loss_stats {
	__u64 records;
	__u64 bytes;
	__u64 faults;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct loss_stats);
} stats SEC(".maps");

static __always_inline void count_loss(__u64 records, __u64 bytes)
{
	__u32 k = 0;
	struct loss_stats *s = bpf_map_lookup_elem(&stats, &k);

	if (s) {
		s->records += records;
		s->bytes += bytes;
	}
}

static __always_inline void count_fault(void)
{
	__u32 k = 0;
	struct loss_stats *s = bpf_map_lookup_elem(&stats, &k);

	if (s)
		s->faults++;
}

/* Every record starts with this header (little endian, 40 bytes). */
enum rec_kind {
	REC_EXEC = 1,
	REC_FORK = 2,
	REC_EXIT = 3,
	REC_FILE = 4,
	REC_NET = 5,
	REC_STDIO = 6,
};

struct rec_hdr {
	__u32 kind;
	__u32 pid;  /* tgid */
	__u32 tid;
	__u32 ppid;
	__u64 ts;   /* bpf_ktime_get_ns: CLOCK_MONOTONIC */
	char comm[16];
};
_Static_assert(sizeof(struct rec_hdr) == 40, "rec_hdr layout is shared with packages/proc/src/decode.ts");

static __always_inline void fill_hdr(struct rec_hdr *h, __u32 kind)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	h->kind = kind;
	h->pid = id >> 32;
	h->tid = (__u32)id;
	h->ppid = BPF_CORE_READ(task, real_parent, tgid);
	h->ts = bpf_ktime_get_ns();
	bpf_get_current_comm(&h->comm, sizeof(h->comm));
}

#endif
