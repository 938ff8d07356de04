/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * mempinfd: accounted, visible, revocable long-term memory pins.
 *
 * The module keeps one machine-wide ledger of every pin it holds, whichever
 * interface made it; pin ids are unique in it and never reused while the
 * module is loaded. Two interfaces share the device:
 *
 * - the seed interface (MEM_CMD_PIN, MEM_CMD_UNPIN), open to every
 *   process, pins the caller's own memory. Each open of /dev/mempinfd is a
 *   container of such pins; closing its last reference unpins them;
 * - the manager interface (MEMPIN_*), CAP_SYS_ADMIN only, pins the memory
 *   of another process, lists, reads and unpins any pin of the ledger, and
 *   reads the ledger's change records (read(2) of struct mempin_event).
 *   Its pins belong to their target process, not to the manager's file:
 *   they last until MEMPIN_UNPIN or the target's exit. The mempinfs FUSE
 *   server is its user.
 *
 * A manager's MEMPIN_UNPIN of another container's seed pin revokes it: it
 * is unpinned and uncharged at once, the holder's file polls POLLPRI, and
 * the holder's MEM_CMD_UNPIN of that range then fails with ENOENT (which
 * also clears the POLLPRI it caused).
 *
 * Every pin is charged to the target's mm->pinned_vm (VmPin) and checked
 * against its RLIMIT_MEMLOCK; for a requester without CAP_IPC_LOCK it is
 * also charged to the user's locked_vm, as io_uring charges it, so that
 * one user's pins across all its processes stay within that limit. The
 * module parameter max_pinned_pages caps the machine (default: half of
 * RAM). Only anonymous memory, shmem/tmpfs and hugetlbfs are pinned; a
 * shared mapping of a file the filesystem writes back is refused (EFAULT).
 *
 * Every structure has explicit sizes; the manager structures start with
 * @argsz (the size user space passes, for growth: larger structures must
 * have a zero tail, and more than a page is refused with E2BIG) and @flags
 * (unknown bits are refused with EINVAL).
 */
#ifndef _UAPI_LINUX_MEMPINFD_H
#define _UAPI_LINUX_MEMPINFD_H

#include <linux/ioctl.h>
#include <linux/types.h>

/**
 * struct mem_pin_address - a range of the caller's own memory
 * @addr: start address; need not be page-aligned
 * @size: length in bytes; every page touched by [@addr, @addr + @size)
 *	is pinned. Zero, or a range that wraps, is refused with EINVAL.
 *
 * Argument of MEM_CMD_PIN and MEM_CMD_UNPIN. UNPIN takes the same @addr
 * and @size as the PIN it undoes.
 */
struct mem_pin_address {
	__u64 addr;
	__u64 size;
};

/**
 * MEM_CMD_PIN - pin a range of the caller's memory, writable, long-term
 *
 * Errors: EINVAL (zero or wrapping size), EEXIST (overlaps a pin of this
 * container), EFAULT (not mapped, not writable, or a shared mapping of a
 * file the filesystem writes back), ENOMEM (over RLIMIT_MEMLOCK, for this
 * process or for all of its user's pins, without CAP_IPC_LOCK; or over the
 * module's limit), EINTR (a fatal signal arrived while pinning). On any
 * error nothing stays pinned.
 */
#define MEM_CMD_PIN	_IOW('M', 0, struct mem_pin_address)

/**
 * MEM_CMD_UNPIN - unpin a range pinned by MEM_CMD_PIN in this container
 *
 * Errors: EINVAL (zero or wrapping size), ENOENT (no pin with exactly
 * this range in this container, or it was revoked).
 */
#define MEM_CMD_UNPIN	_IOW('M', 1, struct mem_pin_address)

/* The version of the manager interface reported by MEMPIN_GET_VERSION. */
#define MEMPIN_ABI_VERSION	7

/**
 * struct mempin_version - what the module offers
 * @argsz: in: sizeof(struct mempin_version)
 * @version: out: MEMPIN_ABI_VERSION
 * @page_size: out: the page size pins are counted in
 * @max_pinned_pages: out: the module's machine-wide limit, 0 for none
 * @pinned_pages: out: pages pinned now through this module, machine-wide
 * @changes: out: the sequence number of the ledger's last change record
 *	(struct mempin_event), machine-wide: when it moves, something changed
 */
struct mempin_version {
	__u32 argsz;
	__u32 version;
	__u64 page_size;
	__u64 max_pinned_pages;
	__u64 pinned_pages;
	__u64 changes;
};

/**
 * MEMPIN_GET_VERSION - report the interface version, the module's limits
 * and the ledger's change counter
 *
 * Open to every caller.
 */
#define MEMPIN_GET_VERSION	_IOWR('M', 0x10, struct mempin_version)

/*
 * Flags of struct mempin_pin, set by the manager for what it knows of its
 * requester.
 * MEMPIN_PIN_NO_RLIMIT: the requester has CAP_IPC_LOCK: do not check the
 * target's RLIMIT_MEMLOCK nor charge its user's locked_vm (the pin is
 * still charged to the target's pinned_vm and to the module's limit).
 * MEMPIN_PIN_ROOT: the requester has CAP_SYS_ADMIN: skip the check of its
 * credentials against the target's.
 * MEMPIN_PIN_START_TIME: the target must have started at @start_time
 * (since version 5).
 * MEMPIN_PIN_RANGES: pin the @nr_ranges ranges at @ranges, all or none,
 * instead of @addr and @length (since version 7).
 */
#define MEMPIN_PIN_NO_RLIMIT	(1U << 0)
#define MEMPIN_PIN_ROOT		(1U << 1)
#define MEMPIN_PIN_START_TIME	(1U << 2)
#define MEMPIN_PIN_RANGES	(1U << 3)
#define MEMPIN_PIN_FLAGS	(MEMPIN_PIN_NO_RLIMIT | MEMPIN_PIN_ROOT | \
				 MEMPIN_PIN_START_TIME | MEMPIN_PIN_RANGES)

/*
 * The most ranges one MEMPIN_PIN_RANGES request may hold: a quarter of the
 * change records kept (MEMPIN_EVENTS_KEPT), so a reader keeps up with one.
 */
#define MEMPIN_RANGES_MAX	1024

/**
 * struct mempin_range - one range of a MEMPIN_PIN_RANGES request
 * @addr: in: start address; need not be page-aligned
 * @length: in: length in bytes
 * @id: out: the pin's id in the ledger
 * @start: out: the pinned range's first byte (page-aligned)
 * @end: out: the pinned range's end (page-aligned, exclusive)
 */
struct mempin_range {
	__u64 addr;
	__u64 length;
	__u64 id;
	__u64 start;
	__u64 end;
};

/**
 * struct mempin_pin - pin a range of another process
 * @argsz: in: sizeof(struct mempin_pin)
 * @flags: in: MEMPIN_PIN_*
 * @pid: in: the target process (any thread of it), in the caller's pid
 *	namespace; resolved once, the pin follows that process
 * @requester_uid: in: the user on whose behalf the pin is made, in the
 *	caller's user namespace
 * @requester_pid: in: the process on whose behalf the pin is made (recorded)
 * @requester_gid: in: the requester's group
 * @addr: in: start address; need not be page-aligned
 * @length: in: length in bytes
 * @id: out: the pin's id in the ledger, never reused while loaded
 * @start: out: the pinned range's first byte (page-aligned)
 * @end: out: the pinned range's end (page-aligned, exclusive)
 * @start_time: in, with MEMPIN_PIN_START_TIME: when the target started, in
 *	clock ticks since boot as /proc/PID/stat's starttime gives it (struct
 *	mempin_process's @start_time_ns divided by NSEC_PER_SEC / USER_HZ).
 *	A process that started at another time, such as a later one given
 *	the same pid, is refused with ESRCH: the check is made on the process
 *	the pin then follows, so no pid reuse can slip in between a caller's
 *	own look at the process and its pin. Absent (zero) in the 64 bytes of
 *	versions 2 to 4.
 * @ranges: in, with MEMPIN_PIN_RANGES: the user address of @nr_ranges
 *	struct mempin_range; @addr and @length are then zero, and @id, @start
 *	and @end are left as they were (each range has its own). Since 7.
 * @nr_ranges: in, with MEMPIN_PIN_RANGES: 1 to MEMPIN_RANGES_MAX
 * @reserved: in: zero
 *
 * With MEMPIN_PIN_RANGES, the target is resolved and checked once and its
 * ranges are pinned in order, each as one pin of its own, all or none: the
 * pins stay out of sight (no listing, no change record, no unpin by id)
 * until every range is pinned and its id, start and end are written back,
 * then appear together, their change records in the order of @ranges. On
 * any error none of them was ever seen, and the refusal's change record,
 * if the module makes one, names the range refused. Ranges of one request
 * must not overlap one another (EEXIST).
 *
 * Unless MEMPIN_PIN_ROOT is set, the requester may pin the target only
 * when @requester_uid is the target's real, effective and saved uid,
 * @requester_gid its real, effective and saved gid, and the target is
 * dumpable (ptrace's read rule), checked against the same program as the
 * pinned address space.
 *
 * The pin belongs to the target: it lasts until MEMPIN_UNPIN or the
 * target's exit, whatever becomes of the caller's file. Pins made this way
 * do not overlap one another in one process (EEXIST); they may overlap the
 * process's own seed pins.
 *
 * Errors: those of MEM_CMD_PIN, plus ESRCH (no such process, or it is
 * exiting), EACCES (the requester may not pin the target), EPERM (the
 * caller lacks CAP_SYS_ADMIN); with MEMPIN_PIN_RANGES also EINVAL (@addr
 * or @length set, @nr_ranges out of bounds, @reserved set) and EFAULT
 * (@ranges cannot be read or written back).
 */
struct mempin_pin {
	__u32 argsz;
	__u32 flags;
	__s32 pid;
	__u32 requester_uid;
	__s32 requester_pid;
	__u32 requester_gid;
	__u64 addr;
	__u64 length;
	__u64 id;
	__u64 start;
	__u64 end;
	__u64 start_time;
	__u64 ranges;
	__u32 nr_ranges;
	__u32 reserved;
};

/** MEMPIN_PIN - pin a range of a process given by pid; CAP_SYS_ADMIN */
#define MEMPIN_PIN		_IOWR('M', 0x11, struct mempin_pin)

/**
 * struct mempin_unpin - unpin by id
 * @argsz: in: sizeof(struct mempin_unpin); 16 in version 2
 * @flags: in: 0
 * @id: in: the pin's id in the ledger
 * @requester_uid: in: the user on whose behalf it is unpinned, in the
 *	caller's user namespace (recorded in the change record); since 3
 * @requester_pid: in: the process on whose behalf (recorded); since 3
 */
struct mempin_unpin {
	__u32 argsz;
	__u32 flags;
	__u64 id;
	__u32 requester_uid;
	__s32 requester_pid;
};

/**
 * MEMPIN_UNPIN - unpin any pin of the ledger; CAP_SYS_ADMIN
 *
 * When it returns, the pages are unpinned and uncharged. A seed pin of
 * another container is revoked (its holder is told, see above). ENOENT
 * when the ledger has no such pin (or its process has exited).
 */
#define MEMPIN_UNPIN		_IOW('M', 0x12, struct mempin_unpin)

/* Flags of struct mempin_pin_info. */
#define MEMPIN_INFO_WRITABLE	(1U << 0) /* pinned for writing */
/*
 * The range no longer maps the pinned pages (unmapped, remapped, replaced);
 * a THP split, fork, mprotect, KSM or reclaim leave a pin attached. Set
 * shortly after the change: a worker compares the mappings.
 */
#define MEMPIN_INFO_DETACHED	(1U << 1)

/* Which interface made a pin (struct mempin_pin_info, struct mempin_event). */
#define MEMPIN_VIA_MANAGER	1 /* MEMPIN_PIN: belongs to the target */
#define MEMPIN_VIA_SEED		2 /* MEM_CMD_PIN: belongs to its container */

/**
 * struct mempin_pin_info - one pin, as MEMPIN_LIST reports it
 * @id: the pin's id
 * @start: first byte (page-aligned)
 * @end: end (page-aligned, exclusive)
 * @pages: pages pinned (and charged to the target's pinned_vm)
 * @huge_pages: of @pages, those inside a huge page or large folio
 * @pid: the target process (tgid, in the caller's pid namespace)
 * @flags: MEMPIN_INFO_*
 * @requester_uid: who asked for the pin
 * @requester_pid: which process asked for it
 * @pinned_at_ns: when the pin was made, CLOCK_REALTIME nanoseconds as of
 *	the last clock tick (CLOCK_REALTIME_COARSE)
 * @pin_duration_ns: how long pinning took, nanoseconds
 * @via: MEMPIN_VIA_*; since version 3
 * @holder_pid: for a seed pin, the process that made it and whose
 *	container holds it (in the caller's pid namespace; 0 once it is
 *	gone); 0 for a manager pin. Since version 3
 */
struct mempin_pin_info {
	__u64 id;
	__u64 start;
	__u64 end;
	__u64 pages;
	__u64 huge_pages;
	__s32 pid;
	__u32 flags;
	__u32 requester_uid;
	__s32 requester_pid;
	__u64 pinned_at_ns;
	__u64 pin_duration_ns;
	__u32 via;
	__s32 holder_pid;
};

/* The size of struct mempin_pin_info in version 2, before @via. */
#define MEMPIN_PIN_INFO_SIZE_V2	72

/**
 * struct mempin_list - list the pins of the ledger, in id order
 * @argsz: in: sizeof(struct mempin_list); 32 in version 2
 * @flags: in: 0
 * @pid: in: only pins of this process (tgid), or 0 for all
 * @count: in: room in @entries; out: entries filled
 * @after_id: in: list pins whose id is above this (0 to start)
 * @entries: in: user address of @count entries of @entry_size bytes
 * @entry_size: in: the size of struct mempin_pin_info the caller knows,
 *	at least MEMPIN_PIN_INFO_SIZE_V2 (0 means that size); fields beyond
 *	the module's are zeroed. Since version 3
 * @reserved: must be 0
 *
 * Call again with @after_id set to the last id returned until @count
 * comes back 0. @count above 4096 is treated as 4096.
 */
struct mempin_list {
	__u32 argsz;
	__u32 flags;
	__s32 pid;
	__u32 count;
	__u64 after_id;
	__u64 entries;
	__u32 entry_size;
	__u32 reserved;
};

/** MEMPIN_LIST - list pins; CAP_SYS_ADMIN */
#define MEMPIN_LIST		_IOWR('M', 0x13, struct mempin_list)

/* Zones in bits 0-3 of struct mempin_page_info's flags. */
#define MEMPIN_ZONE_MASK	0xfU
#define MEMPIN_ZONE_OTHER	0
#define MEMPIN_ZONE_DMA		1
#define MEMPIN_ZONE_DMA32	2
#define MEMPIN_ZONE_NORMAL	3
#define MEMPIN_ZONE_MOVABLE	4
#define MEMPIN_ZONE_DEVICE	5
/* The page is part of a huge page or large folio. */
#define MEMPIN_PAGE_HUGE	(1U << 4)

/**
 * struct mempin_page_info - one pinned page
 * @vaddr: its virtual address in the target
 * @pfn: its page frame number
 * @flags: MEMPIN_ZONE_* in MEMPIN_ZONE_MASK, MEMPIN_PAGE_HUGE
 * @nid: its NUMA node
 */
struct mempin_page_info {
	__u64 vaddr;
	__u64 pfn;
	__u32 flags;
	__s32 nid;
};

/**
 * struct mempin_page_run - pinned pages whose frames follow each other
 * @pfn: the first page's frame number; the next page's is @pfn + 1, ...
 * @npages: how many pages
 * @flags: MEMPIN_ZONE_* in MEMPIN_ZONE_MASK, MEMPIN_PAGE_HUGE, the same
 *	for each of them
 * @nid: their NUMA node
 * @reserved: 0
 *
 * The first run a MEMPIN_READ_PAGES call fills starts at its @first page,
 * each next one where the one before ends; page i of a pin is at the pin's
 * start + i * PAGE_SIZE. A THP's 512 pages are one run, or part of one.
 */
struct mempin_page_run {
	__u64 pfn;
	__u32 npages;
	__u32 flags;
	__s32 nid;
	__u32 reserved;
};

/* Flags of struct mempin_pages. */
#define MEMPIN_PAGES_RUNS	(1U << 0) /* @entries are mempin_page_run */
#define MEMPIN_PAGES_FLAGS	MEMPIN_PAGES_RUNS

/**
 * struct mempin_pages - read a pin's pages
 * @argsz: in: sizeof(struct mempin_pages)
 * @flags: in: 0, or MEMPIN_PAGES_RUNS
 * @id: in: the pin
 * @first: in: index of the first page wanted (0 is the page at start)
 * @count: in: room in @entries; out: entries filled (0 past the end)
 * @reserved: must be 0
 * @entries: in: user address of struct mempin_page_info[@count], or with
 *	MEMPIN_PAGES_RUNS of struct mempin_page_run[@count]
 *
 * @count above 65536 is treated as 65536; with MEMPIN_PAGES_RUNS the runs
 * of one call cover at most 65536 pages. ENOENT when the ledger has no
 * such pin.
 */
struct mempin_pages {
	__u32 argsz;
	__u32 flags;
	__u64 id;
	__u64 first;
	__u32 count;
	__u32 reserved;
	__u64 entries;
};

/** MEMPIN_READ_PAGES - read a pin's page list; CAP_SYS_ADMIN */
#define MEMPIN_READ_PAGES	_IOWR('M', 0x14, struct mempin_pages)

/* Bits of struct mempin_pfns's @states, one byte per page frame. */
#define MEMPIN_PFN_ONLINE	(1U << 0) /* an online page of memory */
#define MEMPIN_PFN_PINNED	(1U << 1) /* maybe DMA-pinned, by anyone */
#define MEMPIN_PFN_LARGE	(1U << 2) /* part of a large folio */

/* Flags of struct mempin_pfns. */
#define MEMPIN_PFNS_RANGE	(1U << 0) /* frames @first .. @first + @count - 1 */
#define MEMPIN_PFNS_FLAGS	MEMPIN_PFNS_RANGE

/**
 * struct mempin_pfns - which page frames are long-term pinned, by anyone
 * @argsz: in: sizeof(struct mempin_pfns)
 * @flags: in: MEMPIN_PFNS_RANGE, or 0 for the frames listed at @pfns
 * @first: in: with MEMPIN_PFNS_RANGE, the first frame asked for
 * @pfns: in: without MEMPIN_PFNS_RANGE, user address of __u64[@count],
 *	the frames asked for (as /proc/PID/pagemap gives them)
 * @states: in: user address of __u8[@count]; out: MEMPIN_PFN_* of each
 *	frame asked for, 0 for one that is not an online page
 * @count: in: frames asked for; out: frames answered
 * @pinned: out: frames answered with MEMPIN_PFN_PINNED
 *
 * The answer is the kernel's own test, folio_maybe_dma_pinned(): exact for
 * a page of a large folio (the folio's pin count, so every page of a
 * pinned large folio reads as pinned), a heuristic for a small page, which
 * reads as pinned with 1024 or more references. It covers every long-term
 * pinner (io_uring, RDMA, VFIO, this module), and is read without locks,
 * as /proc/kpagecount is: a page freed or split meanwhile may give a stale
 * answer. @count above 65536 is treated as 65536; a range that would wrap
 * past the last frame number is EINVAL.
 */
struct mempin_pfns {
	__u32 argsz;
	__u32 flags;
	__u64 first;
	__u64 pfns;
	__u64 states;
	__u32 count;
	__u32 pinned;
};

/** MEMPIN_QUERY_PFNS - which page frames are pinned; CAP_SYS_ADMIN */
#define MEMPIN_QUERY_PFNS	_IOWR('M', 0x15, struct mempin_pfns)

/* struct mempin_process's @memlock_limit when the limit is RLIM_INFINITY. */
#define MEMPIN_UNLIMITED	(~(__u64)0)

/*
 * Bits of struct mempin_process's @state.
 * MEMPIN_PROCESS_ADMIN: the task's effective capabilities hold
 * CAP_SYS_ADMIN, and its credentials belong to the caller's user namespace
 * (so it is root where the caller is, not only in a namespace of its own).
 * MEMPIN_PROCESS_DUMPABLE: its address space is dumpable by its own user
 * (get_dumpable() == SUID_DUMP_USER: not a setuid program, and it did not
 * clear PR_SET_DUMPABLE), as ptrace's read rule and /proc/PID/maps ask.
 */
#define MEMPIN_PROCESS_ADMIN	(1U << 0)
#define MEMPIN_PROCESS_DUMPABLE	(1U << 1)

/**
 * struct mempin_process - what /proc shows of a task and its pinning, in one call
 * @argsz: in: sizeof(struct mempin_process)
 * @flags: in: 0
 * @pid: in: the task (a process or any thread of it), in the caller's pid
 *	namespace
 * @tgid: out: its thread group, in the caller's pid namespace
 * @uid: out: its real uid, in the caller's user namespace (the overflow uid
 *	where it has none there), as the first of /proc/PID/status's Uid:
 * @euid: out: its effective uid, likewise
 * @suid: out: its saved uid, likewise
 * @gid: out: its real gid, likewise
 * @egid: out: its effective gid, likewise
 * @sgid: out: its saved gid, likewise
 * @state: out: MEMPIN_PROCESS_ADMIN, MEMPIN_PROCESS_DUMPABLE
 * @reserved: out: 0
 * @start_time_ns: out: when the task started, CLOCK_BOOTTIME nanoseconds
 *	(/proc/PID/stat's starttime): tells it from a later one that gets the
 *	same pid
 * @pinned_bytes: out: its mm's pinned_vm in bytes (VmPin), charged by
 *	every pinner: this module, io_uring, RDMA, VFIO
 * @memlock_limit: out: its soft RLIMIT_MEMLOCK in bytes, MEMPIN_UNLIMITED
 *	for none
 * @cgroup: in: a user buffer for its cgroup v2 path, as /proc/PID/cgroup's
 *	"0::" line gives it (relative to the caller's cgroup namespace),
 *	with its NUL; 0 for none
 * @cgroup_size: in: the size of @cgroup in bytes
 * @cgroup_length: out: the path's length without its NUL. When it is
 *	@cgroup_size or more, nothing was copied (ask again with more room);
 *	0 when there is no path to give (@cgroup 0, or it cannot be read).
 *
 * The figures /proc/PID/stat, status, limits and cgroup give, without
 * their text, and the credentials ptrace's read rule compares. Read
 * without the target's locks: each is a snapshot, as /proc's are. The
 * credentials are the task's own (a thread may differ from its process).
 * Errors: ESRCH (no such task, or it has no address space: a kernel
 * thread, or it has exited), EPERM (the caller lacks CAP_SYS_ADMIN),
 * EFAULT (@cgroup cannot be written), EINVAL (@flags). Since version 5.
 */
struct mempin_process {
	__u32 argsz;
	__u32 flags;
	__s32 pid;
	__s32 tgid;
	__u32 uid;
	__u32 euid;
	__u32 suid;
	__u32 gid;
	__u32 egid;
	__u32 sgid;
	__u32 state;
	__u32 reserved;
	__u64 start_time_ns;
	__u64 pinned_bytes;
	__u64 memlock_limit;
	__u64 cgroup;
	__u32 cgroup_size;
	__u32 cgroup_length;
};

/** MEMPIN_PROCESS - a process's pinning figures; CAP_SYS_ADMIN */
#define MEMPIN_PROCESS		_IOWR('M', 0x16, struct mempin_process)

/* Kinds of struct mempin_event. */
#define MEMPIN_EVENT_PIN	1 /* a pin was made */
#define MEMPIN_EVENT_UNPIN	2 /* its owner unpinned it */
#define MEMPIN_EVENT_REVOKE	3 /* a manager unpinned another's seed pin */
#define MEMPIN_EVENT_EXIT	4 /* its process's exit released it */
#define MEMPIN_EVENT_CLOSE	5 /* its container was closed */
#define MEMPIN_EVENT_DETACH	6 /* its range no longer maps its pages */
#define MEMPIN_EVENT_REFUSE	7 /* a pin was refused; see @error, @reason */

/* Which limit refused a pin with ENOMEM (struct mempin_event's @reason). */
#define MEMPIN_REASON_NONE		0
#define MEMPIN_REASON_MEMLOCK		1 /* the target's RLIMIT_MEMLOCK */
#define MEMPIN_REASON_USER_LIMIT	2 /* its user's pins over RLIMIT_MEMLOCK */
#define MEMPIN_REASON_MACHINE_LIMIT	3 /* max_pinned_pages */
#define MEMPIN_REASON_MIGRATION	4 /* pages could not be moved or pinned */

/**
 * struct mempin_event - one change record of the ledger
 * @seq: its sequence number, machine-wide, from 1, consecutive: a gap
 *	between two records a reader gets is the number it lost
 * @id: the pin; 0 for MEMPIN_EVENT_REFUSE
 * @start: first byte of the range (page-aligned)
 * @end: end of the range (page-aligned, exclusive)
 * @pages: pages of the range
 * @time_ns: when, CLOCK_REALTIME nanoseconds as of the last clock tick
 *	(CLOCK_REALTIME_COARSE)
 * @type: MEMPIN_EVENT_*
 * @pid: the target process (tgid, in the reader's pid namespace; 0 if it
 *	is not visible there)
 * @holder_pid: for a seed pin, the process that made it; else 0
 * @uid: who acted (the requester of the pin, the unpin or the revoke;
 *	for EXIT, CLOSE and DETACH the pin's requester), in the reader's user
 *	namespace
 * @error: for MEMPIN_EVENT_REFUSE, the positive errno; else 0
 * @reason: for MEMPIN_EVENT_REFUSE with ENOMEM, MEMPIN_REASON_*
 * @via: MEMPIN_VIA_*
 * @flags: 0 for now
 *
 * A manager reads records with read(2) on its file, whole records only
 * (a buffer smaller than one is EINVAL), from the moment it opened it, in
 * order. A read waits for a record unless O_NONBLOCK (EAGAIN); poll()
 * reports POLLIN when one is there. The module keeps the last
 * MEMPIN_EVENTS_KEPT records; a slower reader skips ahead and sees the gap
 * in @seq.
 */
struct mempin_event {
	__u64 seq;
	__u64 id;
	__u64 start;
	__u64 end;
	__u64 pages;
	__u64 time_ns;
	__u32 type;
	__s32 pid;
	__s32 holder_pid;
	__u32 uid;
	__s32 error;
	__u32 reason;
	__u32 via;
	__u32 flags;
};

/* How many records the ledger keeps for its readers. */
#define MEMPIN_EVENTS_KEPT	4096

#endif /* _UAPI_LINUX_MEMPINFD_H */
