/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section native: the native mechanism: lsm/cgroup_attach, the proposed hook.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

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
