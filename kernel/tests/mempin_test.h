/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small TAP harness in the style of kselftest, with the checks every
 * mempin test ends with: the kernel's foll_pin counters back where they
 * started and VmPin 0.
 */
#ifndef MEMPIN_TEST_H
#define MEMPIN_TEST_H

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../include/uapi/linux/mempinfd.h"

#define DEVICE "/dev/mempinfd"

static int test_failed;

/* Report a failed check and mark the current test failed. */
#define CHECK(cond, ...)						\
	do {								\
		if (!(cond)) {						\
			printf("#   %s:%d: check failed: %s: ",		\
			       __FILE__, __LINE__, #cond);		\
			printf(__VA_ARGS__);				\
			printf("\n");					\
			test_failed = 1;				\
		}							\
	} while (0)

/* An ioctl that must fail with @err. */
#define CHECK_ERRNO(call, err)						\
	do {								\
		errno = 0;						\
		long _r = (call);					\
		CHECK(_r == -1 && errno == (err),			\
		      "%s returned %ld errno %d (%s), want %s",		\
		      #call, _r, errno, strerror(errno), #err);		\
	} while (0)

#define CHECK_OK(call)							\
	do {								\
		errno = 0;						\
		long _r = (call);					\
		CHECK(_r >= 0, "%s returned %ld errno %d (%s)",		\
		      #call, _r, errno, strerror(errno));		\
	} while (0)

/* nr_foll_pin_acquired - nr_foll_pin_released, after folding per-CPU deltas. */
static inline long long foll_pin_read(void)
{
	long long acquired = -1, released = -1, v;
	char name[64];
	FILE *f;
	int fd;

	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0)
			perror("stat_refresh");
		close(fd);
	}
	f = fopen("/proc/vmstat", "r");
	if (!f)
		return -1;
	while (fscanf(f, "%63s %lld", name, &v) == 2) {
		if (!strcmp(name, "nr_foll_pin_acquired"))
			acquired = v;
		else if (!strcmp(name, "nr_foll_pin_released"))
			released = v;
	}
	fclose(f);
	return acquired - released;
}

/*
 * foll_pin_read() once three reads in a row agree (for up to a second):
 * other work in the guest pins pages for a moment (9p pins a reader's
 * buffer for the request), and a pin taken on one CPU and released on
 * another can read one off between folds.
 */
static inline long long foll_pin_balance(void)
{
	long long prev = foll_pin_read(), now = prev;
	int same = 0, i;

	for (i = 0; i < 100 && same < 2; i++) {
		usleep(10000);
		now = foll_pin_read();
		same = now == prev ? same + 1 : 0;
		prev = now;
	}
	return now;
}

/* VmPin of @pid (0: self) in pages, or -1. */
static inline long vm_pin_pages(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/status", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/status");
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmPin: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb < 0 ? -1 : kb / (getpagesize() / 1024);
}

static int test_number;
static int tests_failed_total;

typedef void (*test_fn)(void);

/* Run one test and print its TAP line; checks the counters after it. */
static inline void run_test(const char *name, test_fn fn)
{
	long long before = foll_pin_balance(), after;
	long vmpin;

	test_failed = 0;
	printf("# %s\n", name);
	fflush(stdout);
	fn();
	after = foll_pin_balance();
	vmpin = vm_pin_pages(0);
	CHECK(after == before, "foll_pin balance %lld before, %lld after",
	      before, after);
	CHECK(vmpin == 0, "VmPin is %ld pages after the test", vmpin);
	test_number++;
	printf("%s %d %s\n", test_failed ? "not ok" : "ok", test_number, name);
	fflush(stdout);
	if (test_failed)
		tests_failed_total++;
}

#endif /* MEMPIN_TEST_H */
