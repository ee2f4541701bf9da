// SPDX-License-Identifier: GPL-2.0-only
/*
 * Kernel-path costs for the benchmark (test/bench/guest.ts).
 *
 *   hotpath stat|open ITER REPEATS PATH
 *     the mean ns per stat() or open()+close() of PATH over ITER calls,
 *     printed once per repeat
 *
 *   hotpath meter OP N INTERVALS TIMED ARGS...
 *     OP is one of
 *       stat PATH [ROOT]       stat() of PATH, resolved inside ROOT (chroot)
 *       open PATH [ROOT]       open()+close() of it
 *       move FROM TO           one migration: a child of this process written
 *                              to FROM's and TO's cgroup.procs in turn (each
 *                              write must succeed)
 *       deny FROM TO           the child, in FROM, written to TO's cgroup.procs
 *                              (each write must fail with EPERM)
 *       mkdir DIR              mkdir() of the cgroup DIR, then rmdir() of it
 *       write PATH             write() of one byte to PATH (opened once): what
 *                              every write pays for a hook on file_permission
 *     After a short warm-up: TIMED operations timed, printed as "ns MEAN";
 *     then the insn-meter group marker and INTERVALS intervals of N and 2N
 *     operations in turn, each between the start and stop markers, which
 *     the insn-meter QEMU plugin (test/bench/insn-meter.c) counts. Without
 *     the plugin the markers are plain cpuid instructions.
 *
 * ROOT matters in the test guests: their / is the host's over virtiofs, so
 * every walk from / revalidates its first component through FUSE (with
 * cache=none, a round trip to the host), which would swamp the lookup being
 * measured. chroot to a tmpfs directory keeps the whole walk in the dentry
 * cache.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/*
 * The markers: "mov eax, imm32; cpuid", which the plugin recognises by
 * their bytes. Each sits alone in an aligned function so that it always
 * starts a translation block of its own and is never split across two.
 */
#define MARKER(name, magic)                                                                  \
	__attribute__((noinline, aligned(64))) static void name(void)                       \
	{                                                                                    \
		__asm__ volatile("mov $" #magic ", %%eax\n\tcpuid" ::: "eax", "ebx", "ecx", "edx", \
				 "memory");                                                  \
	}
MARKER(meter_start, 0x43570001)
MARKER(meter_stop, 0x43570002)
MARKER(meter_group, 0x43570003)

enum op { OP_STAT, OP_OPEN, OP_MOVE, OP_DENY, OP_MKDIR, OP_WRITE };

static enum op op;
static const char *path;
static int procs_fd[2]; /* FROM's and TO's cgroup.procs */
static int where;      /* index into procs_fd of the child's cgroup */
static int write_fd;
static char child_pid[16];
static size_t child_pid_len;

static int open_procs(const char *dir)
{
	char p[4096];
	int fd;

	snprintf(p, sizeof(p), "%s/cgroup.procs", dir);
	fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		perror(p);
		exit(1);
	}
	return fd;
}

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void one(void)
{
	struct stat st;
	int fd;

	switch (op) {
	case OP_STAT:
		if (stat(path, &st))
			die("stat");
		break;
	case OP_OPEN:
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die("open");
		close(fd);
		break;
	case OP_MOVE:
		if (write(procs_fd[!where], child_pid, child_pid_len) < 0)
			die("write cgroup.procs (move)");
		where = !where;
		break;
	case OP_MKDIR:
		if (mkdir(path, 0755))
			die("mkdir");
		if (rmdir(path))
			die("rmdir");
		break;
	case OP_WRITE:
		if (write(write_fd, "x", 1) != 1)
			die("write");
		break;
	case OP_DENY:
		if (write(procs_fd[1], child_pid, child_pid_len) >= 0) {
			fprintf(stderr, "write cgroup.procs (deny): the migration was allowed\n");
			exit(1);
		}
		if (errno != EPERM)
			die("write cgroup.procs (deny): expected EPERM");
		break;
	}
}

static int meter(int argc, char **argv)
{
	long n, intervals, timed;
	pid_t child = -1;
	double t0;

	if (argc < 6)
		goto usage;
	n = atol(argv[3]);
	intervals = atol(argv[4]);
	timed = atol(argv[5]);
	if (!strcmp(argv[2], "stat") || !strcmp(argv[2], "open")) {
		if (argc != 7 && argc != 8)
			goto usage;
		op = argv[2][0] == 's' ? OP_STAT : OP_OPEN;
		path = argv[6];
		if (argc == 8 && (chroot(argv[7]) || chdir("/")))
			die("chroot");
	} else if (!strcmp(argv[2], "mkdir")) {
		if (argc != 7)
			goto usage;
		op = OP_MKDIR;
		path = argv[6];
	} else if (!strcmp(argv[2], "write")) {
		if (argc != 7)
			goto usage;
		op = OP_WRITE;
		write_fd = open(argv[6], O_WRONLY | O_CLOEXEC);
		if (write_fd < 0)
			die("open");
	} else if (!strcmp(argv[2], "move") || !strcmp(argv[2], "deny")) {
		if (argc != 8)
			goto usage;
		op = argv[2][0] == 'm' ? OP_MOVE : OP_DENY;
		procs_fd[0] = open_procs(argv[6]);
		procs_fd[1] = open_procs(argv[7]);
		child = fork();
		if (child < 0)
			die("fork");
		if (child == 0) {
			for (;;)
				pause();
		}
		child_pid_len = snprintf(child_pid, sizeof(child_pid), "%d", (int)child);
		if (write(procs_fd[0], child_pid, child_pid_len) < 0)
			die("write cgroup.procs (setup)");
		where = 0;
	} else {
		goto usage;
	}
	for (int i = 0; i < 20; i++)
		one();
	t0 = now_ns();
	for (long i = 0; i < timed; i++)
		one();
	if (timed > 0)
		printf("ns %.1f\n", (now_ns() - t0) / timed);
	meter_group();
	for (long k = 0; k < intervals; k++) {
		long ops = k % 2 ? 2 * n : n;

		meter_start();
		for (long i = 0; i < ops; i++)
			one();
		meter_stop();
	}
	printf("intervals %ld\n", intervals);
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
	return 0;
usage:
	fprintf(stderr, "usage: hotpath meter stat|open N INTERVALS TIMED PATH [ROOT]\n"
			"       hotpath meter move|deny N INTERVALS TIMED FROM TO\n"
			"       hotpath meter mkdir N INTERVALS TIMED DIR\n"
			"       hotpath meter write N INTERVALS TIMED PATH\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct stat st;
	long iter, repeats;
	int use_open;

	if (argc >= 2 && !strcmp(argv[1], "meter"))
		return meter(argc, argv);
	if (argc != 5) {
		fprintf(stderr, "usage: hotpath stat|open ITER REPEATS PATH\n");
		return 2;
	}
	use_open = !strcmp(argv[1], "open");
	iter = atol(argv[2]);
	repeats = atol(argv[3]);
	for (long r = 0; r < repeats; r++) {
		double t0 = now_ns();

		for (long i = 0; i < iter; i++) {
			if (use_open) {
				int fd = open(argv[4], O_RDONLY | O_CLOEXEC);

				if (fd < 0) {
					perror("open");
					return 1;
				}
				close(fd);
			} else if (stat(argv[4], &st)) {
				perror("stat");
				return 1;
			}
		}
		printf("%.1f\n", (now_ns() - t0) / iter);
	}
	return 0;
}
