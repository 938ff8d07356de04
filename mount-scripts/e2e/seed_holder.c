// SPDX-License-Identifier: GPL-2.0
/*
 * A process that pins its own memory through the seed interface, as a
 * user-space driver does: it maps MIB MiB read-write (touched), pins it
 * with MEM_CMD_PIN on its own /dev/mempinfd, prints
 *   rw ADDR BYTES
 *   ro ADDR BYTES
 * (hex addresses; the "ro" line ends the report, as mempin-target's) and
 * waits for its file to poll POLLPRI (a revoke). Then it unpins the range
 * itself, as a driver that learnt of it would, writes
 *   revoked unpin=ERRNO_NAME
 * to REPORT, writes to its memory and goes on waiting. SIGUSR1 closes its
 * /dev/mempinfd (which unpins what is left).
 *   mempin-seed-holder churn N
 * pins and unpins one page N times on one file, then exits: 2N change
 * records in a moment.
 * Usage: mempin-seed-holder MIB REPORT | churn N
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../kernel/include/uapi/linux/mempinfd.h"

static int fd = -1;

static void close_file(int sig)
{
	(void)sig;
	close(fd);
}

static int churn(unsigned long n)
{
	char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct mem_pin_address a = { .addr = (unsigned long)page, .size = 4096 };
	unsigned long i;

	if (fd < 0 || page == MAP_FAILED)
		return 1;
	page[0] = 1;
	for (i = 0; i < n; i++)
		if (ioctl(fd, MEM_CMD_PIN, &a) || ioctl(fd, MEM_CMD_UNPIN, &a))
			return 1;
	return 0;
}

int main(int argc, char **argv)
{
	size_t size = (argc > 1 ? strtoul(argv[1], NULL, 0) : 2) << 20;
	const char *report = argc > 2 ? argv[2] : "/dev/null";
	struct mem_pin_address a;
	struct pollfd pfd;
	FILE *out;
	char *rw;

	fd = open("/dev/mempinfd", O_RDWR | O_CLOEXEC);
	if (argc > 2 && !strcmp(argv[1], "churn"))
		return churn(strtoul(argv[2], NULL, 0));
	signal(SIGUSR1, close_file);
	rw = mmap(NULL, size, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fd < 0 || rw == MAP_FAILED) {
		perror("mempin-seed-holder");
		return 1;
	}
	madvise(rw, size, MADV_NOHUGEPAGE);
	memset(rw, 0x5a, size);
	a = (struct mem_pin_address){ .addr = (unsigned long)rw, .size = size };
	if (ioctl(fd, MEM_CMD_PIN, &a)) {
		perror("MEM_CMD_PIN");
		return 1;
	}
	printf("rw %lx %zu\nro %lx %d\n", (unsigned long)rw, size,
	       (unsigned long)rw, 4096);
	fflush(stdout);

	pfd = (struct pollfd){ .fd = fd, .events = POLLPRI };
	for (;;) {
		pfd.revents = 0;
		if (poll(&pfd, 1, -1) == 1 && (pfd.revents & POLLPRI))
			break;
		if (pfd.revents & POLLNVAL)	/* closed by SIGUSR1 */
			for (;;)
				pause();
	}
	errno = 0;
	ioctl(fd, MEM_CMD_UNPIN, &a);
	out = fopen(report, "w");
	if (out) {
		fprintf(out, "revoked unpin=%s\n",
			errno == ENOENT ? "ENOENT" : errno ? strerror(errno) : "0");
		fclose(out);
	}
	memset(rw, 0xa5, size);
	for (;;)
		pause();
}
