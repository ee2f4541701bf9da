/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section seal_env: the seal: a manager's cgwarden started with loader or runtime overrides is no manager.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

/*
 * The environment a manager's cgwarden starts with, judged as glibc judges
 * a setuid program's: what it drops in secure-execution mode (its
 * UNSECURE_ENVVARS, and MALLOC_*) is refused here, since each makes the
 * loader or libc load, run or read what the caller chose: LD_* (LD_PRELOAD,
 * LD_AUDIT, LD_LIBRARY_PATH for the libbpf cgwarden dlopens), GLIBC_TUNABLES,
 * GCONV_PATH (iconv modules), GETCONF_DIR, LOCPATH and NLSPATH (locale data
 * and catalogs), HOSTALIASES, LOCALDOMAIN, RES_OPTIONS, RESOLV_HOST_CONF
 * and NIS_PATH (the resolver), MALLOC_*. TMPDIR and TZDIR, also on glibc's
 * list, are left alone: cgwarden writes no temporary file and parses no
 * time zone it trusts, and units set TMPDIR. Then the runtime, from Bun's
 * table of the variables it reads (src/env_var.zig): BUN_* (BUN_OPTIONS,
 * BUN_BE_BUN, BUN_INSPECT_PRELOAD, BUN_JSC_*), JSC_* (JavaScriptCore's
 * options), MIMALLOC_* (its allocator's), NODE_OPTIONS and NODE_PATH. The
 * other variables Bun reads (NODE_CHANNEL_FD, NODE_NO_WARNINGS, NO_COLOR,
 * FORCE_COLOR, HOME, XDG_*, TMPDIR) load and run no code in a compiled
 * executable that autoloads no bunfig.toml.
 */
#define ENV_CHUNK 128
#define ENV_HEAD 32 /* a power of two above the longest name checked, with its '=' (RESOLV_HOST_CONF=, 17) */

struct cgw_env_scan {
	__u64 addr;  /* the next byte to read, in the new mm */
	__u64 end;   /* the end of the stack that holds the strings */
	__u32 argc;  /* strings before the environment */
	__u32 total; /* argc + envc */
	__u32 index; /* the string addr is in */
	__u32 pos;   /* bytes of it seen */
	__u32 unsafe;
	__u32 pad;
	char head[ENV_HEAD];
	char buf[ENV_CHUNK];
};

/*
 * The scan's state lives in task storage, not on the stack: a sleepable
 * program may be preempted (so no per-CPU scratch), and Linux 6.1's
 * verifier, which models a bpf_loop() callback as called once, mistook
 * what the callbacks wrote to the caller's stack for the initial zeros and
 * dropped the verdict. Map memory it never assumes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cgw_env_scan);
} env_scans SEC(".maps");

struct cgw_env_scan_ctx {
	struct cgw_env_scan *w;
};

static __always_inline int starts(const char *s, __u32 n, const char *prefix, __u32 len)
{
	if (n < len)
		return 0;
	for (__u32 i = 0; i < len; i++)
		if (s[i] != prefix[i])
			return 0;
	return 1;
}

static __always_inline int overriding(const char *h, __u32 n)
{
	/* The loader and libc: glibc's secure-execution list. */
	if (starts(h, n, "LD_", 3) || starts(h, n, "GLIBC_TUNABLES=", 15) || starts(h, n, "GCONV_PATH=", 11) ||
	    starts(h, n, "GETCONF_DIR=", 12) || starts(h, n, "LOCPATH=", 8) || starts(h, n, "NLSPATH=", 8) ||
	    starts(h, n, "HOSTALIASES=", 12) || starts(h, n, "LOCALDOMAIN=", 12) || starts(h, n, "RES_OPTIONS=", 12) ||
	    starts(h, n, "RESOLV_HOST_CONF=", 17) || starts(h, n, "NIS_PATH=", 9) || starts(h, n, "MALLOC_", 7))
		return 1;
	/* The runtime: Bun, JavaScriptCore, mimalloc. */
	return starts(h, n, "BUN_", 4) || starts(h, n, "JSC_", 4) || starts(h, n, "MIMALLOC_", 9) ||
	       starts(h, n, "NODE_OPTIONS=", 13) || starts(h, n, "NODE_PATH=", 10);
}

/* One byte of a chunk: a string's first bytes go to head, and the string is judged at its NUL. */
static long scan_env_byte(__u32 i, struct cgw_env_scan_ctx *ctx)
{
	struct cgw_env_scan *w = ctx->w;
	char c;

	if (!w)
		return 1;
	c = w->buf[i & (ENV_CHUNK - 1)];
	if (c) {
		if (w->pos < ENV_HEAD)
			w->head[w->pos & (ENV_HEAD - 1)] = c;
		w->pos++;
		return 0;
	}
	if (w->index >= w->argc && overriding(w->head, w->pos)) {
		w->unsafe = 1;
		return 1;
	}
	w->pos = 0;
	return ++w->index >= w->total;
}

/*
 * One chunk of the strings, read from the new mm, then its bytes one
 * bpf_loop() step each: a callback is verified once, where an unrolled
 * loop over the chunk multiplies the verifier's states (Linux 7.2 ran out
 * of memory on one).
 */
static long scan_env_chunk(__u32 step, struct cgw_env_scan_ctx *ctx)
{
	struct cgw_env_scan *w = ctx->w;
	__u64 left;
	__u32 len;

	if (!w || w->index >= w->total || w->unsafe)
		return 1;
	left = w->end > w->addr ? w->end - w->addr : 0;
	len = left < ENV_CHUNK ? (__u32)left : ENV_CHUNK;
	if (!len || bpf_copy_from_user(w->buf, len & (ENV_CHUNK - 1) ? len & (ENV_CHUNK - 1) : ENV_CHUNK, (void *)w->addr)) {
		w->unsafe = 1; /* strings that cannot be read whole: refuse rather than guess */
		return 1;
	}
	bpf_loop(len, scan_env_byte, ctx, 0);
	w->addr += len;
	return 0;
}

/*
 * On the same hook as cgwarden_exec. Where a process a manager forked
 * executes cgwarden's binary, it reads the new program's environment and,
 * if it overrides the loader or the runtime, takes back both the process's
 * origin and any manager mark, so the two programs are right in either
 * order (6.12's trampoline runs the one attached last first; no kernel
 * promises an order). current->mm is already the new
 * program's: its stack holds the argument and environment strings back to
 * back, from bprm->p. Sleepable, for bpf_copy_from_user(): libbpf turns
 * bpf_probe_read_user() into a helper lockdown=confidentiality refuses.
 */
SEC("lsm.s/bprm_committed_creds")
int BPF_PROG(cgwarden_seal_exec_env, struct linux_binprm *bprm)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct cgw_exe_identity *id = bpf_task_storage_get(&executed, current, 0, 0);
	struct cgw_seal *s = active_seal();
	struct cgw_env_scan_ctx scan = {};
	struct cgw_env_scan *w;
	__u64 dev, ino;
	__u32 gen;

	if (!s || !id || !id->from_manager)
		return 0;
	file_identity(bprm->file, &dev, &ino, &gen);
	if (dev != s->cli_dev || ino != s->cli_ino || gen != s->cli_gen)
		return 0;
	w = bpf_task_storage_get(&env_scans, current, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!w) {
		id->from_manager = 0;
		id->manager = 0;
		return 0;
	}
	__builtin_memset(w, 0, sizeof(*w));
	w->addr = bprm->p;
	w->end = bprm->vma->vm_end;
	w->argc = bprm->argc;
	w->total = bprm->argc + bprm->envc;
	scan.w = w;
	bpf_loop(1 << 16, scan_env_chunk, &scan, 0);
	if (w->unsafe || w->index < w->total) {
		id->from_manager = 0;
		id->manager = 0;
	}
	bpf_task_storage_delete(&env_scans, current);
	return 0;
}
