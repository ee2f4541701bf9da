/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section binding: path binding: a cgroup gets its rules at mkdir, before it is visible.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

/* A new cgroup's path and name, as the mkdir tracepoint gives them. */
struct cgw_naming {
	struct cgw_path_key key;
	char name[CGW_PATH_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cgw_naming);
} naming_scratch SEC(".maps");

static __always_inline int template_matches(struct cgw_naming *n, int name_len, struct cgw_template *t)
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
__noinline __u64 match_template(struct cgw_naming *n, int name_len, __u64 set_id)
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
	struct cgw_naming *n = bpf_map_lookup_elem(&naming_scratch, &zero);
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
