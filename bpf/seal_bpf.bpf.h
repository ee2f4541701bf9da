/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * cgwarden.bpf.c, section seal_bpf: the seal: bpf(2), its maps and its programs, default deny for non-managers.
 * Included once, in order, by cgwarden.bpf.c (one compile unit: the ABI
 * check and the verifier see the same code); not a standalone header.
 */

/* The file behind one of the current process's fds: what bpf(2) is about to use. */
static __always_inline __u64 fd_file(__u32 fd)
{
	struct task_struct *current = (struct task_struct *)bpf_get_current_task_btf();
	struct fdtable *fdt = current->files->fdt;

	if (!fdt || fd >= fdt->max_fds)
		return 0;
	/* fdt->fd is a struct file **: the verifier types it as a number, read by address. */
	return peek_u64((__u64)fdt->fd + (__u64)fd * 8);
}

/*
 * What kind of BPF object a file is, by the name its anonymous inode was
 * given (kernel/bpf/syscall.c, bpf_iter.c): stable since 5.7, and unlike
 * f_op it needs no kernel symbol, which lockdown=confidentiality hides.
 * Each name is eight bytes: one load, one compare.
 */
#define NAME8(a, b, c, d, e, f, g, h)                                                     \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | (__u64)(e) << 32 | \
	 (__u64)(f) << 40 | (__u64)(g) << 48 | (__u64)(h) << 56)

enum cgw_fd_kind { FD_OTHER, FD_MAP, FD_PROG, FD_LINK };

static __always_inline __u32 bpf_fd_kind(__u64 file)
{
	__u64 dentry = peek_field(struct file, file, f_path.dentry);
	__u64 name = dentry ? peek_u64(peek_field(struct dentry, dentry, d_name.name)) : 0;

	if (name == NAME8('b', 'p', 'f', '-', 'm', 'a', 'p', 0))
		return FD_MAP;
	if (name == NAME8('b', 'p', 'f', '-', 'p', 'r', 'o', 'g'))
		return FD_PROG;
	if (name == NAME8('b', 'p', 'f', '_', 'l', 'i', 'n', 'k') || name == NAME8('b', 'p', 'f', '-', 'l', 'i', 'n', 'k'))
		return FD_LINK;
	return FD_OTHER;
}

/* The BPF object an fd holds (struct bpf_map, bpf_prog or bpf_link, by *kind), or 0. */
static __always_inline __u64 fd_bpf_object(__u32 fd, __u32 *kind)
{
	__u64 file = fd_file(fd);

	*kind = file ? bpf_fd_kind(file) : FD_OTHER;
	return *kind == FD_OTHER ? 0 : peek_field(struct file, file, private_data);
}

/* The id of the map behind an fd of the current process, or 0. */
static __noinline __u32 fd_map_id(__u32 fd)
{
	__u32 kind;
	__u64 obj = fd_bpf_object(fd, &kind);

	return obj && kind == FD_MAP ? peek_field32(struct bpf_map, obj, id) : 0;
}

/* The BPF object behind an fd, if it is cgwarden's: its id, else 0. */
static __noinline __u32 sealed_object(__u32 fd)
{
	__u32 id, kind;
	__u64 obj = fd_bpf_object(fd, &kind);

	if (!obj)
		return 0;
	switch (kind) {
	case FD_MAP:
		id = peek_field32(struct bpf_map, obj, id);
		return id && is_protected_map(id) ? id : 0;
	case FD_PROG:
		id = peek_field32(struct bpf_prog_aux, peek_field(struct bpf_prog, obj, aux), id);
		return id && is_protected(CGW_PROT_PROG, id, 0) ? id : 0;
	case FD_LINK:
		id = peek_field32(struct bpf_link, obj, id);
		return id && is_protected(CGW_PROT_LINK, id, 0) ? id : 0;
	default:
		return 0;
	}
}

/*
 * Whether an fd is an iterator program, or an iterator link, over the
 * elements of a map: such a program writes the values of the map it is
 * linked to, through any fd to it, read-only ones too, and no map of its
 * own names the map (bpf_map_elem, bpf_sk_storage_map: the iterators that
 * hand the program a writable value).
 */
static __noinline int map_element_iterator(__u32 fd)
{
	__u32 kind;
	__u64 obj = fd_bpf_object(fd, &kind), prog, name;

	prog = kind == FD_PROG ? obj : kind == FD_LINK && obj ? peek_field(struct bpf_link, obj, prog) : 0;
	if (!prog || peek_field32(struct bpf_prog, prog, type) != BPF_PROG_TYPE_TRACING ||
	    peek_field32(struct bpf_prog, prog, expected_attach_type) != BPF_TRACE_ITER)
		return 0;
	name = peek_field(struct bpf_prog_aux, peek_field(struct bpf_prog, prog, aux), attach_func_name);
	if (!name || peek_u64(name) != NAME8('b', 'p', 'f', '_', 'i', 't', 'e', 'r'))
		return 0;
	/* "bpf_iter" "_bpf_map" "_elem\0": the map iterator "bpf_iter_bpf_map" lists maps, not values. */
	if (peek_u64(name + 8) == NAME8('_', 'b', 'p', 'f', '_', 'm', 'a', 'p'))
		return (peek_u64(name + 16) & 0xffffffffffffULL) == NAME8('_', 'e', 'l', 'e', 'm', 0, 0, 0);
	return peek_u64(name + 8) == NAME8('_', 'b', 'p', 'f', '_', 's', 'k', '_');
}

/* BPF_TOKEN_CREATE (6.9): newer than the UAPI header this is built with. */
#define CGW_BPF_TOKEN_CREATE 36

/*
 * Every bpf(2) command, by a non-manager on a sealed policy: default deny.
 * The commands open to all either name no existing object, or only read
 * (what `status`, `rules`, `export` and `audit` need); new fds to maps and
 * programs are judged by the bpf_map and bpf_prog hooks below. Every other
 * known command is refused when an fd it names is one of cgwarden's maps,
 * programs or links, and a command this table does not know is refused
 * outright. The README's threat model lists each command and why.
 *
 * An fd is read here and again by the kernel: a thread swapping it with
 * dup2() in between can only swap in an fd it could have named itself, and
 * the fds to cgwarden's objects a non-manager can get are read-only ones.
 */
SEC("lsm/bpf")
int BPF_PROG(cgwarden_seal_bpf, int cmd, union bpf_attr *attr, unsigned int size, int ret)
{
	__u32 one = 0, two = 0, three = 0, id, tamper = CGW_TAMPER_BPF_COMMAND;
	struct cgw_seal *s;

	if (ret)
		return lsm_refusal(ret);
	s = active_seal();
	if (!s)
		return 0;
	switch (cmd) {
	case BPF_MAP_CREATE:       /* inner_map_fd is a template: the map's flags go with it */
	case BPF_MAP_LOOKUP_ELEM:
	case BPF_MAP_GET_NEXT_KEY:
	case BPF_PROG_LOAD:        /* lsm/bpf_prog sees the maps and the target it resolved */
	case BPF_OBJ_GET:          /* lsm/bpf_map and lsm/bpf_prog judge the new fd */
	case BPF_PROG_GET_NEXT_ID:
	case BPF_MAP_GET_NEXT_ID:
	case BPF_PROG_GET_FD_BY_ID:
	case BPF_MAP_GET_FD_BY_ID:
	case BPF_OBJ_GET_INFO_BY_FD:
	case BPF_PROG_QUERY:
	case BPF_BTF_LOAD:
	case BPF_BTF_GET_FD_BY_ID:
	case BPF_TASK_FD_QUERY:
	case BPF_BTF_GET_NEXT_ID:
	case BPF_MAP_LOOKUP_BATCH:
	case BPF_LINK_GET_FD_BY_ID: /* an fd that every command below refuses to use */
	case BPF_LINK_GET_NEXT_ID:
	case BPF_ENABLE_STATS:
	case CGW_BPF_TOKEN_CREATE:
		return 0;
	case BPF_MAP_UPDATE_ELEM:
		/* Presenting an authorization: cgwarden_seal_authorize verifies it. */
		if (s->key_ring && s->authorizations_map && fd_map_id(attr->map_fd) == s->authorizations_map)
			return 0;
		/* fall through */
	case BPF_MAP_DELETE_ELEM:
	case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
	case BPF_MAP_FREEZE:
		one = attr->map_fd;
		tamper = CGW_TAMPER_MAP_WRITE;
		break;
	case BPF_MAP_UPDATE_BATCH:
	case BPF_MAP_DELETE_BATCH:
	case BPF_MAP_LOOKUP_AND_DELETE_BATCH:
		one = attr->batch.map_fd;
		tamper = CGW_TAMPER_MAP_WRITE;
		break;
	case BPF_OBJ_PIN: /* a second pin: a copy the seal's pin directories do not hold */
		one = attr->bpf_fd;
		break;
	case BPF_PROG_ATTACH:
	case BPF_PROG_DETACH:
		one = attr->attach_bpf_fd;
		two = attr->replace_bpf_fd;
		break;
	case BPF_PROG_TEST_RUN:
		one = attr->test.prog_fd;
		break;
	case BPF_RAW_TRACEPOINT_OPEN:
		one = attr->raw_tracepoint.prog_fd;
		break;
	case BPF_LINK_CREATE:
		if (map_element_iterator(attr->link_create.prog_fd))
			return guard(s, CGW_TAMPER_BPF_COMMAND, (__u64)cmd << 32);
		one = attr->link_create.prog_fd; /* or the map of a struct_ops link */
		two = attr->link_create.target_fd;
		break;
	case BPF_LINK_UPDATE:
		one = attr->link_update.link_fd;
		two = attr->link_update.new_prog_fd;
		three = attr->link_update.old_prog_fd;
		break;
	case BPF_LINK_DETACH:
		one = attr->link_detach.link_fd;
		tamper = CGW_TAMPER_LINK;
		break;
	case BPF_ITER_CREATE:
		if (map_element_iterator(attr->iter_create.link_fd))
			return guard(s, CGW_TAMPER_BPF_COMMAND, (__u64)cmd << 32);
		one = attr->iter_create.link_fd;
		break;
	case BPF_PROG_BIND_MAP:
		one = attr->prog_bind_map.prog_fd;
		two = attr->prog_bind_map.map_fd;
		break;
	default:
		return guard(s, CGW_TAMPER_BPF_COMMAND, (__u64)cmd << 32);
	}
	/* fd 0 is an fd like any other: all three are looked at, unused ones are 0 */
	id = sealed_object(one);
	if (!id)
		id = sealed_object(two);
	if (!id)
		id = sealed_object(three);
	if (!id)
		return 0;
	return guard(s, tamper, tamper == CGW_TAMPER_BPF_COMMAND ? (__u64)cmd << 32 | id : id);
}

/*
 * Every new fd to a map, by id or by pinned path. Maps that programs write
 * get no fd at all (a read-only fd still lets a new program, or a
 * map-in-map, write them); maps that only userspace writes are
 * BPF_F_RDONLY_PROG and get read-only fds, so anyone can read the policy.
 */
SEC("lsm/bpf_map")
int BPF_PROG(cgwarden_seal_bpf_map, struct bpf_map *map, fmode_t fmode, int ret)
{
	struct cgw_seal *s;
	__u32 id;

	if (ret)
		return lsm_refusal(ret);
	s = active_seal();
	if (!s)
		return 0;
	id = map->id;
	if (is_protected(CGW_PROT_MAP, id, 0) ||
	    ((fmode & FMODE_WRITE) && is_protected(CGW_PROT_MAP_READABLE, id, 0)))
		return guard(s, CGW_TAMPER_MAP_OPEN, id);
	return 0;
}

struct cgw_used_maps_walk {
	__u64 maps; /* struct bpf_map **, by address */
	__u32 count;
	__u32 hit;
};

static long find_protected_map(__u32 i, struct cgw_used_maps_walk *w)
{
	__u64 map;
	__u32 id;

	if (i >= w->count)
		return 1;
	map = peek_u64(w->maps + (__u64)i * 8);
	id = map ? peek_field32(struct bpf_map, map, id) : 0;
	if (id && is_protected_map(id)) {
		w->hit = id;
		return 1;
	}
	return 0;
}

/* enum bpf_attach_type values --lock-bpf refuses for BPF_PROG_TYPE_TRACING. */
static __always_inline int locked_kind(struct bpf_prog *prog)
{
	__u32 type = prog->type;
	__u32 attach = prog->expected_attach_type;

	switch (type) {
	case BPF_PROG_TYPE_LSM:
	case BPF_PROG_TYPE_EXT:
		return 1;
	case BPF_PROG_TYPE_TRACING:
		return attach == BPF_TRACE_FENTRY || attach == BPF_TRACE_FEXIT || attach == BPF_MODIFY_RETURN;
	case BPF_PROG_TYPE_KPROBE:
		return peek_bitfield(struct bpf_prog, (__u64)prog, kprobe_override);
	default:
		return 0;
	}
}

/*
 * Every new fd to a program, the one that bpf(BPF_PROG_LOAD) returns
 * included: by then the verifier has resolved the maps it uses and the
 * program it attaches to, so this sees them without any race.
 */
SEC("lsm/bpf_prog")
int BPF_PROG(cgwarden_seal_bpf_prog, struct bpf_prog *prog, int ret)
{
	struct cgw_used_maps_walk w = {};
	struct bpf_prog_aux *aux;
	struct bpf_prog *target;
	struct cgw_seal *s;
	__u32 id;

	if (ret)
		return lsm_refusal(ret);
	s = active_seal();
	if (!s)
		return 0;
	aux = prog->aux;
	/* cgwarden's own programs: an fd to one changes nothing (they attach only where they were verified to). */
	if (is_protected(CGW_PROT_PROG, aux->id, 0))
		return 0;
	target = aux->dst_prog;
	id = target ? target->aux->id : 0;
	if (id && is_protected(CGW_PROT_PROG, id, 0))
		return guard(s, CGW_TAMPER_PROG_USES, id);
	/* used_maps is a struct bpf_map **: a number to the verifier, read by address. */
	w.maps = (__u64)aux->used_maps;
	w.count = aux->used_map_cnt;
	if (w.maps && w.count)
		bpf_loop(w.count & 0xffff, find_protected_map, &w, 0);
	if (w.hit)
		return guard(s, CGW_TAMPER_PROG_USES, w.hit);
	if (s->lock_bpf && locked_kind(prog))
		return guard(s, CGW_TAMPER_BPF_LOCKED,
			     (__u64)prog->type << 32 | prog->expected_attach_type);
	return 0;
}
