// SPDX-License-Identifier: GPL-2.0
/*
 * Tests of /dev/mempinfd, run as root inside a VM with the module loaded.
 * Prints TAP. Every test ends with the foll_pin counters balanced and
 * VmPin 0 (run_test checks).
 */
#define _GNU_SOURCE
#include <linux/io_uring.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
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

/* @len bytes of private anonymous memory, madvise()d @advice, touched. */
static void *map_anon_advised(size_t len, int advice)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		printf("Bail out! mmap: %s\n", strerror(errno));
		exit(1);
	}
	if (advice != MADV_NORMAL)
		madvise(p, len, advice);
	memset(p, 1, len);
	return p;
}

static void *map_anon(size_t len)
{
	return map_anon_advised(len, MADV_NORMAL);
}

/* The same in 4 KiB pages only, never a THP. */
static void *map_small_pages(size_t len)
{
	return map_anon_advised(len, MADV_NOHUGEPAGE);
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

struct thread_arg {
	int fd;
	int failures;
};

/* The RFC's own selftest: many threads PIN/UNPIN on one container. */
static void *pin_unpin_rounds(void *p)
{
	struct thread_arg *arg = p;
	char *buf = map_anon(4 * page_size);
	int i;

	for (i = 0; i < 100; i++) {
		if (pin(arg->fd, buf, 4 * page_size) ||
		    unpin(arg->fd, buf, 4 * page_size))
			arg->failures++;
	}
	munmap(buf, 4 * page_size);
	return NULL;
}

static void test_twenty_threads_pin_unpin_one_container(void)
{
	struct thread_arg args[20];
	pthread_t threads[20];
	int fd = open_dev(), i, failures = 0;

	for (i = 0; i < 20; i++) {
		args[i] = (struct thread_arg){ .fd = fd };
		pthread_create(&threads[i], NULL, pin_unpin_rounds, &args[i]);
	}
	for (i = 0; i < 20; i++) {
		pthread_join(threads[i], NULL);
		failures += args[i].failures;
	}
	CHECK(failures == 0, "%d of 2000 rounds failed", failures);
	close(fd);
}

struct take_arg {
	int fd;
	char *buf;
	int done;	/* the pinner has finished */
	long taken;	/* pins the other thread unpinned */
	long failures;
};

/* Unpin the range as soon as a pin of it is made, until the pinner ends. */
static void *unpin_on_sight(void *p)
{
	struct take_arg *arg = p;

	while (!__atomic_load_n(&arg->done, __ATOMIC_ACQUIRE)) {
		if (!unpin(arg->fd, arg->buf, page_size))
			arg->taken++;
		else if (errno != ENOENT)
			arg->failures++;
	}
	return NULL;
}

/*
 * A pin another thread of the holder takes the moment it appears: its
 * maker uses nothing of it after that (with the debug boot's poisoning, a
 * use after the unpinner freed it would fault).
 */
static void test_unpin_races_the_pin_it_takes(void)
{
	struct take_arg arg = { .fd = open_dev(), .buf = map_anon(page_size) };
	long long base = foll_pin_balance();
	long made = 0, tries;
	pthread_t thread;
	int i;

	pthread_create(&thread, NULL, unpin_on_sight, &arg);
	for (i = 0; i < 3000; i++) {
		for (tries = 0; tries < 100000; tries++) {
			if (!pin(arg.fd, arg.buf, page_size))
				break;
			if (errno != EEXIST)
				arg.failures++;
		}
		made++;
	}
	__atomic_store_n(&arg.done, 1, __ATOMIC_RELEASE);
	pthread_join(thread, NULL);
	if (!unpin(arg.fd, arg.buf, page_size))
		arg.taken++;
	CHECK(arg.failures == 0 && arg.taken == made, "%ld failures, %ld of %ld taken",
	      arg.failures, arg.taken, made);
	close(arg.fd);
	CHECK(foll_pin_balance() == base, "foll_pin not balanced");
	CHECK(vm_pin_pages(0) == 0, "VmPin %ld", vm_pin_pages(0));
	munmap(arg.buf, page_size);
}

/* Run @fn in a child process; returns its exit status (0: passed). */
static int in_child(void (*fn)(void))
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		test_failed = 0;
		fn();
		fflush(stdout);
		_exit(test_failed);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/*
 * Become the unprivileged user nobody (no capabilities), dumpable as a
 * program exec'd as nobody is (changing uid clears it).
 */
static void drop_to_nobody(void)
{
	if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534)) {
		printf("#   cannot become nobody: %s\n", strerror(errno));
		_exit(1);
	}
	prctl(PR_SET_DUMPABLE, 1);
}

static void memlock_child(void)
{
	struct rlimit rl = { 16 * page_size, 16 * page_size };
	char *buf = map_anon(32 * page_size);
	int fd;

	CHECK_OK(setrlimit(RLIMIT_MEMLOCK, &rl));
	drop_to_nobody();
	fd = open_dev();
	CHECK_OK(pin(fd, buf, 12 * page_size));
	CHECK_ERRNO(pin(fd, buf + 12 * page_size, 8 * page_size), ENOMEM);
	CHECK(vm_pin_pages(0) == 12, "VmPin %ld after refusal", vm_pin_pages(0));
	CHECK_OK(pin(fd, buf + 12 * page_size, 4 * page_size));
	CHECK_ERRNO(pin(fd, buf + 16 * page_size, page_size), ENOMEM);
	CHECK_OK(unpin(fd, buf, 12 * page_size));
	CHECK_OK(pin(fd, buf + 16 * page_size, 12 * page_size));
	close(fd);
	CHECK(vm_pin_pages(0) == 0, "VmPin %ld after close", vm_pin_pages(0));
}

static void test_memlock_limit_refuses_unprivileged_user(void)
{
	long long base = foll_pin_balance();

	CHECK(in_child(memlock_child) == 0, "child failed");
	CHECK(foll_pin_balance() == base, "foll_pin leaked");
}

static void test_root_with_cap_ipc_lock_passes_memlock(void)
{
	struct rlimit old, rl = { 0, 0 };
	int fd = open_dev();
	char *buf = map_anon(16 * page_size);

	getrlimit(RLIMIT_MEMLOCK, &old);
	CHECK_OK(setrlimit(RLIMIT_MEMLOCK, &rl));
	CHECK_OK(pin(fd, buf, 16 * page_size));
	CHECK_OK(unpin(fd, buf, 16 * page_size));
	setrlimit(RLIMIT_MEMLOCK, &old);
	close(fd);
	munmap(buf, 16 * page_size);
}

/*
 * A child with @npages mapped at an address it reports on a pipe; it waits
 * until killed. Returns its pid; *addr gets the address.
 */
static pid_t spawn_mapped(size_t npages, uint64_t *addr, void (*setup)(void),
			  bool small_pages)
{
	int fds[2];
	pid_t pid;

	if (pipe(fds))
		exit(1);
	pid = fork();
	if (pid == 0) {
		char *buf = small_pages ? map_small_pages(npages * page_size) :
					  map_anon(npages * page_size);
		uint64_t a = (uintptr_t)buf;

		if (setup)
			setup();
		if (write(fds[1], &a, sizeof(a)) != sizeof(a))
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	if (read(fds[0], addr, sizeof(*addr)) != sizeof(*addr))
		*addr = 0;
	close(fds[0]);
	return pid;
}

static pid_t spawn_with(size_t npages, uint64_t *addr, void (*setup)(void))
{
	return spawn_mapped(npages, addr, setup, false);
}

/* The same, run as nobody when @uid is not 0. */
static pid_t spawn_target(size_t npages, uint64_t *addr, uid_t uid)
{
	return spawn_with(npages, addr, uid ? drop_to_nobody : NULL);
}

static void end_target(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* What mempinfs sets for a root requester. */
#define ROOT_FLAGS (MEMPIN_PIN_NO_RLIMIT | MEMPIN_PIN_ROOT)

static int mgr_pin(int fd, pid_t pid, uint64_t addr, uint64_t len,
		   uint32_t uid, uint32_t flags, struct mempin_pin *out)
{
	struct mempin_pin p = {
		.argsz = sizeof(p), .flags = flags, .pid = pid,
		.requester_uid = uid, .requester_gid = uid,
		.requester_pid = getpid(), .addr = addr, .length = len,
	};
	int ret = ioctl(fd, MEMPIN_PIN, &p);

	if (out)
		*out = p;
	return ret;
}

static int mgr_unpin(int fd, uint64_t id)
{
	struct mempin_unpin u = { .argsz = sizeof(u), .id = id };

	return ioctl(fd, MEMPIN_UNPIN, &u);
}

/*
 * MEMPIN_PROCESS of @pid into @q (may be NULL for a refusal), with room
 * for its cgroup path in @cgroup (may be NULL, @size bytes).
 */
static int mgr_process_cgroup(int fd, pid_t pid, struct mempin_process *q,
			      char *cgroup, uint32_t size)
{
	struct mempin_process local;

	if (!q)
		q = &local;
	memset(q, 0, sizeof(*q));
	q->argsz = sizeof(*q);
	q->pid = pid;
	q->cgroup = (uintptr_t)cgroup;
	q->cgroup_size = size;
	return ioctl(fd, MEMPIN_PROCESS, q);
}

static int mgr_process(int fd, pid_t pid, struct mempin_process *q)
{
	return mgr_process_cgroup(fd, pid, q, NULL, 0);
}

/* MEMPIN_LIST into @info (room for @n); returns the count or -1. */
static int mgr_list(int fd, pid_t pid, struct mempin_pin_info *info, int n)
{
	struct mempin_list l = {
		.argsz = sizeof(l), .pid = pid, .count = n,
		.entries = (uintptr_t)info, .entry_size = sizeof(*info),
	};

	return ioctl(fd, MEMPIN_LIST, &l) ? -1 : (int)l.count;
}

static int mgr_pages(int fd, uint64_t id, uint64_t first,
		     struct mempin_page_info *pages, uint32_t n)
{
	struct mempin_pages p = {
		.argsz = sizeof(p), .id = id, .first = first, .count = n,
		.entries = (uintptr_t)pages,
	};

	return ioctl(fd, MEMPIN_READ_PAGES, &p) ? -1 : (int)p.count;
}

/* The ledger's change counter, from MEMPIN_GET_VERSION. */
static uint64_t changes(int fd)
{
	struct mempin_version v = { .argsz = sizeof(v) };

	return ioctl(fd, MEMPIN_GET_VERSION, &v) ? (uint64_t)-1 : v.changes;
}

/* Whether the pin @id of the container @fd is listed detached. */
static int pin_detached(int fd, uint64_t id)
{
	struct mempin_pin_info info[16];
	int i, n = mgr_list(fd, 0, info, 16);

	for (i = 0; i < n; i++)
		if (info[i].id == id)
			return !!(info[i].flags & MEMPIN_INFO_DETACHED);
	return -1;
}

/*
 * Wait up to @ms for pin @id to be detached: invalidations other than an
 * unmap are verified by a worker, shortly after.
 */
static int wait_detached(int fd, uint64_t id, int ms)
{
	int i;

	for (i = 0; i < ms / 10; i++) {
		if (pin_detached(fd, id) == 1)
			return 1;
		usleep(10000);
	}
	return pin_detached(fd, id);
}

/* The PFN /proc/@pid/pagemap shows at @addr (we are root), 0 if none. */
static uint64_t pagemap_pfn_of(pid_t pid, uint64_t addr)
{
	char path[64];
	uint64_t e = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0 || pread(fd, &e, 8, addr / page_size * 8) != 8)
		e = 0;
	if (fd >= 0)
		close(fd);
	return (e >> 63) ? e & ((1ULL << 55) - 1) : 0;
}

/* The same of our own memory. */
static uint64_t pagemap_pfn(uint64_t addr)
{
	return pagemap_pfn_of(getpid(), addr);
}

/*
 * The pages of pin @id (@n of them) that our range no longer maps: its
 * PFNs from the module against pagemap's. The truth "detached" must tell.
 */
static int pages_not_mapped(int fd, uint64_t id, int n)
{
	struct mempin_page_info *pages = calloc(n, sizeof(*pages));
	int i, got, bad = 0;

	got = mgr_pages(fd, id, 0, pages, n);
	if (got != n) {
		free(pages);
		return -1;
	}
	for (i = 0; i < n; i++)
		if (pagemap_pfn(pages[i].vaddr) != pages[i].pfn)
			bad++;
	free(pages);
	return bad;
}

/* A 2 MiB-aligned region of @len bytes, untouched; *@raw to unmap. */
static char *map_2m_aligned(size_t len, char **raw)
{
	*raw = mmap(NULL, len * 2, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return (char *)(((uintptr_t)*raw + (2UL << 20) - 1) &
			~((2UL << 20) - 1));
}

/* A 2 MiB-aligned THP region of @len bytes, touched; *@raw to unmap. */
static char *map_thp(size_t len, char **raw)
{
	char *buf = map_2m_aligned(len, raw);

	madvise(buf, len, MADV_HUGEPAGE);
	memset(buf, 1, len);
	return buf;
}

static void test_manager_pins_another_process(void)
{
	struct mempin_page_info pages[64];
	struct mempin_pin_info info[4];
	struct mempin_pin p;
	uint64_t addr;
	pid_t child = spawn_target(32, &addr, 0);
	int fd = open_dev(), i, n;

	CHECK_OK(mgr_pin(fd, child, addr + 10, 20 * page_size, 0, 0, &p));
	CHECK(p.id > 0, "id %llu", (unsigned long long)p.id);
	CHECK(p.start == addr && p.end == addr + 21 * page_size,
	      "range %llx-%llx", (unsigned long long)p.start,
	      (unsigned long long)p.end);
	CHECK(vm_pin_pages(child) == 21, "child VmPin %ld", vm_pin_pages(child));
	CHECK(vm_pin_pages(0) == 0, "our VmPin %ld", vm_pin_pages(0));

	n = mgr_list(fd, child, info, 4);
	CHECK(n == 1, "list gave %d", n);
	CHECK(info[0].id == p.id && info[0].pid == child &&
	      info[0].pages == 21 && info[0].start == addr &&
	      (info[0].flags & MEMPIN_INFO_WRITABLE) &&
	      !(info[0].flags & MEMPIN_INFO_DETACHED) &&
	      info[0].requester_pid == getpid() && info[0].pinned_at_ns > 0,
	      "info wrong");
	CHECK(mgr_list(fd, child + 100000, info, 4) == 0, "pid filter");

	n = mgr_pages(fd, p.id, 0, pages, 64);
	CHECK(n == 21, "pages gave %d", n);
	for (i = 0; i < n; i++) {
		CHECK(pages[i].vaddr == addr + i * page_size, "vaddr %d", i);
		CHECK(pages[i].pfn != 0, "pfn 0 at %d", i);
		CHECK((pages[i].flags & MEMPIN_ZONE_MASK) != MEMPIN_ZONE_OTHER,
		      "zone unknown at %d", i);
	}
	/* In chunks, from an offset, and past the end. */
	CHECK(mgr_pages(fd, p.id, 5, pages, 7) == 7 &&
	      pages[0].vaddr == addr + 5 * page_size, "chunk");
	CHECK(mgr_pages(fd, p.id, 18, pages, 7) == 3, "tail");
	CHECK(mgr_pages(fd, p.id, 21, pages, 7) == 0, "past end");
	CHECK(mgr_pages(fd, p.id, UINT64_MAX, pages, 7) == 0, "far past end");
	CHECK_ERRNO(mgr_pages(fd, p.id + 1000, 0, pages, 7), ENOENT);

	CHECK_OK(mgr_unpin(fd, p.id));
	CHECK(vm_pin_pages(child) == 0, "child VmPin %ld", vm_pin_pages(child));
	CHECK_ERRNO(mgr_unpin(fd, p.id), ENOENT);
	CHECK(mgr_list(fd, 0, info, 4) == 0, "list not empty");
	end_target(child);
	close(fd);
}

static void test_manager_target_exit_releases_pins(void)
{
	long long base = foll_pin_balance();
	struct mempin_pin_info info[4];
	uint64_t addr, seq;
	pid_t child = spawn_target(64, &addr, 0);
	int fd = open_dev();

	CHECK_OK(mgr_pin(fd, child, addr, 32 * page_size, 0, 0, NULL));
	CHECK_OK(mgr_pin(fd, child, addr + 32 * page_size, 32 * page_size,
			 0, 0, NULL));
	CHECK(foll_pin_balance() - base == 64, "delta %lld",
	      foll_pin_balance() - base);
	seq = changes(fd);
	end_target(child);
	CHECK(changes(fd) >= seq + 2, "changes %llu after exit, %llu before",
	      (unsigned long long)changes(fd), (unsigned long long)seq);
	/* Released at exit, while the container stays open. */
	CHECK(foll_pin_balance() == base, "delta %lld after exit",
	      foll_pin_balance() - base);
	CHECK(mgr_list(fd, 0, info, 4) == 0, "exited pins still listed");
	CHECK_ERRNO(mgr_pin(fd, child, addr, page_size, 0, 0, NULL), ESRCH);
	close(fd);
}

static void test_self_pins_released_at_exit_with_container_open(void)
{
	long long base = foll_pin_balance();
	int fd = open_dev(), fds[2];
	char c;
	pid_t pid;

	CHECK_OK(pipe(fds));
	pid = fork();
	if (pid == 0) {
		char *buf = map_anon(16 * page_size);

		if (pin(fd, buf, 16 * page_size))
			_exit(1);
		if (write(fds[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	CHECK(read(fds[0], &c, 1) == 1, "child did not pin");
	CHECK(vm_pin_pages(pid) == 16, "child VmPin %ld", vm_pin_pages(pid));
	end_target(pid);
	close(fds[0]);
	CHECK(foll_pin_balance() == base, "delta %lld after exit",
	      foll_pin_balance() - base);
	close(fd);
}

static void test_manager_reports_detached_after_munmap(void)
{
	long long base = foll_pin_balance();
	struct mempin_pin_info info[2];
	char *buf = map_anon(8 * page_size);
	struct mempin_pin p;
	int fd = open_dev();
	uint64_t seq;

	CHECK_OK(mgr_pin(fd, getpid(), (uintptr_t)buf, 8 * page_size, 0, 0, &p));
	CHECK(mgr_list(fd, 0, info, 2) == 1 &&
	      !(info[0].flags & MEMPIN_INFO_DETACHED), "detached too early");
	seq = changes(fd);
	CHECK_OK(munmap(buf, 8 * page_size));
	CHECK(mgr_list(fd, 0, info, 2) == 1 &&
	      (info[0].flags & MEMPIN_INFO_DETACHED), "not detached");
	CHECK(changes(fd) == seq + 1, "changes %llu after munmap, %llu before",
	      (unsigned long long)changes(fd), (unsigned long long)seq);
	/* Still pinned and charged until unpinned. */
	CHECK(vm_pin_pages(0) == 8, "VmPin %ld", vm_pin_pages(0));
	CHECK(foll_pin_balance() - base == 8, "delta %lld",
	      foll_pin_balance() - base);
	CHECK_OK(mgr_unpin(fd, p.id));
	close(fd);
}

static void test_manager_detached_after_madv_dontneed_and_mremap(void)
{
	struct mempin_pin_info info[2];
	char *buf = map_anon(8 * page_size), *moved;
	/* A place of our own to move to: MREMAP_FIXED replaces what is there. */
	char *target = mmap(NULL, 16 * page_size, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct mempin_pin p;
	int fd = open_dev();

	CHECK_OK(mgr_pin(fd, getpid(), (uintptr_t)buf, 4 * page_size, 0, 0, &p));
	CHECK_OK(madvise(buf, page_size, MADV_DONTNEED));
	CHECK(mgr_list(fd, 0, info, 2) == 1, "list");
	CHECK(wait_detached(fd, p.id, 5000) == 1, "not detached by zap");
	CHECK_OK(mgr_unpin(fd, p.id));

	CHECK_OK(mgr_pin(fd, getpid(), (uintptr_t)buf, 4 * page_size, 0, 0, &p));
	moved = mremap(buf, 8 * page_size, 16 * page_size, MREMAP_MAYMOVE |
		       MREMAP_FIXED, target);
	CHECK(moved != MAP_FAILED, "mremap: %s", strerror(errno));
	CHECK(mgr_list(fd, 0, info, 2) == 1 &&
	      (info[0].flags & MEMPIN_INFO_DETACHED), "not detached by mremap");
	CHECK_OK(mgr_unpin(fd, p.id));
	munmap(moved, 16 * page_size);
	close(fd);
}

static void test_manager_not_detached_by_fork_or_mprotect(void)
{
	struct mempin_pin_info info[2];
	char *buf = map_anon(4 * page_size);
	struct mempin_pin p;
	int fd = open_dev();
	pid_t pid;

	CHECK_OK(mgr_pin(fd, getpid(), (uintptr_t)buf, 4 * page_size, 0, 0, &p));
	pid = fork();
	if (pid == 0) {
		buf[0] = 2;	/* the child's copy */
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	CHECK_OK(mprotect(buf, 4 * page_size, PROT_READ));
	CHECK_OK(mprotect(buf, 4 * page_size, PROT_READ | PROT_WRITE));
	buf[0] = 3;
	CHECK(mgr_list(fd, 0, info, 2) == 1 &&
	      !(info[0].flags & MEMPIN_INFO_DETACHED), "detached by fork");
	CHECK_OK(mgr_unpin(fd, p.id));
	close(fd);
	munmap(buf, 4 * page_size);
}

static void manager_unprivileged_child(void)
{
	struct mempin_pin_info info[2];
	struct mempin_pages pg = { .argsz = sizeof(pg) };
	struct mempin_pfns q = { .argsz = sizeof(q) };
	char *buf = map_anon(page_size);
	int fd;

	drop_to_nobody();
	fd = open_dev();
	CHECK_ERRNO(mgr_pin(fd, getpid(), (uintptr_t)buf, page_size, 0, 0, NULL),
		    EPERM);
	CHECK_ERRNO(mgr_unpin(fd, 1), EPERM);
	CHECK_ERRNO(mgr_list(fd, 0, info, 2), EPERM);
	CHECK_ERRNO(ioctl(fd, MEMPIN_READ_PAGES, &pg), EPERM);
	CHECK_ERRNO(ioctl(fd, MEMPIN_QUERY_PFNS, &q), EPERM);
	CHECK_ERRNO(mgr_process(fd, getpid(), NULL), EPERM);
	close(fd);
}

static void test_manager_refused_without_cap_sys_admin(void)
{
	CHECK(in_child(manager_unprivileged_child) == 0, "child failed");
}

static void test_manager_checks_requester_and_target_limit(void)
{
	struct rlimit rl = { 4 * page_size, 4 * page_size };
	uint64_t addr;
	pid_t child = spawn_target(16, &addr, 65534);
	struct mempin_pin p;
	int fd = open_dev();

	CHECK_OK(prlimit(child, RLIMIT_MEMLOCK, &rl, NULL));
	/* A requester whose uid is not the target's. */
	CHECK_ERRNO(mgr_pin(fd, child, addr, page_size, 1000, 0, NULL), EACCES);
	/* The target's own user: charged against the target's limit. */
	CHECK_ERRNO(mgr_pin(fd, child, addr, 8 * page_size, 65534, 0, NULL),
		    ENOMEM);
	CHECK(vm_pin_pages(child) == 0, "VmPin %ld", vm_pin_pages(child));
	CHECK_OK(mgr_pin(fd, child, addr, 4 * page_size, 65534, 0, &p));
	CHECK(vm_pin_pages(child) == 4, "VmPin %ld", vm_pin_pages(child));
	CHECK_OK(mgr_unpin(fd, p.id));
	/* Root, not marked as such: its uid is not the target's. */
	CHECK_ERRNO(mgr_pin(fd, child, addr, page_size, 0, 0, NULL), EACCES);
	/* Exempt (root requester): charged, not limited. */
	CHECK_OK(mgr_pin(fd, child, addr, 8 * page_size, 0,
			 MEMPIN_PIN_NO_RLIMIT | MEMPIN_PIN_ROOT, &p));
	CHECK(vm_pin_pages(child) == 8, "VmPin %ld", vm_pin_pages(child));
	CHECK_OK(mgr_unpin(fd, p.id));
	end_target(child);
	close(fd);
}

static void test_manager_bad_arguments(void)
{
	char *buf = map_anon(4 * page_size);
	uint64_t a = (uintptr_t)buf;
	struct mempin_pin p = { .argsz = sizeof(p), .pid = getpid(),
				.addr = a, .length = page_size };
	unsigned char big[sizeof(p) + 8];
	int fd = open_dev();
	pid_t gone = fork();

	if (gone == 0)
		_exit(0);
	waitpid(gone, NULL, 0);
	CHECK_ERRNO(mgr_pin(fd, 0, a, page_size, 0, 0, NULL), ESRCH);
	CHECK_ERRNO(mgr_pin(fd, -1, a, page_size, 0, 0, NULL), ESRCH);
	CHECK_ERRNO(mgr_pin(fd, gone, a, page_size, 0, 0, NULL), ESRCH);
	CHECK_ERRNO(mgr_pin(fd, getpid(), a, 0, 0, 0, NULL), EINVAL);
	CHECK_ERRNO(mgr_pin(fd, getpid(), a, UINT64_MAX, 0, 0, NULL), EINVAL);
	CHECK_ERRNO(mgr_pin(fd, getpid(), a, page_size, 0, 1U << 7, NULL), EINVAL);
	p.argsz = 8;
	CHECK_ERRNO(ioctl(fd, MEMPIN_PIN, &p), EINVAL);
	p.argsz = 2 * page_size;
	CHECK_ERRNO(ioctl(fd, MEMPIN_PIN, &p), E2BIG);
	p.argsz = sizeof(p);
	/* Our uid with another gid: not the target's credentials. */
	p.requester_gid = 1;
	CHECK_ERRNO(ioctl(fd, MEMPIN_PIN, &p), EACCES);
	p.requester_gid = 0;
	/* A larger struct from a newer user space: zero tail is fine. */
	memset(big, 0, sizeof(big));
	memcpy(big, &p, sizeof(p));
	((struct mempin_pin *)big)->argsz = sizeof(big);
	CHECK_OK(ioctl(fd, MEMPIN_PIN, big));
	CHECK_OK(mgr_unpin(fd, ((struct mempin_pin *)big)->id));
	big[sizeof(p)] = 1;
	CHECK_ERRNO(ioctl(fd, MEMPIN_PIN, big), E2BIG);
	CHECK_ERRNO(ioctl(fd, MEMPIN_PIN, NULL), EFAULT);
	CHECK_ERRNO(ioctl(fd, MEM_CMD_PIN, NULL), EFAULT);
	CHECK_ERRNO(ioctl(fd, MEMPIN_LIST, (void *)8), EFAULT);
	close(fd);
	munmap(buf, 4 * page_size);
}

static unsigned long long proc_start_ticks(pid_t pid);

/*
 * MEMPIN_PIN_START_TIME: the pin is made only in the process that started
 * then; a caller of versions 2 to 4 (64 bytes) gets no byte past its
 * struct.
 */
static void test_pin_checks_start_time(void)
{
	long ticks_per_second = sysconf(_SC_CLK_TCK);
	long long base = foll_pin_balance();
	uint64_t addr;
	pid_t child = spawn_target(8, &addr, 0);
	struct mempin_pin p = { .argsz = sizeof(p), .pid = child,
				.flags = ROOT_FLAGS | MEMPIN_PIN_START_TIME,
				.addr = addr, .length = page_size };
	unsigned char old[sizeof(p)];
	int fd = open_dev();

	CHECK(ticks_per_second > 0, "no clock ticks");
	p.start_time = proc_start_ticks(child);
	CHECK_OK(ioctl(fd, MEMPIN_PIN, &p));
	CHECK(vm_pin_pages(child) == 1, "VmPin %ld pages", vm_pin_pages(child));
	CHECK_OK(mgr_unpin(fd, p.id));
	/* Another start time names another process: nothing is pinned. */
	p.start_time = proc_start_ticks(child) + 1;
	CHECK_ERRNO(ioctl(fd, MEMPIN_PIN, &p), ESRCH);
	p.start_time = 0;
	CHECK_ERRNO(ioctl(fd, MEMPIN_PIN, &p), ESRCH);
	CHECK(vm_pin_pages(child) == 0, "VmPin %ld pages", vm_pin_pages(child));
	/* The 64 bytes of version 4: accepted, and nothing written past. */
	p.flags = ROOT_FLAGS;
	memset(old, 0xa5, sizeof(old));
	memcpy(old, &p, offsetof(struct mempin_pin, start_time));
	((struct mempin_pin *)old)->argsz = offsetof(struct mempin_pin, start_time);
	CHECK_OK(ioctl(fd, MEMPIN_PIN, old));
	CHECK(old[sizeof(old) - 1] == 0xa5, "byte 72 written");
	CHECK_OK(mgr_unpin(fd, ((struct mempin_pin *)old)->id));
	end_target(child);
	CHECK(foll_pin_balance() == base, "foll_pin not balanced");
	close(fd);
}

static void test_version_reports_abi(void)
{
	struct mempin_version v = { .argsz = sizeof(v) };
	int fd = open_dev();

	CHECK_OK(ioctl(fd, MEMPIN_GET_VERSION, &v));
	CHECK(v.version == MEMPIN_ABI_VERSION, "version %u", v.version);
	CHECK(v.page_size == (uint64_t)page_size, "page size %llu",
	      (unsigned long long)v.page_size);
	/* Open to every user: an argument past a page is refused unread. */
	v.argsz = 1U << 30;
	CHECK_ERRNO(ioctl(fd, MEMPIN_GET_VERSION, &v), E2BIG);
	close(fd);
}

#define LIMIT_PARAM "/sys/module/mempinfd/parameters/max_pinned_pages"

static unsigned long long module_limit(void)
{
	unsigned long long v = 0;
	FILE *f = fopen(LIMIT_PARAM, "r");

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	return v;
}

/* MemTotal in pages: the kernel's totalram_pages(). */
static unsigned long long ram_pages(void)
{
	unsigned long long kb = 0;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb / (page_size / 1024);
}

static void test_module_limit_defaults_to_half_of_ram(void)
{
	unsigned long long limit = module_limit();

	/* The guest script loads the module with a plain insmod. */
	CHECK(limit != 0, "max_pinned_pages is 0 after insmod");
	CHECK(limit == ram_pages() / 2, "max_pinned_pages %llu, RAM %llu pages",
	      limit, ram_pages());
}

static void set_module_limit(const char *value)
{
	int fd = open(LIMIT_PARAM, O_WRONLY);

	CHECK(fd >= 0 && write(fd, value, strlen(value)) > 0,
	      "cannot set max_pinned_pages");
	if (fd >= 0)
		close(fd);
}

static void test_module_limit_is_enomem(void)
{
	unsigned long long old = module_limit();
	char *buf = map_anon(32 * page_size);
	char value[32];
	int fd = open_dev();

	set_module_limit("8");
	CHECK_ERRNO(pin(fd, buf, 16 * page_size), ENOMEM);
	CHECK_OK(pin(fd, buf, 8 * page_size));
	CHECK_ERRNO(mgr_pin(fd, getpid(), (uintptr_t)buf + 8 * page_size,
			    page_size, 0, 0, NULL), ENOMEM);
	snprintf(value, sizeof(value), "%llu", old);
	set_module_limit(value);
	CHECK_OK(unpin(fd, buf, 8 * page_size));
	close(fd);
	munmap(buf, 32 * page_size);
}

static uint64_t rnd(void)
{
	return ((uint64_t)random() << 33) ^ ((uint64_t)random() << 11) ^
	       (uint64_t)random();
}

/* Garbage commands and random struct contents: errors, never a pin. */
static void test_garbage_ioctls_pin_nothing(void)
{
	static const unsigned long cmds[] = {
		MEM_CMD_PIN, MEM_CMD_UNPIN, MEMPIN_GET_VERSION, MEMPIN_PIN,
		MEMPIN_UNPIN, MEMPIN_LIST, MEMPIN_READ_PAGES,
	};
	unsigned char arg[256];
	int fd = open_dev(), i, j;

	srandom(42);
	for (i = 0; i < 20000; i++) {
		unsigned long cmd = cmds[random() % 7];

		for (j = 0; j < (int)sizeof(arg); j += 8) {
			uint64_t r = rnd();

			memcpy(arg + j, &r, 8);
		}
		/* Sometimes a sensible argsz, so the body is looked at. */
		if (random() % 2)
			*(uint32_t *)arg = _IOC_SIZE(cmd);
		if (random() % 8 == 0)
			cmd = (unsigned long)rnd();
		ioctl(fd, cmd, random() % 16 ? (void *)arg : (void *)rnd());
	}
	CHECK(vm_pin_pages(0) == 0, "VmPin %ld", vm_pin_pages(0));
	CHECK_ERRNO(ioctl(fd, 0xdeadbeef, arg), ENOTTY);
	close(fd);
}

struct race_arg {
	int fd;
	int index;
	int failures;
};

/* One manager thread: pin, list, read pages and unpin its own range. */
static void *manager_rounds(void *p)
{
	struct race_arg *arg = p;
	struct mempin_page_info pages[16];
	struct mempin_pin_info info[64];
	char *buf = map_anon(16 * page_size);
	struct mempin_pin pin_out;
	int i;

	for (i = 0; i < 200; i++) {
		if (mgr_pin(arg->fd, getpid(), (uintptr_t)buf, 16 * page_size,
			    0, 0, &pin_out)) {
			arg->failures++;
			continue;
		}
		if (mgr_list(arg->fd, 0, info, 64) < 1)
			arg->failures++;
		if (mgr_pages(arg->fd, pin_out.id, 0, pages, 16) != 16)
			arg->failures++;
		if (mgr_unpin(arg->fd, pin_out.id))
			arg->failures++;
	}
	munmap(buf, 16 * page_size);
	return NULL;
}

/* A thread that lists and reads whatever is there, tolerating ENOENT. */
static void *reader_rounds(void *p)
{
	struct race_arg *arg = p;
	struct mempin_page_info pages[64];
	struct mempin_pin_info info[64];
	int i, j, n;

	for (i = 0; i < 400; i++) {
		n = mgr_list(arg->fd, 0, info, 64);
		if (n < 0)
			arg->failures++;
		for (j = 0; j < n; j++)
			if (mgr_pages(arg->fd, info[j].id, 0, pages, 64) < 0 &&
			    errno != ENOENT)
				arg->failures++;
	}
	return NULL;
}

static void test_manager_pin_list_read_unpin_race(void)
{
	struct race_arg args[8];
	pthread_t threads[8];
	int fd = open_dev(), i, failures = 0;

	for (i = 0; i < 8; i++) {
		args[i] = (struct race_arg){ .fd = fd, .index = i };
		pthread_create(&threads[i], NULL,
			       i < 6 ? manager_rounds : reader_rounds, &args[i]);
	}
	for (i = 0; i < 8; i++) {
		pthread_join(threads[i], NULL);
		failures += args[i].failures;
	}
	CHECK(failures == 0, "%d operations failed", failures);
	close(fd);
}

/* Targets exit while their pins are listed, read and unpinned. */
static void test_target_exits_while_listed(void)
{
	struct race_arg arg;
	pthread_t reader;
	int fd = open_dev(), round;

	arg = (struct race_arg){ .fd = fd };
	pthread_create(&reader, NULL, reader_rounds, &arg);
	for (round = 0; round < 20; round++) {
		uint64_t addr;
		pid_t child = spawn_target(64, &addr, 0);

		CHECK_OK(mgr_pin(fd, child, addr, 32 * page_size, 0, 0, NULL));
		CHECK_OK(mgr_pin(fd, child, addr + 32 * page_size,
				 32 * page_size, 0, 0, NULL));
		end_target(child);
	}
	pthread_join(reader, NULL);
	CHECK(arg.failures == 0, "%d reads failed", arg.failures);
	close(fd);
}

/* Containers closed by one thread while another pins into them. */
static void test_close_races_with_pin(void)
{
	char *buf = map_anon(8 * page_size);
	int round;

	for (round = 0; round < 200; round++) {
		int fd = open_dev();
		pid_t pid = fork();

		if (pid == 0) {
			/* The child shares the container and pins into it. */
			pin(fd, buf, 8 * page_size);
			_exit(0);
		}
		close(fd);
		waitpid(pid, NULL, 0);
	}
	munmap(buf, 8 * page_size);
}

static void test_thp_pin_reports_huge_pages(void)
{
	size_t len = 4UL << 20;
	char *raw, *buf = map_2m_aligned(len, &raw);
	struct mempin_page_info pages[4];
	struct mempin_pin_info info[2];
	struct mempin_pin p;
	int fd = open_dev();
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	char mode[128] = "";

	if (f) {
		if (!fgets(mode, sizeof(mode), f))
			mode[0] = 0;
		fclose(f);
	}
	madvise(buf, len, MADV_HUGEPAGE);
	memset(buf, 1, len);
	CHECK_OK(mgr_pin(fd, getpid(), (uintptr_t)buf, len, 0, 0, &p));
	CHECK(mgr_list(fd, 0, info, 2) == 1, "list");
	CHECK(mgr_pages(fd, p.id, 0, pages, 4) == 4, "pages");
	if (strstr(mode, "[never]")) {
		printf("#   THP disabled here: huge_pages %llu\n",
		       (unsigned long long)info[0].huge_pages);
	} else {
		CHECK(info[0].huge_pages == info[0].pages,
		      "huge_pages %llu of %llu", (unsigned long long)info[0].huge_pages,
		      (unsigned long long)info[0].pages);
		CHECK(pages[0].flags & MEMPIN_PAGE_HUGE, "page 0 not huge");
		CHECK(pages[1].pfn == pages[0].pfn + 1, "THP pages not contiguous");
	}
	CHECK_OK(mgr_unpin(fd, p.id));
	close(fd);
	munmap(raw, len * 2);
}

static int mgr_runs(int fd, uint64_t id, uint64_t first,
		    struct mempin_page_run *runs, uint32_t n)
{
	struct mempin_pages p = {
		.argsz = sizeof(p), .flags = MEMPIN_PAGES_RUNS, .id = id,
		.first = first, .count = n, .entries = (uintptr_t)runs,
	};

	return ioctl(fd, MEMPIN_READ_PAGES, &p) ? -1 : (int)p.count;
}

/*
 * The runs of @got pages from page @first on say what the page records of
 * @pages from @first on say; returns the pages they cover.
 */
static unsigned int check_runs(const struct mempin_page_run *runs, int nruns,
			       const struct mempin_page_info *pages,
			       unsigned int first, const char *what)
{
	unsigned int at = first;
	int r;

	for (r = 0; r < nruns; r++) {
		const struct mempin_page_run *run = &runs[r];
		unsigned int i;

		CHECK(run->npages > 0 && !run->reserved, "%s: run %d", what, r);
		/* A run is as long as its frames follow each other. */
		if (r > 0) {
			const struct mempin_page_info *last = &pages[at - 1];

			CHECK(pages[at].pfn != last->pfn + 1 ||
			      pages[at].flags != last->flags ||
			      pages[at].nid != last->nid,
			      "%s: run %d could have gone on", what, r);
		}
		for (i = 0; i < run->npages; i++, at++)
			CHECK(pages[at].pfn == run->pfn + i &&
			      pages[at].flags == run->flags &&
			      pages[at].nid == run->nid,
			      "%s: page %u in run %d", what, at, r);
	}
	return at - first;
}

static void test_read_pages_as_runs(void)
{
	size_t len = 8UL << 20, npages = len / page_size;
	char *raw = mmap(NULL, len + (2UL << 20), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *buf = (char *)(((uintptr_t)raw + (2UL << 20) - 1) & ~((2UL << 20) - 1));
	struct mempin_page_info *pages = calloc(npages, sizeof(*pages));
	struct mempin_page_run *runs = calloc(npages, sizeof(*runs));
	struct mempin_pages bad = {
		.argsz = sizeof(bad), .flags = MEMPIN_PAGES_RUNS << 1,
		.count = 1, .entries = (uintptr_t)runs,
	};
	unsigned int covered;
	struct mempin_pin p;
	int fd = open_dev(), n;

	/* Half in THPs where they are on, half in small pages. */
	madvise(buf, len / 2, MADV_HUGEPAGE);
	madvise(buf + len / 2, len / 2, MADV_NOHUGEPAGE);
	memset(buf, 1, len);
	CHECK_OK(mgr_pin(fd, getpid(), (uintptr_t)buf, len, 0, 0, &p));
	CHECK(mgr_pages(fd, p.id, 0, pages, npages) == (int)npages, "pages");

	n = mgr_runs(fd, p.id, 0, runs, npages);
	CHECK(n > 0 && check_runs(runs, n, pages, 0, "all") == npages,
	      "all: %d runs", n);
	/* From the middle of a run, into less room than the runs take. */
	n = mgr_runs(fd, p.id, 700, runs, 3);
	covered = n > 0 ? check_runs(runs, n, pages, 700, "from 700") : 0;
	CHECK(n == 3 || (n > 0 && covered == npages - 700),
	      "from 700: %d runs", n);
	n = mgr_runs(fd, p.id, npages - 1, runs, 3);
	CHECK(n == 1 && runs[0].npages == 1 &&
	      runs[0].pfn == pages[npages - 1].pfn, "last page: %d", n);
	CHECK(mgr_runs(fd, p.id, 5, runs, 0) == 0, "no room");
	CHECK(mgr_runs(fd, p.id, npages, runs, 3) == 0, "past end");
	CHECK(mgr_runs(fd, p.id, UINT64_MAX, runs, 3) == 0, "far past end");
	CHECK_ERRNO(mgr_runs(fd, p.id + 1000, 0, runs, 3), ENOENT);
	CHECK_ERRNO(mgr_runs(fd, p.id + 1000, 0, runs, 0), ENOENT);
	bad.id = p.id;
	CHECK_ERRNO(ioctl(fd, MEMPIN_READ_PAGES, &bad), EINVAL);

	CHECK_OK(mgr_unpin(fd, p.id));
	CHECK_ERRNO(mgr_runs(fd, p.id, 0, runs, 3), ENOENT);
	close(fd);
	free(runs);
	free(pages);
	munmap(raw, len + (2UL << 20));
}

/*
 * After a change that must leave pin @id of @n pages attached: once its
 * verification had time to run, not detached, every page still mapped.
 */
static void check_still_attached(int fd, uint64_t id, int n, const char *what)
{
	usleep(200000);
	CHECK(pin_detached(fd, id) == 0, "%s detached the pin", what);
	CHECK(pages_not_mapped(fd, id, n) == 0, "%s: %d pages moved", what,
	      pages_not_mapped(fd, id, n));
}

static void test_thp_fork_keeps_pin_attached(void)
{
	size_t len = 4UL << 20;
	char *raw, *buf = map_thp(len, &raw);
	int fd = open_dev(), n = len / page_size;
	struct mempin_pin p;
	pid_t pid;

	CHECK_OK(mgr_pin(fd, getpid(), (uintptr_t)buf, len, 0, 0, &p));
	/* fork() splits a pinned THP's PMD in the parent and copies for the child. */
	pid = fork();
	if (pid == 0) {
		buf[0] = 2;
		_exit(0);
	}
	waitpid(pid, NULL, 0);
	buf[1] = 3;
	check_still_attached(fd, p.id, n, "fork of a pinned THP");
	CHECK_OK(mgr_unpin(fd, p.id));
	close(fd);
	munmap(raw, len * 2);
}

static void test_partial_mprotect_of_thp_keeps_pin_attached(void)
{
	size_t len = 2UL << 20;
	char *raw, *buf = map_thp(len, &raw);
	int fd = open_dev(), n = len / page_size;
	struct mempin_pin p;

	CHECK_OK(mgr_pin(fd, getpid(), (uintptr_t)buf, len, 0, 0, &p));
	/* Half of the THP: the VMA splits, and so does the huge PMD. */
	CHECK_OK(mprotect(buf, len / 2, PROT_READ));
	CHECK_OK(madvise(buf + len / 2, len / 4, MADV_NOHUGEPAGE));
	check_still_attached(fd, p.id, n, "mprotect of half a THP");
	CHECK_OK(mgr_unpin(fd, p.id));
	close(fd);
	munmap(raw, len * 2);
}

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

static void test_pageout_keeps_pin_attached(void)
{
	size_t len = 2UL << 20;
	char *raw, *thp = map_thp(len, &raw), *small = map_anon(64 * page_size);
	struct mempin_pin a, b;
	int fd = open_dev();

	CHECK_OK(mgr_pin(fd, getpid(), (uintptr_t)thp, len, 0, 0, &a));
	CHECK_OK(mgr_pin(fd, getpid(), (uintptr_t)small, 64 * page_size, 0, 0,
			 &b));
	/* Reclaim tries, and must give up on pinned pages. */
	madvise(thp, len, MADV_PAGEOUT);
	madvise(small, 64 * page_size, MADV_PAGEOUT);
	check_still_attached(fd, a.id, len / page_size, "pageout of a THP");
	check_still_attached(fd, b.id, 64, "pageout");
	CHECK_OK(mgr_unpin(fd, a.id));
	CHECK_OK(mgr_unpin(fd, b.id));
	close(fd);
	munmap(raw, len * 2);
	munmap(small, 64 * page_size);
}

struct zap_arg {
	char *addr;
	int delay_us;
};

static void *zap_later(void *p)
{
	struct zap_arg *z = p;

	usleep(z->delay_us);
	madvise(z->addr, page_size, MADV_DONTNEED);
	return NULL;
}

/*
 * A zap from another thread while the pin is being made: whenever it
 * lands, the pin ends up detached exactly when its range maps other pages.
 */
static void test_zap_racing_the_pin_is_seen(void)
{
	size_t len = 64UL << 20;
	int n = len / page_size, round, fd = open_dev(), hits = 0, lost = 0;
	int d, bad;

	for (round = 0; round < 12; round++) {
		char *buf = map_anon(len);
		/* The last delay outlasts the pin (tens of ms under TCG). */
		static const int delay_us[] = { 0, 300, 3000, 200000 };
		struct zap_arg z = { buf + (1 + round % 7) * len / 8,
				     delay_us[round % 4] };
		struct mempin_pin p;
		pthread_t t;
		int i;

		pthread_create(&t, NULL, zap_later, &z);
		i = mgr_pin(fd, getpid(), (uintptr_t)buf, len, 0, ROOT_FLAGS,
			    &p) ? errno : 0;
		pthread_join(t, NULL);
		/*
		 * With movablecore the pin migrates pages out of ZONE_MOVABLE,
		 * which fails (ENOMEM) for the one the zap frees meanwhile.
		 */
		if (i == ENOMEM) {
			lost++;
			munmap(buf, len);
			continue;
		}
		CHECK(i == 0, "pin: %s", strerror(i));
		/* Settle: the verification runs shortly after the zap. */
		for (i = 0; i < 100; i++) {
			d = pin_detached(fd, p.id);
			bad = pages_not_mapped(fd, p.id, n);
			if (d == (bad > 0))
				break;
			usleep(20000);
		}
		CHECK(d == (bad > 0), "round %d: detached %d, %d pages moved",
		      round, d, bad);
		hits += d == 1;
		CHECK_OK(mgr_unpin(fd, p.id));
		munmap(buf, len);
	}
	printf("#   the zap came after the pin in %d of 12 rounds, failed it in %d\n",
	       hits, lost);
	CHECK(lost < 12, "no round pinned");
	close(fd);
}

/* A file of @npages pages at @path, mapped shared and touched. */
static char *map_file(const char *path, int npages, int flags)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	char *p;

	if (fd < 0 || ftruncate(fd, npages * page_size)) {
		printf("#   %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	p = mmap(NULL, npages * page_size, PROT_READ | PROT_WRITE, flags, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	memset(p, 1, npages * page_size);
	return p;
}

/*
 * A shared mapping of a file on ext4 (which writes back) is never pinned
 * long-term, by either interface, not even as part of a larger range; a
 * private mapping of it (pinned copies) and tmpfs are. The guest script
 * mounts an ext4 image on a loop device and names it in MEMPIN_EXT4.
 */
static void test_shared_file_pages_are_refused(void)
{
	const char *dir = getenv("MEMPIN_EXT4");
	long long base = foll_pin_balance();
	char path[512], *shared, *private, *mixed, *shm;
	int fd = open_dev(), mfd;
	struct mempin_pin p;

	CHECK(dir != NULL, "MEMPIN_EXT4 is not set: no ext4 file system");
	if (!dir) {
		close(fd);
		return;
	}
	snprintf(path, sizeof(path), "%s/pinned", dir);
	shared = map_file(path, 16, MAP_SHARED);
	CHECK(shared != NULL, "cannot map %s", path);
	if (!shared) {
		close(fd);
		return;
	}
	CHECK_ERRNO(pin(fd, shared, 16 * page_size), EFAULT);
	CHECK_ERRNO(mgr_pin(fd, getpid(), (uintptr_t)shared, 16 * page_size,
			    0, 0, NULL), EFAULT);
	CHECK(foll_pin_balance() == base, "foll_pin leaked %lld",
	      foll_pin_balance() - base);
	CHECK(vm_pin_pages(0) == 0, "VmPin %ld", vm_pin_pages(0));

	/* Anonymous memory followed by the file: all of it is refused. */
	mixed = map_anon(32 * page_size);
	snprintf(path, sizeof(path), "%s/mixed", dir);
	mfd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	CHECK(mfd >= 0 && !ftruncate(mfd, 16 * page_size), "mixed file");
	CHECK(mmap(mixed + 16 * page_size, 16 * page_size, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_FIXED, mfd, 0) != MAP_FAILED, "mmap fixed");
	close(mfd);
	memset(mixed, 2, 32 * page_size);
	CHECK_ERRNO(pin(fd, mixed, 32 * page_size), EFAULT);
	CHECK_ERRNO(mgr_pin(fd, getpid(), (uintptr_t)mixed, 32 * page_size,
			    0, 0, NULL), EFAULT);
	CHECK(foll_pin_balance() == base, "foll_pin leaked %lld after mixed",
	      foll_pin_balance() - base);

	/* A private mapping of the same file: pinned copies, anonymous. */
	snprintf(path, sizeof(path), "%s/private", dir);
	private = map_file(path, 16, MAP_PRIVATE);
	CHECK(private != NULL, "private map");
	CHECK_OK(pin(fd, private, 16 * page_size));
	CHECK_OK(unpin(fd, private, 16 * page_size));

	/* tmpfs (a memfd): shared, and pinned. */
	mfd = memfd_create("mempin-test", 0);
	CHECK(mfd >= 0 && !ftruncate(mfd, 16 * page_size), "memfd");
	shm = mmap(NULL, 16 * page_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   mfd, 0);
	close(mfd);
	CHECK(shm != MAP_FAILED, "memfd mmap");
	memset(shm, 3, 16 * page_size);
	CHECK_OK(pin(fd, shm, 16 * page_size));
	CHECK(vm_pin_pages(0) == 16, "VmPin %ld for tmpfs", vm_pin_pages(0));
	CHECK_OK(unpin(fd, shm, 16 * page_size));
	CHECK_OK(mgr_pin(fd, getpid(), (uintptr_t)shm, 16 * page_size, 0, 0,
			 &p));
	CHECK_OK(mgr_unpin(fd, p.id));
	close(fd);
	munmap(shared, 16 * page_size);
	munmap(mixed, 32 * page_size);
	munmap(private, 16 * page_size);
	munmap(shm, 16 * page_size);
}

/*
 * Another process's memory, as the tree pins it: a THP-backed range is
 * pinned whole and contiguous (6.1 takes it with the lockless walk in the
 * target's mm), and pages of a shared ext4 file that are mapped, written
 * and so present in its page tables are still refused, leaving nothing.
 */
static void test_manager_pins_another_process_thp_and_file(void)
{
	const char *dir = getenv("MEMPIN_EXT4");
	size_t len = 4UL << 20;
	long long base = foll_pin_balance();
	struct mempin_page_info pages[2];
	struct mempin_pin_info info[2];
	uint64_t addrs[2] = { 0, 0 };
	int fd = open_dev(), fds[2];
	struct mempin_pin p;
	pid_t child;

	CHECK_OK(pipe(fds));
	child = fork();
	if (child == 0) {
		char *raw, *buf = map_thp(len, &raw);
		char path[512];

		addrs[0] = (uintptr_t)buf;
		if (dir) {
			snprintf(path, sizeof(path), "%s/remote", dir);
			addrs[1] = (uintptr_t)map_file(path, 16, MAP_SHARED);
		}
		if (write(fds[1], addrs, sizeof(addrs)) != sizeof(addrs))
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	CHECK(read(fds[0], addrs, sizeof(addrs)) == sizeof(addrs), "child");
	close(fds[0]);
	CHECK_OK(mgr_pin(fd, child, addrs[0], len, 0, ROOT_FLAGS, &p));
	CHECK(vm_pin_pages(child) == (long)(len / page_size), "VmPin %ld",
	      vm_pin_pages(child));
	CHECK(mgr_list(fd, child, info, 2) == 1, "list");
	CHECK(mgr_pages(fd, p.id, 0, pages, 2) == 2, "pages");
	if (info[0].huge_pages)
		CHECK(pages[1].pfn == pages[0].pfn + 1, "THP not contiguous");
	printf("#   %llu of %llu pages huge\n",
	       (unsigned long long)info[0].huge_pages,
	       (unsigned long long)info[0].pages);
	CHECK_OK(mgr_unpin(fd, p.id));
	CHECK(dir != NULL, "MEMPIN_EXT4 is not set: no ext4 file system");
	if (addrs[1])
		CHECK_ERRNO(mgr_pin(fd, child, addrs[1], 16 * page_size, 0,
				    ROOT_FLAGS, NULL), EFAULT);
	CHECK(vm_pin_pages(child) == 0, "VmPin %ld", vm_pin_pages(child));
	CHECK(foll_pin_balance() == base, "foll_pin leaked %lld",
	      foll_pin_balance() - base);
	end_target(child);
	close(fd);
}

/*
 * Another process's range of a THP, then small pages, then pages never
 * touched: the module pins it whole whichever way it walks it (from 6.5
 * its first page, in a THP, sends it the slow way), every page where the
 * target maps it.
 */
static void test_manager_pins_another_process_thp_then_small_pages(void)
{
	size_t len = 4UL << 20, npages = len / page_size;
	long long base = foll_pin_balance();
	struct mempin_page_info *pages = calloc(npages, sizeof(*pages));
	struct mempin_pin_info info;
	int fd = open_dev(), fds[2], bad = 0;
	struct mempin_pin p;
	uint64_t addr = 0;
	size_t i;
	pid_t child;

	CHECK_OK(pipe(fds));
	child = fork();
	if (child == 0) {
		char *raw, *buf = map_2m_aligned(len, &raw);

		madvise(buf, len / 2, MADV_HUGEPAGE);
		madvise(buf + len / 2, len / 2, MADV_NOHUGEPAGE);
		memset(buf, 1, len - 64 * page_size);
		addr = (uintptr_t)buf;
		if (write(fds[1], &addr, sizeof(addr)) != sizeof(addr))
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	CHECK(read(fds[0], &addr, sizeof(addr)) == sizeof(addr), "child");
	close(fds[0]);
	CHECK_OK(mgr_pin(fd, child, addr, len, 0, ROOT_FLAGS, &p));
	CHECK(vm_pin_pages(child) == (long)npages, "VmPin %ld",
	      vm_pin_pages(child));
	CHECK(mgr_list(fd, child, &info, 1) == 1, "list");
	CHECK(info.huge_pages == 0 || info.huge_pages == npages / 2,
	      "%llu huge pages", (unsigned long long)info.huge_pages);
	CHECK(mgr_pages(fd, p.id, 0, pages, npages) == (int)npages, "pages");
	for (i = 0; i < npages; i++)
		if (pages[i].vaddr != addr + i * page_size ||
		    pages[i].pfn != pagemap_pfn_of(child, pages[i].vaddr))
			bad++;
	CHECK(bad == 0, "%d pages not where the target maps them", bad);
	printf("#   %llu of %zu pages huge\n",
	       (unsigned long long)info.huge_pages, npages);
	CHECK_OK(mgr_unpin(fd, p.id));
	CHECK(vm_pin_pages(child) == 0, "VmPin %ld", vm_pin_pages(child));
	CHECK(foll_pin_balance() == base, "foll_pin leaked %lld",
	      foll_pin_balance() - base);
	free(pages);
	end_target(child);
	close(fd);
}

/*
 * Four processes of one user, each with RLIMIT_MEMLOCK 1 MiB, pin 1 MiB of
 * their own at once: the user's total allows one.
 */
static void test_user_limit_spans_processes(void)
{
	int go[2], res[2], i, r, ok = 0, nomem = 0;
	pid_t kids[4];
	char c;

	CHECK_OK(pipe(go));
	CHECK_OK(pipe(res));
	for (i = 0; i < 4; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			struct rlimit rl = { 1 << 20, 1 << 20 };
			char *buf = map_anon(1 << 20);
			int fd;

			close(go[1]);
			setrlimit(RLIMIT_MEMLOCK, &rl);
			drop_to_nobody();
			fd = open_dev();
			r = pin(fd, buf, 1 << 20) ? errno : 0;
			if (write(res[1], &r, sizeof(r)) != sizeof(r))
				_exit(1);
			/* Hold the pin until the parent has every answer. */
			if (read(go[0], &c, 1) < 0)
				_exit(1);
			_exit(0);
		}
	}
	close(res[1]);
	close(go[0]);
	for (i = 0; i < 4; i++) {
		if (read(res[0], &r, sizeof(r)) != sizeof(r))
			break;
		ok += r == 0;
		nomem += r == ENOMEM;
	}
	CHECK(ok == 1 && nomem == 3, "%d pinned, %d ENOMEM of 4", ok, nomem);
	close(go[1]);
	close(res[0]);
	for (i = 0; i < 4; i++)
		waitpid(kids[i], NULL, 0);
}

/* The same through the manager, for a requester that is not root. */
static void test_user_limit_spans_manager_pins(void)
{
	struct rlimit rl = { 1 << 20, 1 << 20 };
	uint64_t a, b;
	pid_t ta = spawn_target(256, &a, 65534), tb = spawn_target(256, &b, 65534);
	struct mempin_pin p, q;
	int fd = open_dev();

	CHECK_OK(prlimit(ta, RLIMIT_MEMLOCK, &rl, NULL));
	CHECK_OK(prlimit(tb, RLIMIT_MEMLOCK, &rl, NULL));
	CHECK_OK(mgr_pin(fd, ta, a, 1 << 20, 65534, 0, &p));
	CHECK_ERRNO(mgr_pin(fd, tb, b, 1 << 20, 65534, 0, NULL), ENOMEM);
	CHECK(vm_pin_pages(tb) == 0, "VmPin %ld after refusal", vm_pin_pages(tb));
	/* Root's pins are not charged to the user. */
	CHECK_OK(mgr_pin(fd, tb, b, 1 << 20, 0,
			 MEMPIN_PIN_NO_RLIMIT | MEMPIN_PIN_ROOT, &q));
	CHECK_OK(mgr_unpin(fd, q.id));
	/* Uncharged on unpin: the other process may pin now. */
	CHECK_OK(mgr_unpin(fd, p.id));
	CHECK_OK(mgr_pin(fd, tb, b, 1 << 20, 65534, 0, &q));
	CHECK_OK(mgr_unpin(fd, q.id));
	end_target(ta);
	end_target(tb);
	close(fd);
}

static void nobody_not_dumpable(void)
{
	drop_to_nobody();
	prctl(PR_SET_DUMPABLE, 0);
}

/* Real uid nobody, effective and saved uid root (a setuid program). */
static void nobody_running_setuid_root(void)
{
	if (setresgid(65534, 65534, 65534) || setresuid(65534, 0, 0))
		_exit(1);
}

/*
 * ptrace's read rule: a user may not pin its own non-dumpable processes,
 * nor a setuid program it started; root may.
 */
static void test_ptrace_rule_guards_other_processes(void)
{
	uint64_t a, b, c;
	pid_t na = spawn_with(4, &a, nobody_not_dumpable);
	pid_t su = spawn_with(4, &b, nobody_running_setuid_root);
	pid_t ok = spawn_target(4, &c, 65534);
	struct mempin_pin p;
	int fd = open_dev();

	CHECK_ERRNO(mgr_pin(fd, na, a, page_size, 65534, 0, NULL), EACCES);
	CHECK_ERRNO(mgr_pin(fd, su, b, page_size, 65534, 0, NULL), EACCES);
	CHECK_OK(mgr_pin(fd, ok, c, page_size, 65534, 0, &p));
	CHECK_OK(mgr_unpin(fd, p.id));
	/* Another group than the target's. */
	{
		struct mempin_pin g = { .argsz = sizeof(g), .pid = ok,
			.requester_uid = 65534, .requester_gid = 100,
			.addr = c, .length = page_size };

		CHECK_ERRNO(ioctl(fd, MEMPIN_PIN, &g), EACCES);
	}
	CHECK_OK(mgr_pin(fd, na, a, page_size, 0, MEMPIN_PIN_ROOT, &p));
	CHECK_OK(mgr_unpin(fd, p.id));
	CHECK_OK(mgr_pin(fd, su, b, page_size, 0, MEMPIN_PIN_ROOT, &p));
	CHECK_OK(mgr_unpin(fd, p.id));
	end_target(na);
	end_target(su);
	end_target(ok);
	close(fd);
}

/* Shared with the target: how many mmap/munmap pairs it has done. */
static long *mmap_rounds;

static long rounds_now(void)
{
	return __atomic_load_n(mmap_rounds, __ATOMIC_RELAXED);
}

static void *map_forever(void *p)
{
	(void)p;
	for (;;) {
		void *m = mmap(NULL, page_size, PROT_READ,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m != MAP_FAILED)
			munmap(m, page_size);
		__atomic_add_fetch(mmap_rounds, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void mapping_thread(void)
{
	pthread_t t;

	pthread_create(&t, NULL, map_forever, NULL);
}

/*
 * Pinning another process's 256 MiB goes a chunk at a time with its mmap
 * lock dropped between chunks: the target's own mmap() gets in meanwhile.
 */
static void test_large_pin_drops_the_target_lock_between_chunks(void)
{
	size_t npages = (256UL << 20) / page_size;
	long before, during;
	struct mempin_pin p;
	uint64_t addr;
	pid_t child;
	int fd = open_dev();

	mmap_rounds = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
			   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	*mmap_rounds = 0;
	child = spawn_with(npages, &addr, mapping_thread);
	while (rounds_now() < 100)
		usleep(1000);
	before = rounds_now();
	CHECK_OK(mgr_pin(fd, child, addr, npages * page_size, 0, ROOT_FLAGS,
			 &p));
	during = rounds_now() - before;
	printf("#   the target mapped %ld times while 256 MiB were pinned\n",
	       during);
	/*
	 * Each count takes the write lock twice; a lock held across the whole
	 * range would let at most the one pair in flight at the start through.
	 */
	CHECK(during >= 3, "the target's mmap got in %ld times", during);
	CHECK_OK(mgr_unpin(fd, p.id));
	end_target(child);
	munmap(mmap_rounds, page_size);
	close(fd);
}

/*
 * A manager killed while another process's 512 MiB are being pinned (the
 * walk in a worker that adopts the target's mm: 4 KiB pages, which the
 * module never sends the slow way) returns at once, and the worker unpins
 * what it pinned, the page pinned before it on 6.5 and later included:
 * nothing is left pinned. The kill lands at several points of the walk; a
 * pin that was made before it outlives its manager, as every manager pin
 * does, and is unpinned here.
 */
static void test_killed_manager_leaves_nothing_pinned(void)
{
	size_t npages = (512UL << 20) / page_size;
	long long base = foll_pin_balance();
	struct mempin_pin_info info[4];
	int delays_ms[] = { 1, 5, 20, 60, 200 };
	char made[] = "-----";
	unsigned int i;
	uint64_t addr;
	pid_t target = spawn_mapped(npages, &addr, NULL, true);
	int fd = open_dev();

	for (i = 0; i < sizeof(delays_ms) / sizeof(delays_ms[0]); i++) {
		pid_t manager = fork();
		int status, waited, n;

		if (manager == 0) {
			int mfd = open_dev();

			mgr_pin(mfd, target, addr, npages * page_size, 0,
				ROOT_FLAGS, NULL);
			for (;;)
				pause();
		}
		usleep(delays_ms[i] * 1000);
		kill(manager, SIGKILL);
		CHECK(waitpid(manager, &status, 0) == manager &&
		      WIFSIGNALED(status), "the manager did not end by its kill");
		/*
		 * A pin made before the kill outlives its manager: undo it.
		 * Which kills come before the pin is made depends on the
		 * machine; the first must, or nothing was tested.
		 */
		n = mgr_list(fd, target, info, 4);
		CHECK(n == 0 || n == 1, "%d pins listed after the kill at %d ms",
		      n, delays_ms[i]);
		if (n == 1)
			CHECK_OK(mgr_unpin(fd, info[0].id));
		made[i] = n == 1 ? '1' : '0';
		for (waited = 0; waited < 500; waited++) {
			if (foll_pin_balance() == base)
				break;
			usleep(10000);
		}
		CHECK(foll_pin_balance() == base,
		      "%lld pages still pinned %d ms after the kill at %d ms",
		      foll_pin_balance() - base, waited * 10, delays_ms[i]);
	}
	printf("#   kills at 1, 5, 20, 60, 200 ms; the pin was made before: %s\n",
	       made);
	CHECK(made[0] == '0', "the pin was made within 1 ms: no kill came mid-pin");
	CHECK(mgr_list(fd, target, info, 4) == 0, "a pin of the target is left");
	end_target(target);
	close(fd);
}

/* A number from the cgroup v2 file @dir/@name, or -1. */
static long long cgroup_read(const char *dir, const char *name)
{
	char path[512];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%lld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static char cgroup_dir[64];

/*
 * In a cgroup of its own, as nobody with RLIMIT_MEMLOCK 64 KiB, ask 20 times
 * for 1 GiB: each is refused before the 2 MiB array of page pointers is
 * allocated (it would be charged to the cgroup: GFP_KERNEL_ACCOUNT).
 */
static void refused_pins_in_a_cgroup(void)
{
	struct rlimit rl = { 64 << 10, 64 << 10 };
	char path[128], *buf = map_anon(page_size);
	long long before, after;
	int fd, i;
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup_dir);
	f = fopen(path, "w");
	CHECK(f && fprintf(f, "%d\n", getpid()) > 0 && !fclose(f),
	      "cannot join %s", cgroup_dir);
	CHECK_OK(setrlimit(RLIMIT_MEMLOCK, &rl));
	drop_to_nobody();
	fd = open_dev();
	/* Warm up with a refusal whose page array would be tiny. */
	CHECK_ERRNO(pin(fd, buf, 128 << 10), ENOMEM);
	before = cgroup_read(cgroup_dir, "memory.peak");
	for (i = 0; i < 20; i++)
		CHECK_ERRNO(pin(fd, buf, 1ULL << 30), ENOMEM);
	after = cgroup_read(cgroup_dir, "memory.peak");
	CHECK(before > 0 && after - before < (1 << 20),
	      "memory.peak %lld before, %lld after", before, after);
	close(fd);
}

static void test_limits_are_checked_before_allocating(void)
{
	FILE *f = fopen("/sys/fs/cgroup/cgroup.subtree_control", "w");

	if (f) {
		fprintf(f, "+memory\n");
		fclose(f);
	}
	snprintf(cgroup_dir, sizeof(cgroup_dir), "/sys/fs/cgroup/mempin-test-%d",
		 getpid());
	CHECK_OK(mkdir(cgroup_dir, 0755));
	CHECK(cgroup_read(cgroup_dir, "memory.peak") >= 0,
	      "no memory.peak in %s", cgroup_dir);
	CHECK(in_child(refused_pins_in_a_cgroup) == 0, "child failed");
	CHECK_OK(rmdir(cgroup_dir));
}

/* The entry of pin @id in the ledger's listing, or NULL. */
static int find_listed(int fd, uint64_t id, struct mempin_pin_info *out)
{
	struct mempin_pin_info info[64];
	int i, n = mgr_list(fd, 0, info, 64);

	for (i = 0; i < n; i++) {
		if (info[i].id == id) {
			*out = info[i];
			return 1;
		}
	}
	return 0;
}

/* The last pin listed for @pid, by id; 0 if none. */
static uint64_t last_pin_of(int fd, pid_t pid, struct mempin_pin_info *out)
{
	struct mempin_pin_info info[64];
	int n = mgr_list(fd, pid, info, 64);

	if (n <= 0)
		return 0;
	*out = info[n - 1];
	return out->id;
}

/* A manager pin lasts when the manager's file closes; any file unpins it. */
static void test_manager_pins_outlive_the_managers_file(void)
{
	long long base = foll_pin_balance();
	struct mempin_pin_info info;
	struct mempin_pin p;
	uint64_t addr;
	pid_t child = spawn_target(32, &addr, 0);
	int fd = open_dev();

	CHECK_OK(mgr_pin(fd, child, addr, 32 * page_size, 0, ROOT_FLAGS, &p));
	close(fd);
	CHECK(vm_pin_pages(child) == 32, "VmPin %ld after close",
	      vm_pin_pages(child));
	CHECK(foll_pin_balance() - base == 32, "delta %lld after close",
	      foll_pin_balance() - base);
	/* The next manager finds it, with who made it and how. */
	fd = open_dev();
	CHECK(find_listed(fd, p.id, &info) && info.pid == child &&
	      info.pages == 32 && info.via == MEMPIN_VIA_MANAGER &&
	      info.holder_pid == 0, "not listed as the manager's pin");
	CHECK_OK(mgr_unpin(fd, p.id));
	CHECK(vm_pin_pages(child) == 0, "VmPin %ld", vm_pin_pages(child));
	CHECK_ERRNO(mgr_unpin(fd, p.id), ENOENT);
	close(fd);
	end_target(child);
}

/* Ids are unique across containers and not reused. */
static void test_ids_are_unique_machine_wide(void)
{
	char *buf = map_anon(4 * page_size);
	struct mempin_pin_info a, b;
	int m = open_dev(), fd1 = open_dev(), fd2 = open_dev();

	CHECK_OK(pin(fd1, buf, page_size));
	CHECK_OK(pin(fd2, buf, page_size));
	CHECK(last_pin_of(m, getpid(), &b) > 0, "no pins listed");
	CHECK(mgr_list(m, getpid(), &a, 1) == 1, "list");
	CHECK(a.id < b.id && a.start == b.start && a.via == MEMPIN_VIA_SEED &&
	      a.holder_pid == getpid(), "ids %llu, %llu",
	      (unsigned long long)a.id, (unsigned long long)b.id);
	CHECK_OK(unpin(fd1, buf, page_size));
	CHECK_OK(pin(fd1, buf, page_size));
	CHECK(last_pin_of(m, getpid(), &a) > b.id, "an id was reused");
	close(fd1);
	close(fd2);
	close(m);
	munmap(buf, 4 * page_size);
}

/*
 * A seed pin of another process is in the ledger; a manager's unpin
 * revokes it: uncharged at once, POLLPRI on the holder's file, its own
 * unpin of the range ENOENT (which clears POLLPRI), the holder unharmed.
 */
static void test_seed_pin_is_listed_and_revocable(void)
{
	long long base = foll_pin_balance();
	int h = open_dev(), m, go[2], res[2], r = -1;
	struct mempin_page_info pages[4];
	struct mempin_pin_info info;
	struct pollfd pfd;
	pid_t child;
	char c = 0;

	CHECK_OK(pipe(go));
	CHECK_OK(pipe(res));
	child = fork();
	if (child == 0) {
		char *buf = map_anon(512 * page_size);

		r = pin(h, buf, 512 * page_size) ? errno : 0;
		if (write(res[1], &r, sizeof(r)) != sizeof(r) ||
		    read(go[0], &c, 1) != 1)
			_exit(1);
		r = unpin(h, buf, 512 * page_size) ? errno : 0;
		buf[0] = 2;	/* its memory is its own, as before */
		if (write(res[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
		_exit(0);
	}
	CHECK(read(res[0], &r, sizeof(r)) == sizeof(r) && r == 0,
	      "child pin: %d", r);
	m = open_dev();
	CHECK(last_pin_of(m, child, &info) > 0 && info.via == MEMPIN_VIA_SEED &&
	      info.holder_pid == child && info.pages == 512 &&
	      !(info.flags & MEMPIN_INFO_DETACHED), "seed pin not listed");
	CHECK(mgr_pages(m, info.id, 0, pages, 4) == 4 && pages[0].pfn,
	      "pages of a seed pin");
	pfd = (struct pollfd){ .fd = h, .events = POLLPRI };
	CHECK(poll(&pfd, 1, 0) == 0, "POLLPRI before a revoke");

	CHECK_OK(mgr_unpin(m, info.id));
	CHECK(vm_pin_pages(child) == 0, "VmPin %ld after revoke",
	      vm_pin_pages(child));
	CHECK(foll_pin_balance() == base, "delta %lld after revoke",
	      foll_pin_balance() - base);
	CHECK(poll(&pfd, 1, 1000) == 1 && (pfd.revents & POLLPRI),
	      "holder not told: revents %#x", pfd.revents);
	CHECK(last_pin_of(m, child, &info) == 0, "revoked pin still listed");

	CHECK(write(go[1], "x", 1) == 1, "go");
	CHECK(read(res[0], &r, sizeof(r)) == sizeof(r) && r == ENOENT,
	      "holder's unpin after revoke: %d", r);
	pfd.revents = 0;
	CHECK(poll(&pfd, 1, 0) == 0, "POLLPRI after the holder's unpin");
	waitpid(child, &r, 0);
	CHECK(WIFEXITED(r) && WEXITSTATUS(r) == 0, "holder disturbed");
	close(go[0]);
	close(go[1]);
	close(res[0]);
	close(res[1]);
	close(m);
	close(h);
}

/* With only a manager pin left and no file open, rmmod is refused. */
static void test_rmmod_refused_while_the_ledger_holds_a_pin(void)
{
	struct mempin_pin p;
	uint64_t addr;
	pid_t child = spawn_target(8, &addr, 0);
	int fd = open_dev();

	CHECK_OK(mgr_pin(fd, child, addr, 8 * page_size, 0, ROOT_FLAGS, &p));
	close(fd);
	CHECK(syscall(SYS_delete_module, "mempinfd", O_NONBLOCK) == -1 &&
	      (errno == EWOULDBLOCK || errno == EBUSY),
	      "rmmod with a pin in the ledger: errno %d", errno);
	fd = open_dev();
	CHECK_OK(mgr_unpin(fd, p.id));
	close(fd);
	end_target(child);
}

/* Read every change record there is now, without waiting. */
static int read_events(int fd, struct mempin_event *ev, int n)
{
	int got = 0;
	ssize_t r;

	while (got < n) {
		r = read(fd, ev + got, (n - got) * sizeof(*ev));
		if (r <= 0)
			break;
		got += r / sizeof(*ev);
	}
	return got;
}

/* The first record of @type after @from in @ev, or NULL. */
static struct mempin_event *find_event(struct mempin_event *ev, int n,
				       uint32_t type, int *from)
{
	for (; *from < n; (*from)++)
		if (ev[*from].type == type)
			return &ev[(*from)++];
	return NULL;
}

/* Every kind of change is recorded, in order, with who and why. */
static void test_events_record_each_change(void)
{
	int m = open_dev(), fd = open_dev(), i = 0, n = 0;
	char *buf = map_anon(16 * page_size);
	struct mempin_event ev[64], *e;
	struct rlimit rl;
	struct pollfd pfd = { .events = POLLIN };
	struct mempin_pin p;
	uint64_t addr;
	pid_t child;

	CHECK_OK(fcntl(m, F_SETFL, O_NONBLOCK));
	CHECK_ERRNO(read(m, ev, sizeof(ev)), EAGAIN);
	CHECK_ERRNO(read(m, ev, sizeof(ev[0]) - 1), EINVAL);
	pfd.fd = m;
	CHECK(poll(&pfd, 1, 0) == 0, "POLLIN with nothing to read");

	CHECK_OK(pin(fd, buf, 4 * page_size));			/* pin */
	CHECK(poll(&pfd, 1, 1000) == 1 && (pfd.revents & POLLIN), "no POLLIN");
	CHECK_OK(unpin(fd, buf, 4 * page_size));		/* unpin */
	CHECK_OK(pin(fd, buf, 4 * page_size));
	close(fd);						/* close */
	child = spawn_target(8, &addr, 0);
	CHECK_OK(mgr_pin(m, child, addr, 8 * page_size, 42, ROOT_FLAGS, &p));
	end_target(child);					/* exit */
	CHECK_OK(mgr_pin(m, getpid(), (uintptr_t)buf, 8 * page_size, 0,
			 ROOT_FLAGS, &p));
	CHECK_OK(munmap(buf + 4 * page_size, 4 * page_size));	/* detach */
	CHECK_OK(mgr_unpin(m, p.id));
	/* refuse: over the target's RLIMIT_MEMLOCK */
	CHECK_OK(getrlimit(RLIMIT_MEMLOCK, &rl));
	child = spawn_target(8, &addr, 0);
	CHECK_OK(prlimit(child, RLIMIT_MEMLOCK,
			 &(struct rlimit){ page_size, page_size }, NULL));
	CHECK_ERRNO(mgr_pin(m, child, addr, 8 * page_size, 0, MEMPIN_PIN_ROOT,
			    NULL), ENOMEM);
	end_target(child);

	/* pin, unpin, pin, close, pin, exit, pin, detach, unpin, refuse */
	for (int tries = 0; tries < 100 && n < 10; tries++) {
		n += read_events(m, ev + n, 64 - n);
		usleep(10000);
	}
	CHECK(n == 10, "%d records", n);
	for (int k = 1; k < n; k++)
		CHECK(ev[k].seq == ev[k - 1].seq + 1, "gap at %d", k);
	e = find_event(ev, n, MEMPIN_EVENT_PIN, &i);
	CHECK(e && e->via == MEMPIN_VIA_SEED && e->pid == getpid() &&
	      e->holder_pid == getpid() && e->pages == 4 && e->id &&
	      e->start == (uintptr_t)buf && e->time_ns, "pin record");
	e = find_event(ev, n, MEMPIN_EVENT_UNPIN, &i);
	CHECK(e && e->pages == 4 && e->uid == 0, "unpin record");
	e = find_event(ev, n, MEMPIN_EVENT_CLOSE, &i);
	CHECK(e && e->via == MEMPIN_VIA_SEED, "close record");
	e = find_event(ev, n, MEMPIN_EVENT_PIN, &i);
	CHECK(e && e->via == MEMPIN_VIA_MANAGER && e->uid == 42 &&
	      e->holder_pid == 0, "manager pin record");
	e = find_event(ev, n, MEMPIN_EVENT_EXIT, &i);
	CHECK(e && e->pages == 8, "exit record");
	e = find_event(ev, n, MEMPIN_EVENT_DETACH, &i);
	CHECK(e && e->id == p.id, "detach record");
	e = find_event(ev, n, MEMPIN_EVENT_UNPIN, &i);
	CHECK(e && e->id == p.id, "manager unpin record");
	e = find_event(ev, n, MEMPIN_EVENT_REFUSE, &i);
	CHECK(e && e->error == ENOMEM && e->reason == MEMPIN_REASON_MEMLOCK &&
	      e->pages == 8 && !e->id, "refuse record");
	CHECK_ERRNO(read(m, ev, sizeof(ev)), EAGAIN);
	close(m);
	munmap(buf, 16 * page_size);
}


static int mgr_pin_ranges(int fd, pid_t pid, struct mempin_range *r,
			  uint32_t n, uint32_t flags)
{
	struct mempin_pin p = {
		.argsz = sizeof(p), .flags = flags | MEMPIN_PIN_RANGES,
		.pid = pid, .requester_pid = getpid(),
		.ranges = (uintptr_t)r, .nr_ranges = n,
	};

	return ioctl(fd, MEMPIN_PIN, &p);
}

/* The records of @m since the last call (non-blocking), their types. */
static int record_types(int m, uint32_t *types, int max)
{
	struct mempin_event ev[64];
	int i, n = read_events(m, ev, 64);

	for (i = 0; i < n && i < max; i++)
		types[i] = ev[i].type;
	return n;
}

/*
 * Several ranges in one MEMPIN_PIN: each its own pin, their ids written
 * back and their records in order; on any error none was ever seen.
 */
static void test_manager_pins_ranges_all_or_none(void)
{
	long long before = foll_pin_balance();
	int m = open_dev(), fd = open_dev(), i, n;
	struct mempin_pin_info info[8];
	struct mempin_pin p = { .argsz = sizeof(p) };
	struct mempin_range r[3], *ro;
	uint32_t types[64];
	uint64_t addr;
	pid_t child = spawn_target(32, &addr, 0);

	CHECK_OK(fcntl(m, F_SETFL, O_NONBLOCK));
	memset(r, 0, sizeof(r));
	for (i = 0; i < 3; i++) {
		r[i].addr = addr + i * 4 * page_size + 10;
		r[i].length = 2 * page_size;
	}
	CHECK_OK(mgr_pin_ranges(fd, child, r, 3, ROOT_FLAGS));
	for (i = 0; i < 3; i++) {
		CHECK(r[i].id > (i ? r[i - 1].id : 0), "id %d", i);
		CHECK(r[i].start == addr + i * 4 * page_size &&
		      r[i].end == r[i].start + 3 * page_size, "range %d", i);
	}
	CHECK(vm_pin_pages(child) == 9, "VmPin %ld", vm_pin_pages(child));
	CHECK(mgr_list(fd, child, info, 8) == 3, "not listed");
	n = record_types(m, types, 64);
	CHECK(n == 3 && types[0] == MEMPIN_EVENT_PIN &&
	      types[2] == MEMPIN_EVENT_PIN, "%d records", n);
	for (i = 0; i < 3; i++)
		CHECK_OK(mgr_unpin(fd, r[i].id));
	record_types(m, types, 64);

	/* The last range overlaps the first: EEXIST, a refusal only. */
	r[2].addr = r[0].addr + page_size;
	CHECK_ERRNO(mgr_pin_ranges(fd, child, r, 3, ROOT_FLAGS), EEXIST);
	/* Not mapped: EFAULT. */
	r[2].addr = page_size;
	CHECK_ERRNO(mgr_pin_ranges(fd, child, r, 3, ROOT_FLAGS), EFAULT);
	/* Over the target's limit at the second range: ENOMEM. */
	CHECK_OK(prlimit(child, RLIMIT_MEMLOCK,
			 &(struct rlimit){ 4 * page_size, 4 * page_size },
			 NULL));
	r[2].addr = r[1].addr + 4 * page_size;
	CHECK_ERRNO(mgr_pin_ranges(fd, child, r, 3, MEMPIN_PIN_ROOT), ENOMEM);
	n = record_types(m, types, 64);
	CHECK(n == 3 && types[0] == MEMPIN_EVENT_REFUSE &&
	      types[1] == MEMPIN_EVENT_REFUSE &&
	      types[2] == MEMPIN_EVENT_REFUSE, "%d records, not 3 refusals", n);
	CHECK(vm_pin_pages(child) == 0, "VmPin %ld", vm_pin_pages(child));
	CHECK(mgr_list(fd, child, info, 8) == 0, "a refused range listed");

	/* Ranges that cannot be written back: pinned, then taken back unseen. */
	ro = mmap(NULL, page_size, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(ro != MAP_FAILED, "mmap");
	memcpy(ro, r, 2 * sizeof(*r));
	CHECK_OK(mprotect(ro, page_size, PROT_READ));
	CHECK_ERRNO(mgr_pin_ranges(fd, child, ro, 2, ROOT_FLAGS), EFAULT);
	CHECK_ERRNO(mgr_pin_ranges(fd, child, NULL, 2, ROOT_FLAGS), EFAULT);
	CHECK(record_types(m, types, 64) == 0, "records of unseen pins");
	CHECK(vm_pin_pages(child) == 0, "VmPin %ld", vm_pin_pages(child));
	munmap(ro, page_size);

	/* Shapes. */
	CHECK_ERRNO(mgr_pin_ranges(fd, child, r, 0, ROOT_FLAGS), EINVAL);
	CHECK_ERRNO(mgr_pin_ranges(fd, child, r, MEMPIN_RANGES_MAX + 1,
				   ROOT_FLAGS), EINVAL);
	p.pid = child;
	p.flags = ROOT_FLAGS | MEMPIN_PIN_RANGES;
	p.ranges = (uintptr_t)r;
	p.nr_ranges = 1;
	p.addr = addr;
	p.length = page_size;
	CHECK_ERRNO(ioctl(fd, MEMPIN_PIN, &p), EINVAL);
	p.flags = ROOT_FLAGS;
	CHECK_ERRNO(ioctl(fd, MEMPIN_PIN, &p), EINVAL);
	p.nr_ranges = 0;
	p.ranges = 0;
	p.reserved = 1;
	CHECK_ERRNO(ioctl(fd, MEMPIN_PIN, &p), EINVAL);

	end_target(child);
	close(fd);
	close(m);
	CHECK(foll_pin_balance() == before, "foll_pin off by %lld",
	      foll_pin_balance() - before);
}

static int remapping;

/* Unmaps and maps again the page at @p until told to stop. */
static void *remap_rounds(void *p)
{
	while (__atomic_load_n(&remapping, __ATOMIC_ACQUIRE)) {
		munmap(p, page_size);
		if (mmap(p, page_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
			break;
		memset(p, 1, page_size);
	}
	return NULL;
}

/*
 * A range unmapped while the later ranges of its request are pinned, the
 * request then refused: its pin is taken back and no record names it, not
 * even its detach.
 */
static void test_ranges_refused_name_no_detached_pin(void)
{
	long long before = foll_pin_balance();
	char *a = map_anon(page_size), *b;
	int m = open_dev(), fd = open_dev(), i, n, refused = 0, other = 0;
	struct mempin_range r[3];
	struct mempin_event ev[64];
	pthread_t t;

	/* Small pages, so that the middle range takes a while to pin. */
	b = mmap(NULL, 4096 * page_size, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(b != MAP_FAILED, "mmap");
	CHECK_OK(madvise(b, 4096 * page_size, MADV_NOHUGEPAGE));
	memset(b, 1, 4096 * page_size);
	CHECK_OK(fcntl(m, F_SETFL, O_NONBLOCK));
	memset(r, 0, sizeof(r));
	r[0].addr = (uintptr_t)a;
	r[0].length = page_size;
	r[1].addr = (uintptr_t)b;
	r[1].length = 4096 * page_size;
	r[2].addr = page_size;		/* never mapped: EFAULT */
	r[2].length = page_size;
	__atomic_store_n(&remapping, 1, __ATOMIC_RELEASE);
	CHECK_OK(pthread_create(&t, NULL, remap_rounds, a));
	/*
	 * EFAULT for the third range, or ENOMEM when the kernel could not
	 * migrate a page of the first out of ZONE_MOVABLE for the long-term
	 * pin because it was being unmapped: refused either way.
	 */
	for (i = 0; i < 40; i++) {
		errno = 0;
		n = mgr_pin_ranges(fd, getpid(), r, 3, ROOT_FLAGS);
		CHECK(n == -1 && (errno == EFAULT || errno == ENOMEM),
		      "returned %d errno %d", n, errno);
	}
	__atomic_store_n(&remapping, 0, __ATOMIC_RELEASE);
	pthread_join(t, NULL);
	while ((n = read_events(m, ev, 64)) > 0)
		for (i = 0; i < n; i++) {
			if (ev[i].type == MEMPIN_EVENT_REFUSE &&
			    (ev[i].error == EFAULT ||
			     (ev[i].error == ENOMEM &&
			      ev[i].reason == MEMPIN_REASON_MIGRATION)))
				refused++;
			else
				other++;
		}
	CHECK(refused == 40 && other == 0, "%d refusals, %d other records",
	      refused, other);
	CHECK(vm_pin_pages(0) == 0, "VmPin %ld", vm_pin_pages(0));
	close(fd);
	close(m);
	munmap(a, page_size);
	munmap(b, 4096 * page_size);
	CHECK(foll_pin_balance() == before, "foll_pin off by %lld",
	      foll_pin_balance() - before);
}

/* A manager's file does not see records from before it was opened. */
static void test_events_start_at_open_and_gap_when_behind(void)
{
	char *buf = map_anon(page_size);
	struct mempin_event ev[16];
	int fd = open_dev(), m, k, n;
	uint64_t first;

	CHECK_OK(pin(fd, buf, page_size));
	CHECK_OK(unpin(fd, buf, page_size));
	m = open_dev();
	CHECK_OK(fcntl(m, F_SETFL, O_NONBLOCK));
	CHECK_ERRNO(read(m, ev, sizeof(ev)), EAGAIN);
	first = changes(m) + 1;
	/* Fall behind by more than the ring keeps. */
	for (k = 0; k < MEMPIN_EVENTS_KEPT; k++) {
		pin(fd, buf, page_size);
		unpin(fd, buf, page_size);
	}
	n = read_events(m, ev, 16);
	CHECK(n == 16 && ev[0].seq > first + MEMPIN_EVENTS_KEPT - 1,
	      "first seq %llu, opened at %llu", (unsigned long long)ev[0].seq,
	      (unsigned long long)first);
	close(m);
	close(fd);
	munmap(buf, page_size);
}

/* A blocking read waits for the next record; a signal ends the wait. */
static void alarm_handler(int sig)
{
	(void)sig;
}

static void test_events_read_blocks_until_a_change(void)
{
	char *buf = map_anon(page_size);
	struct sigaction sa = { .sa_handler = alarm_handler };
	struct mempin_event ev;
	int m = open_dev(), fd = open_dev();
	pid_t child;

	sigaction(SIGALRM, &sa, NULL);
	alarm(1);
	CHECK_ERRNO(read(m, &ev, sizeof(ev)), EINTR);
	child = fork();
	if (child == 0) {
		usleep(200000);
		_exit(pin(fd, buf, page_size) ? 1 : 0);
	}
	CHECK(read(m, &ev, sizeof(ev)) == sizeof(ev) &&
	      ev.type == MEMPIN_EVENT_PIN && ev.pid == child, "blocking read");
	waitpid(child, NULL, 0);
	close(fd);
	close(m);
	munmap(buf, page_size);
}

/* Only a file opened with CAP_SYS_ADMIN reads records. */
static void unprivileged_reads_no_events(void)
{
	struct mempin_event ev;
	struct pollfd pfd;
	int fd;

	drop_to_nobody();
	fd = open_dev();
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	CHECK_ERRNO(read(fd, &ev, sizeof(ev)), EPERM);
	CHECK(poll(&pfd, 1, 0) == 0, "POLLIN for an unprivileged file");
	close(fd);
}

static void test_events_are_for_managers_only(void)
{
	CHECK(in_child(unprivileged_reads_no_events) == 0, "child failed");
}

/* A version 2 caller still lists, with its shorter entries. */
static void test_list_keeps_the_version_2_layout(void)
{
	char *buf = map_anon(page_size);
	unsigned char raw[2 * MEMPIN_PIN_INFO_SIZE_V2 + 8];
	struct mempin_list l = {
		.argsz = offsetof(struct mempin_list, entry_size),
		.pid = getpid(), .count = 2, .entries = (uintptr_t)raw,
	};
	int fd = open_dev(), m = open_dev();
	struct mempin_pin_info info;

	memset(raw, 0xa5, sizeof(raw));
	CHECK_OK(pin(fd, buf, page_size));
	CHECK_OK(ioctl(m, MEMPIN_LIST, &l));
	memcpy(&info, raw, MEMPIN_PIN_INFO_SIZE_V2);
	CHECK(l.count == 1 && info.pid == getpid() && info.pages == 1 &&
	      raw[MEMPIN_PIN_INFO_SIZE_V2] == 0xa5, "v2 listing");
	l.argsz = sizeof(l);
	l.entry_size = 7;
	CHECK_ERRNO(ioctl(m, MEMPIN_LIST, &l), EINVAL);
	close(m);
	close(fd);
	munmap(buf, page_size);
}

struct test {
	const char *name;
	test_fn fn;
};

#define T(fn) { #fn, fn }
/*
 * MEMPIN_QUERY_PFNS on the frames @pfns[@n]: returns how many read as
 * pinned, -1 on error; the states in @states.
 */
static int query_pfns(int fd, const uint64_t *pfns, uint8_t *states, int n)
{
	struct mempin_pfns q = {
		.argsz = sizeof(q), .pfns = (uintptr_t)pfns,
		.states = (uintptr_t)states, .count = n,
	};

	if (ioctl(fd, MEMPIN_QUERY_PFNS, &q))
		return -1;
	return q.count == (uint32_t)n ? (int)q.pinned : -1;
}

/* How many of @n pages at @buf the kernel reports pinned, by anyone. */
static int pinned_frames(int fd, const char *buf, int n)
{
	uint64_t pfns[64];
	uint8_t states[64];
	int i, pinned;

	for (i = 0; i < n; i++)
		pfns[i] = pagemap_pfn((uintptr_t)buf + i * page_size);
	pinned = query_pfns(fd, pfns, states, n);
	for (i = 0; i < n && pinned >= 0; i++)
		if (!(states[i] & MEMPIN_PFN_ONLINE))
			return -1;
	return pinned;
}

/* The per-frame test sees this module's pins and io_uring's alike. */
static void test_query_pfns_sees_every_pinner(void)
{
	struct io_uring_params params = { 0 };
	char *buf = map_anon(16 * page_size);
	struct iovec iov = { buf, 16 * page_size };
	int fd = open_dev(), ring;

	madvise(buf, 16 * page_size, MADV_NOHUGEPAGE);
	CHECK(pinned_frames(fd, buf, 16) == 0, "pinned before any pin");
	CHECK_OK(pin(fd, buf, 16 * page_size));
	CHECK(pinned_frames(fd, buf, 16) == 16, "a seed pin not seen");
	CHECK_OK(unpin(fd, buf, 16 * page_size));
	CHECK(pinned_frames(fd, buf, 16) == 0, "pinned after unpin");

	ring = syscall(__NR_io_uring_setup, 4, &params);
	CHECK(ring >= 0, "io_uring_setup: %s", strerror(errno));
	CHECK_OK(syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS,
			 &iov, 1));
	CHECK(pinned_frames(fd, buf, 16) == 16, "io_uring's buffer not seen");
	CHECK_OK(syscall(__NR_io_uring_register, ring,
			 IORING_UNREGISTER_BUFFERS, NULL, 0));
	CHECK(pinned_frames(fd, buf, 16) == 0, "pinned after unregister");
	close(ring);
	close(fd);
	munmap(buf, 16 * page_size);
}

/* Ranges, bounds and bad arguments of MEMPIN_QUERY_PFNS. */
static void test_query_pfns_bounds_and_errors(void)
{
	char *buf = map_anon(4 * page_size);
	uint64_t far = 1ULL << 50, pfn;
	uint8_t *states = calloc(65536 + 64, 1);
	struct mempin_pfns q = {
		.argsz = sizeof(q), .flags = MEMPIN_PFNS_RANGE,
		.states = (uintptr_t)states, .count = 65536 + 64,
	};
	int fd = open_dev();

	CHECK_OK(pin(fd, buf, page_size));
	/* After the pin: a page of ZONE_MOVABLE moved out to be pinned. */
	pfn = pagemap_pfn((uintptr_t)buf);
	q.first = pfn;
	/* A range: clamped to 65536 frames, the pinned page among them. */
	CHECK_OK(ioctl(fd, MEMPIN_QUERY_PFNS, &q));
	CHECK(q.count == 65536, "count %u", q.count);
	CHECK(q.pinned >= 1, "pinned %u", q.pinned);
	CHECK(states[0] == (MEMPIN_PFN_ONLINE | MEMPIN_PFN_PINNED),
	      "state %#x", states[0]);
	/* A frame past memory is no online page; nothing is refused for it. */
	CHECK(query_pfns(fd, &far, states, 1) == 0 && states[0] == 0,
	      "far frame %#x", states[0]);
	q.first = ~0ULL - 2;
	q.count = 8;
	CHECK_ERRNO(ioctl(fd, MEMPIN_QUERY_PFNS, &q), EINVAL);
	q.flags = 2;
	CHECK_ERRNO(ioctl(fd, MEMPIN_QUERY_PFNS, &q), EINVAL);
	q.flags = 0;
	q.pfns = 16;
	CHECK_ERRNO(ioctl(fd, MEMPIN_QUERY_PFNS, &q), EFAULT);
	q.flags = MEMPIN_PFNS_RANGE;
	q.first = pfn;
	q.states = 16;
	CHECK_ERRNO(ioctl(fd, MEMPIN_QUERY_PFNS, &q), EFAULT);
	CHECK_OK(unpin(fd, buf, page_size));
	free(states);
	close(fd);
	munmap(buf, 4 * page_size);
}

/* Field 22 of /proc/PID/stat: the start time in clock ticks. */
static unsigned long long proc_start_ticks(pid_t pid)
{
	unsigned long long ticks = 0;
	char path[64], line[1024], *p;
	FILE *f;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(line, sizeof(line), f) ? strrchr(line, ')') : NULL;
	for (i = 0; p && i < 20; i++)
		p = strchr(p + 1, ' ');
	if (p)
		ticks = strtoull(p + 1, NULL, 10);
	fclose(f);
	return ticks;
}

/* Write @pid and a newline to @path; true if it took it. */
static bool write_text(const char *path, pid_t pid)
{
	char text[32];
	int fd = open(path, O_WRONLY), n;
	bool ok;

	if (fd < 0)
		return false;
	n = snprintf(text, sizeof(text), "%d\n", pid);
	ok = write(fd, text, n) == n;
	close(fd);
	return ok;
}

/* The path of /proc/PID/cgroup's "0::" line, or "" */
static void proc_cgroup(pid_t pid, char *path, size_t size)
{
	char name[64], line[4096];
	FILE *f;

	path[0] = 0;
	snprintf(name, sizeof(name), "/proc/%d/cgroup", pid);
	f = fopen(name, "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(path, size, "%s", line + 3);
	}
	if (f)
		fclose(f);
}

static void in_user_namespace(void)
{
	if (unshare(CLONE_NEWUSER))
		_exit(1);
}

static void not_dumpable(void)
{
	prctl(PR_SET_DUMPABLE, 0);
}

/*
 * A child that runs @prepare, says so through a pipe and waits to be
 * killed; returns its pid once it is ready.
 */
static pid_t fork_held(void (*prepare)(void))
{
	int p[2];
	char c = 0;
	pid_t child;

	if (pipe(p))
		return -1;
	child = fork();
	if (child == 0) {
		prepare();
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1)
		child = -1;
	close(p[0]);
	return child;
}

static void end_held(pid_t child)
{
	if (child > 0) {
		kill(child, SIGKILL);
		waitpid(child, NULL, 0);
	}
}

static void *sleep_a_while(void *arg)
{
	__atomic_store_n((pid_t *)arg, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	pause();
	return NULL;
}

/* MEMPIN_PROCESS gives what /proc/PID/stat, status and limits give. */
static void test_process_figures_match_proc(void)
{
	struct io_uring_params params = { 0 };
	struct rlimit saved, unlimited = { RLIM_INFINITY, RLIM_INFINITY };
	char *buf = map_anon(8 * page_size);
	struct iovec iov = { buf, 8 * page_size };
	long ticks_per_second = sysconf(_SC_CLK_TCK);
	struct mempin_process q;
	struct mempin_pin p;
	pid_t tid = 0;
	pthread_t thread;
	uint64_t addr;
	pid_t child = spawn_target(16, &addr, 65534), gone;
	char want[4096], path[4096];
	siginfo_t info;
	pid_t other;
	bool moved;
	int fd = open_dev(), ring;

	CHECK_OK(mgr_process(fd, child, &q));
	CHECK(q.tgid == child && q.pinned_bytes == 0, "tgid %d, pinned %llu",
	      q.tgid, (unsigned long long)q.pinned_bytes);
	CHECK(q.uid == 65534 && q.euid == 65534 && q.suid == 65534 &&
	      q.gid == 65534 && q.egid == 65534 && q.sgid == 65534 &&
	      q.cgroup_length == 0, "uids %u %u %u gids %u %u %u cgroup_length %u",
	      q.uid, q.euid, q.suid, q.gid, q.egid, q.sgid, q.cgroup_length);
	CHECK(q.state == MEMPIN_PROCESS_DUMPABLE, "state %#x", q.state);
	CHECK(q.start_time_ns / (1000000000ULL / ticks_per_second) ==
	      proc_start_ticks(child), "start %llu ns, /proc %llu ticks",
	      (unsigned long long)q.start_time_ns, proc_start_ticks(child));
	/*
	 * The cgroup path, as /proc/PID/cgroup's "0::" line has it: in a
	 * cgroup of its own where cgroup v2 lets the test make one.
	 */
	moved = mkdir("/sys/fs/cgroup/mempin-test", 0755) == 0 &&
		write_text("/sys/fs/cgroup/mempin-test/cgroup.procs", child);
	proc_cgroup(child, want, sizeof(want));
	CHECK(!moved || !strcmp(want, "/mempin-test"), "/proc says %s", want);
	CHECK_OK(mgr_process_cgroup(fd, child, &q, path, sizeof(path)));
	CHECK(q.cgroup_length == strlen(want) && !strcmp(path, want),
	      "cgroup %s (%u), /proc %s", path, q.cgroup_length, want);
	/* Without room for its NUL nothing is copied; the length says why. */
	memset(path, 'x', sizeof(path));
	CHECK_OK(mgr_process_cgroup(fd, child, &q, path, strlen(want)));
	CHECK(q.cgroup_length == strlen(want) && path[0] == 'x',
	      "cgroup_length %u, first byte %c", q.cgroup_length, path[0]);
	CHECK_ERRNO(mgr_process_cgroup(fd, child, &q, (char *)8, 4096), EFAULT);
	if (moved) {
		write_text("/sys/fs/cgroup/cgroup.procs", child);
		rmdir("/sys/fs/cgroup/mempin-test");
	}
	CHECK_OK(mgr_pin(fd, child, addr, 5 * page_size, 0, ROOT_FLAGS, &p));
	CHECK_OK(mgr_process(fd, child, &q));
	CHECK(q.pinned_bytes == 5 * (uint64_t)page_size &&
	      vm_pin_pages(child) == 5, "pinned %llu, VmPin %ld pages",
	      (unsigned long long)q.pinned_bytes, vm_pin_pages(child));
	CHECK_OK(mgr_unpin(fd, p.id));

	/* Another pinner's charge is counted; a thread names its process. */
	ring = syscall(__NR_io_uring_setup, 4, &params);
	CHECK(ring >= 0, "io_uring_setup: %s", strerror(errno));
	CHECK_OK(syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS,
			 &iov, 1));
	pthread_create(&thread, NULL, sleep_a_while, &tid);
	while (!__atomic_load_n(&tid, __ATOMIC_ACQUIRE))
		usleep(1000);
	CHECK_OK(mgr_process(fd, tid, &q));
	CHECK(q.tgid == getpid() && q.pinned_bytes == 8 * (uint64_t)page_size,
	      "tgid %d, pinned %llu", q.tgid,
	      (unsigned long long)q.pinned_bytes);
	pthread_cancel(thread);
	pthread_join(thread, NULL);
	close(ring);

	/* The soft RLIMIT_MEMLOCK, and none as MEMPIN_UNLIMITED. */
	getrlimit(RLIMIT_MEMLOCK, &saved);
	CHECK_OK(mgr_process(fd, getpid(), &q));
	CHECK(q.memlock_limit == (saved.rlim_cur == RLIM_INFINITY ?
				  MEMPIN_UNLIMITED : saved.rlim_cur),
	      "limit %llu", (unsigned long long)q.memlock_limit);
	CHECK_OK(setrlimit(RLIMIT_MEMLOCK, &unlimited));
	CHECK_OK(mgr_process(fd, getpid(), &q));
	CHECK(q.memlock_limit == MEMPIN_UNLIMITED, "limit %llu",
	      (unsigned long long)q.memlock_limit);
	CHECK_OK(setrlimit(RLIMIT_MEMLOCK, &saved));

	/* Root here is root; root of a user namespace of its own is not. */
	CHECK_OK(mgr_process(fd, getpid(), &q));
	CHECK(q.state == (MEMPIN_PROCESS_ADMIN | MEMPIN_PROCESS_DUMPABLE) &&
	      q.uid == getuid() && q.euid == geteuid(), "state %#x uid %u",
	      q.state, q.uid);
	other = fork_held(in_user_namespace);
	CHECK_OK(mgr_process(fd, other, &q));
	CHECK(!(q.state & MEMPIN_PROCESS_ADMIN), "state %#x", q.state);
	end_held(other);
	other = fork_held(not_dumpable);
	CHECK_OK(mgr_process(fd, other, &q));
	CHECK(q.state == MEMPIN_PROCESS_ADMIN, "state %#x", q.state);
	end_held(other);

	/* No address space, no process, bad arguments. */
	gone = fork();
	if (gone == 0)
		_exit(0);
	CHECK_OK(waitid(P_PID, gone, &info, WEXITED | WNOWAIT));
	CHECK_ERRNO(mgr_process(fd, gone, &q), ESRCH);	/* a zombie */
	waitpid(gone, NULL, 0);
	CHECK_ERRNO(mgr_process(fd, gone, &q), ESRCH);
	CHECK_ERRNO(mgr_process(fd, 2, &q), ESRCH);	/* kthreadd */
	CHECK_ERRNO(mgr_process(fd, -1, &q), ESRCH);
	q.argsz = sizeof(q);
	q.flags = 1;
	CHECK_ERRNO(ioctl(fd, MEMPIN_PROCESS, &q), EINVAL);
	CHECK_ERRNO(ioctl(fd, MEMPIN_PROCESS, NULL), EFAULT);
	end_target(child);
	close(fd);
	munmap(buf, 8 * page_size);
}

static const struct test tests[] = {
	T(test_device_node_is_0666_misc),
	T(test_pin_unpin_is_charged_to_vmpin),
	T(test_unaligned_range_pins_every_touched_page),
	T(test_bad_ranges_are_refused_and_pin_nothing),
	T(test_overlapping_pin_is_eexist),
	T(test_unpin_of_unknown_range_is_enoent),
	T(test_close_unpins_everything),
	T(test_twenty_threads_pin_unpin_one_container),
	T(test_memlock_limit_refuses_unprivileged_user),
	T(test_root_with_cap_ipc_lock_passes_memlock),
	T(test_manager_pins_another_process),
	T(test_manager_target_exit_releases_pins),
	T(test_self_pins_released_at_exit_with_container_open),
	T(test_manager_reports_detached_after_munmap),
	T(test_manager_detached_after_madv_dontneed_and_mremap),
	T(test_manager_not_detached_by_fork_or_mprotect),
	T(test_manager_refused_without_cap_sys_admin),
	T(test_manager_checks_requester_and_target_limit),
	T(test_manager_bad_arguments),
	T(test_version_reports_abi),
	T(test_module_limit_is_enomem),
	T(test_garbage_ioctls_pin_nothing),
	T(test_manager_pin_list_read_unpin_race),
	T(test_target_exits_while_listed),
	T(test_close_races_with_pin),
	T(test_thp_pin_reports_huge_pages),
	T(test_read_pages_as_runs),
	T(test_module_limit_defaults_to_half_of_ram),
	T(test_thp_fork_keeps_pin_attached),
	T(test_partial_mprotect_of_thp_keeps_pin_attached),
	T(test_pageout_keeps_pin_attached),
	T(test_zap_racing_the_pin_is_seen),
	T(test_shared_file_pages_are_refused),
	T(test_manager_pins_another_process_thp_and_file),
	T(test_manager_pins_another_process_thp_then_small_pages),
	T(test_user_limit_spans_processes),
	T(test_user_limit_spans_manager_pins),
	T(test_ptrace_rule_guards_other_processes),
	T(test_large_pin_drops_the_target_lock_between_chunks),
	T(test_killed_manager_leaves_nothing_pinned),
	T(test_limits_are_checked_before_allocating),
	T(test_manager_pins_outlive_the_managers_file),
	T(test_ids_are_unique_machine_wide),
	T(test_seed_pin_is_listed_and_revocable),
	T(test_rmmod_refused_while_the_ledger_holds_a_pin),
	T(test_events_record_each_change),
	T(test_events_start_at_open_and_gap_when_behind),
	T(test_events_read_blocks_until_a_change),
	T(test_events_are_for_managers_only),
	T(test_list_keeps_the_version_2_layout),
	T(test_query_pfns_sees_every_pinner),
	T(test_query_pfns_bounds_and_errors),
	T(test_process_figures_match_proc),
	T(test_pin_checks_start_time),
	T(test_unpin_races_the_pin_it_takes),
	T(test_manager_pins_ranges_all_or_none),
	T(test_ranges_refused_name_no_detached_pin),
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
