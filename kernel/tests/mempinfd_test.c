// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of /dev/mempinfd, run as root inside a VM with the module loaded.
 * Prints TAP. Every test ends with the foll_pin counters balanced and
 * VmPin 0 (run_test checks).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include "mempin_test.h"

static long page_size;

static int open_dev(void)
{
	int fd = open(DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		printf("Bail out! cannot open %s: %s\n", DEVICE, strerror(errno));
		exit(1);
	}
	return fd;
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		printf("Bail out! mmap: %s\n", strerror(errno));
		exit(1);
	}
	memset(p, 1, len);
	return p;
}

static int pin(int fd, const void *addr, uint64_t size)
{
	struct mem_pin_address a = { .addr = (uintptr_t)addr, .size = size };

	return ioctl(fd, MEM_CMD_PIN, &a);
}

static int unpin(int fd, const void *addr, uint64_t size)
{
	struct mem_pin_address a = { .addr = (uintptr_t)addr, .size = size };

	return ioctl(fd, MEM_CMD_UNPIN, &a);
}

static void test_device_node_is_0666_misc(void)
{
	struct stat st;

	CHECK_OK(stat(DEVICE, &st));
	CHECK(S_ISCHR(st.st_mode), "not a character device");
	CHECK((st.st_mode & 07777) == 0666, "mode %o", st.st_mode & 07777);
	CHECK(major(st.st_rdev) == 10, "major %u, not misc", major(st.st_rdev));
}

static void test_pin_unpin_is_charged_to_vmpin(void)
{
	long long base = foll_pin_balance();
	int fd = open_dev();
	char *buf = map_anon(16 * page_size);

	CHECK_OK(pin(fd, buf, 16 * page_size));
	CHECK(vm_pin_pages(0) == 16, "VmPin %ld, want 16", vm_pin_pages(0));
	CHECK(foll_pin_balance() - base == 16, "foll_pin delta %lld",
	      foll_pin_balance() - base);
	CHECK_OK(unpin(fd, buf, 16 * page_size));
	CHECK(vm_pin_pages(0) == 0, "VmPin %ld after unpin", vm_pin_pages(0));
	CHECK(foll_pin_balance() == base, "foll_pin not balanced after unpin");
	close(fd);
	munmap(buf, 16 * page_size);
}

static void test_unaligned_range_pins_every_touched_page(void)
{
	int fd = open_dev();
	char *buf = map_anon(4 * page_size);

	/* From the middle of page 0 to one byte into page 2: 3 pages. */
	CHECK_OK(pin(fd, buf + page_size / 2, 2 * page_size - page_size / 2 + 1));
	CHECK(vm_pin_pages(0) == 3, "VmPin %ld, want 3", vm_pin_pages(0));
	CHECK_OK(unpin(fd, buf + page_size / 2, 2 * page_size - page_size / 2 + 1));
	close(fd);
	munmap(buf, 4 * page_size);
}

static void test_bad_ranges_are_refused_and_pin_nothing(void)
{
	long long base = foll_pin_balance();
	int fd = open_dev();
	char *buf = map_anon(8 * page_size);
	char *ro, *none;

	CHECK_ERRNO(pin(fd, buf, 0), EINVAL);
	CHECK_ERRNO(pin(fd, (void *)(uintptr_t)-4096, 8192), EINVAL);
	CHECK_ERRNO(pin(fd, buf, UINT64_MAX), EINVAL);
	/* Unmapped: a hole punched in the middle of the buffer. */
	CHECK_OK(munmap(buf + 4 * page_size, page_size));
	CHECK_ERRNO(pin(fd, buf + 4 * page_size, page_size), EFAULT);
	CHECK_ERRNO(pin(fd, buf, 8 * page_size), EFAULT);
	CHECK_ERRNO(pin(fd, NULL, page_size), EFAULT);
	/* Kernel addresses. */
	CHECK_ERRNO(pin(fd, (void *)0xffff888000000000ULL, page_size), EFAULT);
	/* Read-only and PROT_NONE: cannot be pinned writable. */
	ro = mmap(NULL, page_size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	none = mmap(NULL, page_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK_ERRNO(pin(fd, ro, page_size), EFAULT);
	CHECK_ERRNO(pin(fd, none, page_size), EFAULT);
	/* Larger than the machine's memory: refused before allocating. */
	CHECK_ERRNO(pin(fd, buf, 1ULL << 46), ENOMEM);
	CHECK(vm_pin_pages(0) == 0, "VmPin %ld", vm_pin_pages(0));
	CHECK(foll_pin_balance() == base, "foll_pin leaked %lld",
	      foll_pin_balance() - base);
	close(fd);
	munmap(buf, 8 * page_size);
	munmap(ro, page_size);
	munmap(none, page_size);
}

static void test_overlapping_pin_is_eexist(void)
{
	int fd = open_dev(), fd2 = open_dev();
	char *buf = map_anon(8 * page_size);

	CHECK_OK(pin(fd, buf + 2 * page_size, 2 * page_size));
	CHECK_ERRNO(pin(fd, buf + 2 * page_size, 2 * page_size), EEXIST);
	CHECK_ERRNO(pin(fd, buf, 3 * page_size), EEXIST);
	CHECK_ERRNO(pin(fd, buf + 3 * page_size, 4 * page_size), EEXIST);
	CHECK_ERRNO(pin(fd, buf, 8 * page_size), EEXIST);
	/* Adjacent ranges do not overlap. */
	CHECK_OK(pin(fd, buf, 2 * page_size));
	CHECK_OK(pin(fd, buf + 4 * page_size, 4 * page_size));
	/* Another container may pin the same pages. */
	CHECK_OK(pin(fd2, buf, 8 * page_size));
	CHECK(vm_pin_pages(0) == 16, "VmPin %ld, want 16", vm_pin_pages(0));
	CHECK_OK(unpin(fd, buf + 2 * page_size, 2 * page_size));
	CHECK_OK(unpin(fd2, buf, 8 * page_size));
	close(fd);
	close(fd2);
	munmap(buf, 8 * page_size);
}

static void test_unpin_of_unknown_range_is_enoent(void)
{
	int fd = open_dev();
	char *buf = map_anon(4 * page_size);

	CHECK_ERRNO(unpin(fd, buf, page_size), ENOENT);
	CHECK_OK(pin(fd, buf, 4 * page_size));
	/* Not the same range as pinned. */
	CHECK_ERRNO(unpin(fd, buf, page_size), ENOENT);
	CHECK_ERRNO(unpin(fd, buf, 0), EINVAL);
	CHECK_OK(unpin(fd, buf, 4 * page_size));
	CHECK_ERRNO(unpin(fd, buf, 4 * page_size), ENOENT);
	close(fd);
	munmap(buf, 4 * page_size);
}

static void test_close_unpins_everything(void)
{
	long long base = foll_pin_balance();
	int fd = open_dev();
	char *buf = map_anon(64 * page_size);
	int i;

	for (i = 0; i < 8; i++)
		CHECK_OK(pin(fd, buf + i * 8 * page_size, 8 * page_size));
	CHECK(vm_pin_pages(0) == 64, "VmPin %ld", vm_pin_pages(0));
	CHECK(foll_pin_balance() - base == 64, "delta %lld",
	      foll_pin_balance() - base);
	close(fd);
	CHECK(vm_pin_pages(0) == 0, "VmPin %ld after close", vm_pin_pages(0));
	munmap(buf, 64 * page_size);
}

struct test {
	const char *name;
	test_fn fn;
};

#define T(fn) { #fn, fn }
static const struct test tests[] = {
	T(test_device_node_is_0666_misc),
	T(test_pin_unpin_is_charged_to_vmpin),
	T(test_unaligned_range_pins_every_touched_page),
	T(test_bad_ranges_are_refused_and_pin_nothing),
	T(test_overlapping_pin_is_eexist),
	T(test_unpin_of_unknown_range_is_enoent),
	T(test_close_unpins_everything),
};

int main(int argc, char **argv)
{
	size_t i, n = sizeof(tests) / sizeof(tests[0]);

	page_size = sysconf(_SC_PAGESIZE);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("TAP version 13\n1..%zu\n", n);
	for (i = 0; i < n; i++)
		if (argc < 2 || strstr(tests[i].name, argv[1]))
			run_test(tests[i].name, tests[i].fn);
	printf("# %d tests, %d failed\n", test_number, tests_failed_total);
	return tests_failed_total ? 1 : 0;
}
