/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section decide: the decision: selectors, gates, locks and delegations, judged along both chains.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

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
		bpf_map_lookup_elem(&challenge_board, &zero);
		bpf_map_lookup_elem(&authorizations, &zero);
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
struct cgw_loop_ctx {
	struct cgw_decision *d;
};

/*
 * A thread group moves whole, yet its threads may sit in different cgroups
 * of a threaded subtree; the kernel (and the proposed hook) hand us only the
 * leader's. Every thread whose cgroup differs from the leader's is judged as
 * a migration of its own, so a lock --out on a threaded cgroup holds too.
 * Runs under cgroup_threadgroup_rwsem held for writing: the list is stable.
 */
static long judge_thread(__u32 i, struct cgw_loop_ctx *ctx)
{
	struct cgw_decision *d = ctx->d;
	struct cgw_thread_walk *w = &d->walk;
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
	struct cgw_thread_walk *w = &d->walk;
	__u64 signal;
	struct cgw_loop_ctx lctx = { .d = d };
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
	/* threads bounds the walk; the list head ends it. */
	bpf_loop((m->threads & (CGW_PID_MAX - 1)) + 1, judge_thread, &lctx, 0);
	return w->denied ? CGW_VERDICT_DENY : verdict;
}
