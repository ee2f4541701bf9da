/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The map contract between the BPF object and userspace.
 *
 * Included by cgwarden.bpf.c and by the host layout test (compiled with the
 * system C compiler); scripts/header-abi.ts generates cli/object/header.ts
 * from it (every struct's layout read back from the BTF), and
 * test/unit/layout.test.ts holds the two to the same offsets and sizes.
 * Any change here is an ABI change: bump CGW_ABI_VERSION.
 */
#ifndef CGWARDEN_H
#define CGWARDEN_H

#include <linux/types.h>

#define CGW_ABI_VERSION 10

/*
 * Rules may sit on cgroups at most this deep (root is level 0). Decisions only
 * ever consult ancestors at levels <= CGW_MAX_LEVEL, so tasks in deeper
 * cgroups are still judged exactly; userspace refuses deeper anchors.
 */
#define CGW_MAX_LEVEL 32
#define CGW_LEVELS (CGW_MAX_LEVEL + 1)

/* Rules per gate (the allow list of one lock, or the delegations of one cgroup). */
#define CGW_GATE_SLOTS 64

#define CGW_COMM_LEN 16
#define CGW_PATH_LEN 256

/*
 * Rules are bound to cgroup paths, never to cgroup ids. Each path (or
 * template) a rule names is a node: locks, gates and selectors are keyed by
 * node, and `bound` says which nodes the cgroup now at a path carries. The
 * node id is a hash of the path; its top bit is the policy epoch it belongs
 * to (see settings.epoch).
 */
#define CGW_NODE_EPOCH (1ULL << 63)

/*
 * Templates (`prefix*suffix` in a path's last component) per set: the
 * single-level templates of one directory, or the recursive templates
 * (a `**` component before the last) in force below one anchor.
 */
#define CGW_DIR_TEMPLATES 16
#define CGW_TEMPLATE_PART 64

enum cgw_via {
	CGW_VIA_PROCS = 1,
	CGW_VIA_THREADS = 2,
	CGW_VIA_CLONE = 3,
	CGW_VIA_TAMPER = 4, /* not a migration: a refused attempt on a sealed policy */
};

enum cgw_direction {
	CGW_DIR_IN = 1,
	CGW_DIR_OUT = 2,
	CGW_DIR_WITHIN = 4,
};

enum cgw_mode {
	CGW_MODE_ENFORCE = 0,
	CGW_MODE_AUDIT = 1,
};

enum cgw_rule_kind {
	CGW_RULE_LOCK = 1,
	CGW_RULE_ALLOW = 2,
	CGW_RULE_DELEGATE = 3,
};

/* Selector kinds; also bit positions in cgw_rule.selectors. */
enum cgw_selector {
	CGW_SEL_PID = 0,
	CGW_SEL_EXE = 1,
	CGW_SEL_UID = 2,
	CGW_SEL_CGROUP = 3,
	CGW_SEL_KINDS = 4,
};

enum cgw_verdict {
	CGW_VERDICT_ALLOW = 0,
	CGW_VERDICT_DENY = 1,
	CGW_VERDICT_AUDIT = 2,
};

enum cgw_mechanism {
	CGW_MECH_NONE = 0,
	CGW_MECH_NATIVE = 1,   /* lsm/cgroup_attach from the proposed kernel patch */
	CGW_MECH_MAINLINE = 2, /* fentry/fexit state + lsm/inode_permission */
};

/* locks: node -> lock. One lock per path or template. */
struct cgw_lock {
	__u32 rule_id;
	__u8 directions; /* CGW_DIR_* bits */
	__u8 mode;       /* CGW_MODE_* of this lock alone */
	__u16 pad;
};

/* gates: (anchor node, CGW_RULE_ALLOW or CGW_RULE_DELEGATE) -> gate. */
struct cgw_gate_key {
	__u64 anchor;
	__u32 kind;
	__u32 pad;
};

/*
 * A gate is a disjunction of up to CGW_GATE_SLOTS rules, each a conjunction of
 * selectors. Slot i matches when every selector kind k with bit i set in
 * need[k] has bit i set in the bitmap found under that kind's selector key.
 * Writers publish a slot by setting it in `live` last and retract it by
 * clearing it first, so a half-written rule is never in force.
 */
struct cgw_gate {
	__u64 live;
	__u64 need[CGW_SEL_KINDS];
	__u32 rule_id[CGW_GATE_SLOTS];
};

/*
 * selectors: (anchor node, gate kind, selector kind, value) -> bitmap of slots.
 *   PID:    value = tgid, value2 = start time in clock ticks (/proc/PID/stat #22)
 *   EXE:    value = st_dev (userspace encoding), value2 = st_ino
 *   UID:    value = effective uid
 *   CGROUP: value = node of the selector's path (matched through `bound`)
 */
struct cgw_selector_key {
	__u64 anchor;
	__u64 value;
	__u64 value2;
	__u32 kind;
	__u32 selector;
};

/*
 * bound: (cgroup id, epoch) -> the nodes the cgroup carries. Written by
 * userspace for cgroups that exist when a policy is written, and by the
 * cgroup_mkdir tracepoint for every cgroup created later, under
 * cgroup_mutex and before the new directory is visible: no migration can
 * see a bound path's cgroup unbound. Deleted at rmdir.
 */
struct cgw_bound_key {
	__u64 cgroup;
	__u32 epoch;
	__u32 pad; /* zero: keys are compared byte for byte */
};

struct cgw_binding {
	__u64 exact;    /* node of the cgroup's own path, 0: none */
	__u64 matched;  /* node of the template its name matched, 0: none */
	__u64 children; /* template set for cgroups created inside, 0: none */
	/*
	 * Recursive template set for cgroups created inside, 0: none. A new
	 * cgroup inherits its parent's unless a template of that set matched
	 * its name (the outermost match wins: below a matched cgroup the set no
	 * longer applies) or its own path names a set (an anchor's set holds
	 * the templates it inherits too; userspace computes it).
	 */
	__u64 descend;
};

/* paths: (epoch, path) -> what a cgroup created at that path is bound to. */
struct cgw_path_key {
	__u32 epoch;
	char path[CGW_PATH_LEN];
};

struct cgw_path {
	__u64 node;     /* 0 when only templates for children are named here */
	__u64 children; /* template set id, 0: none */
	__u64 descend;  /* recursive template set id, 0: none (see cgw_binding) */
};

/*
 * templates: set id -> the templates a new cgroup's name is matched against:
 * one directory's single-level templates, or the recursive templates in
 * force below an anchor. Userspace refuses templates that could both match
 * one name at one place, so the first match is the only one.
 */
struct cgw_template {
	__u64 node;
	__u8 prefix_len;
	__u8 suffix_len;
	__u8 pad[6];
	char prefix[CGW_TEMPLATE_PART];
	char suffix[CGW_TEMPLATE_PART];
};

struct cgw_template_set {
	__u32 count;
	__u32 pad;
	struct cgw_template t[CGW_DIR_TEMPLATES];
};

/* node_stats: node without its epoch bit -> how its path was bound. */
struct cgw_node_stats {
	__u64 cgroup; /* the cgroup bound last; 0 once it was removed */
	__u64 binds;  /* cgroups bound to the node since it was made */
};

/*
 * rules: (epoch << 31 | rule id) -> rule. Userspace's record of what it
 * asked for; the epoch in force holds the live policy's records.
 */
struct cgw_rule {
	__u32 id;
	__u8 kind;       /* CGW_RULE_* */
	__u8 directions; /* locks */
	__u8 mode;       /* locks */
	__u8 slot;       /* allow and delegate: slot in the gate */
	__u64 node;      /* anchor: node of cgroup_path */
	__u32 selectors; /* bit per CGW_SEL_* present */
	__u32 uid;
	__u32 pid;
	__u32 source_line; /* line of source, 0 when the rule came from a command */
	__u64 pid_start;
	__u64 exe_dev;
	__u64 exe_ino;
	__u64 sel_node;  /* node of sel_cgroup_path */
	__u64 created_ns; /* CLOCK_REALTIME */
	__u64 binds_base; /* node_stats.binds when the rule was made */
	char cgroup_path[CGW_PATH_LEN]; /* path or template the rule is bound to */
	char exe_path[CGW_PATH_LEN];
	char sel_cgroup_path[CGW_PATH_LEN];
	/*
	 * The policy file that stated the rule, as `export --sources` names it
	 * (its last 255 bytes when longer); empty for a command's rule.
	 */
	char source[CGW_PATH_LEN];
};

/* settings: single element, key 0. */
struct cgw_settings {
	__u32 abi;
	__u32 mechanism;   /* CGW_MECH_* in use, written at load */
	__u32 global_mode; /* CGW_MODE_AUDIT overrides every lock's own mode */
	__u32 record_all;  /* record every decision, allowed ones too */
	__u32 next_rule_id;
	__u32 recorder_slots; /* entries of the recorder map, set at load */
	__u64 generation;  /* bumped by every policy change */
	char version[32];  /* cgwarden version that loaded the object */
	char object_sha256[72];
	/*
	 * The policy in force: 0 or 1. A change writes the whole new policy
	 * under the other epoch, flips this one field, waits out every
	 * decision that may have read the old value, then deletes the old
	 * epoch. Each decision reads it once, so it sees one policy, whole.
	 */
	__u32 epoch;
	/*
	 * Set while the epoch not in force may hold entries: from the first
	 * write of a change until the old epoch is swept. A change killed in
	 * between leaves it set, and the next command sweeps, even one that
	 * changes nothing else.
	 */
	__u32 stale;
	/*
	 * Where the policy in force came from, for `status`; written with it,
	 * in the same element write. Only userspace reads these.
	 */
	__u64 applied_ns;                /* CLOCK_REALTIME */
	char applied_origin[16];         /* initramfs, unit or command (CGWARDEN_ORIGIN) */
	char applied_by[32];             /* the command that made it: apply, lock, ... */
	char applied_file[CGW_PATH_LEN]; /* apply's file, "-" for standard input, else empty */
	char applied_sha256[72];         /* of that file's bytes */
};

/* stats: per-CPU counters, indexed by enum cgw_stat. */
enum cgw_stat {
	CGW_STAT_DECISIONS = 0,
	CGW_STAT_ALLOWED = 1,
	CGW_STAT_DENIED = 2,
	CGW_STAT_AUDITED = 3,
	CGW_STAT_DROPPED = 4,
	CGW_STAT_RECORDED = 5,
	CGW_STAT_COUNT = 6,
};

/*
 * One decision, as recorded for `cgwarden audit`: every deny and audit-deny,
 * and with settings.record_all every allow too. Written to the recorder map (the
 * newest recorder_slots of them, slot = seq % recorder_slots) and to the
 * events ring buffer for followers. seq starts at 1; a slot whose seq is not
 * the one expected is being rewritten.
 */
struct cgw_record {
	__u64 seq;
	__u64 time_ns; /* CLOCK_BOOTTIME */
	__u64 src_cgroup;
	__u64 dst_cgroup;
	__u64 rule_cgroup;
	__u64 actor_exe_dev;
	__u64 actor_exe_ino;
	__u64 actor_cgroup;
	__u64 actor_start_ticks;
	__u64 object;     /* tamper: what was aimed at (see enum cgw_tamper) */
	__u32 rule_id;
	__u8 verdict;     /* CGW_VERDICT_* */
	__u8 via;         /* CGW_VIA_* */
	__u8 mechanism;   /* CGW_MECH_* */
	__u8 threadgroup;
	__u32 actor_pid;
	__u32 actor_tgid;
	__u32 actor_euid;
	__u32 task_pid;
	__u32 task_tgid;
	__u32 tamper;     /* CGW_TAMPER_* when via is CGW_VIA_TAMPER */
	char actor_comm[CGW_COMM_LEN];
	char task_comm[CGW_COMM_LEN];
	/*
	 * The cgroups' paths when the decision was taken, from the cgroup2
	 * root ("/system.slice/foo.service"): what a later replay of the
	 * decision against another policy binds by (`what-if`). Empty when
	 * unknown: deeper than CGW_MAX_LEVEL, longer than the buffer, or a
	 * tamper record.
	 */
	char src_path[CGW_PATH_LEN];
	char dst_path[CGW_PATH_LEN];
	char actor_path[CGW_PATH_LEN];
};

/*
 * executed (task storage): what each process really executed, on its
 * thread-group leader: written at exec, or from mm->exe_file just before
 * the first PR_SET_MM can change it. mm->exe_file alone is no identity:
 * prctl(PR_SET_MM_EXE_FILE) as root, or PR_SET_MM_MAP inside any user
 * namespace, points it at another file. `explain` reads it by pidfd.
 */
struct cgw_exe_identity {
	__u64 dev;
	__u64 ino;
	__u32 gen;          /* the inode's generation: (dev, ino) alone come back after a remount */
	__u32 manager;      /* executed cgwarden's binary, forked by a manager (see the seal) */
	__u32 from_manager; /* forked by a manager, untraced since: kept across exec, never inherited */
	__u32 pad;
};

/*
 * The seal: once sealed, only a manager may change cgwarden's BPF state.
 * seal: single element, key 0; protected: what the seal covers. Both are
 * written by userspace only (BPF_F_RDONLY_PROG, like every policy map).
 */
#define CGW_MANAGERS 8

/*
 * Limits of the values selectors and managers name, for every layer to read:
 * the kernel never hands out pids above PID_MAX_LIMIT, and (uid_t)-1 means
 * "no uid" to it.
 */
#define CGW_PID_MAX (1 << 22)
#define CGW_UID_MAX 0xfffffffe

struct cgw_manager {
	__u64 exe_dev;    /* what the manager really executed (userspace st_dev encoding) */
	__u64 exe_ino;
	__u64 start_ticks; /* with pid: that one process; 0 with pid 0: any process of the exe */
	__u32 pid;
	/*
	 * With pid 0 the file is the manager, so it must be that file and no
	 * other that a remount put at the same (dev, ino): its inode generation
	 * (FS_IOC_GETVERSION, or tmpfs's file handle). With a pid, the process
	 * (pid and start time, never reused in a boot) is the manager: 0.
	 */
	__u32 exe_gen;
	char exe[CGW_PATH_LEN]; /* for status; the kernel matches exe_dev and exe_ino */
};

struct cgw_seal {
	__u32 sealed;       /* 0: the seal programs refuse nothing */
	__u32 until_reboot; /* no managers at all */
	__u32 lock_bpf;     /* refuse new fentry, fexit, fmod_ret, LSM, freplace and kprobe-override programs */
	__u32 manager_count;
	/* The cgwarden binary: a manager's child that executes it is a manager too. */
	__u64 cli_dev;
	__u64 cli_ino;
	__u32 cli_gen;      /* its inode generation, as a manager's exe_gen */
	__u32 pad;
	__u64 sealed_ns;    /* CLOCK_REALTIME */
	/*
	 * A key seal (key_ring != 0) has no managers: a process becomes one by
	 * presenting an authorization the kernel verifies against the key (see
	 * struct cgw_challenge). Serials of the keyring holding the certificate
	 * and of the certificate's key; ids of the two maps of the exchange.
	 */
	__u32 key_ring;
	__u32 key_cert;
	__u32 board_map;          /* challenge_board: reading it issues the reader's challenge */
	__u32 authorizations_map; /* writing it presents an authorization */
	__u8 key_sha256[32];      /* of the certificate (DER): what two seals compare */
	char key_subject[CGW_PATH_LEN];
	char key_path[CGW_PATH_LEN]; /* where it was read from, for status and export */
	struct cgw_manager managers[CGW_MANAGERS];
};

/*
 * The exchange of a key seal. A process reads its own entry of
 * challenge_board (key: struct cgw_process_key of itself): the lookup
 * makes the kernel issue it a fresh challenge, which the lookup returns.
 * The key's holder signs those exact bytes (PKCS#7/CMS, detached, no
 * attributes: `openssl cms -sign -binary -noattr`); the process writes the
 * signature into `authorizations` under its own key; the kernel verifies
 * it against its own copy of the challenge, with the sealed keyring. The
 * challenge is bound to the process (pid and start time: never reused in
 * a boot), to this seal, and to a nonce only the kernel chose; it is
 * consumed by the first presentation and expires after
 * CGW_AUTHORIZATION_TTL_S. A verified process is a manager until it exits
 * or executes anything.
 */
#define CGW_AUTHORIZATION_TTL_S 300
#define CGW_AUTHORIZATION_MAX 4092
#define CGW_CHALLENGE_MAGIC "cgwarden-authz-1" /* 16 bytes, no NUL */

struct cgw_process_key {
	__u64 start_ticks; /* /proc/PID/stat's starttime */
	__u32 tgid;
	__u32 pad;
};

struct cgw_challenge {
	char magic[16];     /* CGW_CHALLENGE_MAGIC: what this signature is for */
	__u64 sealed_ns;    /* the seal it is for */
	__u64 start_ticks;  /* the process it is for */
	__u32 tgid;
	__u32 key_ring;
	__u64 issued_ns;    /* CLOCK_BOOTTIME */
	__u8 nonce[16];
};

struct cgw_authorization {
	__u32 len;          /* bytes of pkcs7 used */
	__u8 pkcs7[CGW_AUTHORIZATION_MAX]; /* DER */
};

enum cgw_protected_kind {
	CGW_PROT_MAP = 1,          /* no fd for anyone but managers: programs write it */
	CGW_PROT_MAP_READABLE = 2, /* read-only fds for anyone: only userspace writes it */
	CGW_PROT_PROG = 3,
	CGW_PROT_LINK = 4,
	CGW_PROT_DIR = 5,          /* a directory of the pins: a = dev, b = inode */
	CGW_PROT_FS = 6,           /* the bpffs holding the pins: a = dev */
	CGW_PROT_MAP_PRESENTED = 7, /* writable fds for anyone: each write is an authorization the key seal verifies */
};

struct cgw_protected_key {
	__u64 a; /* id, or dev */
	__u64 b; /* inode, or 0 */
	__u32 kind;
	__u32 pad;
};

/* What a refused tamper attempt aimed at: record.tamper, and record.object. */
enum cgw_tamper {
	CGW_TAMPER_MAP_OPEN = 1,   /* an fd to a sealed map (object: map id) */
	CGW_TAMPER_MAP_WRITE = 2,  /* bpf(2) writing through an fd opened before the seal (map id) */
	CGW_TAMPER_PROG_USES = 4,  /* a new program using a sealed map or attaching to a cgwarden program (its id) */
	CGW_TAMPER_LINK = 5,       /* detach, update or an fd of a cgwarden link (link id) */
	CGW_TAMPER_BPF_LOCKED = 6, /* --lock-bpf: a program of a locked kind (prog type << 32 | attach type) */
	CGW_TAMPER_UNLINK = 7,     /* unlink or rmdir in the pin directory (inode) */
	CGW_TAMPER_RENAME = 8,     /* rename in, out of, or over the pin directory (inode) */
	CGW_TAMPER_UMOUNT = 9,     /* unmounting the bpffs of the pins (dev) */
	CGW_TAMPER_PTRACE = 10,    /* ptrace, /proc/PID/mem or pidfd_getfd of a manager (its pid) */
	CGW_TAMPER_BPF_COMMAND = 11, /* a bpf(2) command not open to non-managers (cmd << 32 | object id) */
	CGW_TAMPER_KNOB = 12,      /* writing a kernel knob that switches BPF trampolines off (enum cgw_knob) */
	CGW_TAMPER_AUTHORIZATION = 13, /* an authorization the key seal refused (enum cgw_refusal) */
};

/* The kernel knobs the seal guards: record.object of CGW_TAMPER_KNOB. */
enum cgw_knob {
	CGW_KNOB_FTRACE_ENABLED = 1, /* kernel.ftrace_enabled = 0 unhooks every BPF trampoline */
};

/* Why the key seal refused an authorization: record.object of CGW_TAMPER_AUTHORIZATION. */
enum cgw_refusal {
	CGW_REFUSAL_NO_CHALLENGE = 1, /* the process was issued none, or it was used */
	CGW_REFUSAL_EXPIRED = 2,
	CGW_REFUSAL_TRACED = 3,       /* a traced process runs its tracer's code */
	CGW_REFUSAL_KEY_GONE = 4,     /* the keyring or certificate was revoked, unlinked or freed */
	CGW_REFUSAL_MALFORMED = 5,
	CGW_REFUSAL_SIGNATURE = 6,    /* the signature does not verify against the seal's key */
};

#endif /* CGWARDEN_H */
