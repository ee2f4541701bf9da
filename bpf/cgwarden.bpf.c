// SPDX-License-Identifier: GPL-2.0-only
/*
 * cgwarden: decide every cgroup v2 migration against the policy in the maps.
 *
 * One decision function, cgw_decide(), reached through one of two mechanisms:
 *
 *   native    lsm/cgroup_attach, the hook from the proposed kernel patch. The
 *             kernel hands us task, src and dst directly.
 *
 *   mainline  No such hook. fexit on cgroup_procs_write_start notes the task
 *             a write found, fentry on cgroup_can_fork a CLONE_INTO_CGROUP
 *             child. Both paths then call cgroup_attach_permissions(src, dst),
 *             where fentry decides; the kernel's own permission check inside
 *             that call reaches the LSM hook inode_permission, which returns
 *             the verdict. The verdict lives from entry to exit of that one
 *             call and is consumed by its first check, so it never applies
 *             to an unrelated one.
 *
 * Both mechanisms get src, dst and the current task as typed (BTF) pointers
 * and read them with plain loads, each one instruction once JITed; a
 * bpf_probe_read_kernel() costs some forty, and lockdown=confidentiality
 * refuses it. What is reached through an address kept as a number (a thread
 * found by walking its group, the task a record names, an fd table slot, a
 * string) is read through peek_u64() and peek_str(): typed loads too, from
 * Linux 6.2 on (see "reading kernel memory by address").
 */
#include "kernel_types.bpf.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "core_fixes.bpf.h"
#include "cgwarden.h"

char LICENSE[] SEC("license") = "GPL";

#include "maps.bpf.h"
#include "peek.bpf.h"
#include "chains.bpf.h"
#include "identity.bpf.h"
#include "records.bpf.h"
#include "decide.bpf.h"
#include "native.bpf.h"
#include "mainline.bpf.h"
#include "binding.bpf.h"
#include "seal.bpf.h"
#include "exec.bpf.h"
#include "seal_env.bpf.h"
#include "seal_bpf.bpf.h"
#include "seal_fs.bpf.h"
#include "seal_tasks.bpf.h"
#include "seal_key.bpf.h"
