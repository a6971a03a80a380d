// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * as-stdiocap: the bytes a tracked process tree moves through fds 0, 1 and 2 with
 * read/write/readv/writev (pipes, ptys, files: whatever the fd is).
 *
 * A call's bytes are copied after it returns (for reads the data is only there then)
 * into variable-size ring records of at most CHUNK bytes, gathered across iovecs, so one
 * record per CHUNK of payload whatever the iovec shape. A call is delivered whole up to
 * max_call_bytes; if the ring is full part way, the rest of the call is counted as lost
 * (records, bytes) and user space marks the call truncated.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "tracked.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u32 max_call_bytes = 4 << 20;
/* Our own output pipe (kernel dev_t and inode), when it is one: a process that has it as
 * its stdin (the next tool in `as-stdiocap | as-merge`, even outside our process group)
 * must not be captured, or every event we write would be read, captured and written
 * again, without end. */
const volatile __u32 skip_dev = 0;
const volatile __u64 skip_ino = 0;

#define CHUNK 8192
#define IOV_LIMIT 1024

#define NR_read 0
#define NR_write 1
#define NR_readv 19
#define NR_writev 20

#define SF_FAULT 1     /* a user read faulted: this piece is short */
#define SF_LAST 2      /* last piece of the call */
#define SF_CAPPED 4    /* the call moved more than max_call_bytes; the rest was not copied */

struct stdio_rec {
	struct rec_hdr h;
	__u32 fd;
	__u32 dir;   /* 0 read, 1 write */
	__u64 seq;   /* per (tgid, fd, dir), from 0, one per call */
	__u32 len;   /* bytes the call moved */
	__u32 off;   /* of this piece within the call */
	__u32 size;  /* bytes in this piece */
	__u32 flags;
	__u8 data[2 * CHUNK]; /* twice CHUNK so a masked offset plus a CHUNK-bounded copy fits */
};
_Static_assert(__builtin_offsetof(struct stdio_rec, data) == 72, "stdio_rec layout");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stdio_rec);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 32 << 20);
} events SEC(".maps");

struct pending {
	__u64 id;
	__u64 fd;
	__u64 buf;
	__u64 cnt;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct pending);
} pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* tgid << 32 | fd << 1 | dir */
	__type(value, __u64);
} streams SEC(".maps");

/* Lifecycle: only keeps the tracked set; as-proc reports processes. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(stdio_fork, struct task_struct *parent, struct task_struct *child)
{
	track_fork(parent, child);
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(stdio_exec, struct task_struct *p)
{
	track_exec(p);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(stdio_exit, struct task_struct *p)
{
	__u32 tid = BPF_CORE_READ(p, pid);

	/* A thread killed inside a read or write never reaches sys_exit: forget its arguments. */
	bpf_map_delete_elem(&pending, &tid);
	track_exit(p);
	return 0;
}

static __always_inline bool is_io_nr(long id)
{
	return id == NR_read || id == NR_write || id == NR_readv || id == NR_writev;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(stdio_sys_enter, struct pt_regs *regs, long id)
{
	struct pending pd;
	__u64 pt, fd;
	__u32 tid;

	if (!is_io_nr(id))
		return 0;
	fd = BPF_CORE_READ(regs, di);
	if (fd > 2)
		return 0;
	pt = bpf_get_current_pid_tgid();
	if (!is_tracked(pt >> 32))
		return 0;
	if (skip_ino) {
		/* A process reading our output on its stdin: skip it whole. */
		struct file *f = fd_file((struct task_struct *)bpf_get_current_task(), 0);
		struct inode *ino = f ? BPF_CORE_READ(f, f_inode) : NULL;

		if (ino && BPF_CORE_READ(ino, i_ino) == skip_ino && BPF_CORE_READ(ino, i_sb, s_dev) == skip_dev)
			return 0;
	}
	pd.id = id;
	pd.fd = fd;
	pd.buf = BPF_CORE_READ(regs, si);
	pd.cnt = BPF_CORE_READ(regs, dx);
	tid = (__u32)pt;
	bpf_map_update_elem(&pending, &tid, &pd, BPF_ANY);
	return 0;
}

struct cap_ctx {
	__u64 iov;     /* user iovec array, 0 for read/write */
	__u64 base;    /* user address of the current segment */
	__u64 left;    /* bytes left in it */
	__u32 iovcnt;
	__u32 idx;
	__u32 done;    /* bytes of the call taken so far */
	__u32 fill;    /* bytes gathered in scratch, not yet output */
	__u32 cap;     /* bytes of the call to deliver */
	__u32 lost;
};

/*
 * The copy loop's state lives in a map, not on the stack: every load from it is an unknown
 * scalar to the verifier, so the bpf_loop callback is verified once rather than once per
 * distinct state of the stack copy (90k instructions, ~0.2 s of every start, before).
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cap_ctx);
} cap_state SEC(".maps");

static __always_inline long flush(struct stdio_rec *r, struct cap_ctx *c)
{
	__u32 fill = c->fill;

	if (fill > CHUNK)
		fill = CHUNK;
	barrier_var(fill);
	r->off = c->done - fill;
	r->size = fill;
	if (c->done >= c->cap)
		r->flags |= SF_LAST;
	if (bpf_ringbuf_output(&events, r, __builtin_offsetof(struct stdio_rec, data) + (fill & (2 * CHUNK - 1)), 0)) {
		/* The ring is full: the rest of this call is lost, counted, not sent piecemeal. */
		__u32 rest = c->cap - c->done + fill;

		count_loss(1 + (c->cap - c->done) / CHUNK, rest);
		c->lost = 1;
		return 1;
	}
	r->flags &= ~SF_FAULT;
	c->fill = 0;
	return 0;
}

static long cap_step(__u32 i, void *unused)
{
	__u32 k = 0;
	struct stdio_rec *r = bpf_map_lookup_elem(&scratch, &k);
	struct cap_ctx *c = bpf_map_lookup_elem(&cap_state, &k);

	if (!r || !c)
		return 1;
	if (c->done >= c->cap) {
		if (c->fill)
			flush(r, c);
		return 1;
	}
	if (c->left == 0) {
		struct iovec v;

		if (!c->iov || c->idx >= c->iovcnt || c->idx >= IOV_LIMIT) {
			/* Fewer bytes in the iovecs than the call reported: deliver what we have. */
			c->cap = c->done;
			if (c->fill)
				flush(r, c);
			return 1;
		}
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(c->iov + (__u64)c->idx * sizeof(v)))) {
			count_fault();
			c->cap = c->done;
			if (c->fill)
				flush(r, c);
			return 1;
		}
		c->idx++;
		c->base = (__u64)v.iov_base;
		c->left = v.iov_len;
		return 0;
	}
	__u32 fill = c->fill;
	__u64 n = CHUNK - fill;

	if (n > c->left)
		n = c->left;
	if (n > c->cap - c->done)
		n = c->cap - c->done;
	if (n > CHUNK)
		n = CHUNK;
	barrier_var(n);
	if (bpf_probe_read_user(r->data + (fill & (CHUNK - 1)), n & (2 * CHUNK - 1), (void *)c->base)) {
		/* Zeros stand in for what could not be read; the piece is flagged. */
		count_fault();
		r->flags |= SF_FAULT;
	}
	c->fill = fill + n;
	c->base += n;
	c->left -= n;
	c->done += n;
	if (c->fill >= CHUNK || c->done >= c->cap)
		return flush(r, c);
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(stdio_sys_exit, struct pt_regs *regs, long ret)
{
	long id = BPF_CORE_READ(regs, orig_ax);
	struct pending pd, *pp;
	struct stdio_rec *r;
	struct cap_ctx *c;
	__u32 tid, k = 0;
	__u64 key, *seqp, seq = 0, one = 1;

	if (!is_io_nr(id))
		return 0;
	tid = (__u32)bpf_get_current_pid_tgid();
	pp = bpf_map_lookup_elem(&pending, &tid);
	if (!pp)
		return 0;
	pd = *pp;
	bpf_map_delete_elem(&pending, &tid);
	if (pd.id != (__u64)id || ret <= 0)
		return 0;
	r = bpf_map_lookup_elem(&scratch, &k);
	c = bpf_map_lookup_elem(&cap_state, &k);
	if (!r || !c)
		return 0;
	__builtin_memset(c, 0, sizeof(*c));
	fill_hdr(&r->h, REC_STDIO);
	r->fd = pd.fd;
	r->dir = (id == NR_write || id == NR_writev) ? 1 : 0;
	key = ((__u64)r->h.pid << 32) | (pd.fd << 1) | r->dir;
	seqp = bpf_map_lookup_elem(&streams, &key);
	if (seqp)
		seq = __sync_fetch_and_add(seqp, 1);
	else
		bpf_map_update_elem(&streams, &key, &one, BPF_NOEXIST);
	r->seq = seq;
	r->len = ret;
	r->flags = 0;
	c->cap = ret;
	if (c->cap > max_call_bytes) {
		c->cap = max_call_bytes;
		r->flags |= SF_CAPPED;
	}
	if (id == NR_readv || id == NR_writev) {
		c->iov = pd.buf;
		c->iovcnt = pd.cnt;
	} else {
		c->base = pd.buf;
		c->left = ret;
	}
	bpf_loop(2 * (max_call_bytes / CHUNK) + 2 * IOV_LIMIT + 4, cap_step, NULL, 0);
	return 0;
}
