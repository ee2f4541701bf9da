/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section records: the flight recorder and the events ring buffer: one record per decision.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

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
struct cgw_cgroup_path_ctx {
	char *dst;   /* CGW_PATH_LEN bytes */
	__u64 cgrp;  /* struct cgroup *, by address */
	__u64 name;  /* the current component's name, by address */
	int levels;  /* components to write: the cgroup's level */
	int level;   /* the component being written, 1-based */
	int chunk;   /* eight-byte chunk of its name */
	int pos;     /* bytes written; -1 once it does not fit */
};

/* One eight-byte chunk of one component of cgroup_path(). */
static long cgroup_path_chunk(__u32 i, struct cgw_cgroup_path_ctx *c)
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
	struct cgw_cgroup_path_ctx c = { .dst = dst, .cgrp = cgrp, .level = 1 };

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
