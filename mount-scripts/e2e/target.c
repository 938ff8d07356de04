// SPDX-License-Identifier: GPL-2.0
/*
 * A process whose memory the end-to-end tests pin: it maps MIB MiB
 * read-write (2 MiB-aligned, touched) and one read-only page, prints
 *   rw ADDR BYTES
 *   ro ADDR BYTES
 * (hex addresses) on stdout, then waits. SIGUSR1 unmaps the read-write
 * region; SIGTERM ends it.
 * Usage: mempin-target [MIB] [thp]
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static char *rw;
static size_t rw_size;

static void unmap_rw(int sig)
{
	(void)sig;
	munmap(rw, rw_size);
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 4;
	int thp = argc > 2 && !strcmp(argv[2], "thp");
	size_t align = 2UL << 20;
	char *raw, *ro;

	rw_size = mib << 20;
	raw = mmap(NULL, rw_size + align, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED || ro == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	rw = (char *)(((unsigned long)raw + align - 1) & ~(align - 1));
	madvise(rw, rw_size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	memset(rw, 0x5a, rw_size);
	signal(SIGUSR1, unmap_rw);
	printf("rw %lx %zu\nro %lx %d\n", (unsigned long)rw, rw_size,
	       (unsigned long)ro, 4096);
	fflush(stdout);
	for (;;)
		pause();
}
