// SPDX-License-Identifier: GPL-2.0
/*
 * A process whose memory the end-to-end tests pin: it maps MIB MiB
 * read-write (2 MiB-aligned, touched) and one read-only page, prints
 *   rw ADDR BYTES
 *   ro ADDR BYTES
 * (hex addresses) on stdout, then waits. Signals change its memory while
 * it may be pinned:
 *   SIGUSR1  unmaps the read-write region;
 *   SIGUSR2  moves it elsewhere with mremap (the old range goes away);
 *   SIGHUP   forks a child that writes to the region and exits, then writes
 *            to it itself (copy-on-write after a long-term pin);
 *   SIGALRM  execs itself again (a new address space);
 *   SIGTERM  ends it.
 * Usage: mempin-target [MIB] [thp]
 *        mempin-target file PATH   (maps 1 MiB of PATH MAP_PRIVATE
 *                                   read-write, untouched, as "rw")
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static char *rw;
static size_t rw_size;

static char **saved_argv;

static void unmap_rw(int sig)
{
	(void)sig;
	munmap(rw, rw_size);
}

static void move_rw(int sig)
{
	void *hole, *to;

	(void)sig;
	/* A free place to move to, then the move onto it. */
	hole = mmap(NULL, rw_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (hole == MAP_FAILED)
		return;
	to = mremap(rw, rw_size, rw_size, MREMAP_MAYMOVE | MREMAP_FIXED, hole);
	if (to != MAP_FAILED)
		rw = to;
}

static void fork_and_write(int sig)
{
	pid_t pid;

	(void)sig;
	pid = fork();
	if (pid == 0) {
		memset(rw, 0xc1, rw_size);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
	memset(rw, 0xa5, rw_size);
}

static void exec_again(int sig)
{
	(void)sig;
	execv("/proc/self/exe", saved_argv);
}

/* A file's pages, never read here: the pin would be the first to fault. */
static char *map_file(const char *path)
{
	char *map;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	rw_size = 1UL << 20;
	map = mmap(NULL, rw_size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	close(fd);
	return map;
}

int main(int argc, char **argv)
{
	int file = argc > 2 && !strcmp(argv[1], "file");
	size_t mib = argc > 1 && !file ? strtoul(argv[1], NULL, 0) : 4;
	int thp = argc > 2 && !strcmp(argv[2], "thp");
	size_t align = 2UL << 20;
	char *raw, *ro;
	sigset_t none;

	if (file) {
		rw = map_file(argv[2]);
		ro = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
		if (rw == MAP_FAILED || ro == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		goto ready;
	}
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
ready:
	/* After an exec from a handler, its signal is still blocked. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	saved_argv = argv;
	signal(SIGUSR1, unmap_rw);
	signal(SIGUSR2, move_rw);
	signal(SIGHUP, fork_and_write);
	signal(SIGALRM, exec_again);
	printf("rw %lx %zu\nro %lx %d\n", (unsigned long)rw, rw_size,
	       (unsigned long)ro, 4096);
	fflush(stdout);
	for (;;)
		pause();
}
