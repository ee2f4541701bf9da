/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section seal_tasks: the seal: a manager's process, its tracers and its children.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

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
