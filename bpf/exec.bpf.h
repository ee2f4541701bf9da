/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section exec: executable identity, at exec and before the first PR_SET_MM.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

/*
 * After de_thread() the exec'ing task is its group's leader: current is
 * where it belongs. A manager's mark needs the process's own origin (the
 * fork by a manager that cgwarden_fork saw), never its current parent,
 * which adoption gives: an orphan's parent is PID 1 or a subreaper. A
 * process traced at exec runs whatever its tracer makes it run: it is not
 * marked. Nor is one whose environment makes other code run in it: the
 * seal's cgwarden_seal_exec_env, on the same hook, takes that back.
 */
SEC("lsm/bprm_committed_creds")
int BPF_PROG(cgwarden_exec, struct linux_binprm *bprm)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct cgw_exe_identity *id;

	struct cgw_seal *s = active_seal();

	id = bpf_task_storage_get(&executed, current, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!id)
		return 0;
	if (current->ptrace)
		id->from_manager = 0;
	file_identity(bprm->file, &id->dev, &id->ino, &id->gen);
	id->manager = s && id->from_manager && id->dev == s->cli_dev && id->ino == s->cli_ino && id->gen == s->cli_gen;
	return 0;
}

/*
 * A process that predates cgwarden has no identity yet: take it from
 * mm->exe_file before its first PR_SET_MM, which is the only way to change
 * that file short of exec. The first thread to get here claims the slot, so
 * a sibling that already swapped the file cannot write the forged one.
 * Never decides a prctl: it passes on what an earlier program answered.
 */
SEC("lsm/task_prctl")
int BPF_PROG(cgwarden_prctl, int option, unsigned long arg2, unsigned long arg3,
	     unsigned long arg4, unsigned long arg5, int ret)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct cgw_exe_identity *id;
	__u64 dev, ino;
	__u32 gen;

	if (ret)
		return lsm_refusal(ret);
	if (option != PR_SET_MM)
		return 0;
	id = bpf_task_storage_get(&executed, current->group_leader, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!id || id->ino)
		return 0;
	exe_of(current, &dev, &ino, &gen);
	if (__sync_val_compare_and_swap(&id->ino, 0, ino) == 0) {
		id->dev = dev;
		id->gen = gen;
	}
	return 0;
}
