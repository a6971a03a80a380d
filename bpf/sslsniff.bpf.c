// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * as-sslsniff: the plaintext of TLS reads and writes, at the library boundary.
 *
 * One entry/return program pair serves every library: OpenSSL and BoringSSL SSL_read/
 * SSL_write (and the _ex forms), GnuTLS gnutls_record_recv/send, NSS PR_Read/PR_Write/
 * PR_Recv/PR_Send all take (conn, buf, n) first. What differs (library, direction, how the
 * length comes back) travels in the attach cookie, so user space decides per probe and the
 * BPF side stays minimal per call (the uprobe trap, ~12 us a pair, dominates anyway).
 *
 * A call's bytes leave in variable-size records of at most CHUNK bytes, written with
 * bpf_ringbuf_output from a per-CPU scratch buffer in a bpf_loop, up to max_call_bytes
 * per call. Nothing reserves a worst-case size. When the ring is full the rest of the call
 * is counted as dropped (records and bytes) in per-CPU counters that user space reports.
 *
 * The socket under a connection is learnt, not read from library internals (those differ
 * per library and version): the first socket send or receive a thread makes inside a TLS call
 * names the fd (the system call's first argument), and a per-connection map carries it to
 * calls that never reach the socket (a read served from the library's buffer). Libraries
 * over memory BIOs (node) do their socket I/O outside the TLS call, so their records carry
 * no fd (-1). Go's crypto/tls is the exception, with programs of its own (go_tls_*): a
 * goroutine blocked in Read resumes on any thread, so its fd is read from the connection.
 *
 * rustls has no such function: its records are sealed and opened by aws-lc's AEAD, one
 * call per TLS record, each direction with its own AEAD context (aead_* below).
 *
 * Record layout is mirrored in packages/sslsniff/src/record.ts; the _Static_asserts keep
 * the two honest.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "pathwalk.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define CHUNK 16384
#define TASK_COMM_LEN_ 16

/* Read-only config, set by the loader before load. 0 / all-ones / "" mean "any". */
const volatile __u32 targ_tgid = 0;
const volatile __u32 targ_uid = 0xffffffff;
const volatile char targ_comm[TASK_COMM_LEN_] = {};
/* The capturing tool itself, never traced (node links OpenSSL statically). */
const volatile __u32 self_tgid = 0;
/*
 * Only processes in `tracked` (agentsight exec/record: the agent's whole tree). The map is
 * not ours: user space makes it the proc session's (bpf_map__reuse_fd before load), whose
 * tracepoints keep it on fork/exec/exit, so a child that relaunches the agent is covered
 * from its first instruction and the uprobes need no pid.
 */
const volatile bool targ_tracked = false;
const volatile __u64 max_call_bytes = 64ULL << 20;
/*
 * Wake the consumer only once this much is waiting (it also polls on a short timeout).
 * A wakeup per record costs the consumer more than the record itself at high rates.
 */
const volatile __u64 wakeup_bytes = 256 << 10;

/* Attach cookie: library id | direction | how the call reports its length. */
#define CK_LIB_MASK 0xff
#define CK_WRITE (1 << 8)
#define CK_RET32 (1 << 9)   /* returns int (SSL_read, PR_Read), not ssize_t */
#define CK_EX (1 << 10)     /* returns 1/0, length through the 4th argument (SSL_read_ex) */
#define CK_SCATTER (1 << 11) /* EVP_AEAD_CTX_seal_scatter / _open_gather argument layout */

/* Library ids are the rows of packages/sslsniff/src/tls-libraries.ts (its test checks these). */
#define LIB_GNUTLS 3
#define LIB_RUSTLS 5
#define LIB_GO 6

#define KIND_DATA 1
#define KIND_HANDSHAKE 2
#define KIND_MAP 3  /* an exec of a program not looked at yet (tls_exec_watch) */
#define KIND_FD 4   /* rustls: the socket fd a sealing AEAD context's records went out on */

#define F_FAULT 1   /* user memory could not be read: bytes missing */
#define F_CAPPED 2  /* call longer than max_call_bytes: tail not captured */
#define F_HELD 4    /* KIND_MAP: the process is stopped until user space has looked */
#define F_PATH_TRUNC 8 /* KIND_MAP: the path is incomplete */
#define F_PADDED 16 /* rustls: TLS 1.3 record with zero padding; user space strips it */

struct rec_hdr {
	__u64 ts;       /* CLOCK_MONOTONIC ns when the call returned */
	__u64 conn;     /* SSL * / gnutls_session_t / PRFileDesc * */
	__u64 seq;      /* per (conn, pid, dir), from 0 */
	__u64 lat_ns;   /* call duration */
	__u32 pid;
	__u32 tid;
	__u32 uid;
	__u32 len;      /* bytes the call moved */
	__u32 off;      /* offset of this record's bytes within the call */
	__u32 cap;      /* bytes of the call that are captured in total */
	__s32 ret;      /* handshake: return value */
	__s32 fd;       /* the socket, or -1 when not known */
	__u8 kind;
	__u8 dir;       /* 0 read, 1 write */
	__u8 lib;
	__u8 flags;
	char comm[TASK_COMM_LEN_]; /* the process's (thread group leader's) name */
};
_Static_assert(sizeof(struct rec_hdr) == 88, "rec_hdr layout is mirrored in record.ts");
_Static_assert(__builtin_offsetof(struct rec_hdr, ret) == 56, "rec_hdr layout");
_Static_assert(__builtin_offsetof(struct rec_hdr, fd) == 60, "rec_hdr layout");
_Static_assert(__builtin_offsetof(struct rec_hdr, kind) == 64, "rec_hdr layout");
_Static_assert(__builtin_offsetof(struct rec_hdr, comm) == 68, "rec_hdr layout");

struct scratch {
	struct rec_hdr h;
	__u8 data[CHUNK];
};

/* Indexes into the per-CPU stats array, mirrored in record.ts. */
struct stats {
	__u64 calls;        /* data calls seen (len > 0) */
	__u64 bytes;        /* bytes those calls moved */
	__u64 records;      /* records written to the ring */
	__u64 rec_bytes;    /* payload bytes written to the ring */
	__u64 drop_records; /* records lost because the ring was full */
	__u64 drop_bytes;   /* payload bytes lost because the ring was full */
	__u64 faults;       /* records whose user memory could not be read */
	__u64 capped_bytes; /* bytes beyond max_call_bytes, not captured by design */
};

struct call {
	__u64 conn;
	__u64 buf;
	__u64 ex_out;
	__u64 ts;
	__u64 cookie;
};

struct seq_key {
	__u64 conn;
	__u32 tgid;
	__u32 dir;
};

/* Identical to bpf/tracked.h's (reuse_fd checks type, key, value and size). That header is
 * not included: its other maps and helpers are the tracepoint programs'. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);   /* tgid */
	__type(value, __u32); /* root of its subtree, or TRACK_AT_EXEC */
} tracked SEC(".maps");

/* bpf/tracked.h: a gated process, tracked only from its next exec on. */
#define TRACK_AT_EXEC 0xffffffffu

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct call);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct call);
} hs_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct seq_key);
	__type(value, __u64);
} seqs SEC(".maps");

struct conn_key {
	__u64 conn;
	__u32 tgid;
	__u32 pad;
};

/*
 * Per thread: inside a traced TLS call, and the socket fd that call used. Task storage,
 * not a hash on the thread id, because the socket tracepoints ask on every send and
 * receive of every process, and for a thread never traced the answer is a NULL pointer
 * in its task_struct, no hashing.
 */
struct task_tls {
	__s32 fd;
	__u32 active;
	/* rustls: the socket this thread received from last (a record is opened after it is read) */
	__s32 recv_fd;
	__u32 has_recv;
	/* rustls: an AEAD context whose record was sealed, waiting for the send naming its socket */
	__u64 seal_ctx;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct task_tls);
} task_tls SEC(".maps");

/*
 * Threads inside a traced TLS call, system-wide: while none is, the socket tracepoints
 * return at once (a global variable is a plain load). A thread that dies inside a call
 * leaves it counted, which only costs that shortcut.
 */
__s64 inflight = 0;

/* The socket fd last seen under each connection. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, __s32);
} conn_fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch_map SEC(".maps");

/*
 * ctl[0] != 0: capture is over. User space sets it, then drains the ring: what it read is
 * then complete, and detaching the probes (slow: an RCU grace period each) can come after
 * the output is flushed.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ctl SEC(".maps");

static __always_inline bool stopped(void)
{
	__u32 zero = 0;
	__u32 *v = bpf_map_lookup_elem(&ctl, &zero);
	return v && *v;
}

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stats);
} stats SEC(".maps");

static __always_inline __u64 rb_flags(void)
{
	if (!wakeup_bytes)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline struct stats *my_stats(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&stats, &zero);
}

static __always_inline void leader_comm(char *comm)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	BPF_CORE_READ_STR_INTO((char(*)[TASK_COMM_LEN_])comm, task, group_leader, comm);
}

static __always_inline bool wanted(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;

	if (tgid == self_tgid)
		return false;
	if (targ_tgid && tgid != targ_tgid)
		return false;
	if (targ_tracked) {
		__u32 *v = bpf_map_lookup_elem(&tracked, &tgid);
		if (!v || *v == TRACK_AT_EXEC)
			return false;
	}
	if (targ_uid != 0xffffffff && (__u32)bpf_get_current_uid_gid() != targ_uid)
		return false;
	if (targ_comm[0]) {
		char comm[TASK_COMM_LEN_] = {};
		leader_comm(comm);
		for (int i = 0; i < TASK_COMM_LEN_; i++) {
			if (comm[i] != targ_comm[i])
				return false;
			if (!comm[i])
				break;
		}
	}
	return true;
}

static __always_inline void remember(struct pt_regs *ctx, void *map, __u64 conn, __u64 buf, __u64 ex_out)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (stopped() || !wanted(id))
		return;
	struct call c = {
		.conn = conn,
		.buf = buf,
		.ex_out = ex_out,
		.ts = bpf_ktime_get_ns(),
		.cookie = bpf_get_attach_cookie(ctx),
	};
	bpf_map_update_elem(map, &id, &c, BPF_ANY);
	struct task_tls *tt = bpf_task_storage_get(&task_tls, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (tt) {
		tt->fd = -1;
		if (!tt->active)
			__sync_fetch_and_add(&inflight, 1);
		tt->active = 1;
	}
}

SEC("uprobe")
int BPF_KPROBE(tls_rw_enter, void *conn, void *buf, long num, void *ex_out)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	remember(ctx, &calls, (__u64)conn, (__u64)buf, (cookie & CK_EX) ? (__u64)ex_out : 0);
	return 0;
}

/* x86-64 syscall numbers of the calls a TLS library moves its records with. */
#define NR_read 0
#define NR_write 1
#define NR_readv 19
#define NR_writev 20
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_recvmsg 47

/*
 * rustls processes (tgid), from their first AEAD call or from user space when it hooks the
 * program they exec (so the socket reads before the first record opened are seen too).
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} aead_procs SEC(".maps");

/* [0] != 0: rustls is hooked somewhere, the socket tracepoints look processes up (set by user space). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} aead_on SEC(".maps");

static __always_inline bool aead_hooked(void)
{
	__u32 zero = 0;
	__u32 *v = bpf_map_lookup_elem(&aead_on, &zero);
	return v && *v;
}

/* The fd of the socket system call in flight, or -1 for one that names none in its first argument. */
static __always_inline __s32 syscall_fd(struct task_struct *task)
{
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	long nr = BPF_CORE_READ(regs, orig_ax);
	if (nr == NR_read || nr == NR_write || nr == NR_readv || nr == NR_writev ||
	    (nr >= NR_sendto && nr <= NR_recvmsg))
		return (__s32)BPF_CORE_READ(regs, di);
	return -1;
}

static __always_inline void emit_fd_record(__u64 actx, __u64 pid_tgid, __s32 fd);

/*
 * A socket send or receive inside a traced TLS call: the system call in flight names the
 * socket's fd in its first argument. These tracepoints fire for socket I/O only; a
 * sys_enter program instead put ~125 ns on every system call of every process.
 *
 * rustls seals a record and then sends it, and receives records and then opens them, on
 * the same thread (tokio-rustls does both in one poll), so in its processes a receive
 * names the socket of the records the thread opens next, and the first send after a seal
 * the socket of that sealing context.
 */
static __always_inline void learn_fd(bool send)
{
	bool rustls = aead_hooked();
	if (!inflight && !rustls)
		return;
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_tls *tt = bpf_task_storage_get(&task_tls, task, 0, 0);
	if (tt && tt->active && tt->fd < 0)
		tt->fd = syscall_fd(task);
	if (!rustls)
		return;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!bpf_map_lookup_elem(&aead_procs, &tgid))
		return;
	__s32 fd = syscall_fd(task);
	if (fd < 0)
		return;
	if (!tt)
		tt = bpf_task_storage_get(&task_tls, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!tt)
		return;
	if (!send) {
		tt->recv_fd = fd;
		tt->has_recv = 1;
	} else if (tt->seal_ctx) {
		emit_fd_record(tt->seal_ctx, id, fd);
		tt->seal_ctx = 0;
	}
}

/*
 * The fd the call now returning used, and the thread is out of it. The slot is one per
 * thread: BoringSSL's SSL_read calls SSL_do_handshake inside, so the inner return ends
 * the learning early and the outer one reads the same socket's fd, which is still there.
 */
static __always_inline __s32 call_fd(void)
{
	struct task_tls *tt = bpf_task_storage_get(&task_tls, bpf_get_current_task_btf(), 0, 0);
	if (!tt)
		return -1;
	if (tt->active)
		__sync_fetch_and_add(&inflight, -1);
	tt->active = 0;
	return tt->fd;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(tls_sock_send)
{
	learn_fd(true);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tls_sock_recv)
{
	learn_fd(false);
	return 0;
}

/* The call's own fd, remembered for the connection; or the one remembered before. */
static __always_inline __s32 conn_fd(__u64 conn, __u32 tgid, __s32 fd)
{
	struct conn_key k = { .conn = conn, .tgid = tgid };
	__s32 *known = bpf_map_lookup_elem(&conn_fds, &k);
	if (fd >= 0) {
		if (!known || *known != fd)
			bpf_map_update_elem(&conn_fds, &k, &fd, BPF_ANY);
		return fd;
	}
	return known ? *known : -1;
}

struct emit_ctx {
	__u64 buf;
	__u64 cap;
	struct rec_hdr h;
	struct stats *st;
};

static long emit_chunk(__u32 i, void *arg)
{
	struct emit_ctx *e = arg;
	__u64 off = (__u64)i * CHUNK;
	if (off >= e->cap)
		return 1;
	__u64 n = e->cap - off;
	if (n > CHUNK)
		n = CHUNK;

	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	if (!s)
		return 1;
	s->h = e->h;
	s->h.off = off;
	if (bpf_probe_read_user(s->data, n, (void *)(e->buf + off)) != 0) {
		s->h.flags |= F_FAULT;
		e->st->faults++;
		n = 0;
	}
	if (bpf_ringbuf_output(&events, s, sizeof(struct rec_hdr) + n, rb_flags()) != 0) {
		/* Ring full: the rest of this call would be lost too; count it all and stop. */
		__u64 left = e->cap - off;
		e->st->drop_records += (left + CHUNK - 1) / CHUNK;
		e->st->drop_bytes += left;
		return 1;
	}
	e->st->records++;
	e->st->rec_bytes += n;
	return 0;
}

/* A data call that moved `len` bytes: its records, up to max_call_bytes. */
static __always_inline void emit_call(struct call *cp, __u64 id, __s64 len, __s32 fd)
{
	struct call c = *cp;
	__u32 tgid = id >> 32;
	struct stats *st = my_stats();
	if (!st)
		return;
	st->calls++;
	st->bytes += len;

	__u64 now = bpf_ktime_get_ns();
	__u8 dir = (c.cookie & CK_WRITE) ? 1 : 0;

	struct seq_key sk = { .conn = c.conn, .tgid = tgid, .dir = dir };
	__u64 seq = 0;
	__u64 *sp = bpf_map_lookup_elem(&seqs, &sk);
	if (sp) {
		seq = __sync_fetch_and_add(sp, 1);
	} else {
		__u64 one = 1;
		bpf_map_update_elem(&seqs, &sk, &one, BPF_NOEXIST);
	}

	struct emit_ctx e = {};
	e.buf = c.buf;
	e.cap = len;
	e.st = st;
	if (e.cap > max_call_bytes) {
		e.cap = max_call_bytes;
		e.h.flags |= F_CAPPED;
		st->capped_bytes += len - max_call_bytes;
	}
	e.h.ts = now;
	e.h.conn = c.conn;
	e.h.fd = conn_fd(c.conn, tgid, fd);
	e.h.seq = seq;
	e.h.lat_ns = now - c.ts;
	e.h.pid = tgid;
	e.h.tid = (__u32)id;
	e.h.uid = (__u32)bpf_get_current_uid_gid();
	e.h.len = len;
	e.h.cap = e.cap;
	e.h.kind = KIND_DATA;
	e.h.dir = dir;
	e.h.lib = c.cookie & CK_LIB_MASK;
	leader_comm(e.h.comm);
	bpf_loop((e.cap + CHUNK - 1) / CHUNK, emit_chunk, &e, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_rw_exit, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call *cp = bpf_map_lookup_elem(&calls, &id);
	if (!cp)
		return 0;
	struct call c = *cp;
	bpf_map_delete_elem(&calls, &id);
	__s32 fd = call_fd();
	if (stopped())
		return 0;
	__u32 tgid = id >> 32;

	__s64 len = 0;
	if (c.cookie & CK_EX) {
		__u64 n = 0;
		if ((int)ret == 1 && bpf_probe_read_user(&n, sizeof(n), (void *)c.ex_out) == 0)
			len = n;
	} else if (c.cookie & CK_RET32) {
		len = (int)ret;
	} else {
		len = ret;
	}
	if (len <= 0) {
		/* Nothing moved (a non-blocking socket would block): keep what it learnt of the socket. */
		if (fd >= 0)
			conn_fd(c.conn, tgid, fd);
		return 0;
	}
	emit_call(&c, id, len, fd);
	return 0;
}

/*
 * Go crypto/tls, (*Conn).Write and (*Conn).Read, in Go's register ABI (1.17 on): at entry
 * RAX is the *Conn, RBX the buffer, RCX its length; at a return RAX is the count. The exit
 * program is a plain uprobe on each RET instruction (user space finds them), because a
 * uretprobe's trampoline address on a goroutine stack does not survive Go copying the stack.
 * Entry and return are matched by goroutine, not thread: R14 holds the running g in that
 * ABI, and a goroutine blocked in Read may resume on another thread.
 */
struct go_key {
	__u64 g;
	__u32 tgid;
	__u32 pad;
};

/*
 * LRU: a goroutine parked in Read when its program exits (an idle keep-alive connection's
 * reader) never returns, and its entry must not fill the map for the calls after it.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct go_key);
	__type(value, struct call);
} go_calls SEC(".maps");

#define S_IFMT_ 0170000
#define S_IFSOCK_ 0140000

/*
 * The socket under a Go *Conn, through the standard library's structures, whose layout has
 * not changed since Go 1.9 (checked end to end by the tests, which join the fd to the
 * connect event): tls.Conn's first field is its net.Conn, an interface (type word, then
 * data word); the data of a *net.TCPConn (or UnixConn) points at its *netFD first; netFD
 * starts with a poll.FD, whose Sysfd follows its 16-byte fdMutex. A Conn over anything else
 * (a wrapper, net.Pipe) reads as something else, so the result must be an open socket of the
 * process, or it is -1.
 */
static __always_inline __s32 go_conn_fd(__u64 conn)
{
	__u64 data = 0, nfd = 0;
	__s64 fd = -1;
	if (bpf_probe_read_user(&data, sizeof(data), (void *)(conn + 8)) || !data)
		return -1;
	if (bpf_probe_read_user(&nfd, sizeof(nfd), (void *)data) || !nfd)
		return -1;
	if (bpf_probe_read_user(&fd, sizeof(fd), (void *)(nfd + 16)) || fd < 0 || fd >= (1 << 20))
		return -1;
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return -1;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return -1;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & S_IFMT_) != S_IFSOCK_)
		return -1;
	return (__s32)fd;
}

SEC("uprobe")
int BPF_KPROBE(go_tls_enter)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (stopped() || !wanted(id))
		return 0;
	struct go_key k = { .g = ctx->r14, .tgid = id >> 32 };
	struct call c = {
		.conn = ctx->ax,
		.buf = ctx->bx,
		.ts = bpf_ktime_get_ns(),
		.cookie = bpf_get_attach_cookie(ctx),
	};
	/* A call whose stack grew restarts at the entry: the second visit overwrites the first. */
	bpf_map_update_elem(&go_calls, &k, &c, BPF_ANY);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(go_tls_ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct go_key k = { .g = ctx->r14, .tgid = id >> 32 };
	struct call *cp = bpf_map_lookup_elem(&go_calls, &k);
	if (!cp)
		return 0;
	struct call c = *cp;
	bpf_map_delete_elem(&go_calls, &k);
	if (stopped())
		return 0;
	__s64 len = (__s64)ctx->ax;
	if (len <= 0)
		return 0;
	__s32 fd = go_conn_fd(c.conn);
	if (fd >= 0) {
		/*
		 * The garbage collector reuses a dead Conn's memory for a new one; a new socket under
		 * the same address is a new session, whose streams start again from seq 0.
		 */
		struct conn_key ck = { .conn = c.conn, .tgid = k.tgid };
		__s32 *known = bpf_map_lookup_elem(&conn_fds, &ck);
		if (known && *known != fd) {
			struct seq_key sk = { .conn = c.conn, .tgid = k.tgid, .dir = 0 };
			bpf_map_delete_elem(&seqs, &sk);
			sk.dir = 1;
			bpf_map_delete_elem(&seqs, &sk);
		}
	}
	emit_call(&c, id, len, fd);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tls_hs_enter, void *conn)
{
	remember(ctx, &hs_calls, (__u64)conn, 0, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(tls_hs_exit, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct call *cp = bpf_map_lookup_elem(&hs_calls, &id);
	if (!cp)
		return 0;
	struct call c = *cp;
	bpf_map_delete_elem(&hs_calls, &id);
	__s32 fd = call_fd();
	if (stopped())
		return 0;

	int r = (int)ret;
	__u8 lib = c.cookie & CK_LIB_MASK;
	bool done;
	if (lib == LIB_GNUTLS)
		/* 0 done; GNUTLS_E_AGAIN / GNUTLS_E_INTERRUPTED mean "call again". */
		done = r == 0;
	else
		/* 1 done, 0 failed for good; < 0 is usually WANT_READ/WANT_WRITE on a non-blocking socket. */
		done = r == 1;
	bool failed = lib == LIB_GNUTLS ? (r < 0 && r != -28 && r != -52) : r == 0;
	__u32 tgid = id >> 32;
	if (!done && !failed) {
		/* Not over yet (a non-blocking socket): keep what this step learnt of the socket. */
		conn_fd(c.conn, tgid, fd);
		return 0;
	}

	if (done) {
		/* A new session on this object: its byte streams start again from seq 0. */
		struct seq_key sk = { .conn = c.conn, .tgid = tgid, .dir = 0 };
		bpf_map_delete_elem(&seqs, &sk);
		sk.dir = 1;
		bpf_map_delete_elem(&seqs, &sk);
	}

	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	struct stats *st = my_stats();
	if (!s || !st)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__builtin_memset(&s->h, 0, sizeof(s->h));
	s->h.ts = now;
	s->h.conn = c.conn;
	s->h.lat_ns = now - c.ts;
	s->h.pid = tgid;
	s->h.tid = (__u32)id;
	s->h.uid = (__u32)bpf_get_current_uid_gid();
	s->h.ret = r;
	s->h.fd = conn_fd(c.conn, tgid, fd);
	s->h.kind = KIND_HANDSHAKE;
	s->h.lib = lib;
	leader_comm(s->h.comm);
	if (bpf_ringbuf_output(&events, &s->h, sizeof(s->h), rb_flags()) != 0)
		st->drop_records++;
	else
		st->records++;
	return 0;
}

/*
 * rustls over aws-lc. rustls encrypts and decrypts each TLS record with aws-lc's
 * EVP_AEAD_CTX_seal / EVP_AEAD_CTX_open (aws-lc-rs's seal_in_place_append_tag and
 * open_in_place; the _scatter/_gather forms too, should a release use them):
 *   seal(ctx, out, out_len, max_out_len, nonce, nonce_len, in, in_len, ad, ad_len): the
 *     plaintext is `in` at entry (sealed in place: gone at return);
 *   open(ctx, out, out_len, max_out_len, nonce, nonce_len, in, in_len, ad, ad_len): the
 *     plaintext is `out`, *out_len bytes, at return;
 *   seal_scatter(ctx, out, out_tag, out_tag_len, max_out_tag_len, nonce, nonce_len, in,
 *     in_len, extra_in, extra_in_len, ad, ad_len), open_gather(ctx, out, nonce, nonce_len,
 *     in, in_len, in_tag, in_tag_len, ad, ad_len): likewise, in_len bytes.
 * Arguments past the sixth are on the stack, above the return address at entry.
 * The AD tells a TLS record from other uses of the AEAD and which record it is: TLS 1.3's
 * is the 5-byte outer header (always application data; the real type is the plaintext's
 * last byte before any zero padding), TLS 1.2's 13 bytes carry the type. Only application
 * data is kept; of the handshake, the messages that start a session (EncryptedExtensions,
 * Finished) become a marker for user space (packages/sslsniff/src/rustls.ts), which puts
 * the two directions of a connection (two AEAD contexts) together by socket.
 */
#define TLS_HANDSHAKE 0x16
#define TLS_APPDATA 0x17
#define HS_ENCRYPTED_EXTENSIONS 8
#define HS_FINISHED 20

struct aead_call {
	__u64 actx;
	__u64 out;
	__u64 len;   /* open: the out_len pointer; open_gather: in_len */
	__u64 ad;
	__u64 ad_len;
	__u64 sp;    /* stack pointer at entry: the matching return has it 8 higher */
	__u64 ts;
	__u64 cookie;
	__s32 fd;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct aead_call);
} aead_calls SEC(".maps");

/* Per AEAD context (and process): its socket, once known, and the last record's nonce. */
struct aead_state {
	__u64 seq;  /* the nonce's low 64 bits, big-endian: iv ^ sequence, or salt | sequence */
	__s32 fd;   /* -1 until known */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct conn_key);
	__type(value, struct aead_state);
} aead_ctxs SEC(".maps");

static __always_inline __u64 nonce_seq(__u64 nonce, __u64 nonce_len)
{
	__u64 v = 0;
	if (nonce_len < 8 || nonce_len > 64 || bpf_probe_read_user(&v, sizeof(v), (void *)(nonce + nonce_len - 8)))
		return 0;
	return __builtin_bswap64(v);
}

/*
 * A context's state, started over when its key is new. The nonces of one key's records
 * differ from one record to the next by seq ^ (seq + 1), a run of low one bits (TLS 1.3
 * and ChaCha20 in TLS 1.2 XOR the sequence into a fixed IV, AES-GCM in TLS 1.2 sends it
 * after a fixed salt); another key's differ at random. So an address freed and reused for
 * a new connection's context does not carry the old connection's socket over.
 */
static __always_inline struct aead_state *aead_state(__u64 actx, __u32 tgid, __u64 seq)
{
	struct conn_key k = { .conn = actx, .tgid = tgid };
	struct aead_state *st = bpf_map_lookup_elem(&aead_ctxs, &k);
	if (st) {
		__u64 x = st->seq ^ seq;
		if (x & (x + 1))
			st->fd = -1;
		st->seq = seq;
		return st;
	}
	struct aead_state fresh = { .seq = seq, .fd = -1 };
	bpf_map_update_elem(&aead_ctxs, &k, &fresh, BPF_ANY);
	return bpf_map_lookup_elem(&aead_ctxs, &k);
}

static __always_inline void emit_fd_record(__u64 actx, __u64 pid_tgid, __s32 fd)
{
	struct conn_key k = { .conn = actx, .tgid = pid_tgid >> 32 };
	struct aead_state *as = bpf_map_lookup_elem(&aead_ctxs, &k);
	if (as)
		as->fd = fd;
	struct stats *st = my_stats();
	if (!st || stopped())
		return;
	struct rec_hdr h = {};
	h.ts = bpf_ktime_get_ns();
	h.conn = actx;
	h.pid = pid_tgid >> 32;
	h.tid = (__u32)pid_tgid;
	h.uid = (__u32)bpf_get_current_uid_gid();
	h.fd = fd;
	h.kind = KIND_FD;
	h.dir = 1;
	h.lib = LIB_RUSTLS;
	leader_comm(h.comm);
	if (bpf_ringbuf_output(&events, &h, sizeof(h), rb_flags()) != 0)
		st->drop_records++;
	else
		st->records++;
}

/* The process does rustls: its socket reads are followed from now on (see learn_fd). */
static __always_inline void aead_process(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	if (!bpf_map_lookup_elem(&aead_procs, &tgid)) {
		__u8 one = 1;
		bpf_map_update_elem(&aead_procs, &tgid, &one, BPF_ANY);
	}
}

/*
 * The record's content type (0: not a TLS record; -1: TLS 1.3 with padding, left to user
 * space), with *n cut to its data when the type byte is the plaintext's last.
 */
static __always_inline int record_type(__u64 ad, __u64 ad_len, __u64 pt, __u64 *n)
{
	__u8 a[13] = {};
	if (ad_len == 5) {
		if (bpf_probe_read_user(a, 5, (void *)ad) || a[0] != TLS_APPDATA || a[1] != 3 || a[2] != 3 || !*n)
			return 0;
		__u8 last = 0;
		if (bpf_probe_read_user(&last, 1, (void *)(pt + *n - 1)))
			return 0;
		if (!last)
			return -1;
		*n -= 1;
		return last;
	}
	if (ad_len == 13) {
		if (bpf_probe_read_user(a, 13, (void *)ad) || a[9] != 3)
			return 0;
		return a[8];
	}
	return 0;
}

/*
 * One record through the AEAD: application data out as a data record, a session's first
 * handshake messages as a marker (KIND_HANDSHAKE, ret = the message type). Returns whether
 * anything was emitted.
 */
static __always_inline bool aead_record(__u64 actx, __u64 pt, __u64 n, __u64 ad, __u64 ad_len, __u8 dir,
					__s32 fd, __u64 t0, __u64 id)
{
	int type = record_type(ad, ad_len, pt, &n);
	__u8 flags = 0;
	if (type == -1) {
		flags = F_PADDED;
		type = TLS_APPDATA;
	}
	if (type == TLS_HANDSHAKE) {
		__u8 msg = 0;
		if (!n || bpf_probe_read_user(&msg, 1, (void *)pt) ||
		    (msg != HS_ENCRYPTED_EXTENSIONS && msg != HS_FINISHED))
			return false;
		struct stats *st = my_stats();
		if (!st)
			return false;
		struct rec_hdr h = {};
		h.ts = bpf_ktime_get_ns();
		h.conn = actx;
		h.lat_ns = h.ts - t0;
		h.pid = id >> 32;
		h.tid = (__u32)id;
		h.uid = (__u32)bpf_get_current_uid_gid();
		h.ret = msg;
		h.fd = fd;
		h.kind = KIND_HANDSHAKE;
		h.dir = dir;
		h.lib = LIB_RUSTLS;
		leader_comm(h.comm);
		if (bpf_ringbuf_output(&events, &h, sizeof(h), rb_flags()) != 0)
			st->drop_records++;
		else
			st->records++;
		return true;
	}
	if (type != TLS_APPDATA || !n)
		return false;
	struct stats *st = my_stats();
	if (!st)
		return false;
	st->calls++;
	st->bytes += n;
	__u64 now = bpf_ktime_get_ns();
	struct emit_ctx e = {};
	e.buf = pt;
	e.cap = n;
	e.st = st;
	if (e.cap > max_call_bytes) {
		e.cap = max_call_bytes;
		e.h.flags |= F_CAPPED;
		st->capped_bytes += n - max_call_bytes;
	}
	e.h.flags |= flags;
	e.h.ts = now;
	e.h.conn = actx;
	e.h.fd = fd;
	e.h.lat_ns = now - t0;
	e.h.pid = id >> 32;
	e.h.tid = (__u32)id;
	e.h.uid = (__u32)bpf_get_current_uid_gid();
	e.h.len = n;
	e.h.cap = e.cap;
	e.h.kind = KIND_DATA;
	e.h.dir = dir;
	e.h.lib = LIB_RUSTLS;
	leader_comm(e.h.comm);
	bpf_loop((e.cap + CHUNK - 1) / CHUNK, emit_chunk, &e, 0);
	return true;
}

SEC("uprobe")
int BPF_KPROBE(aead_seal, void *actx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (stopped() || !wanted(id))
		return 0;
	aead_process(id);
	__u64 cookie = bpf_get_attach_cookie(ctx);
	/* Arguments 7..13 (seal has 10, seal_scatter 13: reading past them reads the caller's frame). */
	__u64 a[7] = {};
	if (bpf_probe_read_user(a, sizeof(a), (void *)(PT_REGS_SP(ctx) + 8)))
		return 0;
	bool scatter = cookie & CK_SCATTER;
	__u64 in = scatter ? a[1] : a[0];
	__u64 n = scatter ? a[2] : a[1];
	__u64 ad = scatter ? a[5] : a[2];
	__u64 ad_len = scatter ? a[6] : a[3];
	__u64 seq = scatter ? nonce_seq(ctx->r9, a[0]) : nonce_seq(ctx->r8, ctx->r9);
	struct aead_state *as = aead_state((__u64)actx, id >> 32, seq);
	__s32 fd = as ? as->fd : -1;
	if (!aead_record((__u64)actx, in, n, ad, ad_len, 1, fd, bpf_ktime_get_ns(), id) || fd >= 0)
		return 0;
	/* Its socket is the next one this thread sends on. */
	struct task_tls *tt = bpf_task_storage_get(&task_tls, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (tt)
		tt->seal_ctx = (__u64)actx;
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(aead_open_enter, void *actx, void *out, void *out_len)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (stopped() || !wanted(id))
		return 0;
	__u64 sp = PT_REGS_SP(ctx);
	struct aead_call *outer = bpf_map_lookup_elem(&aead_calls, &id);
	/* Inside an open already (open calls open_gather): the outer one reports the record.
	 * A call whose return was never seen is below us on the stack, and stale. */
	if (outer && outer->sp > sp)
		return 0;
	aead_process(id);
	__u64 a[4] = {};
	if (bpf_probe_read_user(a, sizeof(a), (void *)(sp + 8)))
		return 0;
	__u64 cookie = bpf_get_attach_cookie(ctx);
	struct aead_call c = {
		.actx = (__u64)actx,
		.out = (__u64)out,
		/* open_gather: in_len, the 6th argument; open: the out_len pointer. */
		.len = (cookie & CK_SCATTER) ? ctx->r9 : (__u64)out_len,
		/* Both have the AD as arguments 9 and 10. */
		.ad = a[2],
		.ad_len = a[3],
		.sp = sp,
		.ts = bpf_ktime_get_ns(),
		.cookie = cookie,
		.fd = -1,
	};
	__u64 seq = (cookie & CK_SCATTER) ? nonce_seq(ctx->dx, ctx->cx) : nonce_seq(ctx->r8, ctx->r9);
	struct aead_state *as = aead_state(c.actx, id >> 32, seq);
	struct task_tls *tt = bpf_task_storage_get(&task_tls, bpf_get_current_task_btf(), 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (as && as->fd < 0 && tt && tt->has_recv)
		as->fd = tt->recv_fd;
	c.fd = as ? as->fd : -1;
	bpf_map_update_elem(&aead_calls, &id, &c, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(aead_open_exit, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct aead_call *cp = bpf_map_lookup_elem(&aead_calls, &id);
	if (!cp || PT_REGS_SP(ctx) != cp->sp + 8)
		return 0;
	struct aead_call c = *cp;
	bpf_map_delete_elem(&aead_calls, &id);
	if (stopped() || (int)ret != 1)
		return 0;
	__u64 n = c.len;
	if (!(c.cookie & CK_SCATTER) && bpf_probe_read_user(&n, sizeof(n), (void *)c.len))
		return 0;
	aead_record(c.actx, c.out, n, c.ad, c.ad_len, 0, c.fd, c.ts, id);
	return 0;
}

/*
 * Discovery: every exec, in the new program before its first instruction. A program not
 * yet in `known` is reported (KIND_MAP) at each exec until user space has looked at it
 * (found its TLS functions, if any, and attached to the file by inode, which covers every
 * process running it, now or later) and put it in `known`. Shared libraries are not
 * followed: the system's TLS libraries are attached by file at start, which covers every
 * process that loads them later (python's _ssl loading libssl). Following every mmap
 * would need a kprobe or fentry on security_mmap_file, which not every kernel allows
 * (some VMs have neither), or a program on every system call.
 *
 * To make that "before" certain, the process may be stopped (SIGSTOP) until user space is
 * done and sends SIGCONT (F_HELD). Not when a job-control shell may be watching it: a stop
 * it sees becomes "Stopped" and the terminal goes back to the shell (see shell_job).
 */
const volatile bool hold_unknown = false;
/*
 * With targ_tracked: also a process with this name, which is not in the tracked set yet
 * while it execs (the proc session adds it at sched_process_exec, after the mappings).
 */
const volatile char watch_comm[TASK_COMM_LEN_] = {};

struct file_key {
	__u32 dev;
	__u32 gen;
	__u64 ino;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct file_key);
	__type(value, __u8);
} known SEC(".maps");

#define SIGSTOP_ 19

static __always_inline bool comm_is(const char *comm, const volatile char *want)
{
	for (int i = 0; i < TASK_COMM_LEN_; i++) {
		if (comm[i] != want[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

static __always_inline bool watched(__u64 pid_tgid, const char *comm)
{
	__u32 tgid = pid_tgid >> 32;

	if (tgid == self_tgid)
		return false;
	if (targ_tgid && tgid != targ_tgid)
		return false;
	if (targ_uid != 0xffffffff && (__u32)bpf_get_current_uid_gid() != targ_uid)
		return false;
	if (targ_comm[0] && !comm_is(comm, targ_comm))
		return false;
	if (targ_tracked && !bpf_map_lookup_elem(&tracked, &tgid))
		return watch_comm[0] && comm_is(comm, watch_comm);
	return true;
}

/*
 * Would a job-control shell see this process stop? It puts each job in a process group of
 * its own (setpgid), and waits for its children with WUNTRACED. So: a process whose group is
 * neither its parent's nor its session's, the leader or a member of a job a shell made, with
 * a terminal or without one (`set -m` in a script: a supervisor that saw its job stop would
 * take it for finished). Its children share its group and are held safely; so are daemons
 * (setsid).
 */
static __always_inline bool shell_job(struct task_struct *task)
{
	struct pid *pg = BPF_CORE_READ(task, signal, pids[PIDTYPE_PGID]);
	struct pid *sid = BPF_CORE_READ(task, signal, pids[PIDTYPE_SID]);
	struct pid *ppg = BPF_CORE_READ(task, real_parent, signal, pids[PIDTYPE_PGID]);
	return pg != ppg && pg != sid;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(tls_exec_watch, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct file *file = BPF_CORE_READ(bprm, file);
	if (!file)
		return 0;
	struct inode *ino = BPF_CORE_READ(file, f_inode);
	struct file_key k = {
		.dev = BPF_CORE_READ(ino, i_sb, s_dev),
		.gen = BPF_CORE_READ(ino, i_generation),
		.ino = BPF_CORE_READ(ino, i_ino),
	};
	if (bpf_map_lookup_elem(&known, &k) || stopped())
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	char comm[TASK_COMM_LEN_] = {};
	leader_comm(comm);
	if (!watched(id, comm))
		return 0;

	__u32 zero = 0;
	struct scratch *s = bpf_map_lookup_elem(&scratch_map, &zero);
	struct stats *st = my_stats();
	if (!s || !st)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	__builtin_memset(&s->h, 0, sizeof(s->h));
	s->h.ts = bpf_ktime_get_ns();
	s->h.conn = k.ino;
	s->h.seq = ((__u64)k.gen << 32) | k.dev;
	s->h.pid = id >> 32;
	s->h.tid = (__u32)id;
	s->h.uid = (__u32)bpf_get_current_uid_gid();
	s->h.kind = KIND_MAP;
	__builtin_memcpy(s->h.comm, comm, TASK_COMM_LEN_);
	__u8 pw = 0;
	__u32 n = walk_path(&file->f_path, (char *)s->data, &pw);
	if (pw)
		s->h.flags |= F_PATH_TRUNC;
	if (n > PATH_AREA)
		n = PATH_AREA;
	s->h.len = n;
	__u64 size = sizeof(struct rec_hdr) + n;
	asm volatile("" : "+r"(size));
	size &= 1023; /* n <= PATH_AREA already: a bound the verifier sees at the call */
	if (hold_unknown && !shell_job(task) && bpf_send_signal(SIGSTOP_) == 0)
		s->h.flags |= F_HELD;
	/* Woken at once: a held process waits on us, and a new program starts fast. */
	if (bpf_ringbuf_output(&events, s, size, BPF_RB_FORCE_WAKEUP) != 0) {
		st->drop_records++;
		/* Nobody will look: do not leave it stopped. */
		if (s->h.flags & F_HELD)
			bpf_send_signal(18 /* SIGCONT */);
	} else {
		st->records++;
	}
	return 0;
}
