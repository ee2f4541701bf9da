/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section maps: the maps, the state a decision keeps in them, and the two helpers every section uses.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

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
struct cgw_grace_slot_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} grace_slot SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct cgw_grace_slot_map);
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
struct cgw_thread_walk {
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
	struct cgw_thread_walk walk;
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

enum cgw_migration_stage {
	STAGE_IDLE = 0,     /* between writes and clones */
	STAGE_ARMED = 1,    /* task known; cgroup_attach_permissions decides next */
	STAGE_DECIDED = 2,  /* inside cgroup_attach_permissions: its check gets the verdict */
	STAGE_ENFORCED = 3, /* that check got it; nothing else in the call may */
};

struct cgw_pending_migration {
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
	__type(value, struct cgw_pending_migration);
} migrations SEC(".maps");

/* struct cgw_exe_identity (cgwarden.h), on each thread-group leader. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cgw_exe_identity);
} executed SEC(".maps");

/*
 * The key seal's exchange (struct cgw_challenge, cgwarden.h). The board
 * and the presented authorizations are pinned for anyone to use; what the
 * kernel checks against is its own copy, in `authority`, which no fd
 * reaches. Both pinned maps are a record, never an input to a decision.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, struct cgw_process_key);
	__type(value, struct cgw_challenge);
} challenge_board SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__uint(max_entries, 64);
	__type(key, struct cgw_process_key);
	__type(value, struct cgw_authorization);
} authorizations SEC(".maps");

struct cgw_authority {
	struct cgw_challenge issued;
	__u64 used; /* 64 bits: the atomic exchange of BPF's base instruction set */
	struct cgw_authorization presented; /* copied from the caller before it is verified */
};

/* On each thread-group leader that asked for a challenge. */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cgw_authority);
} authority SEC(".maps");

/* Serials of keys freed while a key seal named them: never trusted again in this boot. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} keys_lost SEC(".maps");

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
