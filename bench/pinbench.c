// SPDX-License-Identifier: GPL-2.0
/*
 * mempin's benchmarks, run in the VM guest by mount-scripts/bench. Each
 * subcommand repeats a measurement and prints one line per figure:
 *   row=NAME size=BYTES op=OP reps=N median_ns=M min_ns=A max_ns=B
 * (or row=NAME ... value=V unit=U for single figures).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../kernel/include/uapi/linux/mempinfd.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *row, uint64_t size, const char *op,
		   uint64_t *t, int n)
{
	if (n <= 0) {
		printf("row=%s size=%llu op=%s reps=0 error=1\n", row,
		       (unsigned long long)size, op);
		return;
	}
	qsort(t, n, sizeof(*t), cmp_u64);
	printf("row=%s size=%llu op=%s reps=%d median_ns=%llu min_ns=%llu max_ns=%llu\n",
	       row, (unsigned long long)size, op, n,
	       (unsigned long long)t[n / 2], (unsigned long long)t[0],
	       (unsigned long long)t[n - 1]);
	fflush(stdout);
}

static void die(const char *what)
{
	fprintf(stderr, "pinbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* A touched buffer of @size bytes, 2 MiB-aligned; @thp asks for THP. */
static char *buffer(size_t size, int thp)
{
	size_t align = 2UL << 20;
	char *raw = mmap(NULL, size + align, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *p;

	if (raw == MAP_FAILED)
		die("mmap");
	p = (char *)(((uintptr_t)raw + align - 1) & ~(align - 1));
	madvise(p, size, thp ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	memset(p, 1, size);
	return p;
}

static int reps_for(uint64_t size)
{
	if (size <= (2U << 20))
		return 101;
	if (size <= (64U << 20))
		return 21;
	return 5;
}

/* Raw MEM_CMD_PIN / MEM_CMD_UNPIN of the caller's memory. */
static void bench_raw(const char *row, char *buf, uint64_t size, int reps)
{
	uint64_t *tp = calloc(reps, 8), *tu = calloc(reps, 8), t0;
	struct mem_pin_address a = { (uintptr_t)buf, size };
	int fd = open("/dev/mempinfd", O_RDWR), i, n = 0;

	for (i = 0; i < reps; i++) {
		t0 = now_ns();
		if (ioctl(fd, MEM_CMD_PIN, &a))
			die("MEM_CMD_PIN");
		tp[n] = now_ns() - t0;
		t0 = now_ns();
		if (ioctl(fd, MEM_CMD_UNPIN, &a))
			die("MEM_CMD_UNPIN");
		tu[n++] = now_ns() - t0;
	}
	report(row, size, "pin", tp, n);
	report(row, size, "unpin", tu, n);
	close(fd);
	free(tp);
	free(tu);
}

/* The manager ioctls of @pid's @buf, as mempinfs calls them, as @row. */
static void bench_manager_of(const char *row, pid_t pid, char *buf, uint64_t size, int reps)
{
	uint64_t *tp = calloc(reps, 8), *tu = calloc(reps, 8), t0;
	int fd = open("/dev/mempinfd", O_RDWR), i, n = 0;

	for (i = 0; i < reps; i++) {
		struct mempin_pin p = { .argsz = sizeof(p), .pid = pid,
			.flags = MEMPIN_PIN_NO_RLIMIT | MEMPIN_PIN_ROOT,
			.addr = (uintptr_t)buf,
			.length = size };
		struct mempin_unpin u = { .argsz = sizeof(u) };

		t0 = now_ns();
		if (ioctl(fd, MEMPIN_PIN, &p))
			die("MEMPIN_PIN");
		tp[n] = now_ns() - t0;
		u.id = p.id;
		t0 = now_ns();
		if (ioctl(fd, MEMPIN_UNPIN, &u))
			die("MEMPIN_UNPIN");
		tu[n++] = now_ns() - t0;
	}
	report(row, size, "pin", tp, n);
	report(row, size, "unpin", tu, n);
	close(fd);
	free(tp);
	free(tu);
}

/* The manager ioctls of the caller's own memory. */
static void bench_manager(char *buf, uint64_t size, int reps)
{
	bench_manager_of("manager_ioctl", getpid(), buf, size, reps);
}

/*
 * The manager ioctls of another process's memory, as the tree makes every
 * pin: a child pins its parent's @buf (kept out of the child with
 * MADV_DONTFORK, so that no page is shared copy-on-write). The kernel's
 * remote path alone, without the server.
 */
static void bench_manager_remote(char *buf, uint64_t size, int reps)
{
	pid_t parent = getpid(), child;
	int status;

	if (madvise(buf, size, MADV_DONTFORK))
		die("MADV_DONTFORK");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		bench_manager_of("manager_remote", parent, buf, size, reps);
		_exit(0);
	}
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		die("the remote pinner");
	if (madvise(buf, size, MADV_DOFORK))
		die("MADV_DOFORK");
}

/* io_uring buffer registration: the kernel's own accounted long-term pin. */
static void bench_io_uring(char *buf, uint64_t size, int reps)
{
	uint64_t *tp = calloc(reps, 8), *tu = calloc(reps, 8), t0;
	struct io_uring_params params = { 0 };
	struct iovec iov = { buf, size };
	int ring = syscall(__NR_io_uring_setup, 4, &params), i, n = 0;

	if (ring < 0) {
		printf("row=io_uring_register size=%llu op=pin reps=0 error=%d\n",
		       (unsigned long long)size, errno);
		return;
	}
	for (i = 0; i < reps; i++) {
		t0 = now_ns();
		if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1))
			die("IORING_REGISTER_BUFFERS");
		tp[n] = now_ns() - t0;
		t0 = now_ns();
		if (syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS, NULL, 0))
			die("IORING_UNREGISTER_BUFFERS");
		tu[n++] = now_ns() - t0;
	}
	report("io_uring_register", size, "pin", tp, n);
	report("io_uring_register", size, "unpin", tu, n);
	close(ring);
	free(tp);
	free(tu);
}

/* Through the tree: write the range to MP/PID/pin, rm MP/PID/NAME. */
static void bench_tree_row(const char *row, const char *mp, char *buf, uint64_t size, int reps)
{
	uint64_t *tp = calloc(reps, 8), *tu = calloc(reps, 8), t0;
	char ctl[256], file[256], line[64];
	uintptr_t a = (uintptr_t)buf;
	int fd, i, n = 0, len;

	snprintf(ctl, sizeof(ctl), "%s/%d/pin", mp, getpid());
	snprintf(file, sizeof(file), "%s/%d/%08lx-%08lx", mp, getpid(),
		 (unsigned long)a, (unsigned long)(a + size));
	len = snprintf(line, sizeof(line), "%lx+%llu\n", (unsigned long)a,
		       (unsigned long long)size);
	fd = open(ctl, O_WRONLY);
	if (fd < 0)
		die(ctl);
	for (i = 0; i < reps; i++) {
		t0 = now_ns();
		if (write(fd, line, len) != len)
			die("write pin");
		tp[n] = now_ns() - t0;
		t0 = now_ns();
		if (unlink(file))
			die("unlink pin file");
		tu[n++] = now_ns() - t0;
	}
	report(row, size, "pin", tp, n);
	report(row, size, "unpin", tu, n);
	close(fd);
	free(tp);
	free(tu);
}

static void bench_tree(const char *mp, char *buf, uint64_t size, int reps)
{
	bench_tree_row("tree", mp, buf, size, reps);
}

/* One small write to a control file: ours pins 4 KiB, nullfs just replies. */
static void bench_small_write(const char *row, const char *ctl, const char *rm_dir,
			      char *buf, int reps)
{
	uint64_t *t = calloc(reps, 8), t0;
	uintptr_t a = (uintptr_t)buf;
	char line[64], file[512];
	int fd = open(ctl, O_WRONLY), i, len;

	if (fd < 0)
		die(ctl);
	len = snprintf(line, sizeof(line), "%lx+4K\n", (unsigned long)a);
	snprintf(file, sizeof(file), "%s/%08lx-%08lx", rm_dir ? rm_dir : "",
		 (unsigned long)a, (unsigned long)(a + 4096));
	for (i = 0; i < reps; i++) {
		t0 = now_ns();
		if (write(fd, line, len) != len)
			die("write");
		t[i] = now_ns() - t0;
		if (rm_dir && unlink(file))
			die("unlink");
	}
	report(row, 4096, "write", t, reps);
	close(fd);
	free(t);
}

/* The events reader of bench_events: stamps each "pin PID " line. */
struct events_reader {
	int fd;
	char prefix[32];
	uint64_t *arrived;
	int reps, seen, ended;
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

static void *events_read(void *arg)
{
	struct events_reader *r = arg;
	char buf[8192];
	size_t used = 0;

	while (r->seen < r->reps) {
		ssize_t n = read(r->fd, buf + used, sizeof(buf) - 1 - used);
		uint64_t t = now_ns();
		char *line = buf, *nl;

		if (n <= 0)
			break;
		used += n;
		buf[used] = 0;
		while ((nl = strchr(line, '\n'))) {
			if (!strncmp(line, r->prefix, strlen(r->prefix))) {
				pthread_mutex_lock(&r->lock);
				if (r->seen < r->reps)
					r->arrived[r->seen++] = t;
				pthread_cond_signal(&r->cond);
				pthread_mutex_unlock(&r->lock);
			}
			line = nl + 1;
		}
		used -= line - buf;
		memmove(buf, line, used);
	}
	pthread_mutex_lock(&r->lock);
	r->ended = 1;		/* the writer stops waiting */
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

/*
 * How long a pin's line takes to reach a reader already waiting in
 * read() on @events, from the return of the write to @ctl that made it
 * (0 when it came first).
 */
static void bench_events(const char *events, const char *ctl, const char *dir, char *buf, int reps)
{
	struct events_reader r = { .reps = reps, .lock = PTHREAD_MUTEX_INITIALIZER,
				   .cond = PTHREAD_COND_INITIALIZER };
	uint64_t *t = calloc(reps, 8), *returned = calloc(reps, 8);
	uintptr_t a = (uintptr_t)buf;
	char line[64], file[512];
	int fd = open(ctl, O_WRONLY), i, len, done = 0;
	pthread_t reader;

	r.fd = open(events, O_RDONLY);
	r.arrived = calloc(reps, 8);
	if (fd < 0 || r.fd < 0)
		die("open");
	snprintf(r.prefix, sizeof(r.prefix), "pin %d ", getpid());
	len = snprintf(line, sizeof(line), "%lx+4K\n", (unsigned long)a);
	snprintf(file, sizeof(file), "%s/%08lx-%08lx", dir, (unsigned long)a, (unsigned long)(a + 4096));
	if (pthread_create(&reader, NULL, events_read, &r))
		die("pthread_create");
	usleep(100000);		/* the reader is waiting in read() */
	for (i = 0; i < reps; i++) {
		if (write(fd, line, len) != len)
			die("write");
		returned[i] = now_ns();
		pthread_mutex_lock(&r.lock);
		while (r.seen <= i && !r.ended)
			pthread_cond_wait(&r.cond, &r.lock);
		pthread_mutex_unlock(&r.lock);
		if (r.seen <= i)
			break;
		t[done] = r.arrived[i] > returned[i] ? r.arrived[i] - returned[i] : 0;
		done++;
		if (unlink(file))
			die("unlink");
		usleep(2000);	/* the reader waits again before the next pin */
	}
	report("events_latency", 4096, "pin_to_reader", t, done);
	/* Having seen every line, the reader has returned (else exit ends it). */
	if (done == reps)
		pthread_join(reader, NULL);
	close(r.fd);
	close(fd);
	free(r.arrived);
	free(returned);
	free(t);
}

/* stat, open+read+close of a small file, and a full readdir. */
static void bench_fsops(const char *row, const char *status, const char *dir, int reps)
{
	uint64_t *ts = calloc(reps, 8), *tr = calloc(reps, 8), *td = calloc(reps, 8), t0;
	char data[4096];
	struct stat st;
	int i, entries = 0;

	for (i = 0; i < reps; i++) {
		DIR *d;
		int fd;

		t0 = now_ns();
		if (stat(status, &st))
			die("stat");
		ts[i] = now_ns() - t0;
		t0 = now_ns();
		fd = open(status, O_RDONLY);
		if (fd < 0 || read(fd, data, sizeof(data)) <= 0)
			die("read");
		close(fd);
		tr[i] = now_ns() - t0;
		t0 = now_ns();
		d = opendir(dir);
		if (!d)
			die("opendir");
		entries = 0;
		while (readdir(d))
			entries++;
		closedir(d);
		td[i] = now_ns() - t0;
	}
	report(row, 0, "stat", ts, reps);
	report(row, 0, "open_read_close", tr, reps);
	report(row, entries, "readdir", td, reps);
	free(ts);
	free(tr);
	free(td);
}

/* Read a whole file with 128 KiB reads: bytes and time. */
static void bench_readall(const char *row, const char *path, int reps)
{
	uint64_t *t = calloc(reps, 8), t0, bytes = 0;
	static char data[128 << 10];
	int i;

	for (i = 0; i < reps; i++) {
		int fd = open(path, O_RDONLY);
		ssize_t n;

		if (fd < 0)
			die(path);
		bytes = 0;
		t0 = now_ns();
		while ((n = read(fd, data, sizeof(data))) > 0)
			bytes += n;
		t[i] = now_ns() - t0;
		close(fd);
	}
	report(row, bytes, "read", t, reps);
	free(t);
}

/* N pins of 4 KiB each through the tree: per-pin time, then unpin all. */
static void bench_scale(const char *mp, int count)
{
	char *buf = buffer((size_t)count * 8192, 0), ctl[256], line[64], file[256];
	uint64_t *t = calloc(count, 8), t0;
	int fd, i, len;

	snprintf(ctl, sizeof(ctl), "%s/%d/pin", mp, getpid());
	fd = open(ctl, O_WRONLY);
	if (fd < 0)
		die(ctl);
	for (i = 0; i < count; i++) {
		len = snprintf(line, sizeof(line), "%lx+4K\n",
			       (unsigned long)(buf + (size_t)i * 8192));
		t0 = now_ns();
		if (write(fd, line, len) != len)
			die("write");
		t[i] = now_ns() - t0;
	}
	close(fd);
	report("scale", count, "pin_each", t, count);
	printf("row=scale_ready count=%d pid=%d\n", count, getpid());
	fflush(stdout);
	/* The bench script lists and measures the server now; wait for it. */
	if (read(0, line, 1) < 0)
		die("stdin");
	for (i = 0; i < count; i++) {
		unsigned long a = (unsigned long)(buf + (size_t)i * 8192);

		snprintf(file, sizeof(file), "%s/%d/%08lx-%08lx", mp, getpid(), a, a + 4096);
		t0 = now_ns();
		if (unlink(file))
			die("unlink");
		t[i] = now_ns() - t0;
	}
	report("scale", count, "unpin_each", t, count);
	free(t);
}

/*
 * N pins of 4 KiB each through the seed interface (no server involved), one
 * page apart, held until a byte arrives on stdin; closing the device then
 * unpins them all. The ledger a server lists at its start.
 */
static void seed_pins(int count)
{
	char *buf = buffer((size_t)count * 8192, 0), byte;
	int fd = open("/dev/mempinfd", O_RDWR), i;

	if (fd < 0)
		die("/dev/mempinfd");
	for (i = 0; i < count; i++) {
		struct mem_pin_address a = {
			.addr = (uintptr_t)(buf + (size_t)i * 8192), .size = 4096,
		};

		if (ioctl(fd, MEM_CMD_PIN, &a))
			die("MEM_CMD_PIN");
	}
	printf("row=seed_ready count=%d pid=%d\n", count, getpid());
	fflush(stdout);
	if (read(0, &byte, 1) < 0)
		die("stdin");
	close(fd);
}

int main(int argc, char **argv)
{
	static const uint64_t sizes[] = { 4096, 2 << 20, 64 << 20, 1 << 30 };
	const char *cmd = argc > 1 ? argv[1] : "";
	unsigned int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(cmd, "pin") && argc == 3) {
		char *buf = buffer(1 << 30, 0);

		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			int reps = reps_for(sizes[i]);

			bench_raw("raw_ioctl", buf, sizes[i], reps);
			bench_manager(buf, sizes[i], reps);
			bench_manager_remote(buf, sizes[i], reps);
			bench_io_uring(buf, sizes[i], reps);
			bench_tree(argv[2], buf, sizes[i], reps);
		}
	} else if (!strcmp(cmd, "remote")) {
		/* The kernel paths alone: the caller's own pages and another's. */
		char *buf = buffer(1 << 30, 0);

		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			bench_raw("raw_ioctl", buf, sizes[i], reps_for(sizes[i]));
			bench_manager_remote(buf, sizes[i], reps_for(sizes[i]));
		}
	} else if (!strcmp(cmd, "thp") && argc <= 3) {
		char *huge = buffer(64 << 20, 1), *small = buffer(64 << 20, 0);

		bench_raw("thp_2m", huge, 2 << 20, 101);
		bench_raw("small_pages_2m", small, 2 << 20, 101);
		bench_raw("thp_64m", huge, 64 << 20, 21);
		bench_raw("small_pages_64m", small, 64 << 20, 21);
		if (argc == 3) {
			/* The same huge pages through the tree. */
			bench_tree_row("tree_thp_2m", argv[2], huge, 2 << 20, 101);
			bench_tree_row("tree_thp_64m", argv[2], huge, 64 << 20, 21);
		}
	} else if (!strcmp(cmd, "write") && argc == 4) {
		char *buf = buffer(2 << 20, 0), ctl[512], dir[256];

		snprintf(dir, sizeof(dir), "%s/%d", argv[2], getpid());
		snprintf(ctl, sizeof(ctl), "%s/pin", dir);
		bench_small_write("tree_small_write", ctl, dir, buf, 501);
		snprintf(ctl, sizeof(ctl), "%s/pin", argv[3]);
		bench_small_write("nullfs_write", ctl, NULL, buf, 501);
	} else if (!strcmp(cmd, "events") && argc == 3) {
		char *buf = buffer(2 << 20, 0), ctl[512], dir[256], events[256];

		snprintf(dir, sizeof(dir), "%s/%d", argv[2], getpid());
		snprintf(ctl, sizeof(ctl), "%s/pin", dir);
		snprintf(events, sizeof(events), "%s/events", argv[2]);
		bench_events(events, ctl, dir, buf, 101);
	} else if (!strcmp(cmd, "fsops") && argc == 5) {
		bench_fsops(argv[2], argv[3], argv[4], 201);
	} else if (!strcmp(cmd, "readall") && argc == 4) {
		bench_readall(argv[2], argv[3], 5);
	} else if (!strcmp(cmd, "scale") && argc == 4) {
		bench_scale(argv[2], atoi(argv[3]));
	} else if (!strcmp(cmd, "seed") && argc == 3) {
		seed_pins(atoi(argv[2]));
	} else if (!strcmp(cmd, "hold") && argc == 3) {
		/* Keep N MiB mapped for others to pin; print its address. */
		size_t size = strtoul(argv[2], NULL, 0) << 20;
		char *buf = buffer(size, 0);

		printf("%lx\n", (unsigned long)buf);
		fflush(stdout);
		pause();
	} else {
		fprintf(stderr, "usage: pinbench pin MP | remote | thp [MP] | write MP NULLFS | events MP |\n"
			"       fsops ROW STATUS DIR | readall ROW FILE | scale MP N | seed N | hold MIB\n");
		return 2;
	}
	return 0;
}
