// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * A small object that exercises every part of @agentsight/bpf in its kernel tests:
 * read-only config set before load, a hash map, a per-CPU array, a ring buffer with
 * variable-size records, a uprobe with a cookie, and an auto-attached tp_btf program.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual MIT/GPL";

const volatile __u32 targ_tgid = 0;
const volatile __u64 magic = 0;
const volatile bool flag = false;
const volatile char tag[8] = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} kv SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} hits SEC(".maps");

struct rec {
	__u64 magic;
	__u64 arg;
	__u64 cookie;
	__u32 tgid;
	__u8 flag;
	char tag[8];
	__u8 kind;
	__u16 pad;
};

/* Records of 1..n bytes beyond the header, to check variable-size delivery. */
static __always_inline void emit(__u64 arg, __u8 kind, void *ctx)
{
	struct rec r = {};
	r.magic = magic;
	r.arg = arg;
	r.cookie = kind == 1 ? bpf_get_attach_cookie(ctx) : 0;
	r.tgid = bpf_get_current_pid_tgid() >> 32;
	r.flag = flag;
	/* Byte by byte: memcpy would let clang fold the zero initialiser of a volatile. */
	for (int i = 0; i < 8; i++)
		r.tag[i] = tag[i];
	r.kind = kind;
	bpf_ringbuf_output(&rb, &r, sizeof(r), 0);
	__u32 zero = 0;
	__u64 *h = bpf_map_lookup_elem(&hits, &zero);
	if (h)
		(*h)++;
	__u32 k = (__u32)arg & 15;
	__u64 *v = bpf_map_lookup_elem(&kv, &k);
	if (v)
		*v += arg;
}

SEC("uprobe")
int BPF_KPROBE(test_uprobe, long arg)
{
	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid)
		return 0;
	emit(arg, 1, ctx);
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(test_sys_enter, struct pt_regs *regs, long id)
{
	if ((bpf_get_current_pid_tgid() >> 32) != targ_tgid || id != 110 /* getppid */)
		return 0;
	emit(id, 2, ctx);
	return 0;
}

/* Rejected by the verifier (NULL not checked); off unless a test turns it on. */
SEC("?uprobe")
int test_bad(void *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&kv, &k);
	return *v;
}
