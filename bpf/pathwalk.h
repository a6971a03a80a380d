/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Absolute paths from kernel `struct path`s, for cwd at exec and for the base of
 * relative opens. bpf_d_path() is only allowed in a few LSM/fentry hooks, so walk the
 * dentry chain ourselves, crossing mounts, a bounded number of levels.
 *
 * Output: components leaf first, each NUL terminated, e.g. "src\0proj\0home\0" for
 * /home/proj/src; user space reverses them. Zero bytes means "/".
 */
#ifndef AGENTSIGHT_PATHWALK_H
#define AGENTSIGHT_PATHWALK_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define PATH_USED 512   /* bytes of components kept; power of two (used as a mask) */
#define NAME_PIECE 128  /* longest component copied (longer ones are cut) */
#define PATH_AREA (PATH_USED + NAME_PIECE)
#define PATH_DEPTH 40

#define PW_FAULT 1
#define PW_TRUNC 2

struct walk_ctx {
	struct dentry *d;
	struct vfsmount *vm;
	struct mount *mnt;
	char *buf;
	__u32 off;
	__u8 flags;
};

/* One level per call: a plain bounded loop makes the verifier explore every path of every
 * iteration (it gives up at a million instructions); bpf_loop verifies the body once. */
static long walk_step(__u32 i, struct walk_ctx *c)
{
	/* Locals: CO-RE macros must not see through walk_ctx (not a kernel type). */
	struct dentry *d = c->d;
	struct vfsmount *vm = c->vm;
	struct mount *mnt = c->mnt;
	struct dentry *mroot = BPF_CORE_READ(vm, mnt_root);
	struct dentry *parent = BPF_CORE_READ(d, d_parent);

	if (d == mroot || d == parent) {
		struct mount *mp = BPF_CORE_READ(mnt, mnt_parent);

		if (mp == mnt || !mp)
			return 1; /* the root of the namespace */
		c->d = BPF_CORE_READ(mnt, mnt_mountpoint);
		c->mnt = mp;
		c->vm = (struct vfsmount *)((char *)mp + bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	__u32 off = c->off;

	if (off >= PATH_USED) {
		c->flags |= PW_TRUNC;
		return 1;
	}
	const unsigned char *name = BPF_CORE_READ(d, d_name.name);
	char *buf = c->buf;

	if (!buf)
		return 1;
	long n = bpf_probe_read_kernel_str(buf + (off & (PATH_USED - 1)), NAME_PIECE, name);

	if (n <= 0) {
		c->flags |= PW_FAULT;
		return 1;
	}
	c->off = off + n;
	c->d = parent;
	if (i == PATH_DEPTH - 1)
		c->flags |= PW_TRUNC;
	return 0;
}

/* Walk `p` (a kernel pointer to a struct path) into `buf` (PATH_AREA bytes). */
static __always_inline __u32 walk_path(const struct path *p, char *buf, __u8 *flags)
{
	struct walk_ctx c = {};

	c.d = BPF_CORE_READ(p, dentry);
	c.vm = BPF_CORE_READ(p, mnt);
	c.buf = buf;
	if (!c.d || !c.vm) {
		*flags |= PW_FAULT;
		return 0;
	}
	c.mnt = (struct mount *)((char *)c.vm - bpf_core_field_offset(struct mount, mnt));
	bpf_loop(PATH_DEPTH, walk_step, &c, 0);
	*flags |= c.flags;
	return c.off;
}

#endif
