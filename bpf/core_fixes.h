/* SPDX-License-Identifier: GPL-2.0-only */
/* Fields renamed across the kernels cgwarden supports, as CO-RE flavours. */
#ifndef CGWARDEN_CORE_FIXES_H
#define CGWARDEN_CORE_FIXES_H

#include "kernel_types.h"

/* Up to 6.14. */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

/* Linux 6.15 renamed kernfs_node::parent to __parent (it became RCU-protected). */
struct kernfs_node___615 {
	struct kernfs_node *__parent;
} __attribute__((preserve_access_index));

#endif
