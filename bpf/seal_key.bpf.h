/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section seal_key: the key seal: challenges, authorizations the kernel verifies, and keys that must not come back.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 *
 * A key seal names no manager. A process becomes one by signing nothing
 * itself: it reads its challenge, has the key's holder sign it elsewhere,
 * and presents the signature; see struct cgw_challenge in cgwarden.h for
 * the exchange and why each part of it is there.
 */

/* Linux 6.1 on, with CONFIG_SYSTEM_DATA_VERIFICATION (kernel/trace/bpf_trace.c); sleepable programs only. */
extern struct bpf_key *bpf_lookup_user_key(__u32 serial, __u64 flags) __ksym;
extern void bpf_key_put(struct bpf_key *key) __ksym;
extern int bpf_verify_pkcs7_signature(struct bpf_dynptr *data, struct bpf_dynptr *sig, struct bpf_key *keyring) __ksym;

/*
 * attr->value, the user address of the element being written. Read as two
 * halves: Linux 6.1's verifier types union bpf_attr by its first member,
 * whose field at this offset (map_flags) is four bytes wide.
 */
static __always_inline __u64 attr_value(union bpf_attr *attr)
{
	__u64 at = __builtin_offsetof(union bpf_attr, value);
	__u32 lo = *(volatile __u32 *)((char *)attr + at);
	__u32 hi = *(volatile __u32 *)((char *)attr + at + 4);

	return (__u64)hi << 32 | lo;
}

static __always_inline int key_lost(__u32 serial)
{
	return bpf_map_lookup_elem(&keys_lost, &serial) != 0;
}

/*
 * The current process's challenge: a fresh one at each read of its board
 * entry, so a process that lost its reply asks again. The process's own
 * copy in `authority` is the one verified: the board is readable, and
 * anything readable can reach a map-in-map that writes it.
 */
static __noinline int issue_challenge(struct cgw_seal *s)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct cgw_process_key k = {};
	struct cgw_authority *au;
	__u32 *nonce;

	if (current->pid != current->tgid)
		return 0; /* see present_authorization */
	au = bpf_task_storage_get(&authority, current, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!au)
		return 0; /* no challenge: the lookup finds none */
	__builtin_memcpy(au->issued.magic, CGW_CHALLENGE_MAGIC, sizeof(au->issued.magic));
	au->issued.sealed_ns = s->sealed_ns;
	au->issued.start_ticks = start_ticks_of(current);
	au->issued.tgid = current->tgid;
	au->issued.key_ring = s->key_ring;
	au->issued.issued_ns = bpf_ktime_get_boot_ns();
	nonce = (__u32 *)au->issued.nonce;
	nonce[0] = bpf_get_prandom_u32();
	nonce[1] = bpf_get_prandom_u32();
	nonce[2] = bpf_get_prandom_u32();
	nonce[3] = bpf_get_prandom_u32();
	au->used = 0;
	k.tgid = au->issued.tgid;
	k.start_ticks = au->issued.start_ticks;
	bpf_map_update_elem(&challenge_board, &k, &au->issued, BPF_ANY);
	return 0;
}

/*
 * Records the refusal, then returns it. Not record_tamper(): in a
 * sleepable program the verifier trusts current but not its group
 * leader, so current is given as the leader, which it is here (see
 * present_authorization).
 */
static __always_inline int refuse(__u32 why, int err)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct cgw_actor a = {};
	__u32 manager;

	identify_of(current, current, &a, &manager);
	publish_tamper(CGW_TAMPER_AUTHORIZATION, why, &a);
	return -err;
}

/*
 * An authorization written into `authorizations` by the current process:
 * verified against the challenge the kernel issued it, with the sealed
 * keyring. The challenge is spent before anything is checked, so one
 * challenge gets one try, and two threads racing get one verdict.
 */
static __noinline int present_authorization(struct cgw_seal *s, union bpf_attr *attr)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct cgw_exe_identity *id;
	struct bpf_dynptr data, sig;
	struct cgw_authority *au;
	struct bpf_key *ring;
	__u32 len;
	int err;

	/*
	 * The process's main thread only: the manager's mark lives on the
	 * group leader, and in a sleepable program only current is a pointer
	 * the verifier trusts (group_leader is RCU-protected). cgwarden's
	 * own CLI asks from its main thread.
	 */
	if (current->pid != current->tgid)
		return -ENOKEY;
	au = bpf_task_storage_get(&authority, current, 0, 0);
	if (!au || __sync_lock_test_and_set(&au->used, 1))
		return refuse(CGW_REFUSAL_NO_CHALLENGE, ENOKEY);
	if (bpf_ktime_get_boot_ns() - au->issued.issued_ns > CGW_AUTHORIZATION_TTL_S * 1000000000ULL)
		return refuse(CGW_REFUSAL_EXPIRED, EKEYEXPIRED);
	if (current->ptrace)
		return refuse(CGW_REFUSAL_TRACED, EPERM);
	if (key_lost(s->key_ring) || key_lost(s->key_cert))
		return refuse(CGW_REFUSAL_KEY_GONE, ENOKEY);
	if (bpf_copy_from_user(&au->presented, sizeof(au->presented), (void *)attr_value(attr)))
		return refuse(CGW_REFUSAL_MALFORMED, EINVAL);
	len = au->presented.len;
	if (len == 0 || len > CGW_AUTHORIZATION_MAX)
		return refuse(CGW_REFUSAL_MALFORMED, EINVAL);
	bpf_dynptr_from_mem(&au->issued, sizeof(au->issued), 0, &data);
	bpf_dynptr_from_mem(au->presented.pkcs7, len, 0, &sig);
	ring = bpf_lookup_user_key(s->key_ring, 0);
	if (!ring)
		return refuse(CGW_REFUSAL_KEY_GONE, ENOKEY);
	err = bpf_verify_pkcs7_signature(&data, &sig, ring);
	bpf_key_put(ring);
	if (err)
		return refuse(CGW_REFUSAL_SIGNATURE, EKEYREJECTED);
	id = bpf_task_storage_get(&executed, current, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!id)
		return -ENOMEM;
	if (!id->ino)
		exe_of(current, &id->dev, &id->ino, &id->gen);
	/* Until it exits, or executes anything: cgwarden_exec recomputes the mark, and a key seal gives none. */
	id->manager = 1;
	return 0;
}

/*
 * Sleepable: the signature check and the copy from the caller may sleep.
 * Runs after cgwarden_seal_bpf, which lets writes of `authorizations`
 * through to it on a key seal and refuses every other use of that map.
 */
SEC("lsm.s/bpf")
int BPF_PROG(cgwarden_seal_authorize, int cmd, union bpf_attr *attr, unsigned int size, int ret)
{
	struct cgw_seal *s;

	if (ret)
		return lsm_refusal(ret);
	s = active_seal();
	if (!s || !s->key_ring)
		return 0;
	if (cmd == BPF_MAP_LOOKUP_ELEM && fd_map_id(attr->map_fd) == s->board_map)
		return issue_challenge(s);
	if (cmd == BPF_MAP_UPDATE_ELEM && fd_map_id(attr->map_fd) == s->authorizations_map)
		return present_authorization(s, attr);
	return 0;
}

/*
 * A key serial names another key once the first is freed: a keyring root
 * made later could then stand at the sealed one's serial, holding root's
 * own certificate. Freed keys of the seal are remembered and never
 * trusted again in this boot: unlinking or invalidating the key leaves the
 * policy unchangeable until the next boot, and never unsealed.
 */
SEC("fentry/security_key_free")
int BPF_PROG(cgwarden_seal_key_free, struct key *key)
{
	struct cgw_seal *s = active_seal();
	__u32 serial, one = 1;

	if (!s || !s->key_ring)
		return 0;
	serial = key->serial;
	if (serial == s->key_ring || serial == s->key_cert)
		bpf_map_update_elem(&keys_lost, &serial, &one, BPF_ANY);
	return 0;
}
