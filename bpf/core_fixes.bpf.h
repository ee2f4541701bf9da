/* SPDX-License-Identifier: GPL-2.0-only */
/* What differs across the kernels cgwarden supports: renamed fields as CO-RE flavours, and the tests that choose. */
#ifndef CGWARDEN_CORE_FIXES_H
#define CGWARDEN_CORE_FIXES_H

#include "kernel_types.bpf.h"

/* Up to 6.14. */
struct kernfs_node___old {
	struct kernfs_node *parent;
} __attribute__((preserve_access_index));

/* Linux 6.15 renamed kernfs_node::parent to __parent (it became RCU-protected). */
struct kernfs_node___615 {
	struct kernfs_node *__parent;
} __attribute__((preserve_access_index));

#define HAVE_KERNFS___PARENT bpf_core_field_exists(struct kernfs_node___615, __parent)

/*
 * Linux 6.2: bpf_rdonly_cast() (peek.bpf.h) and BPF_FUNC_cgrp_storage_get
 * arrived together. The enumerator is CO-RE-testable; the kfunc is not with
 * libbpf 1.1.
 */
enum bpf_func_id___62 {
	BPF_FUNC_cgrp_storage_get___62 = 210,
};
#define HAVE_RDONLY_CAST bpf_core_enum_value_exists(enum bpf_func_id___62, BPF_FUNC_cgrp_storage_get___62)

#endif
