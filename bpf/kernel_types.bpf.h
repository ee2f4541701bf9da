/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The few kernel structs cgwarden reads, with only the fields it reads.
 *
 * preserve_access_index makes every access a CO-RE relocation that libbpf
 * resolves against the running kernel's BTF at load, so field order and
 * padding here do not matter. A generated vmlinux.h would work too, but it
 * pins a 2.8 MB header to one kernel build and hides which fields the
 * programs depend on; this list is the complete dependency surface.
 */
#ifndef CGWARDEN_KERNEL_TYPES_H
#define CGWARDEN_KERNEL_TYPES_H

#include <linux/types.h>
#include <linux/bpf.h> /* UAPI: map types, flags, helper enums */

typedef __u32 u32;
typedef __u64 u64;
typedef __s64 s64;
typedef __u32 dev_t;
typedef int pid_t;
typedef _Bool bool;
#define true 1
#define false 0

#define CGROUP2_SUPER_MAGIC 0x63677270
#define MAY_WRITE 0x00000002
#define CLONE_THREAD 0x00010000
#define CLONE_INTO_CGROUP 0x200000000ULL
#define TASK_NEW 0x00000800
#define EPERM 1
#define ENOMEM 12
#define EINVAL 22
#define ENOKEY 126
#define EKEYEXPIRED 127
#define EKEYREJECTED 129
#define MAX_ERRNO 4095
#define PR_SET_MM 35
#define FMODE_WRITE 0x2
#define PTRACE_MODE_ATTACH 0x02
#define PROC_SUPER_MAGIC 0x9fa0

typedef unsigned int fmode_t;

typedef struct {
	__u32 val;
} kuid_t;

struct kernfs_node {
	u64 id;
	const char *name;
} __attribute__((preserve_access_index));

struct cgroup;
struct cgroup_subsys_state {
	struct cgroup *cgroup;
	struct cgroup_subsys_state *parent;
} __attribute__((preserve_access_index));


/* hierarchy_id 0 is the default (v2) hierarchy: it is set up first, by cgroup_init(). */
struct cgroup_root {
	int hierarchy_id;
} __attribute__((preserve_access_index));

struct cgroup {
	struct cgroup_subsys_state self;
	int level;
	struct kernfs_node *kn;
	struct cgroup_root *root;
	struct cgroup *ancestors[];
} __attribute__((preserve_access_index));

struct css_set {
	struct cgroup *dfl_cgrp;
} __attribute__((preserve_access_index));

struct cred {
	kuid_t euid;
} __attribute__((preserve_access_index));

struct super_block {
	dev_t s_dev;
	unsigned long s_magic;
} __attribute__((preserve_access_index));

struct inode {
	struct super_block *i_sb;
	unsigned long i_ino;
	__u32 i_generation;
} __attribute__((preserve_access_index));

struct qstr {
	const unsigned char *name;
} __attribute__((preserve_access_index));

struct dentry;
struct path {
	struct dentry *dentry;
} __attribute__((preserve_access_index));

/* Linux 6.18 wraps f_path in an anonymous union: CO-RE finds it there too. */
struct file {
	struct path f_path;
	struct inode *f_inode;
	void *private_data;
} __attribute__((preserve_access_index));

/* A sysctl's table entry, and the procfs inode that carries it (NULL for any other proc file). */
struct ctl_table {
	const char *procname;
} __attribute__((preserve_access_index));

struct proc_inode {
	struct ctl_table *sysctl_entry;
	struct inode vfs_inode;
} __attribute__((preserve_access_index));

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
} __attribute__((preserve_access_index));

struct files_struct {
	struct fdtable *fdt;
} __attribute__((preserve_access_index));

struct dentry {
	struct qstr d_name;
	struct inode *d_inode;
} __attribute__((preserve_access_index));

struct vfsmount {
	struct super_block *mnt_sb;
} __attribute__((preserve_access_index));

struct bpf_map {
	u32 id;
} __attribute__((preserve_access_index));

struct bpf_prog;

struct bpf_link {
	u32 id;
	struct bpf_prog *prog;
} __attribute__((preserve_access_index));

struct bpf_prog_aux {
	u32 id;
	u32 used_map_cnt;
	struct bpf_map **used_maps;
	struct bpf_prog *dst_prog;
	const char *attach_func_name;
} __attribute__((preserve_access_index));

struct bpf_prog {
	__u16 pages;
	__u16 jited:1,
	      kprobe_override:1;
	enum bpf_prog_type type;
	enum bpf_attach_type expected_attach_type;
	struct bpf_prog_aux *aux;
} __attribute__((preserve_access_index));

struct list_head {
	struct list_head *next;
} __attribute__((preserve_access_index));

struct signal_struct {
	int nr_threads;
	struct list_head thread_head;
} __attribute__((preserve_access_index));

struct mm_struct {
	struct file *exe_file;
} __attribute__((preserve_access_index));

struct task_struct {
	unsigned int __state;
	unsigned int ptrace;
	pid_t pid;
	pid_t tgid;
	char comm[16];
	struct mm_struct *mm;
	struct task_struct *group_leader;
	struct task_struct *real_parent;
	struct files_struct *files;
	u64 start_boottime;
	const struct cred *real_cred;
	struct css_set *cgroups;
	struct signal_struct *signal;
	struct list_head thread_node;
} __attribute__((preserve_access_index));

struct vm_area_struct {
	unsigned long vm_end;
} __attribute__((preserve_access_index));

/* p: the new program's argument and environment strings, back to back, in vma (the new mm's stack). */
struct linux_binprm {
	struct vm_area_struct *vma;
	struct file *file;
	unsigned long p;
	int argc;
	int envc;
} __attribute__((preserve_access_index));


struct kernel_clone_args {
	u64 flags;
} __attribute__((preserve_access_index));

struct cgroup_namespace;

/*
 * A kernel struct that is nothing but char arrays. An address typed as one
 * (bpf_rdonly_cast) reads as plain bytes: see peek_u64() in peek.bpf.h.
 */
/* A key of the kernel's keyrings: only its serial, to notice it freed. */
struct key {
	__s32 serial;
} __attribute__((preserve_access_index));

/*
 * From bpf_lookup_user_key(), for bpf_verify_pkcs7_signature(); never read.
 * Defined, not declared: libbpf holds a kfunc's prototype to the kernel's,
 * and a declared struct is another BTF kind than a defined one.
 */
struct bpf_key {
	struct key *key;
	bool has_ref;
} __attribute__((preserve_access_index));

struct new_utsname {
	char sysname[65];
} __attribute__((preserve_access_index));

#endif
