// SPDX-License-Identifier: GPL-2.0
/*
 * A process whose memory another subsystem pins long-term, for the tests of
 * other_pins, status and memory/: it maps MIB MiB read-write (2 MiB-aligned,
 * touched, no THP), has the kernel pin it, prints
 *   rw ADDR BYTES
 * (hex address) on stdout, then waits. SIGUSR1 lets the pin go (the
 * process stays); SIGTERM ends it.
 *   mempin-other-pinner uring MIB   registers the range as an io_uring
 *                                   fixed buffer (IORING_REGISTER_BUFFERS)
 *   mempin-other-pinner rdma MIB    registers it as a memory region of the
 *                                   first RDMA device (ibv_reg_mr), when
 *                                   built with libibverbs (-DWITH_VERBS)
 */
#define _GNU_SOURCE
#include <linux/io_uring.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#ifdef WITH_VERBS
#include <infiniband/verbs.h>
#endif

static int pin_with_io_uring(char *buf, size_t size, int *ring)
{
	struct io_uring_params params = { 0 };
	struct iovec iov = { buf, size };

	*ring = syscall(__NR_io_uring_setup, 4, &params);
	if (*ring < 0) {
		perror("io_uring_setup");
		return -1;
	}
	if (syscall(__NR_io_uring_register, *ring, IORING_REGISTER_BUFFERS,
		    &iov, 1)) {
		perror("IORING_REGISTER_BUFFERS");
		return -1;
	}
	return 0;
}

static void unpin_io_uring(int ring)
{
	if (syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS,
		    NULL, 0))
		perror("IORING_UNREGISTER_BUFFERS");
}

#ifdef WITH_VERBS
static struct ibv_mr *pin_with_verbs(char *buf, size_t size)
{
	struct ibv_device **devices = ibv_get_device_list(NULL);
	struct ibv_context *context;
	struct ibv_pd *pd;
	struct ibv_mr *mr;

	if (!devices || !devices[0]) {
		fprintf(stderr, "no RDMA device\n");
		return NULL;
	}
	context = ibv_open_device(devices[0]);
	pd = context ? ibv_alloc_pd(context) : NULL;
	mr = pd ? ibv_reg_mr(pd, buf, size, IBV_ACCESS_LOCAL_WRITE) : NULL;
	if (!mr)
		perror("ibv_reg_mr");
	return mr;
}
#endif

int main(int argc, char **argv)
{
	size_t align = 2UL << 20, size;
	int uring, ring = -1;
	char *raw, *buf;
	sigset_t wanted;
	int sig;
#ifdef WITH_VERBS
	struct ibv_mr *mr = NULL;
#endif

	if (argc != 3 || (strcmp(argv[1], "uring") && strcmp(argv[1], "rdma"))) {
		fprintf(stderr, "usage: %s uring|rdma MIB\n", argv[0]);
		return 2;
	}
	uring = !strcmp(argv[1], "uring");
	size = strtoul(argv[2], NULL, 0) << 20;
	raw = mmap(NULL, size + align, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (raw == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	buf = (char *)(((unsigned long)raw + align - 1) & ~(align - 1));
	madvise(buf, size, MADV_NOHUGEPAGE);
	memset(buf, 0x5a, size);
	if (uring) {
		if (pin_with_io_uring(buf, size, &ring))
			return 1;
	} else {
#ifdef WITH_VERBS
		mr = pin_with_verbs(buf, size);
		if (!mr)
			return 1;
#else
		fprintf(stderr, "built without libibverbs\n");
		return 3;
#endif
	}
	/* Signals are taken one at a time, where it is safe to act on them. */
	sigemptyset(&wanted);
	sigaddset(&wanted, SIGUSR1);
	sigaddset(&wanted, SIGTERM);
	sigprocmask(SIG_BLOCK, &wanted, NULL);
	printf("rw %lx %zu\n", (unsigned long)buf, size);
	fflush(stdout);
	for (;;) {
		if (sigwait(&wanted, &sig) || sig == SIGTERM)
			return 0;
		if (uring)
			unpin_io_uring(ring);
#ifdef WITH_VERBS
		else if (mr && !ibv_dereg_mr(mr))
			mr = NULL;
#endif
		printf("released\n");
		fflush(stdout);
	}
}
