/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section peek: reading kernel memory by address: typed loads from 6.2, a probe on 6.1.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

/* The index of the lowest set bit of m (m != 0). */
static __always_inline int lowest_bit(__u64 m)
{
	int s = 0;

	if (!(m & 0xffffffffULL)) { s += 32; m >>= 32; }
	if (!(m & 0xffffULL)) { s += 16; m >>= 16; }
	if (!(m & 0xffULL)) { s += 8; m >>= 8; }
	if (!(m & 0xfULL)) { s += 4; m >>= 4; }
	if (!(m & 0x3ULL)) { s += 2; m >>= 2; }
	if (!(m & 0x1ULL)) { s += 1; }
	return s;
}

/*
 * Some kernel memory is reachable only through an address held as a number:
 * an fd table slot, a map in a program's used_maps[], a thread found through
 * its group's list, a string. bpf_probe_read_kernel() reads those, but
 * lockdown=confidentiality refuses it (LOCKDOWN_BPF_READ_KERNEL), and so
 * the whole object would fail to load. From Linux 6.2 on, bpf_rdonly_cast()
 * types such an address instead: the loads that follow are the verifier's
 * fault-safe typed loads, allowed under every lockdown mode, and the cast
 * itself is rewritten to a register move. Linux 6.1 lacks the kfunc and keeps
 * the probe, in a branch the verifier drops wherever the kfunc exists; 6.1
 * under lockdown=confidentiality therefore cannot load, which `check` says.
 */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym __weak;

/* Eight bytes at a kernel address (0 if it faults). */
static __always_inline __u64 peek_u64(__u64 addr)
{
	__u64 v = 0;

	if (HAVE_RDONLY_CAST) {
		struct new_utsname *bytes = bpf_rdonly_cast((void *)addr, bpf_core_type_id_kernel(struct new_utsname));

		v = *(__u64 *)bytes->sysname;
	} else {
		bpf_probe_read_kernel(&v, sizeof(v), (void *)addr);
	}
	return v;
}

static __always_inline __u32 peek_u32(__u64 addr)
{
	return (__u32)peek_u64(addr); /* little-endian: the low half is the field */
}

/* A member of the struct at a kernel address, by its CO-RE offset. */
#define peek_field(type, addr, field) peek_u64((addr) + bpf_core_field_offset(type, field))
#define peek_field32(type, addr, field) peek_u32((addr) + bpf_core_field_offset(type, field))
/*
 * A bitfield of the struct at a kernel address. Its storage unit may span a
 * neighbouring member (Linux 7.x's struct bpf_prog), which a typed load
 * refuses: eight bytes from the unit's start, shifted as CO-RE says (the
 * left shift drops everything above the field, however much was read).
 */
#define peek_bitfield(type, addr, field) ({						\
	__u64 __v = peek_u64((addr) + __builtin_preserve_field_info(((type *)0)->field, BPF_FIELD_BYTE_OFFSET)); \
	__v <<= __builtin_preserve_field_info(((type *)0)->field, BPF_FIELD_LSHIFT_U64);	\
	__v >> __builtin_preserve_field_info(((type *)0)->field, BPF_FIELD_RSHIFT_U64);	\
})

struct cgw_peek_str_ctx {
	char *dst;
	__u64 addr;
	int len;
};

/* One eight-byte chunk of peek_str(); stops at the chunk holding the NUL. */
static long peek_chunk(__u32 i, struct cgw_peek_str_ctx *c)
{
	__u64 v, zero;
	int nul;

	if (i >= CGW_PATH_LEN / 8)
		return 1;
	v = peek_u64(c->addr + i * 8);
	/* Flags every zero byte (and, by the borrow, some above one): the lowest flag is the NUL. */
	zero = (v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL;
	if (zero) {
		nul = lowest_bit(zero) >> 3;
		/* What follows the NUL is whatever the buffer held before: keys must see zeros there. */
		v &= nul ? (1ULL << (nul * 8)) - 1 : 0;
		c->len = i * 8 + nul + 1;
	}
	*(__u64 *)(c->dst + (i & (CGW_PATH_LEN / 8 - 1)) * 8) = v;
	return zero ? 1 : 0;
}

/*
 * Copies the NUL-terminated string at addr into dst, a CGW_PATH_LEN buffer,
 * eight bytes at a time. Returns its length with the NUL, as
 * bpf_probe_read_kernel_str() does, or CGW_PATH_LEN if it is longer: a
 * caller treats that as cut short. A bpf_loop() callback, so the verifier
 * checks one chunk, not every chunk of every call.
 */
static __always_inline int peek_str(char *dst, __u64 addr)
{
	struct cgw_peek_str_ctx c = { .dst = dst, .addr = addr, .len = CGW_PATH_LEN };

	if (!HAVE_RDONLY_CAST)
		return bpf_probe_read_kernel_str(dst, CGW_PATH_LEN, (void *)addr);
	bpf_loop(CGW_PATH_LEN / 8, peek_chunk, &c, 0);
	return c.len;
}
