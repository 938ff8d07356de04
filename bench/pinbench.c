// SPDX-License-Identifier: GPL-2.0
/*
 * mempin's benchmarks, run in the VM guest by mount-scripts/bench. Each
 * subcommand repeats a measurement and prints one line per figure:
 *   row=NAME size=BYTES op=OP reps=N median_ns=M min_ns=A max_ns=B
 * (or row=NAME ... value=V unit=U for single figures). The rows a figure
 * is compared with take turns with it in rounds (struct series).
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

/*
 * The times of one row, gathered over the rounds in which the rows it is
 * compared with take turns with it: a slow spell of the VM (TCG's times
 * drift by a third within a minute) then falls on every row of the
 * comparison alike, not on whichever ran during it. Kept in memory shared
 * with a forked pinner (bench_manager_remote()). @pin holds a row's only
 * time when it has one (a write, a read).
 */
#define SERIES_MAX 512

struct series {
	int n, error;
	uint64_t pin[SERIES_MAX], unpin[SERIES_MAX];
};

static struct series *series_new(void)
{
	struct series *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
				MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (s == MAP_FAILED)
		die("mmap");
	return s;
}

static void series_add(struct series *s, uint64_t pin, uint64_t unpin)
{
	if (s->n < SERIES_MAX) {
		s->pin[s->n] = pin;
		s->unpin[s->n++] = unpin;
	}
}

/* Report @s as @row's pin and unpin (sorting them), and free it. */
static void series_report(const char *row, uint64_t size, struct series *s)
{
	if (s->error)
		printf("row=%s size=%llu op=pin reps=0 error=%d\n", row,
		       (unsigned long long)size, s->error);
	else {
		report(row, size, "pin", s->pin, s->n);
		report(row, size, "unpin", s->unpin, s->n);
	}
	munmap(s, sizeof(*s));
}

/*
 * The rounds in which the rows of one size take turns, and each row's
 * pins and unpins per round: 105, 21 and 5 in all.
 */
static void rounds_for(uint64_t size, int *rounds, int *reps)
{
	if (size <= (2U << 20)) {
		*rounds = 5;
		*reps = 21;
	} else if (size <= (64U << 20)) {
		*rounds = 3;
		*reps = 7;
	} else {
		*rounds = 5;
		*reps = 1;
	}
}

/* Raw MEM_CMD_PIN / MEM_CMD_UNPIN of the caller's memory. */
static void bench_raw(struct series *s, char *buf, uint64_t size, int reps)
{
	struct mem_pin_address a = { (uintptr_t)buf, size };
	int fd = open("/dev/mempinfd", O_RDWR), i;
	uint64_t t0, tp;

	for (i = 0; i < reps; i++) {
		t0 = now_ns();
		if (ioctl(fd, MEM_CMD_PIN, &a))
			die("MEM_CMD_PIN");
		tp = now_ns() - t0;
		t0 = now_ns();
		if (ioctl(fd, MEM_CMD_UNPIN, &a))
			die("MEM_CMD_UNPIN");
		series_add(s, tp, now_ns() - t0);
	}
	close(fd);
}

/* The manager ioctls of @pid's @buf, as mempinfs calls them. */
static void bench_manager_of(struct series *s, pid_t pid, char *buf, uint64_t size, int reps)
{
	int fd = open("/dev/mempinfd", O_RDWR), i;
	uint64_t t0, tp;

	for (i = 0; i < reps; i++) {
		struct mempin_pin p = { .argsz = sizeof(p), .pid = pid,
			.flags = MEMPIN_PIN_NO_RLIMIT | MEMPIN_PIN_ROOT,
			.addr = (uintptr_t)buf,
			.length = size };
		struct mempin_unpin u = { .argsz = sizeof(u) };

		t0 = now_ns();
		if (ioctl(fd, MEMPIN_PIN, &p))
			die("MEMPIN_PIN");
		tp = now_ns() - t0;
		u.id = p.id;
		t0 = now_ns();
		if (ioctl(fd, MEMPIN_UNPIN, &u))
			die("MEMPIN_UNPIN");
		series_add(s, tp, now_ns() - t0);
	}
	close(fd);
}

/* The manager ioctls of the caller's own memory. */
static void bench_manager(struct series *s, char *buf, uint64_t size, int reps)
{
	bench_manager_of(s, getpid(), buf, size, reps);
}

/*
 * The manager ioctls of another process's memory, as the tree makes every
 * pin: a child pins its parent's @buf (kept out of the child with
 * MADV_DONTFORK, so that no page is shared copy-on-write). The kernel's
 * remote path alone, without the server.
 */
static void bench_manager_remote(struct series *s, char *buf, uint64_t size, int reps)
{
	pid_t parent = getpid(), child;
	int status;

	if (madvise(buf, size, MADV_DONTFORK))
		die("MADV_DONTFORK");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		bench_manager_of(s, parent, buf, size, reps);
		_exit(0);
	}
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		die("the remote pinner");
	if (madvise(buf, size, MADV_DOFORK))
		die("MADV_DOFORK");
}

/* io_uring buffer registration: the kernel's own accounted long-term pin. */
static void bench_io_uring(struct series *s, char *buf, uint64_t size, int reps)
{
	struct io_uring_params params = { 0 };
	struct iovec iov = { buf, size };
	int ring = syscall(__NR_io_uring_setup, 4, &params), i;
	uint64_t t0, tp;

	if (ring < 0) {
		s->error = errno;
		return;
	}
	for (i = 0; i < reps; i++) {
		t0 = now_ns();
		if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_BUFFERS, &iov, 1))
			die("IORING_REGISTER_BUFFERS");
		tp = now_ns() - t0;
		t0 = now_ns();
		if (syscall(__NR_io_uring_register, ring, IORING_UNREGISTER_BUFFERS, NULL, 0))
			die("IORING_UNREGISTER_BUFFERS");
		series_add(s, tp, now_ns() - t0);
	}
	close(ring);
}

/* Through the tree: write the range to MP/PID/pin, rm MP/PID/NAME. */
static void bench_tree(struct series *s, const char *mp, char *buf, uint64_t size, int reps)
{
	char ctl[256], file[256], line[64];
	uintptr_t a = (uintptr_t)buf;
	int fd, i, len;
	uint64_t t0, tp;

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
		tp = now_ns() - t0;
		t0 = now_ns();
		if (unlink(file))
			die("unlink pin file");
		series_add(s, tp, now_ns() - t0);
	}
	close(fd);
}

/*
 * One small write to a control file, then the unlink of @rm_path, each
 * timed: ours pins 4 KiB and removes its pin file, nullfs just replies to
 * both (@rm_path, a file of its /dir, stays). The write's time goes to
 * @s->pin, the unlink's to @s->unpin: the same path walk, LOOKUP and UNLINK
 * on both servers, and the GETATTR of the directory that the last unlink
 * made stale (default_permissions on both).
 */
static void bench_small_write(struct series *s, const char *ctl, const char *rm_path,
			      char *buf, int reps)
{
	char line[64];
	int fd = open(ctl, O_WRONLY), i, len;
	uint64_t t0, t;

	if (fd < 0)
		die(ctl);
	len = snprintf(line, sizeof(line), "%lx+4K\n", (unsigned long)buf);
	for (i = 0; i < reps; i++) {
		t0 = now_ns();
		if (write(fd, line, len) != len)
			die("write");
		t = now_ns() - t0;
		t0 = now_ns();
		if (unlink(rm_path))
			die("unlink");
		series_add(s, t, now_ns() - t0);
	}
	close(fd);
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

/* One server's stat, open+read+close of a small file, and full readdir. */
struct fsops_target {
	const char *row, *status, *dir;
	struct series *stat_read, *readdir;
	int entries;
};

/*
 * @reps stat, open+read+close of @f's status and readdir of its directory:
 * the stat's time to @f->stat_read->pin, the open's to its unpin.
 */
static void bench_fsops(struct fsops_target *f, int reps)
{
	char data[4096];
	struct stat st;
	uint64_t t0, ts, tr;
	int i;

	for (i = 0; i < reps; i++) {
		DIR *d;
		int fd;

		t0 = now_ns();
		if (stat(f->status, &st))
			die("stat");
		ts = now_ns() - t0;
		t0 = now_ns();
		fd = open(f->status, O_RDONLY);
		if (fd < 0 || read(fd, data, sizeof(data)) <= 0)
			die("read");
		close(fd);
		tr = now_ns() - t0;
		series_add(f->stat_read, ts, tr);
		t0 = now_ns();
		d = opendir(f->dir);
		if (!d)
			die("opendir");
		f->entries = 0;
		while (readdir(d))
			f->entries++;
		closedir(d);
		series_add(f->readdir, now_ns() - t0, 0);
	}
}

/*
 * fsops NAME STATUS DIR...: each server's rows, the servers taking turns
 * in 3 rounds of 67 (201 each in all).
 */
static void fsops_main(int argc, char **argv)
{
	int count = argc / 3, i, round;
	struct fsops_target *f = calloc(count, sizeof(*f));

	for (i = 0; i < count; i++) {
		f[i].row = argv[3 * i];
		f[i].status = argv[3 * i + 1];
		f[i].dir = argv[3 * i + 2];
		f[i].stat_read = series_new();
		f[i].readdir = series_new();
	}
	for (round = 0; round < 3; round++)
		for (i = 0; i < count; i++)
			bench_fsops(&f[i], 67);
	for (i = 0; i < count; i++) {
		report(f[i].row, 0, "stat", f[i].stat_read->pin, f[i].stat_read->n);
		report(f[i].row, 0, "open_read_close", f[i].stat_read->unpin, f[i].stat_read->n);
		report(f[i].row, f[i].entries, "readdir", f[i].readdir->pin, f[i].readdir->n);
		munmap(f[i].stat_read, sizeof(struct series));
		munmap(f[i].readdir, sizeof(struct series));
	}
	free(f);
}

/* Read a whole file with 128 KiB reads: its time to @s->pin; its bytes. */
static uint64_t bench_readall(struct series *s, const char *path)
{
	static char data[128 << 10];
	uint64_t t0, bytes = 0;
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		die(path);
	t0 = now_ns();
	while ((n = read(fd, data, sizeof(data))) > 0)
		bytes += n;
	series_add(s, now_ns() - t0, 0);
	close(fd);
	return bytes;
}

/* readall ROW PATH...: each file read whole 5 times, the files taking turns. */
static void readall_main(int argc, char **argv)
{
	int count = argc / 2, i, round;
	struct series **s = calloc(count, sizeof(*s));
	uint64_t *bytes = calloc(count, sizeof(*bytes));

	for (i = 0; i < count; i++)
		s[i] = series_new();
	for (round = 0; round < 5; round++)
		for (i = 0; i < count; i++)
			bytes[i] = bench_readall(s[i], argv[2 * i + 1]);
	for (i = 0; i < count; i++) {
		report(argv[2 * i], bytes[i], "read", s[i]->pin, s[i]->n);
		munmap(s[i], sizeof(struct series));
	}
	free(s);
	free(bytes);
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
			struct series *raw = series_new(), *manager = series_new(),
				      *remote = series_new(), *uring = series_new(),
				      *tree = series_new();
			int rounds, reps, round;

			rounds_for(sizes[i], &rounds, &reps);
			for (round = 0; round < rounds; round++) {
				bench_raw(raw, buf, sizes[i], reps);
				bench_manager(manager, buf, sizes[i], reps);
				bench_manager_remote(remote, buf, sizes[i], reps);
				bench_io_uring(uring, buf, sizes[i], reps);
				bench_tree(tree, argv[2], buf, sizes[i], reps);
			}
			series_report("raw_ioctl", sizes[i], raw);
			series_report("manager_ioctl", sizes[i], manager);
			series_report("manager_remote", sizes[i], remote);
			series_report("io_uring_register", sizes[i], uring);
			series_report("tree", sizes[i], tree);
		}
	} else if (!strcmp(cmd, "remote")) {
		/* The kernel paths alone: the caller's own pages and another's. */
		char *buf = buffer(1 << 30, 0);

		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			struct series *raw = series_new(), *remote = series_new();
			int rounds, reps, round;

			rounds_for(sizes[i], &rounds, &reps);
			for (round = 0; round < rounds; round++) {
				bench_raw(raw, buf, sizes[i], reps);
				bench_manager_remote(remote, buf, sizes[i], reps);
			}
			series_report("raw_ioctl", sizes[i], raw);
			series_report("manager_remote", sizes[i], remote);
		}
	} else if (!strcmp(cmd, "thp") && argc <= 3) {
		/* THP and small pages of each size, raw and through the tree. */
		char *huge = buffer(64 << 20, 1), *small = buffer(64 << 20, 0);
		static const char *const names[][3] = {
			{ "thp_2m", "small_pages_2m", "tree_thp_2m" },
			{ "thp_64m", "small_pages_64m", "tree_thp_64m" },
		};

		for (i = 0; i < 2; i++) {
			uint64_t size = i ? 64 << 20 : 2 << 20;
			struct series *thp = series_new(), *pages = series_new(),
				      *tree = series_new();
			int rounds, reps, round;

			rounds_for(size, &rounds, &reps);
			for (round = 0; round < rounds; round++) {
				bench_raw(thp, huge, size, reps);
				bench_raw(pages, small, size, reps);
				if (argc == 3)
					bench_tree(tree, argv[2], huge, size, reps);
			}
			series_report(names[i][0], size, thp);
			series_report(names[i][1], size, pages);
			if (argc == 3)
				series_report(names[i][2], size, tree);
			else
				munmap(tree, sizeof(*tree));
		}
	} else if (!strcmp(cmd, "write") && argc == 4) {
		/* Ours and nullfs's, taking turns in 3 rounds of 167. */
		char *buf = buffer(2 << 20, 0), ctl[512], dir[256], pinfile[512];
		char nullctl[512], nullrm[512];
		struct series *tree = series_new(), *nullfs = series_new();
		int round;

		snprintf(dir, sizeof(dir), "%s/%d", argv[2], getpid());
		snprintf(ctl, sizeof(ctl), "%s/pin", dir);
		snprintf(pinfile, sizeof(pinfile), "%s/%08lx-%08lx", dir,
			 (unsigned long)buf, (unsigned long)buf + 4096);
		snprintf(nullctl, sizeof(nullctl), "%s/pin", argv[3]);
		/* nullfs's first file of /dir (bench/nullfs.c names them). */
		snprintf(nullrm, sizeof(nullrm), "%s/dir/7f3a1c000000-7f3a1c001000", argv[3]);
		for (round = 0; round < 3; round++) {
			bench_small_write(tree, ctl, pinfile, buf, 167);
			bench_small_write(nullfs, nullctl, nullrm, buf, 167);
		}
		report("tree_small_write", 4096, "write", tree->pin, tree->n);
		report("nullfs_write", 4096, "write", nullfs->pin, nullfs->n);
		report("tree_small_rm", 4096, "unlink", tree->unpin, tree->n);
		report("nullfs_unlink", 4096, "unlink", nullfs->unpin, nullfs->n);
	} else if (!strcmp(cmd, "events") && argc == 3) {
		char *buf = buffer(2 << 20, 0), ctl[512], dir[256], events[256];

		snprintf(dir, sizeof(dir), "%s/%d", argv[2], getpid());
		snprintf(ctl, sizeof(ctl), "%s/pin", dir);
		snprintf(events, sizeof(events), "%s/events", argv[2]);
		bench_events(events, ctl, dir, buf, 101);
	} else if (!strcmp(cmd, "fsops") && argc >= 5 && (argc - 2) % 3 == 0) {
		fsops_main(argc - 2, argv + 2);
	} else if (!strcmp(cmd, "readall") && argc >= 4 && argc % 2 == 0) {
		readall_main(argc - 2, argv + 2);
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
			"       fsops ROW STATUS DIR [ROW STATUS DIR]... | readall ROW FILE [ROW FILE]... |\n"
			"       scale MP N | seed N | hold MIB\n");
		return 2;
	}
	return 0;
}
