// SPDX-License-Identifier: GPL-2.0
/*
 * Memory pressure for the torture campaigns: maps MIB MiB and keeps
 * writing to every page of it until killed, so reclaim and compaction run
 * while pins are made and removed.
 * Usage: mempin-hog MIB
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t size = (argc > 1 ? strtoul(argv[1], NULL, 0) : 256) << 20;
	long page = sysconf(_SC_PAGESIZE);
	unsigned char *p;
	unsigned char round = 0;
	size_t i;

	p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (;;) {
		for (i = 0; i < size; i += page)
			p[i] = round;
		round++;
		usleep(1000);
	}
}
