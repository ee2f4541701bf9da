/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section seal_fs: the seal: pins, the bpffs, and the knob that unhooks every trampoline.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

static __always_inline __u64 inode_dev(struct inode *inode)
{
	return encode_dev(inode->i_sb->s_dev);
}

static __always_inline int is_pin_dir(struct inode *inode)
{
	return inode && is_protected(CGW_PROT_DIR, inode_dev(inode), inode->i_ino);
}

/* Unlinking a pin is what ends a link or a map: the pin directories keep their entries. */
static __always_inline int guard_removal(struct inode *dir, struct dentry *dentry)
{
	struct cgw_seal *s = active_seal();
	struct inode *victim = dentry->d_inode;

	if (!s || !(is_pin_dir(dir) || is_pin_dir(victim)))
		return 0;
	return guard(s, CGW_TAMPER_UNLINK, victim ? victim->i_ino : 0);
}

SEC("lsm/inode_unlink")
int BPF_PROG(cgwarden_seal_unlink, struct inode *dir, struct dentry *dentry, int ret)
{
	return ret ? lsm_refusal(ret) : guard_removal(dir, dentry);
}

SEC("lsm/inode_rmdir")
int BPF_PROG(cgwarden_seal_rmdir, struct inode *dir, struct dentry *dentry, int ret)
{
	return ret ? lsm_refusal(ret) : guard_removal(dir, dentry);
}

/* Out of, into, or over a pin directory, or the directory itself (RENAME_EXCHANGE is checked both ways). */
SEC("lsm/inode_rename")
int BPF_PROG(cgwarden_seal_rename, struct inode *old_dir, struct dentry *old_dentry,
	     struct inode *new_dir, struct dentry *new_dentry, int ret)
{
	struct cgw_seal *s;
	struct inode *moved;

	if (ret)
		return lsm_refusal(ret);
	s = active_seal();
	if (!s)
		return 0;
	moved = old_dentry->d_inode;
	if (is_pin_dir(old_dir) || is_pin_dir(new_dir) || is_pin_dir(moved) ||
	    is_pin_dir(new_dentry->d_inode))
		return guard(s, CGW_TAMPER_RENAME, moved ? moved->i_ino : 0);
	return 0;
}

/* The last unmount of a bpffs drops its pins, and with them the links. MNT_DETACH comes here too. */
SEC("lsm/sb_umount")
int BPF_PROG(cgwarden_seal_umount, struct vfsmount *mnt, int flags, int ret)
{
	struct cgw_seal *s;
	__u64 dev;

	if (ret)
		return lsm_refusal(ret);
	s = active_seal();
	if (!s)
		return 0;
	dev = encode_dev(mnt->mnt_sb->s_dev);
	return is_protected(CGW_PROT_FS, dev, 0) ? guard(s, CGW_TAMPER_UMOUNT, dev) : 0;
}
/*
 * kernel.ftrace_enabled = 0 turns every ftrace call site into a nop, the
 * BPF trampolines' direct calls included: every cgwarden program, this one
 * too, would stop. The complete set of such knobs, from the kernel's
 * sources, is in the README's threat model. Checked at every write, not at open, so an
 * fd opened before the seal is no way round. Costs a test and a load per
 * write() on a sealed machine; only procfs files go further.
 */
SEC("lsm/file_permission")
int BPF_PROG(cgwarden_seal_knob, struct file *file, int mask, int ret)
{
	struct inode *inode;
	struct cgw_seal *s;
	__u64 entry, name;

	if (ret)
		return lsm_refusal(ret);
	if (!(mask & MAY_WRITE))
		return 0;
	inode = file->f_inode;
	if (!inode || inode->i_sb->s_magic != PROC_SUPER_MAGIC)
		return 0;
	s = active_seal();
	if (!s)
		return 0;
	/* container_of(inode, struct proc_inode, vfs_inode)->sysctl_entry */
	entry = peek_u64((__u64)inode - bpf_core_field_offset(struct proc_inode, vfs_inode) +
			 bpf_core_field_offset(struct proc_inode, sysctl_entry));
	name = entry ? peek_field(struct ctl_table, entry, procname) : 0;
	if (!name || peek_u64(name) != NAME8('f', 't', 'r', 'a', 'c', 'e', '_', 'e') ||
	    (peek_u64(name + 8) & 0xffffffffffffffULL) != NAME8('n', 'a', 'b', 'l', 'e', 'd', 0, 0))
		return 0;
	return guard(s, CGW_TAMPER_KNOB, CGW_KNOB_FTRACE_ENABLED);
}
