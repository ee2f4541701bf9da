// SPDX-License-Identifier: GPL-2.0-only
/*
 * insn-meter: a QEMU TCG plugin (plugin API v1, QEMU 7.2) that counts the
 * guest instructions executed, kernel and user alike, between two markers
 * that a guest program executes:
 *
 *   mov eax, 0x43570001; cpuid    start an interval
 *   mov eax, 0x43570002; cpuid    stop it: prints "insn-meter: N"
 *   mov eax, 0x43570003; cpuid    prints "insn-meter: group" (separates runs)
 *
 * Markers are recognised by their bytes (B8 imm32, then 0F A2) when QEMU
 * translates them, not by register contents: plugin API v1 cannot read
 * registers. N counts the instructions after the start marker's cpuid up
 * to and including the stop marker's cpuid, in whatever ran on the vCPU in
 * between (interrupts, other tasks), so take the minimum of many intervals.
 *
 * Counting is per translation block: an inline add of the block's length
 * when it starts, corrected at a marker for the instructions that follow it
 * in its block. A block cut short by an exception counts in full; that
 * only happens in intervals that take a fault, which the minimum discards.
 * Meant for one vCPU (-smp 1): the counter is global and not atomic.
 *
 *   gcc -O2 -shared -fPIC -o insn-meter.so insn-meter.c
 *   qemu-system-x86_64 ... -plugin ./insn-meter.so -d plugin -D meter.log
 *
 * Debian's QEMU ships no qemu-plugin.h, so the few declarations needed from
 * API v1 are written out below (they match QEMU 7.2's ABI).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- QEMU plugin API v1, the parts used here ---------------------------- */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t; /* only ever passed by pointer */
struct qemu_plugin_tb;
struct qemu_plugin_insn;

enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };

typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
					    enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_vcpu_tb_exec_cb(struct qemu_plugin_tb *tb, qemu_plugin_vcpu_udata_cb_t cb,
					  enum qemu_plugin_cb_flags flags, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
void qemu_plugin_outs(const char *string);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;
/* -------------------------------------------------------------------------- */

#define MAGIC_START 0x43570001u
#define MAGIC_STOP 0x43570002u
#define MAGIC_GROUP 0x43570003u

/* Instructions executed so far: whole blocks, added as each block starts. */
static uint64_t executed;
static uint64_t started_at;
static int running;

/*
 * Profile mode (plugin argument profile=on): every block executed inside an
 * interval also adds its length to a table keyed by its start address, which
 * is printed as "insn-profile: ADDR N" and cleared when the next group
 * starts and at exit: the lines that precede a group's marker belong to the
 * group before it.
 * The host maps addresses to the guest's /proc/kallsyms. It sums every
 * interval, interrupts included: for attribution, not for the exact count.
 */
static int profiling;
#define PROFILE_SLOTS (1u << 16)
static struct { uint64_t addr, count; } profile[PROFILE_SLOTS];

static void on_block(unsigned int vcpu_index, void *userdata)
{
	uint64_t addr = (uintptr_t)userdata >> 8, n = (uintptr_t)userdata & 0xff;
	uint32_t h;

	(void)vcpu_index;
	if (!running)
		return;
	if (addr & (1ull << 55)) /* a kernel address: restore the top byte */
		addr |= 0xffull << 56;
	h = (uint32_t)((addr * 0x9e3779b97f4a7c15ull) >> 48);
	for (uint32_t i = 0; i < PROFILE_SLOTS; i++, h = (h + 1) & (PROFILE_SLOTS - 1)) {
		if (profile[h].addr == addr || !profile[h].addr) {
			profile[h].addr = addr;
			profile[h].count += n;
			return;
		}
	}
}

static void dump_profile(void)
{
	char line[64];

	for (uint32_t i = 0; i < PROFILE_SLOTS; i++) {
		if (!profile[i].addr)
			continue;
		snprintf(line, sizeof(line), "insn-profile: %llx %llu\n",
			 (unsigned long long)profile[i].addr, (unsigned long long)profile[i].count);
		qemu_plugin_outs(line);
		profile[i].addr = profile[i].count = 0;
	}
}

/*
 * A marker's userdata packs its kind (low 2 bits) and how many instructions
 * follow its cpuid in the same block (the rest): those were already added to
 * `executed` when the block started, but have not run yet.
 */
static void on_marker(unsigned int vcpu_index, void *userdata)
{
	uintptr_t ud = (uintptr_t)userdata;
	uint64_t now = executed - (ud >> 2);
	char line[64];

	(void)vcpu_index;
	switch (ud & 3) {
	case 1:
		started_at = now;
		running = 1;
		break;
	case 2:
		if (!running)
			break;
		running = 0;
		snprintf(line, sizeof(line), "insn-meter: %llu\n", (unsigned long long)(now - started_at));
		qemu_plugin_outs(line);
		break;
	case 3:
		running = 0;
		if (profiling)
			dump_profile();
		qemu_plugin_outs("insn-meter: group\n");
		break;
	}
}

static uint32_t mov_eax_imm(const struct qemu_plugin_insn *insn)
{
	const uint8_t *b = qemu_plugin_insn_data(insn);
	uint32_t imm;

	if (qemu_plugin_insn_size(insn) != 5 || b[0] != 0xb8)
		return 0;
	memcpy(&imm, b + 1, 4);
	return imm;
}

static int is_cpuid(const struct qemu_plugin_insn *insn)
{
	const uint8_t *b = qemu_plugin_insn_data(insn);

	return qemu_plugin_insn_size(insn) == 2 && b[0] == 0x0f && b[1] == 0xa2;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t n = qemu_plugin_tb_n_insns(tb);

	(void)id;
	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed, n);
	/* x86-64 kernel addresses keep their meaning in the top 56 bits after << 8. */
	if (profiling && n < 256)
		qemu_plugin_register_vcpu_tb_exec_cb(tb, on_block, QEMU_PLUGIN_CB_NO_REGS,
						     (void *)(uintptr_t)(qemu_plugin_tb_vaddr(tb) << 8 | n));
	for (size_t i = 0; i + 1 < n; i++) {
		struct qemu_plugin_insn *cpuid = qemu_plugin_tb_get_insn(tb, i + 1);
		uint32_t imm = mov_eax_imm(qemu_plugin_tb_get_insn(tb, i));
		uintptr_t kind;

		if (imm == MAGIC_START)
			kind = 1;
		else if (imm == MAGIC_STOP)
			kind = 2;
		else if (imm == MAGIC_GROUP)
			kind = 3;
		else
			continue;
		if (!is_cpuid(cpuid))
			continue;
		qemu_plugin_register_vcpu_insn_exec_cb(cpuid, on_marker, QEMU_PLUGIN_CB_NO_REGS,
						       (void *)(kind | (uintptr_t)(n - (i + 2)) << 2));
	}
}

static void on_exit(qemu_plugin_id_t id, void *userdata)
{
	(void)id;
	(void)userdata;
	dump_profile();
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
	(void)info;
	for (int i = 0; i < argc; i++)
		if (!strcmp(argv[i], "profile=on"))
			profiling = 1;
	qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
	if (profiling)
		qemu_plugin_register_atexit_cb(id, on_exit, NULL);
	return 0;
}
