// SPDX-License-Identifier: GPL-2.0-only
/*
 * cgwarden: decide every cgroup v2 migration against the policy in the maps.
 *
 * One decision function, cgw_decide(), reached through one of two mechanisms:
 *
 *   native    lsm/cgroup_attach, the hook from the proposed kernel patch. The
 *             kernel hands us task, src and dst directly.
 *
 *   mainline  No such hook. fexit on cgroup_procs_write_start notes the task
 *             a write found, fentry on cgroup_can_fork a CLONE_INTO_CGROUP
 *             child. Both paths then call cgroup_attach_permissions(src, dst),
 *             where fentry decides; the kernel's own permission check inside
 *             that call reaches the LSM hook inode_permission, which returns
 *             the verdict. The verdict lives from entry to exit of that one
 *             call and is consumed by its first check, so it never applies
 *             to an unrelated one.
 *
 * Both mechanisms get src, dst and the current task as typed (BTF) pointers
 * and read them with plain loads, each one instruction once JITed; a
 * bpf_probe_read_kernel() costs some forty, and lockdown=confidentiality
 * refuses it. What is reached through an address kept as a number (a thread
 * found by walking its group, the task a record names, an fd table slot, a
 * string) is read through peek_u64() and peek_str(): typed loads too, from
 * Linux 6.2 on (see "reading kernel memory by address").
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "core_fixes.h"
#include "cgwarden.h"

char LICENSE[] SEC("license") = "GPL";

/*
 * Capacities are defaults; userspace sets them before load. Maps that only
 * userspace writes are BPF_F_RDONLY_PROG: no program, ours or another's
 * reaching them through a map-in-map, can write them, so the seal may hand
 * out read-only fds to them.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct cgw_lock);
} locks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__uint(max_entries, 8192);
	__type(key, struct cgw_gate_key);
	__type(value, struct cgw_gate);
} gates SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__uint(max_entries, 65536);
	__type(key, struct cgw_selector_key);
	__type(value, __u64);
} selectors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct cgw_bound_key);
	__type(value, struct cgw_binding);
} bound SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__uint(max_entries, 16384);
	__type(key, struct cgw_path_key);
	__type(value, struct cgw_path);
} paths SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct cgw_template_set);
} templates SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct cgw_node_stats);
} node_stats SEC(".maps");

/*
 * Updating an element of a map-in-map makes the kernel wait for every BPF
 * program that may be running (synchronize_rcu() in maybe_wait_bpf_programs):
 * userspace writes grace[0] after flipping settings.epoch, and once that
 * returns no decision can still be reading the old epoch.
 */
struct grace_slot_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} grace_slot SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct grace_slot_map);
} grace SEC(".maps") = {
	.values = { &grace_slot },
};

/* Only userspace reads this one; it lives here so it is created and pinned with the rest. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__uint(max_entries, 20480);
	__type(key, __u32);
	__type(value, struct cgw_rule);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__type(key, __u32);
	__type(value, struct cgw_settings);
} settings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__type(key, __u32);
	__type(value, struct cgw_seal);
} seal SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_RDONLY_PROG);
	__uint(max_entries, 256);
	__type(key, struct cgw_protected_key);
	__type(value, __u32);
} protected SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CGW_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* The flight recorder: the newest records, read by `cgwarden audit` at any later time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct cgw_record);
} recorder SEC(".maps");

/* recorder_head[0]: the seq of the newest record written. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} recorder_head SEC(".maps");

/* The same records, live, for `cgwarden audit --follow`. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024); /* about 1,100 records of 912 bytes in flight */
} events SEC(".maps");

struct cgw_actor {
	__u64 start_ticks;
	__u64 exe_dev;
	__u64 exe_ino;
	__u64 cgroup;
	__u32 pid;
	__u32 tgid;
	__u32 euid;
	__u32 exe_gen;
};

#define ID_SLOTS 64 /* >= CGW_LEVELS, a power of two: see id_at() */

/* A cgroup as a decision sees it: the ids of its ancestors by level. */
struct cgw_chain {
	__u64 ids[ID_SLOTS]; /* ids[level] is the cgroup itself unless capped */
	__u64 id;            /* the cgroup's own id */
	__s32 level;         /* capped at CGW_MAX_LEVEL */
	__u32 pad;
};

/* One migration as a mechanism saw it; BPF functions take at most five arguments. */
struct cgw_migration {
	__u64 task;    /* struct task_struct *, read through probes (records, the thread walk) */
	__u64 src;     /* struct cgroup *, only compared */
	__u32 threads; /* the thread group's size, if threadgroup */
	__u8 via;
	__u8 threadgroup;
	__u8 mechanism;
	__u8 pad;
};

/* State for judging the other threads of a moving thread group (see judge_thread). */
struct thread_walk {
	__u64 head; /* struct list_head *, by address */
	__u64 node;
	__u64 leader_src;
	__u64 last_src;
	__u8 via;
	__u8 mechanism;
	__u8 denied;
};

/* The nodes a cgroup is bound to in the decision's epoch: its own path's and its template's. */
struct cgw_nodes {
	__u64 exact;
	__u64 matched;
};

/* Everything one decision needs; too big for the 512-byte stack. */
struct cgw_decision {
	struct cgw_chain src;
	struct cgw_chain dst;
	struct cgw_nodes src_nodes[ID_SLOTS]; /* by level, all of src's chain */
	struct cgw_nodes dst_nodes[ID_SLOTS]; /* by level, below the common ancestor only */
	struct cgw_chain actor_chain; /* level -1 until a --cgroup selector asks */
	struct cgw_actor actor;       /* exe_* valid once exe_known */
	/* Kept here, not on the stack: the deepest call chain has 512 bytes in all. */
	struct thread_walk walk;
	struct cgw_migration thread;
	__u32 exe_known;
	__u32 manager;   /* identify_exe()'s, unused: kept off the stack */
	__s32 lca;       /* deepest common ancestor level, capped */
	__s32 delegated_level; /* locks at or above this level are exempt; -1: none */
	__u32 delegated_rule;
	__u32 global_mode;
	__u32 epoch;       /* read once: the whole decision judges one policy */
	__u32 verdict;
	__u32 rule_id;   /* deciding lock; for an allow, the first exemption used */
	__u64 rule_cgroup;
	__u64 src_cgrp; /* struct cgroup * of the src being judged (a thread's, in a thread walk), by address */
	__u64 dst_cgrp;
	struct cgw_record record;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cgw_decision);
} scratch SEC(".maps");

enum migration_stage {
	STAGE_IDLE = 0,     /* between writes and clones */
	STAGE_ARMED = 1,    /* task known; cgroup_attach_permissions decides next */
	STAGE_DECIDED = 2,  /* inside cgroup_attach_permissions: its check gets the verdict */
	STAGE_ENFORCED = 3, /* that check got it; nothing else in the call may */
};

struct pending_migration {
	__u64 task;     /* struct task_struct *, held by the kernel for the call */
	__u64 src;      /* struct cgroup * the task leaves: proves an arming fresh */
	__u32 threads;  /* the thread group's size when armed */
	__u8 stage;
	__u8 via;
	__u8 threadgroup;
	__u8 verdict;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct pending_migration);
} migrations SEC(".maps");

/* struct cgw_exe_identity (cgwarden.h), on each thread-group leader. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cgw_exe_identity);
} executed SEC(".maps");

/*
 * Set to 0 by the loader and never changed: the verifier prunes what it
 * guards, yet the map it names stays among the program's map ids, which is
 * how userspace proves the pinned `rules` map belongs to the attached object.
 */
const volatile __u32 cgw_never = 0;

/* Verdicts awaiting their permission check (mainline); zero lets inode_permission return at once. */
__s64 inflight = 0;

static __always_inline void count(__u32 stat)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &stat);

	if (v)
		*v += 1;
}

/*
 * An LSM program's answer when an earlier BPF program on the same hook has
 * already refused (`ret`, the trampoline's running return value): that
 * refusal, passed on. The verifier of newer kernels (Linux 6.13 on) proves
 * that every LSM program returns 0 or -errno, and `ret` is an unknown
 * scalar to it: anything outside [-MAX_ERRNO, -1] becomes -EPERM.
 */
static __always_inline int lsm_refusal(int ret)
{
	/* One register, tested and returned: else clang tests a sign-extended copy and returns the raw context word. */
	long r = ret;

	barrier_var(r);
	if (r < -MAX_ERRNO || r >= 0)
		return -EPERM;
	return r;
}

/*
 * Indexes an ancestor array. Callers keep levels in range already, so clang
 * would drop a plain bounds check and index through an unchecked copy; after
 * barrier_var() it knows nothing of `i` and must mask the very register used
 * for the access, which the verifier can follow. The arrays are ID_SLOTS
 * long, so the masked index is in bounds.
 */
static __always_inline __u64 id_at(__u64 *ids, int level)
{
	__u32 i;

	if (level < 0 || level > CGW_MAX_LEVEL)
		return 0;
	i = level;
	barrier_var(i);
	return ids[i & (ID_SLOTS - 1)];
}

static __always_inline struct cgw_nodes *nodes_at(struct cgw_nodes *nodes, int level)
{
	__u32 i = level;

	barrier_var(i);
	return &nodes[i & (ID_SLOTS - 1)];
}

static __always_inline void set_id(__u64 *ids, int level, __u64 id)
{
	__u32 i = level;

	barrier_var(i);
	ids[i & (ID_SLOTS - 1)] = id;
}

/* ---- reading kernel memory by address ---------------------------------- */

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

/* bpf_rdonly_cast() and BPF_FUNC_cgrp_storage_get both arrived in 6.2: the enumerator is CO-RE-testable, the kfunc is not with libbpf 1.1. */
enum bpf_func_id___62 {
	BPF_FUNC_cgrp_storage_get___62 = 210,
};
#define HAVE_RDONLY_CAST bpf_core_enum_value_exists(enum bpf_func_id___62, BPF_FUNC_cgrp_storage_get___62)

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

struct peek_str_ctx {
	char *dst;
	__u64 addr;
	int len;
};

/* One eight-byte chunk of peek_str(); stops at the chunk holding the NUL. */
static long peek_chunk(__u32 i, struct peek_str_ctx *c)
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
	struct peek_str_ctx c = { .dst = dst, .addr = addr, .len = CGW_PATH_LEN };

	if (!HAVE_RDONLY_CAST)
		return bpf_probe_read_kernel_str(dst, CGW_PATH_LEN, (void *)addr);
	bpf_loop(CGW_PATH_LEN / 8, peek_chunk, &c, 0);
	return c.len;
}

/*
 * The chain of a cgroup known only by its address (a thread's, found by
 * walking its group), or of one deeper than CGW_MAX_LEVEL, whose top levels
 * are read by index from cgroup->ancestors[] (a typed pointer cannot index
 * that array by a variable).
 */
static __noinline int chain_at(__u64 cgrp, struct cgw_chain *c)
{
	int level;

	if (!c)
		return 0;
	level = peek_field32(struct cgroup, cgrp, level);
	level = level < 0 ? 0 : level > CGW_MAX_LEVEL ? CGW_MAX_LEVEL : level;
	c->level = level;
	c->id = peek_field(struct kernfs_node, peek_field(struct cgroup, cgrp, kn), id);
	for (int i = 0; i < CGW_LEVELS; i++) {
		__u64 anc;

		if (i > level)
			break;
		anc = peek_u64(cgrp + bpf_core_field_offset(struct cgroup, ancestors) + i * 8);
		set_id(c->ids, i, peek_field(struct kernfs_node, peek_field(struct cgroup, anc, kn), id));
	}
	return 0;
}

/*
 * Fills c->ids from `level` up, walking kernfs parents from kn with plain
 * loads: a cgroup directory's parent is its parent cgroup's (ancestors[]
 * cannot be indexed by a variable through a typed pointer). With `from`, it
 * stops where the two chains meet and returns that level. One walker per
 * spelling of the parent field (core_fixes.h): in one function clang would
 * merge the two loads into one the verifier refuses.
 */
#define DEFINE_WALK_UP(name, flavor, parent_field)					\
static __noinline int name(struct kernfs_node *kn, int level, struct cgw_chain *c,	\
			   struct cgw_chain *from)					\
{											\
	if (!c)										\
		return 0;								\
	for (int i = 0; i < CGW_LEVELS; i++) {						\
		int l = level - i;							\
		__u64 id;								\
											\
		if (l < 0 || !kn)							\
			break;								\
		id = kn->id;								\
		if (from && l <= from->level && id == id_at(from->ids, l))		\
			return l;							\
		set_id(c->ids, l, id);							\
		if (l == 0)								\
			break;								\
		kn = ((struct flavor *)kn)->parent_field;				\
	}										\
	return 0;									\
}
DEFINE_WALK_UP(walk_up, kernfs_node___old, parent)
DEFINE_WALK_UP(walk_up_615, kernfs_node___615, __parent)

/* The deepest level at which two filled chains name the same cgroup, capped. */
static __always_inline int common_level(struct cgw_chain *a, struct cgw_chain *b)
{
	int lca = 0;

	for (int i = 1; i < CGW_LEVELS; i++) {
		if (i > a->level || i > b->level || id_at(a->ids, i) != id_at(b->ids, i))
			break;
		lca = i;
	}
	return lca;
}

/*
 * The chain of a cgroup the kernel handed over as a typed pointer. With
 * `from`, a filled chain it shares the top of, it is walked only down to
 * where the two meet, which it returns (their deepest common level); above
 * that its ids are from's and stay unfilled, for complete_chain() to fill
 * where a walk needs them.
 */
static __always_inline int chain_to(struct cgroup *cgrp, struct cgw_chain *c, struct cgw_chain *from)
{
	int level;

	if (!cgrp || !c)
		return 0;
	level = cgrp->level;
	if (level < 0 || level > CGW_MAX_LEVEL) {
		chain_at((__u64)cgrp, c);
		return from ? common_level(from, c) : 0;
	}
	c->level = level;
	c->id = cgrp->kn->id;
	if (bpf_core_field_exists(struct kernfs_node___615, __parent))
		return walk_up_615(cgrp->kn, level, c, from);
	return walk_up(cgrp->kn, level, c, from);
}

static __always_inline void chain_of(struct cgroup *cgrp, struct cgw_chain *c)
{
	chain_to(cgrp, c, 0);
}

/* Fills the ids chain_to() left to the other chain, levels 0 to lca. */
static __always_inline void complete_chain(struct cgw_chain *c, struct cgw_chain *from, int lca)
{
	for (int i = 0; i < CGW_LEVELS; i++) {
		if (i > lca)
			break;
		set_id(c->ids, i, id_at(from->ids, i));
	}
}

/* Userspace sees st_dev as new_encode_dev() of the kernel's MKDEV(). */
static __always_inline __u64 encode_dev(__u32 dev)
{
	__u64 major = dev >> 20, minor = dev & 0xfffff;

	return (minor & 0xff) | (major << 8) | ((minor & ~0xffULL) << 12);
}


static __always_inline __u64 selector_bits(struct cgw_selector_key *key, __u32 sel,
					   __u64 value, __u64 value2)
{
	__u64 *bits;

	key->selector = sel;
	key->value = value;
	key->value2 = value2;
	bits = bpf_map_lookup_elem(&selectors, key);
	return bits ? *bits : 0;
}

/* The nodes the cgroup with this id carries in the decision's epoch, or NULL. */
static __always_inline struct cgw_binding *binding_of(struct cgw_decision *d, __u64 cgid)
{
	struct cgw_bound_key key = { .cgroup = cgid, .epoch = d->epoch };

	return bpf_map_lookup_elem(&bound, &key);
}

static __always_inline void bind_nodes(struct cgw_decision *d, struct cgw_nodes *n, __u64 cgid)
{
	struct cgw_binding *b = binding_of(d, cgid);

	n->exact = b ? b->exact : 0;
	n->matched = b ? b->matched : 0;
}

static __always_inline __u64 cgroup_selector_bits(struct cgw_selector_key *sk, struct cgw_binding *b)
{
	__u64 bits = 0;

	if (b->exact)
		bits |= selector_bits(sk, CGW_SEL_CGROUP, b->exact, 0);
	if (b->matched)
		bits |= selector_bits(sk, CGW_SEL_CGROUP, b->matched, 0);
	return bits;
}

/*
 * Typed pointers only: bprm->file, or the mm of a typed task. The
 * generation tells apart two files a remount put at the same (dev, ino).
 */
static __always_inline void file_identity(struct file *file, __u64 *dev, __u64 *ino, __u32 *gen)
{
	struct inode *inode = file ? file->f_inode : 0;

	*dev = inode ? encode_dev(inode->i_sb->s_dev) : 0;
	*ino = inode ? inode->i_ino : 0;
	*gen = inode ? inode->i_generation : 0;
}

/* Out of line: inlined, clang merges its loads with identify()'s from a map value into one insn, which the verifier refuses. */
static __noinline void exe_of(struct task_struct *task, __u64 *dev, __u64 *ino, __u32 *gen)
{
	struct mm_struct *mm = task->mm;

	file_identity(mm ? mm->exe_file : 0, dev, ino, gen);
}

/*
 * Who a process is: what it really executed (see `executed`), which process,
 * and whether it is a manager's cgwarden (see the seal). t is a typed task.
 */
static __always_inline void identify_exe(struct task_struct *t, struct cgw_actor *a, __u32 *manager)
{
	struct task_struct *leader = t->group_leader;
	struct cgw_exe_identity *id = bpf_task_storage_get(&executed, leader, 0, 0);

	*manager = 0;
	if (t->ptrace || leader->ptrace) {
		/*
		 * A traced binary runs whatever code its tracer makes it run: it
		 * is not the program an --exe rule or a seal vouches for.
		 * Unknown, so no --exe selector matches (the thread is what
		 * ptrace stops).
		 */
		a->exe_dev = 0;
		a->exe_ino = 0;
		a->exe_gen = 0;
	} else if (id) {
		a->exe_dev = id->dev;
		a->exe_ino = id->ino;
		a->exe_gen = id->gen;
		*manager = id->manager;
	} else {
		/* Started before cgwarden loaded and never touched PR_SET_MM since. */
		exe_of(t, &a->exe_dev, &a->exe_ino, &a->exe_gen);
	}
}

static __always_inline void identify_process(struct task_struct *t, struct cgw_actor *a)
{
	a->pid = t->pid;
	a->tgid = t->tgid;
	a->euid = t->real_cred->euid.val;
}

/* /proc/PID/stat's starttime: boot-time ticks of USER_HZ (100). */
static __always_inline __u64 start_ticks_of(struct task_struct *t)
{
	return t->group_leader->start_boottime / 10000000ULL;
}

static __always_inline __u64 cgroup_of(struct task_struct *t)
{
	return t->cgroups->dfl_cgrp->kn->id;
}

static __always_inline void identify(struct task_struct *t, struct cgw_actor *a, __u32 *manager)
{
	identify_exe(t, a, manager);
	identify_process(t, a);
	a->start_ticks = start_ticks_of(t);
	a->cgroup = cgroup_of(t);
}


/*
 * The actor's executable, looked up when a selector or a record first needs
 * it. Inline: the combined stack of the deepest call chain must stay within
 * 512 bytes.
 */
static __always_inline void learn_exe(struct cgw_decision *d)
{
	if (d->exe_known)
		return;
	identify_exe((struct task_struct *)bpf_get_current_task_btf(), &d->actor, &d->manager);
	d->exe_known = 1;
}

/*
 * Returns the id of the first rule in the gate that the actor satisfies, or 0.
 * Global, not static: the verifier checks a global function once, on its own,
 * rather than again at each of its many call sites (load time under TCG fell
 * from seconds to a fraction of one).
 */
__noinline __u32 gate_match(struct cgw_decision *d, __u64 anchor, __u32 kind)
{
	struct cgw_gate_key gk = { .anchor = anchor, .kind = kind };
	struct cgw_selector_key sk = { .anchor = anchor, .kind = kind };
	struct cgw_gate *g;
	struct cgw_binding *b;
	__u64 live, need, fail = 0, sat = 0;

	if (!d || !anchor)
		return 0;
	g = bpf_map_lookup_elem(&gates, &gk);
	if (!g)
		return 0;
	live = g->live;
	if (!live)
		return 0;

	need = g->need[CGW_SEL_PID] & live;
	if (need) {
		/* Only --pid needs it (and records): a division saved on every other decision. */
		d->actor.start_ticks = start_ticks_of((struct task_struct *)bpf_get_current_task_btf());
		fail |= need & ~selector_bits(&sk, CGW_SEL_PID, d->actor.tgid, d->actor.start_ticks);
	}
	need = g->need[CGW_SEL_EXE] & live;
	if (need) {
		learn_exe(d);
		fail |= need & ~selector_bits(&sk, CGW_SEL_EXE, d->actor.exe_dev, d->actor.exe_ino);
	}
	need = g->need[CGW_SEL_UID] & live;
	if (need)
		fail |= need & ~selector_bits(&sk, CGW_SEL_UID, d->actor.euid, 0);
	need = g->need[CGW_SEL_CGROUP] & live;
	if (need) {
		if (d->actor_chain.level < 0)
			chain_of(((struct task_struct *)bpf_get_current_task_btf())->cgroups->dfl_cgrp,
				 &d->actor_chain);
		for (int i = 0; i < CGW_LEVELS; i++) {
			if (i > d->actor_chain.level)
				break;
			b = binding_of(d, id_at(d->actor_chain.ids, i));
			if (b)
				sat |= cgroup_selector_bits(&sk, b);
		}
		fail |= need & ~sat;
	}

	live &= ~fail;
	if (!live)
		return 0;
	return g->rule_id[lowest_bit(live) & (CGW_GATE_SLOTS - 1)];
}

/* A cgroup's gate is the union of its nodes' gates: its own path's first, then its template's. */
static __always_inline __u32 gate_match_bound(struct cgw_decision *d, struct cgw_nodes *n, __u32 kind)
{
	__u32 rule = n->exact ? gate_match(d, n->exact, kind) : 0;

	return rule || !n->matched ? rule : gate_match(d, n->matched, kind);
}

/* Whether a delegation at this common ancestor exempts what lies below it. */
static __always_inline int find_delegation(struct cgw_decision *d, int level)
{
	struct cgw_nodes *n;
	__u32 rule;

	n = nodes_at(d->src_nodes, level);
	if (!n->exact && !n->matched)
		return 0;
	rule = gate_match_bound(d, n, CGW_RULE_DELEGATE);
	if (!rule)
		return 0;
	d->delegated_level = level;
	d->delegated_rule = rule;
	return 1;
}

/* Returns 1 once an enforcing lock has denied, which ends the walk. */
static __always_inline int judge_lock(struct cgw_decision *d, struct cgw_nodes *n, __u64 node,
				      __u64 cgid, int level, __u8 direction)
{
	struct cgw_lock *lock;
	__u32 exempt;

	if (!d || !n || !node)
		return 0;
	lock = bpf_map_lookup_elem(&locks, &node);
	if (!lock || !(lock->directions & direction))
		return 0;
	if (level <= d->delegated_level)
		exempt = d->delegated_rule;
	else
		exempt = gate_match_bound(d, n, CGW_RULE_ALLOW);
	if (exempt) {
		if (d->verdict == CGW_VERDICT_ALLOW && !d->rule_id) {
			d->rule_id = exempt;
			d->rule_cgroup = cgid;
		}
		return 0;
	}
	if (d->global_mode == CGW_MODE_AUDIT || lock->mode == CGW_MODE_AUDIT) {
		if (d->verdict != CGW_VERDICT_AUDIT) {
			d->verdict = CGW_VERDICT_AUDIT;
			d->rule_id = lock->rule_id;
			d->rule_cgroup = cgid;
		}
		return 0;
	}
	d->verdict = CGW_VERDICT_DENY;
	d->rule_id = lock->rule_id;
	d->rule_cgroup = cgid;
	return 1;
}

/*
 * A cgroup may carry two locks, its own path's and its template's, each
 * judged as if it were the only one: own path first.
 */
__noinline int judge_cgroup(struct cgw_decision *d, struct cgw_nodes *n, __u64 cgid, int level,
			    __u8 direction)
{
	if (!d || !n)
		return 0;
	if (judge_lock(d, n, n->exact, cgid, level, direction))
		return 1;
	return judge_lock(d, n, n->matched, cgid, level, direction);
}

/*
 * One level of the lock walk, which goes shallowest first. At each level the
 * lock on src's chain is judged before the one on dst's chain; the TypeScript
 * model walks in the same order so both name the same deciding rule. Returns
 * 1 once a lock has denied.
 */
static __always_inline int judge_level(struct cgw_decision *d, int level)
{
	struct cgw_nodes *n;

	n = nodes_at(d->src_nodes, level);
	if ((int)level <= d->src.level && (n->exact || n->matched) &&
	    judge_cgroup(d, n, id_at(d->src.ids, level), level,
			 (int)level <= d->lca ? CGW_DIR_WITHIN : CGW_DIR_OUT))
		return 1;
	n = nodes_at(d->dst_nodes, level);
	if ((int)level > d->lca && (int)level <= d->dst.level && (n->exact || n->matched) &&
	    judge_cgroup(d, n, id_at(d->dst.ids, level), level, CGW_DIR_IN))
		return 1;
	return 0;
}

/* Numbers a filled record and writes it to the flight recorder and the events ring buffer. */
static __noinline int publish(struct cgw_record *r, __u32 slots)
{
	struct cgw_record *slot;
	__u32 zero = 0, index;
	__u64 *head, seq;

	if (!r || !slots)
		return 0;
	head = bpf_map_lookup_elem(&recorder_head, &zero);
	if (!head)
		return 0;
	seq = __sync_fetch_and_add(head, 1) + 1;
	r->seq = seq;
	r->time_ns = bpf_ktime_get_boot_ns();
	index = seq % slots;
	slot = bpf_map_lookup_elem(&recorder, &index);
	if (slot) {
		if (seq > slots)
			count(CGW_STAT_DROPPED); /* the oldest record falls out */
		/* Readers skip a slot whose seq is not the one they expect: mark it in flux first. */
		slot->seq = 0;
		__builtin_memcpy(slot, r, sizeof(*r));
	}
	count(CGW_STAT_RECORDED);
	/* Nobody may be following; a full ring buffer is not a lost record, the recorder has it. */
	bpf_ringbuf_output(&events, r, sizeof(*r), 0);
	return 0;
}

/* Where cgroup_path() is: the component being copied and the bytes written. */
struct cgroup_path_ctx {
	char *dst;   /* CGW_PATH_LEN bytes */
	__u64 cgrp;  /* struct cgroup *, by address */
	__u64 name;  /* the current component's name, by address */
	int levels;  /* components to write: the cgroup's level */
	int level;   /* the component being written, 1-based */
	int chunk;   /* eight-byte chunk of its name */
	int pos;     /* bytes written; -1 once it does not fit */
};

/* One eight-byte chunk of one component of cgroup_path(). */
static long cgroup_path_chunk(__u32 i, struct cgroup_path_ctx *c)
{
	__u64 v, zero;
	int n = 8;

	if (c->level > c->levels || c->pos < 0)
		return 1;
	if (c->chunk == 0) {
		__u64 anc = peek_u64(c->cgrp + bpf_core_field_offset(struct cgroup, ancestors) + (c->level & (ID_SLOTS - 1)) * 8);

		c->name = peek_field(struct kernfs_node, peek_field(struct cgroup, anc, kn), name);
		if (c->pos >= CGW_PATH_LEN - 1) {
			c->pos = -1;
			return 1;
		}
		c->dst[c->pos & (CGW_PATH_LEN - 1)] = '/';
		c->pos++;
	}
	v = peek_u64(c->name + c->chunk * 8);
	zero = (v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL;
	if (zero)
		n = lowest_bit(zero) >> 3;
	if (c->pos + n >= CGW_PATH_LEN) {
		c->pos = -1;
		return 1;
	}
	for (int j = 0; j < 8; j++) {
		if (j >= n)
			break;
		c->dst[(c->pos + j) & (CGW_PATH_LEN - 1)] = v >> (j * 8);
	}
	c->pos += n;
	if (zero || c->chunk >= CGW_PATH_LEN / 8) {
		c->level++;
		c->chunk = 0;
	} else {
		c->chunk++;
	}
	return 0;
}

/*
 * The path of the cgroup at cgrp from the cgroup2 root, NUL-terminated, into
 * a CGW_PATH_LEN buffer; empty when unknown (deeper than CGW_MAX_LEVEL, or
 * longer than the buffer). Names are read from cgroup->ancestors[] by
 * address, one eight-byte chunk per bpf_loop() step: a record pays for its
 * paths, a decision that is not recorded pays nothing.
 */
static __noinline int cgroup_path(char *dst, __u64 cgrp)
{
	struct cgroup_path_ctx c = { .dst = dst, .cgrp = cgrp, .level = 1 };

	if (!dst)
		return 0;
	dst[0] = 0;
	if (!cgrp)
		return 0;
	c.levels = peek_field32(struct cgroup, cgrp, level);
	if (c.levels < 0 || c.levels > CGW_MAX_LEVEL)
		return 0;
	if (c.levels == 0) {
		dst[0] = '/';
		dst[1] = 0;
		return 0;
	}
	bpf_loop(CGW_PATH_LEN / 8 + CGW_LEVELS + 1, cgroup_path_chunk, &c, 0);
	if (c.pos <= 0 || c.pos >= CGW_PATH_LEN)
		dst[0] = 0;
	else
		dst[c.pos & (CGW_PATH_LEN - 1)] = 0;
	return 0;
}

/* Records one decision. */
static __noinline int record(struct cgw_decision *d, struct cgw_migration *m, __u32 slots)
{
	struct cgw_record *r;

	if (!d || !m)
		return 0;
	learn_exe(d);
	r = &d->record;
	r->src_cgroup = d->src.id;
	r->dst_cgroup = d->dst.id;
	r->rule_cgroup = d->rule_cgroup;
	r->rule_id = d->rule_id;
	r->verdict = d->verdict;
	r->via = m->via;
	r->mechanism = m->mechanism;
	r->threadgroup = m->threadgroup;
	r->actor_exe_dev = d->actor.exe_dev;
	r->actor_exe_ino = d->actor.exe_ino;
	r->actor_cgroup = cgroup_of((struct task_struct *)bpf_get_current_task_btf());
	r->actor_start_ticks = start_ticks_of((struct task_struct *)bpf_get_current_task_btf());
	r->actor_pid = d->actor.pid;
	r->actor_tgid = d->actor.tgid;
	r->actor_euid = d->actor.euid;
	r->object = 0;
	r->tamper = 0;
	r->task_pid = peek_field32(struct task_struct, m->task, pid);
	r->task_tgid = peek_field32(struct task_struct, m->task, tgid);
	bpf_get_current_comm(r->actor_comm, sizeof(r->actor_comm));
	*(__u64 *)&r->task_comm[0] = peek_field(struct task_struct, m->task, comm);
	*(__u64 *)&r->task_comm[8] = peek_u64(m->task + bpf_core_field_offset(struct task_struct, comm) + 8);
	r->task_comm[CGW_COMM_LEN - 1] = 0;
	cgroup_path(r->src_path, d->src_cgrp);
	cgroup_path(r->dst_path, d->dst_cgrp);
	cgroup_path(r->actor_path, (__u64)((struct task_struct *)bpf_get_current_task_btf())->cgroups->dfl_cgrp);
	return publish(r, slots);
}

/*
 * Judges the migration whose chains (src, dst), their common level and the
 * actor the decision holds.
 * Returns the verdict; records it when the policy asks.
 */
static __noinline int cgw_decide(struct cgw_decision *d, struct cgw_migration *m)
{
	__u32 zero = 0;
	struct cgw_settings *s = bpf_map_lookup_elem(&settings, &zero);
	int top;

	if (!d || !m || d->src.id == d->dst.id)
		return CGW_VERDICT_ALLOW;

	d->global_mode = s ? s->global_mode : CGW_MODE_ENFORCE;
	d->epoch = s ? s->epoch & 1 : 0;
	d->verdict = CGW_VERDICT_ALLOW;
	d->rule_id = 0;
	d->rule_cgroup = 0;
	d->delegated_level = -1;
	d->delegated_rule = 0;

	top = d->src.level > d->dst.level ? d->src.level : d->dst.level;
	/* Each cgroup's binding, looked up once: both walks below read it. */
	for (int i = 0; i < CGW_LEVELS; i++) {
		if (i > top)
			break;
		if (i <= d->src.level)
			bind_nodes(d, nodes_at(d->src_nodes, i), id_at(d->src.ids, i));
		if (i > d->lca && i <= d->dst.level)
			bind_nodes(d, nodes_at(d->dst_nodes, i), id_at(d->dst.ids, i));
	}
	/*
	 * Plain bounded loops, not bpf_loop(): a callback call per level cost
	 * more than the verifier's extra work at load.
	 */
	for (int i = 0; i < CGW_LEVELS; i++) {
		if (d->lca - i < 0 || find_delegation(d, d->lca - i))
			break;
	}
	for (int level = 0; level < CGW_LEVELS; level++) {
		if (level > top || judge_level(d, level))
			break;
	}

	count(CGW_STAT_DECISIONS);
	if (d->verdict == CGW_VERDICT_DENY)
		count(CGW_STAT_DENIED);
	else if (d->verdict == CGW_VERDICT_AUDIT)
		count(CGW_STAT_AUDITED);
	else
		count(CGW_STAT_ALLOWED);
	if (d->verdict != CGW_VERDICT_ALLOW || (s && s->record_all))
		record(d, m, s ? s->recorder_slots : 0);
	if (cgw_never) {
		bpf_map_lookup_elem(&rules, &zero);
		bpf_map_lookup_elem(&grace, &zero);
		bpf_map_lookup_elem(&grace_slot, &zero);
		bpf_map_lookup_elem(&seal, &zero);
		bpf_map_lookup_elem(&protected, &zero);
	}
	return d->verdict;
}

/*
 * The scratch decision with src's, dst's and the actor's chains and the actor
 * filled in, from the typed pointers a hook receives; NULL when there is
 * nothing to judge.
 */
static __always_inline struct cgw_decision *gather(struct cgroup *src, struct cgroup *dst)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	__u32 zero = 0;
	struct cgw_decision *d;

	if (!src || !dst || src == dst)
		return 0;
	d = bpf_map_lookup_elem(&scratch, &zero);
	if (!d)
		return 0;
	chain_of(src, &d->src);
	d->lca = chain_to(dst, &d->dst, &d->src);
	d->src_cgrp = (__u64)src;
	d->dst_cgrp = (__u64)dst;
	d->actor_chain.level = -1;
	d->exe_known = 0;
	identify_process(current, &d->actor);
	return d;
}

/* bpf_loop hands callbacks a pointer into the caller's stack, never a map value. */
struct loop_ctx {
	struct cgw_decision *d;
};

/*
 * A thread group moves whole, yet its threads may sit in different cgroups
 * of a threaded subtree; the kernel (and the proposed hook) hand us only the
 * leader's. Every thread whose cgroup differs from the leader's is judged as
 * a migration of its own, so a lock --out on a threaded cgroup holds too.
 * Runs under cgroup_threadgroup_rwsem held for writing: the list is stable.
 */
static long judge_thread(__u32 i, struct loop_ctx *ctx)
{
	struct cgw_decision *d = ctx->d;
	struct thread_walk *w = &d->walk;
	struct cgw_migration *tm = &d->thread;
	__u64 node = w->node, t, src;

	if (!node || node == w->head)
		return 1;
	w->node = peek_field(struct list_head, node, next);
	t = node - bpf_core_field_offset(struct task_struct, thread_node);
	src = peek_field(struct css_set, peek_field(struct task_struct, t, cgroups), dfl_cgrp);
	if (!src || src == w->leader_src || src == w->last_src)
		return 0;
	w->last_src = src;
	chain_at(src, &d->src);
	d->src_cgrp = src;
	d->lca = common_level(&d->src, &d->dst);
	tm->task = t;
	tm->src = src;
	tm->threads = 0;
	tm->via = w->via;
	tm->threadgroup = 1;
	tm->mechanism = w->mechanism;
	if (cgw_decide(d, tm) != CGW_VERDICT_DENY)
		return 0;
	w->denied = 1;
	return 1;
}

/* The verdict for one migration as a mechanism saw it, whole thread groups included. */
static __always_inline int decide_migration(struct cgw_decision *d, struct cgw_migration *m)
{
	struct thread_walk *w = &d->walk;
	__u64 signal;
	struct loop_ctx lctx = { .d = d };
	int verdict = cgw_decide(d, m);

	if (verdict == CGW_VERDICT_DENY || !m->threadgroup || m->via == CGW_VIA_CLONE || m->threads <= 1)
		return verdict;
	signal = peek_field(struct task_struct, m->task, signal);
	if (!signal)
		return verdict;
	/* Each thread's src chain replaces the leader's: dst's must stand on its own. */
	complete_chain(&d->dst, &d->src, d->lca);
	w->head = signal + bpf_core_field_offset(struct signal_struct, thread_head);
	w->node = peek_u64(w->head + bpf_core_field_offset(struct list_head, next));
	w->leader_src = m->src;
	w->last_src = 0;
	w->via = m->via;
	w->mechanism = m->mechanism;
	w->denied = 0;
	/* threads bounds the walk; the list head ends it. PID_MAX_LIMIT is 1 << 22. */
	bpf_loop((m->threads & ((1 << 22) - 1)) + 1, judge_thread, &lctx, 0);
	return w->denied ? CGW_VERDICT_DENY : verdict;
}

/* ---- native mechanism ------------------------------------------------- */

SEC("lsm/cgroup_attach")
int BPF_PROG(cgwarden_cgroup_attach, struct task_struct *task, struct cgroup *src,
	     struct cgroup *dst, struct super_block *sb, bool threadgroup,
	     struct cgroup_namespace *ns, int ret)
{
	struct cgw_migration m = {
		.task = (__u64)task, .src = (__u64)src,
		.threadgroup = threadgroup, .mechanism = CGW_MECH_NATIVE,
	};
	struct cgw_decision *d;

	if (ret)
		return lsm_refusal(ret);
	/* A clone3 child is still TASK_NEW here; a task found by pid never is. */
	if (task->__state & TASK_NEW)
		m.via = CGW_VIA_CLONE;
	else
		m.via = threadgroup ? CGW_VIA_PROCS : CGW_VIA_THREADS;
	m.threads = task->signal->nr_threads;
	d = gather(src, dst);
	if (d && decide_migration(d, &m) == CGW_VERDICT_DENY)
		return -EPERM;
	return 0;
}

/* ---- mainline mechanism ----------------------------------------------- */

/*
 * Notes the migration a write or clone is about to ask cgroup_attach_permissions
 * about: every call of it follows one of these in the same system call.
 */
static __always_inline int arm(struct task_struct *task, struct cgroup *src, __u8 via,
			       __u8 threadgroup, __u32 threads)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	/* Created once per task and kept until it exits: no allocation per write. */
	struct pending_migration *m = bpf_task_storage_get(&migrations, current, 0,
							    BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!m)
		return 0;
	m->task = (__u64)task;
	m->src = (__u64)src;
	m->threads = threads;
	m->via = via;
	m->threadgroup = threadgroup;
	m->stage = STAGE_ARMED;
	return 0;
}

/* The third argument changed type in 6.18; only its position matters here. */
SEC("fexit/cgroup_procs_write_start")
int BPF_PROG(cgwarden_procs_write_start, char *buf, bool threadgroup, void *lock_mode,
	     struct task_struct *task)
{
	/* cgroup v1 writes get here too; they never reach cgroup_attach_permissions. */
	if (!task || (unsigned long)task >= (unsigned long)-MAX_ERRNO)
		return 0;
	return arm(task, task->cgroups->dfl_cgrp, threadgroup ? CGW_VIA_PROCS : CGW_VIA_THREADS,
		   threadgroup, task->signal->nr_threads);
}

SEC("fentry/cgroup_can_fork")
int BPF_PROG(cgwarden_can_fork, struct task_struct *child, struct kernel_clone_args *kargs)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	__u64 flags = kargs->flags;

	if (!(flags & CLONE_INTO_CGROUP))
		return 0;
	/* The child leaves its parent's cgroup (it still points at init_css_set). */
	return arm(child, current->cgroups->dfl_cgrp, CGW_VIA_CLONE, !(flags & CLONE_THREAD), 0);
}

/* The decision, with src and dst as the kernel's permission check gets them. */
SEC("fentry/cgroup_attach_permissions")
int BPF_PROG(cgwarden_attach_permissions, struct cgroup *src, struct cgroup *dst,
	     struct super_block *sb, bool threadgroup)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct pending_migration *m = bpf_task_storage_get(&migrations, current, 0,
							    BPF_LOCAL_STORAGE_GET_F_CREATE);
	struct cgw_migration mig = {
		.src = (__u64)src, .threadgroup = threadgroup, .mechanism = CGW_MECH_MAINLINE,
	};
	struct cgw_decision *d;
	int verdict = CGW_VERDICT_ALLOW;

	if (!m)
		return 0;
	if (m->stage == STAGE_ARMED && m->src == (__u64)src) {
		mig.task = m->task;
		mig.via = m->via;
		mig.threads = m->threads;
	} else {
		/* Not armed (its program missed a call): judged all the same, task unknown. */
		mig.via = threadgroup ? CGW_VIA_PROCS : CGW_VIA_THREADS;
	}
	d = gather(src, dst);
	if (d)
		verdict = decide_migration(d, &mig);
	if (m->stage != STAGE_DECIDED && m->stage != STAGE_ENFORCED)
		__sync_fetch_and_add(&inflight, 1);
	m->verdict = verdict;
	m->stage = STAGE_DECIDED;
	return 0;
}

SEC("fexit/cgroup_attach_permissions")
int BPF_PROG(cgwarden_attach_permissions_exit)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct pending_migration *m = bpf_task_storage_get(&migrations, current, 0, 0);

	if (!m || (m->stage != STAGE_DECIDED && m->stage != STAGE_ENFORCED))
		return 0;
	m->stage = STAGE_IDLE;
	m->task = 0;
	__sync_fetch_and_add(&inflight, -1);
	return 0;
}

/*
 * The part of inode_permission that runs only while some verdict awaits its
 * check. Inside cgroup_attach_permissions the first write check on a cgroup2
 * inode is the kernel's on the common ancestor's cgroup.procs (a clone3's
 * check of its destination comes before the call, outside).
 */
static __noinline int judge_permission(struct inode *inode)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct pending_migration *m;

	if (!inode)
		return 0;
	m = bpf_task_storage_get(&migrations, current, 0, 0);
	if (!m || m->stage != STAGE_DECIDED)
		return 0;
	if (inode->i_sb->s_magic != CGROUP2_SUPER_MAGIC)
		return 0;
	m->stage = STAGE_ENFORCED;
	return m->verdict == CGW_VERDICT_DENY ? -EPERM : 0;
}

/* ---- path binding (both mechanisms) ------------------------------------ */

/* A new cgroup's path and name, as the mkdir tracepoint gives them. */
struct naming {
	struct cgw_path_key key;
	char name[CGW_PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct naming);
} naming_scratch SEC(".maps");

static __always_inline int template_matches(struct naming *n, int name_len, struct cgw_template *t)
{
	int plen = t->prefix_len, slen = t->suffix_len, off;

	if (plen > CGW_TEMPLATE_PART || slen > CGW_TEMPLATE_PART || plen + slen > name_len)
		return 0;
	for (int j = 0; j < CGW_TEMPLATE_PART; j++) {
		if (j >= plen)
			break;
		if (n->name[j] != t->prefix[j])
			return 0;
	}
	off = name_len - slen;
	for (int j = 0; j < CGW_TEMPLATE_PART; j++) {
		if (j >= slen)
			break;
		if (n->name[(off + j) & (CGW_PATH_LEN - 1)] != t->suffix[j])
			return 0;
	}
	return 1;
}

/* The node of the first template in the set that the new cgroup's name matches, or 0. Global: verified once. */
__noinline __u64 match_template(struct naming *n, int name_len, __u64 set_id)
{
	struct cgw_template_set *set = bpf_map_lookup_elem(&templates, &set_id);

	if (!n || !set)
		return 0;
	for (int i = 0; i < CGW_DIR_TEMPLATES; i++) {
		if (i >= set->count)
			break;
		if (template_matches(n, name_len, &set->t[i]))
			return set->t[i].node;
	}
	return 0;
}

static __always_inline void count_bind(__u64 node, __u64 cgid)
{
	__u64 key = node & ~CGW_NODE_EPOCH;
	struct cgw_node_stats *st;

	if (!node)
		return;
	st = bpf_map_lookup_elem(&node_stats, &key);
	if (!st)
		return;
	st->cgroup = cgid;
	__sync_fetch_and_add(&st->binds, 1);
}

/*
 * Binds a new cgroup to the nodes its path names, under both epochs (a
 * policy change may be writing the other one). The tracepoint fires in
 * cgroup_mkdir() under cgroup_mutex and before kernfs_activate() makes the
 * directory visible; every migration takes cgroup_mutex too, so none can
 * judge the new cgroup before this program has bound it.
 */
SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(cgwarden_mkdir, struct cgroup *cgrp, const char *path)
{
	__u32 zero = 0;
	struct naming *n = bpf_map_lookup_elem(&naming_scratch, &zero);
	struct cgw_settings *s = bpf_map_lookup_elem(&settings, &zero);
	struct kernfs_node *kn = cgrp->kn;
	struct cgroup_subsys_state *parent = cgrp->self.parent;
	__u64 cgid, parent_id;
	int path_len, name_len;

	if (!n || cgrp->root->hierarchy_id != 0)
		return 0; /* a cgroup v1 hierarchy: its ids are another namespace */
	if (cgrp->level < 1)
		return 0;
	__builtin_memset(n->key.path, 0, sizeof(n->key.path));
	path_len = peek_str(n->key.path, (__u64)path);
	name_len = peek_str(n->name, (__u64)kn->name) - 1;
	cgid = kn->id;
	parent_id = parent ? parent->cgroup->kn->id : 0;

	for (__u32 e = 0; e < 2; e++) {
		struct cgw_bound_key bk = { .cgroup = parent_id, .epoch = e };
		struct cgw_binding b = {}, *pb;
		struct cgw_path *p = 0;

		/* A path as long as the buffer may be cut short; userspace refuses such rules. */
		if (path_len > 0 && path_len < CGW_PATH_LEN) {
			n->key.epoch = e;
			p = bpf_map_lookup_elem(&paths, &n->key);
		}
		pb = bpf_map_lookup_elem(&bound, &bk);
		if (pb && name_len > 0) {
			if (pb->children)
				b.matched = match_template(n, name_len, pb->children);
			if (pb->descend) {
				__u64 deep = match_template(n, name_len, pb->descend);

				/* Outermost match wins: the set stops at the cgroup it bound. */
				if (deep)
					b.matched = b.matched ?: deep;
				else
					b.descend = pb->descend;
			}
		}
		if (p) {
			b.exact = p->node;
			b.children = p->children;
			if (p->descend)
				b.descend = p->descend;
		}
		if (!b.exact && !b.matched && !b.children && !b.descend)
			continue;
		bk.cgroup = cgid;
		bpf_map_update_elem(&bound, &bk, &b, BPF_ANY);
		if (s && (s->epoch & 1) == e) {
			count_bind(b.exact, cgid);
			count_bind(b.matched, cgid);
		}
	}
	return 0;
}

/* The cgroup is gone; a rule bound to its path waits for the path again. */
SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(cgwarden_rmdir, struct cgroup *cgrp, const char *path)
{
	__u32 zero = 0;
	struct cgw_settings *s = bpf_map_lookup_elem(&settings, &zero);
	__u64 cgid;

	if (cgrp->root->hierarchy_id != 0)
		return 0;
	cgid = cgrp->kn->id;
	for (__u32 e = 0; e < 2; e++) {
		struct cgw_bound_key bk = { .cgroup = cgid, .epoch = e };
		struct cgw_binding *b = bpf_map_lookup_elem(&bound, &bk);

		if (!b)
			continue;
		if (s && (s->epoch & 1) == e && b->exact) {
			__u64 key = b->exact & ~CGW_NODE_EPOCH;
			struct cgw_node_stats *st = bpf_map_lookup_elem(&node_stats, &key);

			if (st && st->cgroup == cgid)
				st->cgroup = 0;
		}
		bpf_map_delete_elem(&bound, &bk);
	}
	return 0;
}

/* ---- the seal: who may change cgwarden's BPF state ---------------------- */

static __always_inline struct cgw_seal *active_seal(void)
{
	__u32 zero = 0;
	struct cgw_seal *s = bpf_map_lookup_elem(&seal, &zero);

	return s && s->sealed ? s : 0;
}

/*
 * A manager is judged by what it really executed, never by mm->exe_file,
 * and not while traced. A process a manager forked that executes
 * cgwarden's binary, untraced, is marked a manager at exec: that is how a
 * manager uses the CLI (see cgwarden_fork and cgwarden_exec).
 */
static __noinline int is_manager(struct task_struct *t, struct cgw_seal *s)
{
	struct cgw_actor a = {};
	__u32 marked;

	if (!t || !s)
		return 0;
	identify(t, &a, &marked);
	if (!a.exe_ino)
		return 0;
	if (marked)
		return 1;
	for (int i = 0; i < CGW_MANAGERS; i++) {
		struct cgw_manager *m = &s->managers[i];

		if (i >= s->manager_count)
			break;
		if (m->exe_dev != a.exe_dev || m->exe_ino != a.exe_ino || m->exe_gen != (m->pid ? 0 : a.exe_gen))
			continue;
		if (m->pid && (m->pid != a.tgid || m->start_ticks != a.start_ticks))
			continue;
		return 1;
	}
	return 0;
}

/* ---- executable identity (both mechanisms) ----------------------------- */

/*
 * After de_thread() the exec'ing task is its group's leader: current is
 * where it belongs. A manager's mark needs the process's own origin (the
 * fork by a manager that cgwarden_fork saw), never its current parent,
 * which adoption gives: an orphan's parent is PID 1 or a subreaper. A
 * process traced at exec runs whatever its tracer makes it run: it is not
 * marked. Nor is one whose environment makes other code run in it: the
 * seal's cgwarden_seal_exec_env, on the same hook, takes that back.
 */
SEC("lsm/bprm_committed_creds")
int BPF_PROG(cgwarden_exec, struct linux_binprm *bprm)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct cgw_exe_identity *id;

	struct cgw_seal *s = active_seal();

	id = bpf_task_storage_get(&executed, current, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!id)
		return 0;
	if (current->ptrace)
		id->from_manager = 0;
	file_identity(bprm->file, &id->dev, &id->ino, &id->gen);
	id->manager = s && id->from_manager && id->dev == s->cli_dev && id->ino == s->cli_ino && id->gen == s->cli_gen;
	return 0;
}

/*
 * A process that predates cgwarden has no identity yet: take it from
 * mm->exe_file before its first PR_SET_MM, which is the only way to change
 * that file short of exec. The first thread to get here claims the slot, so
 * a sibling that already swapped the file cannot write the forged one.
 * Never decides a prctl: it passes on what an earlier program answered.
 */
SEC("lsm/task_prctl")
int BPF_PROG(cgwarden_prctl, int option, unsigned long arg2, unsigned long arg3,
	     unsigned long arg4, unsigned long arg5, int ret)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct cgw_exe_identity *id;
	__u64 dev, ino;
	__u32 gen;

	if (ret)
		return lsm_refusal(ret);
	if (option != PR_SET_MM)
		return 0;
	id = bpf_task_storage_get(&executed, current->group_leader, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!id || id->ino)
		return 0;
	exe_of(current, &dev, &ino, &gen);
	if (__sync_val_compare_and_swap(&id->ino, 0, ino) == 0) {
		id->dev = dev;
		id->gen = gen;
	}
	return 0;
}

/* ---- the seal's programs: attached by `cgwarden seal` ------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cgw_record);
} tamper_scratch SEC(".maps");

/*
 * The environment a manager's cgwarden starts with: variables that make
 * the dynamic loader or the Bun runtime run other code than the binary's
 * own. LD_* (ld.so: LD_PRELOAD, LD_AUDIT, LD_LIBRARY_PATH for the libbpf
 * it dlopens), GLIBC_TUNABLES, BUN_* (BUN_OPTIONS="--preload x",
 * BUN_BE_BUN=1, BUN_JSC_*), JSC_* (JavaScriptCore's options), and
 * NODE_OPTIONS and NODE_PATH. Other NODE_* variables are left alone:
 * NODE_ENV and NODE_EXTRA_CA_CERTS are everywhere and run no code.
 */
#define ENV_CHUNK 128
#define ENV_HEAD 16 /* the longest name checked, with its '=' */

struct env_scan {
	__u64 addr;  /* the next byte to read, in the new mm */
	__u64 end;   /* the end of the stack that holds the strings */
	__u32 argc;  /* strings before the environment */
	__u32 total; /* argc + envc */
	__u32 index; /* the string addr is in */
	__u32 pos;   /* bytes of it seen */
	__u32 unsafe;
	__u32 pad;
	char head[ENV_HEAD];
	char buf[ENV_CHUNK];
};

/*
 * The scan's state lives in task storage, not on the stack: a sleepable
 * program may be preempted (so no per-CPU scratch), and Linux 6.1's
 * verifier, which models a bpf_loop() callback as called once, mistook
 * what the callbacks wrote to the caller's stack for the initial zeros and
 * dropped the verdict. Map memory it never assumes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct env_scan);
} env_scans SEC(".maps");

struct env_scan_ctx {
	struct env_scan *w;
};

static __always_inline int starts(const char *s, __u32 n, const char *prefix, __u32 len)
{
	if (n < len)
		return 0;
	for (__u32 i = 0; i < len; i++)
		if (s[i] != prefix[i])
			return 0;
	return 1;
}

static __always_inline int overriding(const char *h, __u32 n)
{
	return starts(h, n, "LD_", 3) || starts(h, n, "BUN_", 4) || starts(h, n, "JSC_", 4) ||
	       starts(h, n, "NODE_OPTIONS=", 13) || starts(h, n, "NODE_PATH=", 10) ||
	       starts(h, n, "GLIBC_TUNABLES=", 15);
}

/* One byte of a chunk: a string's first bytes go to head, and the string is judged at its NUL. */
static long scan_env_byte(__u32 i, struct env_scan_ctx *ctx)
{
	struct env_scan *w = ctx->w;
	char c;

	if (!w)
		return 1;
	c = w->buf[i & (ENV_CHUNK - 1)];
	if (c) {
		if (w->pos < ENV_HEAD)
			w->head[w->pos & (ENV_HEAD - 1)] = c;
		w->pos++;
		return 0;
	}
	if (w->index >= w->argc && overriding(w->head, w->pos)) {
		w->unsafe = 1;
		return 1;
	}
	w->pos = 0;
	return ++w->index >= w->total;
}

/*
 * One chunk of the strings, read from the new mm, then its bytes one
 * bpf_loop() step each: a callback is verified once, where an unrolled
 * loop over the chunk multiplies the verifier's states (Linux 7.2 ran out
 * of memory on one).
 */
static long scan_env_chunk(__u32 step, struct env_scan_ctx *ctx)
{
	struct env_scan *w = ctx->w;
	__u64 left;
	__u32 len;

	if (!w || w->index >= w->total || w->unsafe)
		return 1;
	left = w->end > w->addr ? w->end - w->addr : 0;
	len = left < ENV_CHUNK ? (__u32)left : ENV_CHUNK;
	if (!len || bpf_copy_from_user(w->buf, len & (ENV_CHUNK - 1) ? len & (ENV_CHUNK - 1) : ENV_CHUNK, (void *)w->addr)) {
		w->unsafe = 1; /* strings that cannot be read whole: refuse rather than guess */
		return 1;
	}
	bpf_loop(len, scan_env_byte, ctx, 0);
	w->addr += len;
	return 0;
}

/*
 * On the same hook as cgwarden_exec. Where a process a manager forked
 * executes cgwarden's binary, it reads the new program's environment and,
 * if it overrides the loader or the runtime, takes back both the process's
 * origin and any manager mark, so the two programs are right in either
 * order (6.12's trampoline runs the one attached last first; no kernel
 * promises an order). current->mm is already the new
 * program's: its stack holds the argument and environment strings back to
 * back, from bprm->p. Sleepable, for bpf_copy_from_user(): libbpf turns
 * bpf_probe_read_user() into a helper lockdown=confidentiality refuses.
 */
SEC("lsm.s/bprm_committed_creds")
int BPF_PROG(cgwarden_seal_exec_env, struct linux_binprm *bprm)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct cgw_exe_identity *id = bpf_task_storage_get(&executed, current, 0, 0);
	struct cgw_seal *s = active_seal();
	struct env_scan_ctx scan = {};
	struct env_scan *w;
	__u64 dev, ino;
	__u32 gen;

	if (!s || !id || !id->from_manager)
		return 0;
	file_identity(bprm->file, &dev, &ino, &gen);
	if (dev != s->cli_dev || ino != s->cli_ino || gen != s->cli_gen)
		return 0;
	w = bpf_task_storage_get(&env_scans, current, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!w) {
		id->from_manager = 0;
		id->manager = 0;
		return 0;
	}
	__builtin_memset(w, 0, sizeof(*w));
	w->addr = bprm->p;
	w->end = bprm->vma->vm_end;
	w->argc = bprm->argc;
	w->total = bprm->argc + bprm->envc;
	scan.w = w;
	bpf_loop(1 << 16, scan_env_chunk, &scan, 0);
	if (w->unsafe || w->index < w->total) {
		id->from_manager = 0;
		id->manager = 0;
	}
	bpf_task_storage_delete(&env_scans, current);
	return 0;
}

/* Records a refused tamper attempt by the current process. */
static __noinline int record_tamper(__u32 tamper, __u64 object)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	__u32 zero = 0, manager;
	struct cgw_record *r = bpf_map_lookup_elem(&tamper_scratch, &zero);
	struct cgw_settings *st = bpf_map_lookup_elem(&settings, &zero);
	struct cgw_actor a = {};

	if (!r || !st)
		return 0;
	__builtin_memset(r, 0, sizeof(*r));
	identify(current, &a, &manager);
	r->verdict = CGW_VERDICT_DENY;
	r->via = CGW_VIA_TAMPER;
	r->mechanism = st->mechanism;
	r->tamper = tamper;
	r->object = object;
	r->actor_exe_dev = a.exe_dev;
	r->actor_exe_ino = a.exe_ino;
	r->actor_cgroup = a.cgroup;
	r->actor_start_ticks = a.start_ticks;
	r->actor_pid = a.pid;
	r->actor_tgid = a.tgid;
	r->actor_euid = a.euid;
	r->task_pid = a.pid;
	r->task_tgid = a.tgid;
	bpf_get_current_comm(r->actor_comm, sizeof(r->actor_comm));
	bpf_get_current_comm(r->task_comm, sizeof(r->task_comm));
	return publish(r, st->recorder_slots);
}

/* Managers pass; anyone else is refused, and the attempt recorded. */
static __noinline int guard(struct cgw_seal *s, __u32 tamper, __u64 object)
{
	if (!s || is_manager((struct task_struct *)bpf_get_current_task_btf(), s))
		return 0;
	record_tamper(tamper, object);
	return -EPERM;
}

static __always_inline int is_protected(__u32 kind, __u64 a, __u64 b)
{
	struct cgw_protected_key k = { .a = a, .b = b, .kind = kind };

	return bpf_map_lookup_elem(&protected, &k) != 0;
}

static __always_inline int is_protected_map(__u64 id)
{
	return is_protected(CGW_PROT_MAP, id, 0) || is_protected(CGW_PROT_MAP_READABLE, id, 0);
}

/* The file behind one of the current process's fds: what bpf(2) is about to use. */
static __always_inline __u64 fd_file(__u32 fd)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct fdtable *fdt = current->files->fdt;

	if (!fdt || fd >= fdt->max_fds)
		return 0;
	/* fdt->fd is a struct file **: the verifier types it as a number, read by address. */
	return peek_u64((__u64)fdt->fd + (__u64)fd * 8);
}

/*
 * What kind of BPF object a file is, by the name its anonymous inode was
 * given (kernel/bpf/syscall.c, bpf_iter.c): stable since 5.7, and unlike
 * f_op it needs no kernel symbol, which lockdown=confidentiality hides.
 * Each name is eight bytes: one load, one compare.
 */
#define NAME8(a, b, c, d, e, f, g, h)                                                     \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | (__u64)(e) << 32 | \
	 (__u64)(f) << 40 | (__u64)(g) << 48 | (__u64)(h) << 56)

enum bpf_fd_kind { FD_OTHER, FD_MAP, FD_PROG, FD_LINK };

static __always_inline __u32 bpf_fd_kind(__u64 file)
{
	__u64 dentry = peek_field(struct file, file, f_path.dentry);
	__u64 name = dentry ? peek_u64(peek_field(struct dentry, dentry, d_name.name)) : 0;

	if (name == NAME8('b', 'p', 'f', '-', 'm', 'a', 'p', 0))
		return FD_MAP;
	if (name == NAME8('b', 'p', 'f', '-', 'p', 'r', 'o', 'g'))
		return FD_PROG;
	if (name == NAME8('b', 'p', 'f', '_', 'l', 'i', 'n', 'k') || name == NAME8('b', 'p', 'f', '-', 'l', 'i', 'n', 'k'))
		return FD_LINK;
	return FD_OTHER;
}

/* The BPF object an fd holds (struct bpf_map, bpf_prog or bpf_link, by *kind), or 0. */
static __always_inline __u64 fd_bpf_object(__u32 fd, __u32 *kind)
{
	__u64 file = fd_file(fd);

	*kind = file ? bpf_fd_kind(file) : FD_OTHER;
	return *kind == FD_OTHER ? 0 : peek_field(struct file, file, private_data);
}

/* The BPF object behind an fd, if it is cgwarden's: its id, else 0. */
static __noinline __u32 sealed_object(__u32 fd)
{
	__u32 id, kind;
	__u64 obj = fd_bpf_object(fd, &kind);

	if (!obj)
		return 0;
	switch (kind) {
	case FD_MAP:
		id = peek_field32(struct bpf_map, obj, id);
		return id && is_protected_map(id) ? id : 0;
	case FD_PROG:
		id = peek_field32(struct bpf_prog_aux, peek_field(struct bpf_prog, obj, aux), id);
		return id && is_protected(CGW_PROT_PROG, id, 0) ? id : 0;
	case FD_LINK:
		id = peek_field32(struct bpf_link, obj, id);
		return id && is_protected(CGW_PROT_LINK, id, 0) ? id : 0;
	default:
		return 0;
	}
}

/*
 * Whether an fd is an iterator program, or an iterator link, over the
 * elements of a map: such a program writes the values of the map it is
 * linked to, through any fd to it, read-only ones too, and no map of its
 * own names the map (bpf_map_elem, bpf_sk_storage_map: the iterators that
 * hand the program a writable value).
 */
static __noinline int map_element_iterator(__u32 fd)
{
	__u32 kind;
	__u64 obj = fd_bpf_object(fd, &kind), prog, name;

	prog = kind == FD_PROG ? obj : kind == FD_LINK && obj ? peek_field(struct bpf_link, obj, prog) : 0;
	if (!prog || peek_field32(struct bpf_prog, prog, type) != BPF_PROG_TYPE_TRACING ||
	    peek_field32(struct bpf_prog, prog, expected_attach_type) != BPF_TRACE_ITER)
		return 0;
	name = peek_field(struct bpf_prog_aux, peek_field(struct bpf_prog, prog, aux), attach_func_name);
	if (!name || peek_u64(name) != NAME8('b', 'p', 'f', '_', 'i', 't', 'e', 'r'))
		return 0;
	/* "bpf_iter" "_bpf_map" "_elem\0": the map iterator "bpf_iter_bpf_map" lists maps, not values. */
	if (peek_u64(name + 8) == NAME8('_', 'b', 'p', 'f', '_', 'm', 'a', 'p'))
		return (peek_u64(name + 16) & 0xffffffffffffULL) == NAME8('_', 'e', 'l', 'e', 'm', 0, 0, 0);
	return peek_u64(name + 8) == NAME8('_', 'b', 'p', 'f', '_', 's', 'k', '_');
}

/* BPF_TOKEN_CREATE (6.9): newer than the UAPI header this is built with. */
#define CGW_BPF_TOKEN_CREATE 36

/*
 * Every bpf(2) command, by a non-manager on a sealed policy: default deny.
 * The commands open to all either name no existing object, or only read
 * (what `status`, `rules`, `export` and `audit` need); new fds to maps and
 * programs are judged by the bpf_map and bpf_prog hooks below. Every other
 * known command is refused when an fd it names is one of cgwarden's maps,
 * programs or links, and a command this table does not know is refused
 * outright. The README's threat model lists each command and why.
 *
 * An fd is read here and again by the kernel: a thread swapping it with
 * dup2() in between can only swap in an fd it could have named itself, and
 * the fds to cgwarden's objects a non-manager can get are read-only ones.
 */
SEC("lsm/bpf")
int BPF_PROG(cgwarden_seal_bpf, int cmd, union bpf_attr *attr, unsigned int size, int ret)
{
	__u32 one = 0, two = 0, three = 0, id, tamper = CGW_TAMPER_BPF_COMMAND;
	struct cgw_seal *s;

	if (ret)
		return lsm_refusal(ret);
	s = active_seal();
	if (!s)
		return 0;
	switch (cmd) {
	case BPF_MAP_CREATE:       /* inner_map_fd is a template: the map's flags go with it */
	case BPF_MAP_LOOKUP_ELEM:
	case BPF_MAP_GET_NEXT_KEY:
	case BPF_PROG_LOAD:        /* lsm/bpf_prog sees the maps and the target it resolved */
	case BPF_OBJ_GET:          /* lsm/bpf_map and lsm/bpf_prog judge the new fd */
	case BPF_PROG_GET_NEXT_ID:
	case BPF_MAP_GET_NEXT_ID:
	case BPF_PROG_GET_FD_BY_ID:
	case BPF_MAP_GET_FD_BY_ID:
	case BPF_OBJ_GET_INFO_BY_FD:
	case BPF_PROG_QUERY:
	case BPF_BTF_LOAD:
	case BPF_BTF_GET_FD_BY_ID:
	case BPF_TASK_FD_QUERY:
	case BPF_BTF_GET_NEXT_ID:
	case BPF_MAP_LOOKUP_BATCH:
	case BPF_LINK_GET_FD_BY_ID: /* an fd that every command below refuses to use */
	case BPF_LINK_GET_NEXT_ID:
	case BPF_ENABLE_STATS:
	case CGW_BPF_TOKEN_CREATE:
		return 0;
	case BPF_MAP_UPDATE_ELEM:
	case BPF_MAP_DELETE_ELEM:
	case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
	case BPF_MAP_FREEZE:
		one = attr->map_fd;
		tamper = CGW_TAMPER_MAP_WRITE;
		break;
	case BPF_MAP_UPDATE_BATCH:
	case BPF_MAP_DELETE_BATCH:
	case BPF_MAP_LOOKUP_AND_DELETE_BATCH:
		one = attr->batch.map_fd;
		tamper = CGW_TAMPER_MAP_WRITE;
		break;
	case BPF_OBJ_PIN: /* a second pin: a copy the seal's pin directories do not hold */
		one = attr->bpf_fd;
		break;
	case BPF_PROG_ATTACH:
	case BPF_PROG_DETACH:
		one = attr->attach_bpf_fd;
		two = attr->replace_bpf_fd;
		break;
	case BPF_PROG_TEST_RUN:
		one = attr->test.prog_fd;
		break;
	case BPF_RAW_TRACEPOINT_OPEN:
		one = attr->raw_tracepoint.prog_fd;
		break;
	case BPF_LINK_CREATE:
		if (map_element_iterator(attr->link_create.prog_fd))
			return guard(s, CGW_TAMPER_BPF_COMMAND, (__u64)cmd << 32);
		one = attr->link_create.prog_fd; /* or the map of a struct_ops link */
		two = attr->link_create.target_fd;
		break;
	case BPF_LINK_UPDATE:
		one = attr->link_update.link_fd;
		two = attr->link_update.new_prog_fd;
		three = attr->link_update.old_prog_fd;
		break;
	case BPF_LINK_DETACH:
		one = attr->link_detach.link_fd;
		tamper = CGW_TAMPER_LINK;
		break;
	case BPF_ITER_CREATE:
		if (map_element_iterator(attr->iter_create.link_fd))
			return guard(s, CGW_TAMPER_BPF_COMMAND, (__u64)cmd << 32);
		one = attr->iter_create.link_fd;
		break;
	case BPF_PROG_BIND_MAP:
		one = attr->prog_bind_map.prog_fd;
		two = attr->prog_bind_map.map_fd;
		break;
	default:
		return guard(s, CGW_TAMPER_BPF_COMMAND, (__u64)cmd << 32);
	}
	/* fd 0 is an fd like any other: all three are looked at, unused ones are 0 */
	id = sealed_object(one);
	if (!id)
		id = sealed_object(two);
	if (!id)
		id = sealed_object(three);
	if (!id)
		return 0;
	return guard(s, tamper, tamper == CGW_TAMPER_BPF_COMMAND ? (__u64)cmd << 32 | id : id);
}

/*
 * Every new fd to a map, by id or by pinned path. Maps that programs write
 * get no fd at all (a read-only fd still lets a new program, or a
 * map-in-map, write them); maps that only userspace writes are
 * BPF_F_RDONLY_PROG and get read-only fds, so anyone can read the policy.
 */
SEC("lsm/bpf_map")
int BPF_PROG(cgwarden_seal_bpf_map, struct bpf_map *map, fmode_t fmode, int ret)
{
	struct cgw_seal *s;
	__u32 id;

	if (ret)
		return lsm_refusal(ret);
	s = active_seal();
	if (!s)
		return 0;
	id = map->id;
	if (is_protected(CGW_PROT_MAP, id, 0) ||
	    ((fmode & FMODE_WRITE) && is_protected(CGW_PROT_MAP_READABLE, id, 0)))
		return guard(s, CGW_TAMPER_MAP_OPEN, id);
	return 0;
}

struct used_maps_walk {
	__u64 maps; /* struct bpf_map **, by address */
	__u32 count;
	__u32 hit;
};

static long find_protected_map(__u32 i, struct used_maps_walk *w)
{
	__u64 map;
	__u32 id;

	if (i >= w->count)
		return 1;
	map = peek_u64(w->maps + (__u64)i * 8);
	id = map ? peek_field32(struct bpf_map, map, id) : 0;
	if (id && is_protected_map(id)) {
		w->hit = id;
		return 1;
	}
	return 0;
}

/* enum bpf_attach_type values --lock-bpf refuses for BPF_PROG_TYPE_TRACING. */
static __always_inline int locked_kind(struct bpf_prog *prog)
{
	__u32 type = prog->type;
	__u32 attach = prog->expected_attach_type;

	switch (type) {
	case BPF_PROG_TYPE_LSM:
	case BPF_PROG_TYPE_EXT:
		return 1;
	case BPF_PROG_TYPE_TRACING:
		return attach == BPF_TRACE_FENTRY || attach == BPF_TRACE_FEXIT || attach == BPF_MODIFY_RETURN;
	case BPF_PROG_TYPE_KPROBE:
		return peek_bitfield(struct bpf_prog, (__u64)prog, kprobe_override);
	default:
		return 0;
	}
}

/*
 * Every new fd to a program, the one that bpf(BPF_PROG_LOAD) returns
 * included: by then the verifier has resolved the maps it uses and the
 * program it attaches to, so this sees them without any race.
 */
SEC("lsm/bpf_prog")
int BPF_PROG(cgwarden_seal_bpf_prog, struct bpf_prog *prog, int ret)
{
	struct used_maps_walk w = {};
	struct bpf_prog_aux *aux;
	struct bpf_prog *target;
	struct cgw_seal *s;
	__u32 id;

	if (ret)
		return lsm_refusal(ret);
	s = active_seal();
	if (!s)
		return 0;
	aux = prog->aux;
	/* cgwarden's own programs: an fd to one changes nothing (they attach only where they were verified to). */
	if (is_protected(CGW_PROT_PROG, aux->id, 0))
		return 0;
	target = aux->dst_prog;
	id = target ? target->aux->id : 0;
	if (id && is_protected(CGW_PROT_PROG, id, 0))
		return guard(s, CGW_TAMPER_PROG_USES, id);
	/* used_maps is a struct bpf_map **: a number to the verifier, read by address. */
	w.maps = (__u64)aux->used_maps;
	w.count = aux->used_map_cnt;
	if (w.maps && w.count)
		bpf_loop(w.count & 0xffff, find_protected_map, &w, 0);
	if (w.hit)
		return guard(s, CGW_TAMPER_PROG_USES, w.hit);
	if (s->lock_bpf && locked_kind(prog))
		return guard(s, CGW_TAMPER_BPF_LOCKED,
			     (__u64)prog->type << 32 | prog->expected_attach_type);
	return 0;
}

static __always_inline __u64 inode_dev(struct inode *inode)
{
	return encode_dev(inode->i_sb->s_dev);
}

static __always_inline int is_pin_dir(struct inode *inode)
{
	return inode && is_protected(CGW_PROT_DIR, inode_dev(inode), inode->i_ino);
}

/* Unlinking a pin is what ends a link or a map: the pin directories keep their entries. */
static __always_inline int guard_removal(struct inode *dir, struct dentry *dentry)
{
	struct cgw_seal *s = active_seal();
	struct inode *victim = dentry->d_inode;

	if (!s || !(is_pin_dir(dir) || is_pin_dir(victim)))
		return 0;
	return guard(s, CGW_TAMPER_UNLINK, victim ? victim->i_ino : 0);
}

SEC("lsm/inode_unlink")
int BPF_PROG(cgwarden_seal_unlink, struct inode *dir, struct dentry *dentry, int ret)
{
	return ret ? lsm_refusal(ret) : guard_removal(dir, dentry);
}

SEC("lsm/inode_rmdir")
int BPF_PROG(cgwarden_seal_rmdir, struct inode *dir, struct dentry *dentry, int ret)
{
	return ret ? lsm_refusal(ret) : guard_removal(dir, dentry);
}

/* Out of, into, or over a pin directory, or the directory itself (RENAME_EXCHANGE is checked both ways). */
SEC("lsm/inode_rename")
int BPF_PROG(cgwarden_seal_rename, struct inode *old_dir, struct dentry *old_dentry,
	     struct inode *new_dir, struct dentry *new_dentry, int ret)
{
	struct cgw_seal *s;
	struct inode *moved;

	if (ret)
		return lsm_refusal(ret);
	s = active_seal();
	if (!s)
		return 0;
	moved = old_dentry->d_inode;
	if (is_pin_dir(old_dir) || is_pin_dir(new_dir) || is_pin_dir(moved) ||
	    is_pin_dir(new_dentry->d_inode))
		return guard(s, CGW_TAMPER_RENAME, moved ? moved->i_ino : 0);
	return 0;
}

/* The last unmount of a bpffs drops its pins, and with them the links. MNT_DETACH comes here too. */
SEC("lsm/sb_umount")
int BPF_PROG(cgwarden_seal_umount, struct vfsmount *mnt, int flags, int ret)
{
	struct cgw_seal *s;
	__u64 dev;

	if (ret)
		return lsm_refusal(ret);
	s = active_seal();
	if (!s)
		return 0;
	dev = encode_dev(mnt->mnt_sb->s_dev);
	return is_protected(CGW_PROT_FS, dev, 0) ? guard(s, CGW_TAMPER_UMOUNT, dev) : 0;
}

/*
 * A process about to be traced: refused if it is a manager; otherwise it
 * runs its tracer's code from now on, so whatever it executes next is no
 * longer something a manager forked.
 */
static __always_inline int judge_tracee(struct cgw_seal *s, struct task_struct *t)
{
	struct cgw_exe_identity *id;

	if (is_manager(t, s))
		return guard(s, CGW_TAMPER_PTRACE, t->tgid);
	id = bpf_task_storage_get(&executed, t->group_leader, 0, 0);
	if (id)
		id->from_manager = 0;
	return 0;
}

/*
 * ptrace, /proc/PID/mem, process_vm_writev and pidfd_getfd all ask for
 * PTRACE_MODE_ATTACH: a manager's memory and fds are a manager's powers.
 * Any other process a manager forked loses that origin to its first
 * tracer (or writer of its memory): whatever it executes next runs the
 * tracer's code, so it is no manager's child any more. It is not refused:
 * root may still debug every service PID 1 started.
 */
SEC("lsm/ptrace_access_check")
int BPF_PROG(cgwarden_seal_ptrace, struct task_struct *child, unsigned int mode, int ret)
{
	struct cgw_seal *s;

	if (ret)
		return lsm_refusal(ret);
	s = active_seal();
	return s && (mode & PTRACE_MODE_ATTACH) ? judge_tracee(s, child) : 0;
}

/* PTRACE_TRACEME: the caller asks its parent to trace it. */
SEC("lsm/ptrace_traceme")
int BPF_PROG(cgwarden_seal_traceme, struct task_struct *parent, int ret)
{
	struct cgw_seal *s;

	if (ret)
		return lsm_refusal(ret);
	s = active_seal();
	return s ? judge_tracee(s, (struct task_struct *)bpf_get_current_task_btf()) : 0;
}

/*
 * A new process forked by a manager: its origin, kept until it is traced,
 * and never passed on by a fork of its own. The child runs its parent's
 * binary until it executes another, so it gets its parent's identity.
 * Threads are the same process: nothing to mark.
 */
SEC("lsm/task_alloc")
int BPF_PROG(cgwarden_seal_fork, struct task_struct *task, unsigned long clone_flags, int ret)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct cgw_exe_identity *id;
	struct cgw_actor a = {};
	struct cgw_seal *s;
	__u32 marked;

	if (ret)
		return lsm_refusal(ret);
	if (clone_flags & CLONE_THREAD)
		return 0;
	s = active_seal();
	if (!s || !is_manager(current, s))
		return 0;
	identify_exe(current, &a, &marked);
	id = bpf_task_storage_get(&executed, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!id)
		return 0;
	id->dev = a.exe_dev;
	id->ino = a.exe_ino;
	id->gen = a.exe_gen;
	id->manager = 0;
	id->from_manager = 1;
	return 0;
}

/*
 * kernel.ftrace_enabled = 0 turns every ftrace call site into a nop, the
 * BPF trampolines' direct calls included: every cgwarden program, this one
 * too, would stop. The complete set of such knobs, from the kernel's
 * sources, is in the README's threat model. Checked at every write, not at open, so an
 * fd opened before the seal is no way round. Costs a test and a load per
 * write() on a sealed machine; only procfs files go further.
 */
SEC("lsm/file_permission")
int BPF_PROG(cgwarden_seal_knob, struct file *file, int mask, int ret)
{
	struct inode *inode;
	struct cgw_seal *s;
	__u64 entry, name;

	if (ret)
		return lsm_refusal(ret);
	if (!(mask & MAY_WRITE))
		return 0;
	inode = file->f_inode;
	if (!inode || inode->i_sb->s_magic != PROC_SUPER_MAGIC)
		return 0;
	s = active_seal();
	if (!s)
		return 0;
	/* container_of(inode, struct proc_inode, vfs_inode)->sysctl_entry */
	entry = peek_u64((__u64)inode - bpf_core_field_offset(struct proc_inode, vfs_inode) +
			 bpf_core_field_offset(struct proc_inode, sysctl_entry));
	name = entry ? peek_field(struct ctl_table, entry, procname) : 0;
	if (!name || peek_u64(name) != NAME8('f', 't', 'r', 'a', 'c', 'e', '_', 'e') ||
	    (peek_u64(name + 8) & 0xffffffffffffffULL) != NAME8('n', 'a', 'b', 'l', 'e', 'd', 0, 0))
		return 0;
	return guard(s, CGW_TAMPER_KNOB, CGW_KNOB_FTRACE_ENABLED);
}

/*
 * Runs on every permission check of every path lookup: three tests and one
 * load. Everything else sits in judge_permission(), so that its stack frame
 * and register spills are paid only while a verdict awaits its check.
 */
SEC("lsm/inode_permission")
int BPF_PROG(cgwarden_inode_permission, struct inode *inode, int mask, int ret)
{
	if (ret)
		return lsm_refusal(ret);
	if (!(mask & MAY_WRITE) || !inflight)
		return 0;
	return judge_permission(inode);
}

