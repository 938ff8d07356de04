// SPDX-License-Identifier: GPL-2.0
/*
 * Random ioctls against /dev/mempinfd, interleaved with valid pins and
 * unpins: random and near-valid request numbers, sizes, struct contents
 * and argument pointers (NULL, unmapped, read-only, kernel, misaligned,
 * straddling the end of a mapping). Every answer must be 0 or one of the
 * errnos the interface documents; every checkpoint takes back the manager
 * pins it made (they belong to their targets, not to the container), closes
 * the container and checks that VmPin and the foll_pin counters are back.
 *
 * Usage: mempinfd_fuzz [-n CALLS] [-s SEED] [-u UID]
 *   -u: drop to this uid (and its gid) first, as an unprivileged caller.
 * Prints TAP: one line per checkpoint group and a summary of the calls.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "mempin_test.h"

#define ARENA_PAGES	64
#define MAX_PINS	32
#define CHECKPOINT	2000

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* xorshift64*: fast, and a seed replays a run. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static long page_size;
static char *arena;		/* ARENA_PAGES read-write pages */
static char *ro_page;		/* PROT_READ */
static char *edge;		/* last page before a PROT_NONE guard page */
static char *unmapped;		/* an address with nothing mapped */
static pid_t child;		/* a second process to pin as manager */

struct own_pin {
	uint64_t addr, size;
};

static struct own_pin pins[MAX_PINS];
static int npins;
static long long calls, successes, lost, errs[4096];

static const unsigned long known_cmds[] = {
	MEM_CMD_PIN, MEM_CMD_UNPIN, MEMPIN_GET_VERSION, MEMPIN_PIN,
	MEMPIN_UNPIN, MEMPIN_LIST, MEMPIN_READ_PAGES, MEMPIN_PROCESS,
};

/* The errnos the interface may answer with. */
static int expected_errno(int e)
{
	switch (e) {
	case EINVAL: case EFAULT: case ENOMEM: case EEXIST: case ENOENT:
	case ESRCH: case EACCES: case EPERM: case ENOTTY: case E2BIG:
	case EINTR:
		return 1;
	}
	return 0;
}

static int unexpected;

static long do_ioctl(int fd, unsigned long cmd, void *arg)
{
	long r;

	errno = 0;
	r = ioctl(fd, cmd, arg);
	calls++;
	if (r == 0) {
		successes++;
	} else {
		if (errno >= 0 && errno < 4096)
			errs[errno]++;
		if (!expected_errno(errno) && unexpected++ < 10)
			printf("#   unexpected errno %d (%s) for cmd %#lx\n",
			       errno, strerror(errno), cmd);
	}
	return r;
}

/* An argument pointer: mostly a buffer of random bytes, sometimes bad. */
static void *random_pointer(unsigned char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = rnd();
	switch (below(16)) {
	case 0: return NULL;
	case 1: return unmapped;
	case 2: return ro_page;
	case 3: return (void *)0xffff888000000000ULL;
	case 4: return buf + 1 + below(7);		/* misaligned */
	case 5: return edge + page_size - below(16);	/* straddles */
	default: return buf;
	}
}

/* A user address for a range: in our arena, elsewhere, or anywhere. */
static uint64_t random_address(void)
{
	switch (below(8)) {
	case 0: return rnd();
	case 1: return (uint64_t)(uintptr_t)ro_page;
	case 2: return (uint64_t)(uintptr_t)unmapped;
	case 3: return (uint64_t)(uintptr_t)edge + below(page_size);
	default: return (uint64_t)(uintptr_t)arena +
			below(ARENA_PAGES * page_size);
	}
}

static uint64_t random_size(void)
{
	switch (below(8)) {
	case 0: return 0;
	case 1: return rnd();
	case 2: return UINT64_MAX - below(page_size);
	default: return 1 + below(8 * page_size);
	}
}

/* Fill a manager struct: random fields, argsz usually right. */
static void shape_manager(void *p, size_t size)
{
	uint32_t *words = p;

	if (below(4))
		words[0] = size;			/* argsz */
	if (below(2))
		words[1] = below(4) ? 0 : rnd();	/* flags */
}

static void random_call(int fd)
{
	uint64_t words[128];	/* 1 KiB, aligned for any struct */
	unsigned char *buf = (unsigned char *)words;
	unsigned long cmd;
	void *arg;

	switch (below(6)) {
	case 0:
		cmd = rnd();
		break;
	case 1:
		/* 'M' type, any number, any size and direction. */
		cmd = _IOC(below(4), 'M', below(32), below(512));
		break;
	default:
		cmd = known_cmds[below(sizeof(known_cmds) / sizeof(known_cmds[0]))];
		if (!below(8))
			cmd ^= 1UL << (16 + below(14));	/* a wrong size */
		break;
	}
	arg = random_pointer(buf, sizeof(words));
	if (arg == buf) {
		switch (_IOC_NR(cmd)) {
		case 0x11: {				/* MEMPIN_PIN */
			struct mempin_pin *p = (void *)buf;

			shape_manager(p, sizeof(*p));
			p->pid = below(3) ? (below(2) ? getpid() : child) : (int32_t)rnd();
			p->requester_uid = below(2) ? 0 : rnd();
			p->requester_gid = below(4) ? 0 : rnd();
			p->addr = random_address();
			p->length = random_size();
			if (!below(4)) {
				/* Several ranges, all or none. */
				struct mempin_range *r = (void *)(buf + 768);
				uint32_t i, n = 1 + below(4);

				p->flags = MEMPIN_PIN_RANGES |
					   (below(2) ? MEMPIN_PIN_ROOT : 0);
				if (below(4))
					p->addr = p->length = 0;
				p->ranges = (uint64_t)(uintptr_t)random_pointer(
					(void *)r, 0);
				p->nr_ranges = below(8) ? n : rnd();
				p->reserved = below(8) ? 0 : rnd();
				for (i = 0; i < 4; i++) {
					r[i].addr = random_address();
					r[i].length = random_size();
				}
			}
			break;
		}
		case 0x12: case 0x10: case 0x13: case 0x14: {
			struct mempin_list *l = (void *)buf;

			shape_manager(buf, 48);
			if (_IOC_NR(cmd) == 0x13) {
				l->pid = below(2) ? 0 : getpid();
				l->count = below(8);
				l->entries = (uint64_t)(uintptr_t)random_pointer(
					buf + 128, 0);
			}
			break;
		}
		case 0x16: {				/* MEMPIN_PROCESS */
			struct mempin_process *q = (void *)buf;

			shape_manager(q, sizeof(*q));
			q->pid = below(3) ? (below(2) ? getpid() : child) : (int32_t)rnd();
			if (below(2)) {
				q->cgroup = (uint64_t)(uintptr_t)random_pointer(
					buf + 512, 256);
				q->cgroup_size = below(4) ? 256 : rnd();
			}
			break;
		}
		case 0: case 1: {
			struct mem_pin_address *a = (void *)buf;

			a->addr = random_address();
			a->size = random_size();
			break;
		}
		}
	}
	do_ioctl(fd, cmd, arg);
}

/* A valid pin of the arena, or an unpin of one we hold. */
static void valid_call(int fd)
{
	struct mem_pin_address a;

	if (npins && below(2)) {
		int i = below(npins);

		a.addr = pins[i].addr;
		a.size = pins[i].size;
		if (do_ioctl(fd, MEM_CMD_UNPIN, &a) == 0) {
			pins[i] = pins[--npins];
		} else if (errno == ENOENT) {
			/*
			 * A random MEM_CMD_UNPIN whose range widens to the same
			 * pages took it first: the interface allows that.
			 */
			pins[i] = pins[--npins];
			lost++;
		} else {
			printf("#   unpin of a held pin failed: %s\n",
			       strerror(errno));
			unexpected++;
		}
		return;
	}
	if (npins == MAX_PINS)
		return;
	a.addr = (uint64_t)(uintptr_t)arena + below(ARENA_PAGES) * page_size;
	a.size = (1 + below(4)) * page_size;
	if (a.addr + a.size > (uint64_t)(uintptr_t)arena + ARENA_PAGES * page_size)
		return;
	if (do_ioctl(fd, MEM_CMD_PIN, &a) == 0) {
		pins[npins++] = (struct own_pin){ a.addr, a.size };
	} else if (errno != EEXIST && errno != ENOMEM) {
		printf("#   valid pin failed: %s\n", strerror(errno));
		unexpected++;
	}
}

/*
 * Unpin the manager pins of this process and of the child: they outlive
 * the container. Returns how many, or -1 if the ledger could not be read.
 */
static int release_manager_pins(int fd)
{
	pid_t pids[2] = { getpid(), child };
	struct mempin_pin_info info[64];
	int i, k, n, released = 0;

	for (k = 0; k < 2; k++) {
		do {
			struct mempin_list l = {
				.argsz = sizeof(l), .pid = pids[k], .count = 64,
				.entries = (uintptr_t)info,
				.entry_size = sizeof(info[0]),
			};

			if (ioctl(fd, MEMPIN_LIST, &l))
				return errno == EPERM ? 0 : -1;
			n = l.count;
			for (i = 0; i < n; i++) {
				struct mempin_unpin u = {
					.argsz = sizeof(u), .id = info[i].id,
				};

				if (info[i].via != MEMPIN_VIA_MANAGER)
					continue;
				if (ioctl(fd, MEMPIN_UNPIN, &u) && errno != ENOENT)
					return -1;
				released++;
			}
		} while (n == 64 && released);
	}
	return released;
}

int main(int argc, char **argv)
{
	long long n = 20000, done, base;
	uint64_t seed = 1;
	int opt, fd, group = 0, failed = 0;
	uid_t uid = 0;
	int drop = 0;

	while ((opt = getopt(argc, argv, "n:s:u:")) != -1) {
		switch (opt) {
		case 'n':
			n = strtoll(optarg, NULL, 0);
			break;
		case 's':
			seed = strtoull(optarg, NULL, 0);
			break;
		case 'u':
			uid = strtoul(optarg, NULL, 0);
			drop = 1;
			break;
		default:
			fprintf(stderr, "usage: %s [-n CALLS] [-s SEED] [-u UID]\n",
				argv[0]);
			return 2;
		}
	}
	rng_state = seed ? seed : 1;
	page_size = getpagesize();
	base = foll_pin_balance();

	if (drop && (setgid(uid) || setuid(uid))) {
		perror("setuid");
		return 1;
	}
	child = fork();
	if (child == 0) {
		for (;;)
			pause();
	}
	arena = mmap(NULL, ARENA_PAGES * page_size, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ro_page = mmap(NULL, page_size, PROT_READ,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	edge = mmap(NULL, 2 * page_size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unmapped = mmap(NULL, page_size, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (arena == MAP_FAILED || ro_page == MAP_FAILED ||
	    edge == MAP_FAILED || unmapped == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	mprotect(edge + page_size, page_size, PROT_NONE);
	munmap(unmapped, page_size);
	memset(arena, 1, ARENA_PAGES * page_size);

	printf("TAP version 13\n# seed %llu, %lld calls, uid %d\n",
	       (unsigned long long)seed, n, (int)getuid());
	for (done = 0; done < n; group++) {
		long long stop = done + CHECKPOINT < n ? done + CHECKPOINT : n;
		long vmpin;

		fd = open(DEVICE, O_RDWR);
		if (fd < 0) {
			perror(DEVICE);
			return 1;
		}
		npins = 0;
		while (done < stop) {
			if (below(3))
				random_call(fd);
			else
				valid_call(fd);
			done++;
		}
		if (release_manager_pins(fd) < 0) {
			printf("#   cannot take back the manager pins: %s\n",
			       strerror(errno));
			unexpected++;
		}
		close(fd);
		/* The container's close releases its seed pins. */
		vmpin = vm_pin_pages(0);
		if (vmpin != 0) {
			printf("not ok %d - calls up to %lld: VmPin %ld pages after close\n",
			       group + 1, done, vmpin);
			failed = 1;
		} else if (unexpected) {
			printf("not ok %d - calls up to %lld: %d unexpected answers\n",
			       group + 1, done, unexpected);
			failed = 1;
		} else {
			printf("ok %d - calls up to %lld: VmPin 0 after close\n",
			       group + 1, done);
		}
		unexpected = 0;
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	if (!drop) {
		long long now = foll_pin_balance();

		printf("%s %d - foll_pin balance back (%lld -> %lld)\n",
		       now == base ? "ok" : "not ok", ++group, base, now);
		failed |= now != base;
	}
	printf("# %lld calls: %lld succeeded (%lld held pins taken by random unpins)",
	       calls, successes, lost);
	for (opt = 1; opt < 4096; opt++)
		if (errs[opt])
			printf(", %s %lld", strerrorname_np(opt), errs[opt]);
	printf("\n1..%d\n", group);
	return failed;
}
