// SPDX-License-Identifier: GPL-2.0-only
/*
 * Path-lookup cost for the hot-path benchmark: the mean ns per stat() or
 * open()+close() of PATH over ITER calls, printed once per repeat.
 *   hotpath stat|open ITER REPEATS PATH
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct stat st;
	long iter, repeats;
	int use_open;

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
