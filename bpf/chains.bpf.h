/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section chains: a cgroup's ancestors by level, the nodes bound at each.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

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
 * spelling of the parent field (core_fixes.bpf.h): in one function clang would
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
	if (HAVE_KERNFS___PARENT)
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
