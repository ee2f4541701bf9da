/* SPDX-License-Identifier: GPL-2.0-only */
/* Fields renamed across the kernels cgwarden supports, read through CO-RE flavours. */
#ifndef CGWARDEN_CORE_FIXES_H
#define CGWARDEN_CORE_FIXES_H

#include <bpf/bpf_core_read.h>
#include "kernel_types.h"

/* Linux 6.15 renamed kernfs_node::parent to __parent (it became RCU-protected). */
struct kernfs_node___new {
	struct kernfs_node *__parent;
} __attribute__((preserve_access_index));

struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

static __always_inline struct kernfs_node *kernfs_parent(struct kernfs_node *kn)
{
	if (bpf_core_field_exists(struct kernfs_node___new, __parent))
		return BPF_CORE_READ((struct kernfs_node___new *)kn, __parent);
	return BPF_CORE_READ((struct kernfs_node___old *)kn, parent);
}

#endif
