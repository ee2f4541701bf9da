/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section identity: who a process is: what it really executed, which process, and whether a manager.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

/* Userspace sees st_dev as new_encode_dev() of the kernel's MKDEV(). */
static __always_inline __u64 encode_dev(__u32 dev)
{
	__u64 major = dev >> 20, minor = dev & 0xfffff;

	return (minor & 0xff) | (major << 8) | ((minor & ~0xffULL) << 12);
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
 * and whether it is a manager's cgwarden (see the seal). t is a typed task,
 * `leader` its group leader: a sleepable program must give one the verifier
 * trusts (its current, when that is the leader), since t->group_leader is
 * RCU-protected there and task storage refuses it.
 */
static __always_inline void identify_exe_of(struct task_struct *t, struct task_struct *leader, struct cgw_actor *a, __u32 *manager)
{
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

static __always_inline void identify_exe(struct task_struct *t, struct cgw_actor *a, __u32 *manager)
{
	identify_exe_of(t, t->group_leader, a, manager);
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

static __always_inline void identify_of(struct task_struct *t, struct task_struct *leader, struct cgw_actor *a, __u32 *manager)
{
	identify_exe_of(t, leader, a, manager);
	identify_process(t, a);
	a->start_ticks = start_ticks_of(t);
	a->cgroup = cgroup_of(t);
}

static __always_inline void identify(struct task_struct *t, struct cgw_actor *a, __u32 *manager)
{
	identify_of(t, t->group_leader, a, manager);
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
