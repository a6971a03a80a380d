// SPDX-License-Identifier: MIT
/*
 * A C consumer of bpf/sslsniff.bpf.o, for test/bench/sslsniff.bench.ts only: the same
 * kernel side and the same work per record as as-sslsniff (join the pieces of a call,
 * UTF-8 check, JSON string escaping or base64, one NDJSON line per call on stdout), so
 * that the CPU per record of the TypeScript reader can be compared with C's.
 *
 * Usage: sslsniff-consumer OBJ LIBSSL COMM   (runs until SIGINT; "records N" on stderr)
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <bpf/btf.h>
#include <linux/btf.h>

#define HDR 88
#define CHUNK 16384
#define CK_WRITE (1 << 8)
#define CK_RET32 (1 << 9)
#define CK_EX (1 << 10)

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

static int set_rodata(struct bpf_object *obj, const char *name, const void *val, size_t n)
{
	struct btf *btf = bpf_object__btf(obj);
	struct bpf_map *map = bpf_object__find_map_by_name(obj, ".rodata");
	int id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
	if (!map || id < 0)
		return -1;
	size_t sz;
	char *mem = (char *)bpf_map__initial_value(map, &sz);
	const struct btf_type *t = btf__type_by_id(btf, id);
	const struct btf_var_secinfo *vs = btf_var_secinfos(t);
	for (int i = 0; i < btf_vlen(t); i++, vs++) {
		const struct btf_type *v = btf__type_by_id(btf, vs->type);
		if (strcmp(btf__name_by_offset(btf, v->name_off), name) == 0) {
			memset(mem + vs->offset, 0, vs->size);
			memcpy(mem + vs->offset, val, n < vs->size ? n : vs->size);
			return 0;
		}
	}
	return -1;
}

/* Output buffer for one line, grown as needed. */
static char *out;
static size_t out_cap;
static void reserve(size_t n)
{
	if (n > out_cap) {
		out_cap = n * 2;
		out = realloc(out, out_cap);
	}
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = s[i];
		if (c < 0x80) { i++; continue; }
		int k = (c & 0xe0) == 0xc0 ? 1 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 ? 3 : -1;
		if (k < 0 || i + k >= n)
			return false;
		for (int j = 1; j <= k; j++)
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
		i += k + 1;
	}
	return true;
}

static size_t json_escape(char *o, const uint8_t *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *p = o;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = s[i];
		if (c == '"' || c == '\\') { *p++ = '\\'; *p++ = c; }
		else if (c == '\n') { *p++ = '\\'; *p++ = 'n'; }
		else if (c == '\r') { *p++ = '\\'; *p++ = 'r'; }
		else if (c == '\t') { *p++ = '\\'; *p++ = 't'; }
		else if (c < 0x20) { *p++ = '\\'; *p++ = 'u'; *p++ = '0'; *p++ = '0'; *p++ = hex[c >> 4]; *p++ = hex[c & 15]; }
		else *p++ = c;
	}
	return p - o;
}

static size_t base64(char *o, const uint8_t *s, size_t n)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *p = o;
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = s[i] << 16 | s[i + 1] << 8 | s[i + 2];
		*p++ = t[v >> 18]; *p++ = t[(v >> 12) & 63]; *p++ = t[(v >> 6) & 63]; *p++ = t[v & 63];
	}
	if (i < n) {
		uint32_t v = s[i] << 16 | (i + 1 < n ? s[i + 1] << 8 : 0);
		*p++ = t[v >> 18]; *p++ = t[(v >> 12) & 63];
		*p++ = i + 1 < n ? t[(v >> 6) & 63] : '=';
		*p++ = '=';
	}
	return p - o;
}

static void emit(const uint8_t *h, const uint8_t *data, size_t n)
{
	uint64_t ts, conn, seq, lat;
	uint32_t pid, tid, len;
	int32_t fd;
	memcpy(&ts, h, 8); memcpy(&conn, h + 8, 8); memcpy(&seq, h + 16, 8); memcpy(&lat, h + 24, 8);
	memcpy(&pid, h + 32, 4); memcpy(&tid, h + 36, 4); memcpy(&len, h + 44, 4); memcpy(&fd, h + 60, 4);
	bool text = utf8_valid(data, n);
	reserve(512 + n * 6);
	int k = snprintf(out, 512, "{\"v\":1,\"ts\":%llu,\"src\":\"ssl\",\"type\":\"data\",\"pid\":%u,\"tid\":%u,\"comm\":\"%.16s\","
		"\"conn\":\"%u:%llx\",\"dir\":\"%s\",\"seq\":%llu,\"len\":%u,\"lib\":\"openssl\",\"latency_us\":%llu,\"data\":\"",
		(unsigned long long)(ts / 1000), pid, tid, (const char *)h + 68, pid, (unsigned long long)conn, h[65] ? "write" : "read",
		(unsigned long long)seq, len, (unsigned long long)(lat / 1000));
	size_t m = k + (text ? json_escape(out + k, data, n) : base64(out + k, data, n));
	m += sprintf(out + m, "\",\"enc\":\"%s\"", text ? "utf8" : "base64");
	m += fd >= 0 ? sprintf(out + m, ",\"fd\":%d}\n", fd) : sprintf(out + m, "}\n");
	fwrite(out, 1, m, stdout);
}

/* Calls in pieces, per thread (a small open-addressed table is plenty for a bench). */
struct pending { uint32_t tid; uint64_t ts; uint8_t h[HDR]; uint8_t *buf; size_t cap, got; };
static struct pending pend[256];
static unsigned long long records;

static int on_record(void *ctx, void *d, size_t size)
{
	(void)ctx;
	const uint8_t *r = d;
	records++;
	if (r[64] != 1)
		return 0;
	uint32_t tid, off, cap;
	uint64_t ts;
	memcpy(&ts, r, 8); memcpy(&tid, r + 36, 4); memcpy(&off, r + 48, 4); memcpy(&cap, r + 52, 4);
	size_t n = size - HDR;
	if (off == 0 && n >= cap) {
		emit(r, r + HDR, cap);
		return 0;
	}
	struct pending *p = &pend[tid & 255];
	if (off == 0) {
		if (p->buf) free(p->buf);
		p->tid = tid; p->ts = ts; memcpy(p->h, r, HDR);
		p->buf = malloc(cap); p->cap = cap; p->got = 0;
	}
	if (!p->buf || p->tid != tid || p->ts != ts)
		return 0;
	memcpy(p->buf + off, r + HDR, n);
	p->got = off + n;
	if (p->got >= p->cap) {
		emit(p->h, p->buf, p->cap);
		free(p->buf);
		p->buf = NULL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s OBJ LIBSSL COMM\n", argv[0]);
		return 2;
	}
	struct bpf_object *obj = bpf_object__open_file(argv[1], NULL);
	if (!obj) { fprintf(stderr, "open: %s\n", strerror(errno)); return 1; }
	uint32_t self = getpid();
	set_rodata(obj, "self_tgid", &self, 4);
	set_rodata(obj, "targ_comm", argv[3], strlen(argv[3]));
	if (bpf_object__load(obj)) { fprintf(stderr, "load failed\n"); return 1; }
	static const struct { const char *fn; uint64_t ck; } fns[] = {
		{ "SSL_write", 1 | CK_WRITE | CK_RET32 }, { "SSL_read", 1 | CK_RET32 },
		{ "SSL_write_ex", 1 | CK_WRITE | CK_EX }, { "SSL_read_ex", 1 | CK_EX },
	};
	for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		for (int ret = 0; ret < 2; ret++) {
			LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = fns[i].ck, .retprobe = ret, .func_name = fns[i].fn);
			struct bpf_program *p = bpf_object__find_program_by_name(obj, ret ? "tls_rw_exit" : "tls_rw_enter");
			if (!bpf_program__attach_uprobe_opts(p, -1, argv[2], 0, &o)) {
				fprintf(stderr, "attach %s: %s\n", fns[i].fn, strerror(errno));
				return 1;
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		const char *name = i ? "tls_sock_recv" : "tls_sock_send";
		if (!bpf_program__attach(bpf_object__find_program_by_name(obj, name))) {
			fprintf(stderr, "attach %s: %s\n", name, strerror(errno));
			return 1;
		}
	}
	struct ring_buffer *rb = ring_buffer__new(bpf_map__fd(bpf_object__find_map_by_name(obj, "events")), on_record, NULL, NULL);
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	fprintf(stderr, "capturing: C consumer\n");
	while (!stop)
		ring_buffer__poll(rb, 10);
	ring_buffer__consume(rb);
	fflush(stdout);
	fprintf(stderr, "records %llu\n", records);
	return 0;
}
