/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section seal: the seal: who may change cgwarden's BPF state, and the record of a refusal.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

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
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cgw_record);
} tamper_scratch SEC(".maps");
/* Records a refused tamper attempt by the current process, `a`. */
static __noinline int publish_tamper(__u32 tamper, __u64 object, struct cgw_actor *a_)
{
	__u32 zero = 0;
	struct cgw_record *r = bpf_map_lookup_elem(&tamper_scratch, &zero);
	struct cgw_settings *st = bpf_map_lookup_elem(&settings, &zero);
	struct cgw_actor a = *a_;

	if (!r || !st)
		return 0;
	__builtin_memset(r, 0, sizeof(*r));
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

static __noinline int record_tamper(__u32 tamper, __u64 object)
{
	struct cgw_actor a = {};
	__u32 manager;

	identify((struct task_struct *)bpf_get_current_task_btf(), &a, &manager);
	return publish_tamper(tamper, object, &a);
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
	return is_protected(CGW_PROT_MAP, id, 0) || is_protected(CGW_PROT_MAP_READABLE, id, 0) ||
	       is_protected(CGW_PROT_MAP_PRESENTED, id, 0);
}
