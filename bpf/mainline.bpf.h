/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section mainline: the mainline mechanism: facts gathered on the way in, the verdict at the permission check.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

/*
 * Notes the migration a write or clone is about to ask cgroup_attach_permissions
 * about: every call of it follows one of these in the same system call.
 */
static __always_inline int arm(struct task_struct *task, struct cgroup *src, __u8 via,
			       __u8 threadgroup, __u32 threads)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	/* Created once per task and kept until it exits: no allocation per write. */
	struct cgw_pending_migration *m = bpf_task_storage_get(&migrations, current, 0,
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
	struct cgw_pending_migration *m = bpf_task_storage_get(&migrations, current, 0,
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
	struct cgw_pending_migration *m = bpf_task_storage_get(&migrations, current, 0, 0);

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
	struct cgw_pending_migration *m;

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
