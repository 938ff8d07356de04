/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * mempinfd: accounted, visible, revocable long-term memory pins.
 *
 * Each open of /dev/mempinfd is a pin container. Closing its last
 * reference unpins everything in it. Two interfaces share the device:
 *
 * - the seed interface (MEM_CMD_PIN, MEM_CMD_UNPIN), open to every
 *   process, pins the caller's own memory;
 * - the manager interface (MEMPIN_*), CAP_SYS_ADMIN only, pins the memory
 *   of another process and reports what is pinned. The mempinfs FUSE
 *   server is its user.
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
 * this range in this container).
 */
#define MEM_CMD_UNPIN	_IOW('M', 1, struct mem_pin_address)

/* The version of the manager interface reported by MEMPIN_GET_VERSION. */
#define MEMPIN_ABI_VERSION	2

/**
 * struct mempin_version - what the module offers
 * @argsz: in: sizeof(struct mempin_version)
 * @version: out: MEMPIN_ABI_VERSION
 * @page_size: out: the page size pins are counted in
 * @max_pinned_pages: out: the module's machine-wide limit, 0 for none
 * @pinned_pages: out: pages pinned now through this module, machine-wide
 * @changes: out: how many times a pin of this container changed on its own
 *	(detached, or released by its process's exit); poll it to know when
 *	to list again
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
 * and the container's change counter
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
 */
#define MEMPIN_PIN_NO_RLIMIT	(1U << 0)
#define MEMPIN_PIN_ROOT		(1U << 1)
#define MEMPIN_PIN_FLAGS	(MEMPIN_PIN_NO_RLIMIT | MEMPIN_PIN_ROOT)

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
 * @id: out: the pin's id, unique in the container; 32 bits, not reused
 *	until 2^32 more pins were made in it
 * @start: out: the pinned range's first byte (page-aligned)
 * @end: out: the pinned range's end (page-aligned, exclusive)
 *
 * Unless MEMPIN_PIN_ROOT is set, the requester may pin the target only
 * when @requester_uid is the target's real, effective and saved uid,
 * @requester_gid its real, effective and saved gid, and the target is
 * dumpable (ptrace's read rule), checked against the same program as the
 * pinned address space.
 *
 * Errors: those of MEM_CMD_PIN, plus ESRCH (no such process, or it is
 * exiting), EACCES (the requester may not pin the target), EPERM (the
 * caller lacks CAP_SYS_ADMIN).
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
};

/** MEMPIN_PIN - pin a range of a process given by pid; CAP_SYS_ADMIN */
#define MEMPIN_PIN		_IOWR('M', 0x11, struct mempin_pin)

/**
 * struct mempin_unpin - unpin by id
 * @argsz: in: sizeof(struct mempin_unpin)
 * @flags: in: 0
 * @id: in: the id MEMPIN_PIN returned
 */
struct mempin_unpin {
	__u32 argsz;
	__u32 flags;
	__u64 id;
};

/**
 * MEMPIN_UNPIN - unpin one pin of this container; CAP_SYS_ADMIN
 *
 * When it returns, the pages are unpinned and uncharged. ENOENT when the
 * container has no such pin (or its process has exited).
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
 * @pinned_at_ns: when the pin was made, CLOCK_REALTIME, nanoseconds
 * @pin_duration_ns: how long pinning took, nanoseconds
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
};

/**
 * struct mempin_list - list the pins of this container, in id order
 * @argsz: in: sizeof(struct mempin_list)
 * @flags: in: 0
 * @pid: in: only pins of this process (tgid), or 0 for all
 * @count: in: room in @entries; out: entries filled
 * @after_id: in: list pins whose id is above this (0 to start)
 * @entries: in: user address of struct mempin_pin_info[@count]
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
 * struct mempin_pages - read a pin's pages
 * @argsz: in: sizeof(struct mempin_pages)
 * @flags: in: 0
 * @id: in: the pin
 * @first: in: index of the first page wanted (0 is the page at start)
 * @count: in: room in @entries; out: entries filled (0 past the end)
 * @reserved: must be 0
 * @entries: in: user address of struct mempin_page_info[@count]
 *
 * @count above 65536 is treated as 65536. ENOENT when there is no such pin.
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

#endif /* _UAPI_LINUX_MEMPINFD_H */
