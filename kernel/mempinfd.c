// SPDX-License-Identifier: GPL-2.0
/*
 * mempinfd: accounted, visible, revocable long-term memory pins.
 *
 * Each open of /dev/mempinfd is a container of pins. A pin holds
 * FOLL_LONGTERM | FOLL_WRITE page references (never FOLL_FORCE) on a range
 * of one process's memory, is charged to that process's mm->pinned_vm and
 * checked against its RLIMIT_MEMLOCK, as ib_umem_get() does.
 *
 * Lifetime of a pin:
 *  - it is created by MEM_CMD_PIN (caller's memory) or MEMPIN_PIN (another
 *    process, CAP_SYS_ADMIN);
 *  - an mmu_interval_notifier watches its range: an unmap or zap marks it
 *    detached; the release of the whole address space (exit) unpins and
 *    uncharges it at once, and the pin is reaped by the next ioctl or close;
 *  - MEM_CMD_UNPIN, MEMPIN_UNPIN or the container's release unpin it.
 *
 * Locking:
 *  - container->lock (mutex) protects the container's id xarray, its range
 *    rb-tree and the pins' membership in them. It is never held across
 *    pinning, across mmu_interval_notifier_remove() or copy_to_user().
 *  - pin->lock (mutex) protects pin->pages and pin->released; the release
 *    notifier takes it, so nothing that waits for notifiers may hold it.
 *  - pin->detached is written by the notifier without a lock.
 */

#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/overflow.h>
#include <linux/pid.h>
#include <linux/rbtree.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/xarray.h>

#include "include/uapi/linux/mempinfd.h"

static unsigned long max_pinned_pages;
module_param(max_pinned_pages, ulong, 0644);
MODULE_PARM_DESC(max_pinned_pages,
		 "Machine-wide limit of pages pinned through mempinfd (0: none)");

/* Pages pinned through this module, machine-wide. */
static atomic64_t mempin_pinned_pages = ATOMIC64_INIT(0);

/* Upper bounds on one MEMPIN_LIST / MEMPIN_READ_PAGES call. */
#define MEMPIN_LIST_MAX		4096U
#define MEMPIN_PAGES_MAX	65536U
/* Entries copied to user space per batch, from a buffer on the stack. */
#define MEMPIN_BATCH		16U

/**
 * struct mempin_container - one open of /dev/mempinfd
 * @lock: protects @pins, @ranges and @next_id
 * @pins: the container's pins by id
 * @ranges: the pins ordered by (mm, start), none overlapping in one mm
 * @next_id: the id the next pin gets
 * @nr_released: pins whose process exited, not yet reaped
 * @changes: pins detached or released on their own, ever (for pollers)
 */
struct mempin_container {
	struct mutex lock;
	struct xarray pins;
	struct rb_root ranges;
	u64 next_id;
	atomic_t nr_released;
	atomic64_t changes;
};

enum mempin_state {
	MEMPIN_PINNING,		/* being pinned; invisible */
	MEMPIN_PINNED,		/* pinned and visible */
};

/**
 * struct mempin_region - one pinned range
 * @node: in the container's @ranges
 * @container: the container holding the pin
 * @reap: in a list of pins to free
 * @notifier: watches the range in @mm
 * @mm: the target address space, held with mmgrab()
 * @id: the pin's id in its container
 * @start: first byte, page-aligned
 * @npages: pages in the range
 * @state: enum mempin_state; written under the container's lock
 * @detached: 1 once the range was unmapped or zapped after pinning
 * @lock: protects @pages and @released
 * @pages: the pinned pages, NULL once released
 * @released: the pages were unpinned and uncharged
 * @huge_pages: pages of @pages inside a compound page
 * @pid: the target's tgid
 * @requester_uid: who asked for the pin
 * @requester_pid: which process asked for it
 * @pinned_at_ns: when, CLOCK_REALTIME
 * @pin_duration_ns: how long pinning took
 */
struct mempin_region {
	struct rb_node node;
	struct mempin_container *container;
	struct list_head reap;
	struct mmu_interval_notifier notifier;
	struct mm_struct *mm;
	u64 id;
	unsigned long start;
	unsigned long npages;
	enum mempin_state state;
	atomic_t detached;
	struct mutex lock;
	struct page **pages;
	bool released;
	unsigned long huge_pages;
	pid_t pid;
	u32 requester_uid;
	pid_t requester_pid;
	u64 pinned_at_ns;
	u64 pin_duration_ns;
};

static unsigned long mempin_end(const struct mempin_region *pin)
{
	return pin->start + (pin->npages << PAGE_SHIFT);
}

/*
 * Charge @npages to @mm->pinned_vm and to the module's total. @rlimit is the
 * target's RLIMIT_MEMLOCK in bytes, or RLIM_INFINITY when exempt. Returns 0
 * or -ENOMEM, charging nothing on failure.
 */
static int mempin_charge(struct mm_struct *mm, unsigned long npages,
			 unsigned long rlimit)
{
	unsigned long limit = READ_ONCE(max_pinned_pages);
	s64 pinned;

	pinned = atomic64_add_return(npages, &mempin_pinned_pages);
	if (limit && pinned > limit) {
		atomic64_sub(npages, &mempin_pinned_pages);
		return -ENOMEM;
	}
	pinned = atomic64_add_return(npages, &mm->pinned_vm);
	if (rlimit != RLIM_INFINITY && pinned > (rlimit >> PAGE_SHIFT)) {
		atomic64_sub(npages, &mm->pinned_vm);
		atomic64_sub(npages, &mempin_pinned_pages);
		return -ENOMEM;
	}
	return 0;
}

static void mempin_uncharge(struct mm_struct *mm, unsigned long npages)
{
	atomic64_sub(npages, &mm->pinned_vm);
	atomic64_sub(npages, &mempin_pinned_pages);
}

/*
 * Unpin and uncharge @pin's pages, once. Called by the unpin paths and by
 * the release notifier; takes pin->lock. Returns true if this call did it.
 */
static bool mempin_release_pages(struct mempin_region *pin)
{
	struct page **pages;

	mutex_lock(&pin->lock);
	pages = pin->pages;
	pin->pages = NULL;
	if (pages) {
		/* The device may have written: mark the pages dirty. */
		unpin_user_pages_dirty_lock(pages, pin->npages, true);
		mempin_uncharge(pin->mm, pin->npages);
		WRITE_ONCE(pin->released, true);
	}
	mutex_unlock(&pin->lock);
	kvfree(pages);
	return pages;
}

/* Mark @pin detached, counting the change once. */
static void mempin_detach(struct mempin_region *pin)
{
	if (!atomic_xchg(&pin->detached, 1))
		atomic64_inc(&pin->container->changes);
}

/*
 * The range of @pin was invalidated. An unmap or zap means the process no
 * longer sees these pages at these addresses: the pin is detached, its pages
 * stay pinned and charged until it is unpinned. The release of the whole
 * address space (the process exits) unpins and uncharges at once; the pin
 * itself is reaped later by its container. Other events (fork's
 * write-protect, mprotect, NUMA hinting) leave the pin as it is.
 *
 * Invalidations while the pin is being made come from pinning itself
 * (FOLL_LONGTERM migrates pages out of movable zones) and are ignored, but
 * for an unmap, which pinning never causes.
 */
static bool mempin_invalidate(struct mmu_interval_notifier *mni,
			      const struct mmu_notifier_range *range,
			      unsigned long cur_seq)
{
	struct mempin_region *pin = container_of(mni, struct mempin_region, notifier);

	mmu_interval_set_seq(mni, cur_seq);
	switch (range->event) {
	case MMU_NOTIFY_RELEASE:
		mempin_detach(pin);
		if (READ_ONCE(pin->state) == MEMPIN_PINNED &&
		    mempin_release_pages(pin)) {
			atomic_inc(&pin->container->nr_released);
			atomic64_inc(&pin->container->changes);
		}
		break;
	case MMU_NOTIFY_UNMAP:
		mempin_detach(pin);
		break;
	case MMU_NOTIFY_CLEAR:
		if (READ_ONCE(pin->state) == MEMPIN_PINNED)
			mempin_detach(pin);
		break;
	default:
		break;
	}
	return true;
}

static const struct mmu_interval_notifier_ops mempin_notifier_ops = {
	.invalidate = mempin_invalidate,
};

/* Order of @ranges: by mm, then by start. */
static int mempin_cmp(const struct mm_struct *mm, unsigned long start,
		      unsigned long end, const struct mempin_region *pin)
{
	if (mm != pin->mm)
		return mm < pin->mm ? -1 : 1;
	if (end <= pin->start)
		return -1;
	if (start >= mempin_end(pin))
		return 1;
	return 0;	/* overlap */
}

/*
 * Find the pin of @mm that overlaps [@start, @end), or NULL. With @link and
 * @parent set, also return where a new pin would go. Caller holds c->lock.
 */
static struct mempin_region *mempin_find_range(struct mempin_container *c,
					    struct mm_struct *mm,
					    unsigned long start,
					    unsigned long end,
					    struct rb_node ***link,
					    struct rb_node **parent)
{
	struct rb_node **p = &c->ranges.rb_node, *up = NULL;

	while (*p) {
		struct mempin_region *pin = rb_entry(*p, struct mempin_region, node);
		int cmp = mempin_cmp(mm, start, end, pin);

		if (!cmp)
			return pin;
		up = *p;
		p = cmp < 0 ? &(*p)->rb_left : &(*p)->rb_right;
	}
	if (link) {
		*link = p;
		*parent = up;
	}
	return NULL;
}

/*
 * Reserve [@pin->start, end) of @pin->mm in @c and give @pin its id.
 * Returns 0, -EEXIST on overlap, or -ENOMEM.
 */
static int mempin_insert(struct mempin_container *c, struct mempin_region *pin)
{
	struct rb_node **link, *parent;
	int ret;

	mutex_lock(&c->lock);
	if (mempin_find_range(c, pin->mm, pin->start, mempin_end(pin),
			      &link, &parent)) {
		ret = -EEXIST;
		goto out;
	}
	pin->id = c->next_id;
	ret = xa_insert(&c->pins, pin->id, pin, GFP_KERNEL);
	if (ret)
		goto out;
	c->next_id++;
	rb_link_node(&pin->node, parent, link);
	rb_insert_color(&pin->node, &c->ranges);
out:
	mutex_unlock(&c->lock);
	return ret;
}

/* Take @pin out of @c. Caller holds c->lock. */
static void mempin_unlink(struct mempin_container *c, struct mempin_region *pin)
{
	xa_erase(&c->pins, pin->id);
	rb_erase(&pin->node, &c->ranges);
}

/*
 * Free a pin taken out of its container: stop its notifier (waiting for a
 * running callback), unpin and uncharge what is still pinned, drop the mm.
 * Caller holds no lock.
 */
static void mempin_destroy(struct mempin_region *pin)
{
	mmu_interval_notifier_remove(&pin->notifier);
	mempin_release_pages(pin);
	mmdrop(pin->mm);
	kfree(pin);
}

/*
 * Free the pins whose process has exited. The release notifier unpinned
 * them already but cannot remove itself, so each ioctl reaps them here.
 */
static void mempin_reap(struct mempin_container *c)
{
	struct mempin_region *pin, *next;
	unsigned long id;
	LIST_HEAD(dead);

	if (!atomic_xchg(&c->nr_released, 0))
		return;
	mutex_lock(&c->lock);
	xa_for_each(&c->pins, id, pin) {
		if (READ_ONCE(pin->released) && pin->state == MEMPIN_PINNED) {
			mempin_unlink(c, pin);
			list_add(&pin->reap, &dead);
		}
	}
	mutex_unlock(&c->lock);
	list_for_each_entry_safe(pin, next, &dead, reap)
		mempin_destroy(pin);
}

/*
 * Turn a user range into whole pages. Returns -EINVAL for a zero or wrapping
 * size, -EFAULT past the largest user address, -ENOMEM for more pages than
 * the machine has (before anything is allocated for them).
 */
static int mempin_range(u64 addr, u64 size, unsigned long *start,
			unsigned long *npages)
{
	u64 end;

	if (!size || check_add_overflow(addr, size, &end))
		return -EINVAL;
	if (end > TASK_SIZE_MAX)
		return -EFAULT;
	*start = addr & PAGE_MASK;
	*npages = ((end - 1) >> PAGE_SHIFT) - (*start >> PAGE_SHIFT) + 1;
	if (*npages > totalram_pages())
		return -ENOMEM;
	return 0;
}

/* The errno user space sees for a failed pin_user_pages*(). */
static int mempin_gup_errno(long ret)
{
	switch (ret) {
	case -ENOMEM:
	case -EINTR:
	case -ERESTARTSYS:
		return ret;
	default:
		/* Unmapped, not writable, VM_IO/PFNMAP, DAX: cannot be pinned. */
		return -EFAULT;
	}
}

/*
 * Pin all of [@start, @start + @npages pages) of @mm into @pages, writable
 * and long-term, or nothing: a partial result is unpinned before the error
 * returns. @remote: @mm is not current's; its mmap_lock is taken here, held
 * across the call with locked == NULL (6.1 refuses a locked pointer with
 * FOLL_LONGTERM). The caller holds a reference on @mm's users.
 */
static int mempin_pin_pages(struct mm_struct *mm, bool remote,
			    unsigned long start, unsigned long npages,
			    struct page **pages)
{
	const unsigned int gup_flags = FOLL_WRITE | FOLL_LONGTERM;
	unsigned long done = 0;
	long ret = 0;

	if (remote && mmap_read_lock_killable(mm))
		return -EINTR;
	while (done < npages) {
		unsigned long addr = start + (done << PAGE_SHIFT);
		unsigned long todo = npages - done;

		if (remote)
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
			ret = pin_user_pages_remote(mm, addr, todo, gup_flags,
						    pages + done, NULL, NULL);
#else
			ret = pin_user_pages_remote(mm, addr, todo, gup_flags,
						    pages + done, NULL);
#endif
		else
			ret = pin_user_pages_fast(addr,
						  min_t(unsigned long, todo, INT_MAX),
						  gup_flags, pages + done);
		if (ret <= 0)
			break;
		done += ret;
	}
	if (remote)
		mmap_read_unlock(mm);
	if (done == npages)
		return 0;
	unpin_user_pages(pages, done);
	return mempin_gup_errno(ret);
}

/**
 * struct mempin_request - what to pin, for whom
 * @mm: the target address space; the caller holds a user reference
 * @remote: @mm is not the caller's
 * @start: first byte, page-aligned
 * @npages: pages to pin
 * @rlimit: the target's RLIMIT_MEMLOCK in bytes, RLIM_INFINITY if exempt
 * @pid: the target's tgid
 * @requester_uid: who asks
 * @requester_pid: which process asks
 */
struct mempin_request {
	struct mm_struct *mm;
	bool remote;
	unsigned long start;
	unsigned long npages;
	unsigned long rlimit;
	pid_t pid;
	u32 requester_uid;
	pid_t requester_pid;
};

/*
 * Make a pin in @c as @req says: charge, reserve the range, watch it, pin.
 * All or nothing; unwinds in reverse order. Returns the new pin's id in
 * @id, or a negative errno.
 */
static int mempin_create(struct mempin_container *c,
			 const struct mempin_request *req, u64 *id)
{
	struct mempin_region *pin;
	struct page **pages;
	unsigned long i;
	u64 t0;
	int ret = -ENOMEM;

	pin = kzalloc(sizeof(*pin), GFP_KERNEL_ACCOUNT);
	if (!pin)
		return -ENOMEM;
	pages = kvmalloc_array(req->npages, sizeof(*pages),
			       GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!pages)
		goto free_pin;
	mutex_init(&pin->lock);
	pin->container = c;
	pin->mm = req->mm;
	mmgrab(pin->mm);
	pin->start = req->start;
	pin->npages = req->npages;
	pin->state = MEMPIN_PINNING;
	pin->pid = req->pid;
	pin->requester_uid = req->requester_uid;
	pin->requester_pid = req->requester_pid;

	ret = mempin_charge(pin->mm, pin->npages, req->rlimit);
	if (ret)
		goto drop_mm;
	ret = mempin_insert(c, pin);
	if (ret)
		goto uncharge;
	ret = mmu_interval_notifier_insert(&pin->notifier, pin->mm, pin->start,
					   pin->npages << PAGE_SHIFT,
					   &mempin_notifier_ops);
	if (ret)
		goto unlink;

	pin->pinned_at_ns = ktime_get_real_ns();
	t0 = ktime_get_ns();
	ret = mempin_pin_pages(pin->mm, req->remote, pin->start, pin->npages,
			       pages);
	if (ret)
		goto remove_notifier;
	pin->pin_duration_ns = ktime_get_ns() - t0;
	for (i = 0; i < pin->npages; i++)
		if (PageCompound(pages[i]))
			pin->huge_pages++;
	pin->pages = pages;

	mutex_lock(&c->lock);
	WRITE_ONCE(pin->state, MEMPIN_PINNED);
	*id = pin->id;
	mutex_unlock(&c->lock);
	return 0;

remove_notifier:
	mmu_interval_notifier_remove(&pin->notifier);
unlink:
	mutex_lock(&c->lock);
	mempin_unlink(c, pin);
	mutex_unlock(&c->lock);
uncharge:
	mempin_uncharge(pin->mm, pin->npages);
drop_mm:
	mmdrop(pin->mm);
	kvfree(pages);
free_pin:
	kfree(pin);
	return ret;
}

/* MEM_CMD_PIN: pin the caller's own memory. */
static long mempin_ioctl_self_pin(struct mempin_container *c,
				  const struct mem_pin_address *a)
{
	struct mempin_request req = {
		.mm = current->mm,
		.pid = task_tgid_vnr(current),
		.requester_uid = from_kuid_munged(current_user_ns(),
						  current_uid()),
		.requester_pid = task_tgid_vnr(current),
	};
	u64 id;
	int ret;

	ret = mempin_range(a->addr, a->size, &req.start, &req.npages);
	if (ret)
		return ret;
	req.rlimit = capable(CAP_IPC_LOCK) ? RLIM_INFINITY :
					     rlimit(RLIMIT_MEMLOCK);
	return mempin_create(c, &req, &id);
}

/* Take the pin @pin out of @c and free it. Caller holds c->lock; drops it. */
static void mempin_remove_unlock(struct mempin_container *c,
				 struct mempin_region *pin)
	__releases(&c->lock)
{
	mempin_unlink(c, pin);
	mutex_unlock(&c->lock);
	mempin_destroy(pin);
}

/* MEM_CMD_UNPIN: undo the MEM_CMD_PIN of exactly this range. */
static long mempin_ioctl_self_unpin(struct mempin_container *c,
				    const struct mem_pin_address *a)
{
	struct mempin_region *pin;
	unsigned long start, npages;
	int ret;

	ret = mempin_range(a->addr, a->size, &start, &npages);
	if (ret == -EFAULT || ret == -ENOMEM)
		return -ENOENT;	/* no pin can have this range */
	if (ret)
		return ret;
	mutex_lock(&c->lock);
	pin = mempin_find_range(c, current->mm, start,
				start + (npages << PAGE_SHIFT), NULL, NULL);
	if (!pin || pin->start != start || pin->npages != npages ||
	    pin->state != MEMPIN_PINNED) {
		mutex_unlock(&c->lock);
		return -ENOENT;
	}
	mempin_remove_unlock(c, pin);
	return 0;
}

/*
 * Copy a manager argument in: at least @size bytes, as the caller's @argsz
 * says; bytes we do not know must be zero (copy_struct_from_user()).
 */
static int mempin_copy_arg(void *dst, size_t size, void __user *arg)
{
	u32 argsz;

	if (get_user(argsz, (u32 __user *)arg))
		return -EFAULT;
	if (argsz < size)
		return -EINVAL;
	return copy_struct_from_user(dst, size, arg, argsz);
}

static long mempin_ioctl_version(struct mempin_container *c, void __user *arg)
{
	struct mempin_version v;
	int ret;

	ret = mempin_copy_arg(&v, sizeof(v), arg);
	if (ret)
		return ret;
	v.version = MEMPIN_ABI_VERSION;
	v.page_size = PAGE_SIZE;
	v.max_pinned_pages = READ_ONCE(max_pinned_pages);
	v.pinned_pages = atomic64_read(&mempin_pinned_pages);
	v.changes = atomic64_read(&c->changes);
	return copy_to_user(arg, &v, sizeof(v)) ? -EFAULT : 0;
}

/* MEMPIN_PIN: pin a range of the process @p.pid. */
static long mempin_ioctl_pin(struct mempin_container *c, void __user *arg)
{
	struct mempin_request req = { .remote = true };
	struct task_struct *task;
	struct mempin_pin p;
	struct pid *pid;
	u64 id;
	int ret;

	ret = mempin_copy_arg(&p, sizeof(p), arg);
	if (ret)
		return ret;
	if ((p.flags & ~MEMPIN_PIN_FLAGS) || p.reserved)
		return -EINVAL;
	ret = mempin_range(p.addr, p.length, &req.start, &req.npages);
	if (ret)
		return ret;
	if (p.pid <= 0)
		return -ESRCH;

	pid = find_get_pid(p.pid);
	task = pid ? get_pid_task(pid, PIDTYPE_PID) : NULL;
	put_pid(pid);
	if (!task)
		return -ESRCH;
	/* Our own check: mm_access() and ptrace_may_access() are not exported. */
	if (p.requester_uid &&
	    p.requester_uid != from_kuid_munged(current_user_ns(),
						task_uid(task))) {
		put_task_struct(task);
		return -EACCES;
	}
	req.rlimit = (p.flags & MEMPIN_PIN_NO_RLIMIT) ? RLIM_INFINITY :
			task_rlimit(task, RLIMIT_MEMLOCK);
	req.pid = task_tgid_vnr(task);
	req.requester_uid = p.requester_uid;
	req.requester_pid = p.requester_pid;
	req.mm = get_task_mm(task);
	put_task_struct(task);
	if (!req.mm)
		return -ESRCH;	/* exited, or a kernel thread */

	ret = mempin_create(c, &req, &id);
	mmput(req.mm);
	if (ret)
		return ret;
	p.id = id;
	p.start = req.start;
	p.end = req.start + (req.npages << PAGE_SHIFT);
	if (copy_to_user(arg, &p, sizeof(p))) {
		struct mempin_region *pin;

		/* The caller cannot learn the id: do not leave the pin behind. */
		mutex_lock(&c->lock);
		pin = xa_load(&c->pins, id);
		if (pin)
			mempin_remove_unlock(c, pin);
		else
			mutex_unlock(&c->lock);
		return -EFAULT;
	}
	return 0;
}

/* MEMPIN_UNPIN: unpin by id; done when it returns. */
static long mempin_ioctl_unpin(struct mempin_container *c, void __user *arg)
{
	struct mempin_region *pin;
	struct mempin_unpin u;
	int ret;

	ret = mempin_copy_arg(&u, sizeof(u), arg);
	if (ret)
		return ret;
	if (u.flags)
		return -EINVAL;
	mutex_lock(&c->lock);
	pin = xa_load(&c->pins, u.id);
	if (!pin || pin->state != MEMPIN_PINNED) {
		mutex_unlock(&c->lock);
		return -ENOENT;
	}
	mempin_remove_unlock(c, pin);
	return 0;
}

static void mempin_fill_info(const struct mempin_region *pin,
			     struct mempin_pin_info *info)
{
	memset(info, 0, sizeof(*info));
	info->id = pin->id;
	info->start = pin->start;
	info->end = mempin_end(pin);
	info->pages = pin->npages;
	info->huge_pages = pin->huge_pages;
	info->pid = pin->pid;
	info->flags = MEMPIN_INFO_WRITABLE;
	if (atomic_read(&pin->detached))
		info->flags |= MEMPIN_INFO_DETACHED;
	info->requester_uid = pin->requester_uid;
	info->requester_pid = pin->requester_pid;
	info->pinned_at_ns = pin->pinned_at_ns;
	info->pin_duration_ns = pin->pin_duration_ns;
}

/*
 * MEMPIN_LIST: pins in id order, from after_id on. Fills a batch under the
 * lock, copies it out without it, and goes on from the batch's last id.
 */
static long mempin_ioctl_list(struct mempin_container *c, void __user *arg)
{
	struct mempin_pin_info *batch;
	struct mempin_pin_info __user *out;
	struct mempin_region *pin;
	struct mempin_list l;
	unsigned long index;
	u32 count, filled = 0, n;
	int ret;

	ret = mempin_copy_arg(&l, sizeof(l), arg);
	if (ret)
		return ret;
	if (l.flags)
		return -EINVAL;
	count = min(l.count, MEMPIN_LIST_MAX);
	out = u64_to_user_ptr(l.entries);
	mempin_reap(c);
	batch = kmalloc_array(MEMPIN_BATCH, sizeof(*batch), GFP_KERNEL);
	if (!batch)
		return -ENOMEM;

	index = l.after_id;
	while (filled < count && index != ULONG_MAX) {
		n = 0;
		mutex_lock(&c->lock);
		pin = xa_find_after(&c->pins, &index, ULONG_MAX, XA_PRESENT);
		for (; pin && n < min(MEMPIN_BATCH, count - filled);
		     pin = xa_find_after(&c->pins, &index, ULONG_MAX,
					 XA_PRESENT)) {
			if (pin->state != MEMPIN_PINNED ||
			    READ_ONCE(pin->released) ||
			    (l.pid && pin->pid != l.pid))
				continue;
			mempin_fill_info(pin, &batch[n++]);
		}
		mutex_unlock(&c->lock);
		if (!n)
			break;
		if (copy_to_user(out + filled, batch, n * sizeof(*batch))) {
			ret = -EFAULT;
			break;
		}
		filled += n;
		/* Go on after the last pin copied. */
		index = batch[n - 1].id;
	}
	kfree(batch);
	if (ret)
		return ret;
	l.count = filled;
	return copy_to_user(arg, &l, sizeof(l)) ? -EFAULT : 0;
}

static u32 mempin_page_flags(struct page *page)
{
	u32 flags = PageCompound(page) ? MEMPIN_PAGE_HUGE : 0;

	switch (page_zonenum(page)) {
#ifdef CONFIG_ZONE_DMA
	case ZONE_DMA:
		return flags | MEMPIN_ZONE_DMA;
#endif
#ifdef CONFIG_ZONE_DMA32
	case ZONE_DMA32:
		return flags | MEMPIN_ZONE_DMA32;
#endif
	case ZONE_NORMAL:
		return flags | MEMPIN_ZONE_NORMAL;
	case ZONE_MOVABLE:
		return flags | MEMPIN_ZONE_MOVABLE;
#ifdef CONFIG_ZONE_DEVICE
	case ZONE_DEVICE:
		return flags | MEMPIN_ZONE_DEVICE;
#endif
	default:
		return flags | MEMPIN_ZONE_OTHER;
	}
}

/*
 * MEMPIN_READ_PAGES: a pin's pages from index first on. Each batch looks the
 * pin up again under the container's lock, so a concurrent unpin ends the
 * read (ENOENT if nothing was read yet) instead of racing it.
 */
static long mempin_ioctl_read_pages(struct mempin_container *c,
				    void __user *arg)
{
	struct mempin_page_info __user *out;
	struct mempin_page_info *batch;
	struct mempin_region *pin;
	struct mempin_pages p;
	u32 count, filled = 0, n, i;
	int ret;

	ret = mempin_copy_arg(&p, sizeof(p), arg);
	if (ret)
		return ret;
	if (p.flags || p.reserved)
		return -EINVAL;
	count = min(p.count, MEMPIN_PAGES_MAX);
	out = u64_to_user_ptr(p.entries);
	batch = kmalloc_array(MEMPIN_BATCH * 16, sizeof(*batch), GFP_KERNEL);
	if (!batch)
		return -ENOMEM;

	for (;;) {
		n = 0;
		mutex_lock(&c->lock);
		pin = xa_load(&c->pins, p.id);
		if (!pin || pin->state != MEMPIN_PINNED) {
			mutex_unlock(&c->lock);
			ret = filled ? 0 : -ENOENT;
			break;
		}
		mutex_lock(&pin->lock);
		if (!pin->pages) {
			ret = filled ? 0 : -ENOENT;	/* process exited */
		} else if (p.first + filled < pin->npages) {
			u64 first = p.first + filled;

			n = min3(MEMPIN_BATCH * 16, count - filled,
				 (u32)min_t(u64, U32_MAX, pin->npages - first));
			for (i = 0; i < n; i++) {
				struct page *page = pin->pages[first + i];

				batch[i].vaddr = pin->start +
						 ((first + i) << PAGE_SHIFT);
				batch[i].pfn = page_to_pfn(page);
				batch[i].flags = mempin_page_flags(page);
				batch[i].nid = page_to_nid(page);
			}
		}
		mutex_unlock(&pin->lock);
		mutex_unlock(&c->lock);
		if (ret || !n)
			break;
		if (copy_to_user(out + filled, batch, n * sizeof(*batch))) {
			ret = -EFAULT;
			break;
		}
		filled += n;
		if (filled == count)
			break;
	}
	kfree(batch);
	if (ret)
		return ret;
	p.count = filled;
	return copy_to_user(arg, &p, sizeof(p)) ? -EFAULT : 0;
}

static long mempin_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	struct mempin_container *c = file->private_data;
	void __user *uarg = (void __user *)arg;
	struct mem_pin_address a;

	switch (cmd) {
	case MEM_CMD_PIN:
	case MEM_CMD_UNPIN:
		if (copy_from_user(&a, uarg, sizeof(a)))
			return -EFAULT;
		mempin_reap(c);
		if (cmd == MEM_CMD_PIN)
			return mempin_ioctl_self_pin(c, &a);
		return mempin_ioctl_self_unpin(c, &a);
	case MEMPIN_GET_VERSION:
		return mempin_ioctl_version(c, uarg);
	case MEMPIN_PIN:
	case MEMPIN_UNPIN:
	case MEMPIN_LIST:
	case MEMPIN_READ_PAGES:
		break;
	default:
		return -ENOTTY;
	}

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	switch (cmd) {
	case MEMPIN_PIN:
		mempin_reap(c);
		return mempin_ioctl_pin(c, uarg);
	case MEMPIN_UNPIN:
		mempin_reap(c);
		return mempin_ioctl_unpin(c, uarg);
	case MEMPIN_LIST:
		return mempin_ioctl_list(c, uarg);
	default:
		return mempin_ioctl_read_pages(c, uarg);
	}
}

static int mempin_open(struct inode *inode, struct file *file)
{
	struct mempin_container *c;

	c = kzalloc(sizeof(*c), GFP_KERNEL_ACCOUNT);
	if (!c)
		return -ENOMEM;
	mutex_init(&c->lock);
	xa_init(&c->pins);
	c->ranges = RB_ROOT;
	c->next_id = 1;
	file->private_data = c;
	return 0;
}

/* The last reference to the container went away: unpin all of it. */
static int mempin_release(struct inode *inode, struct file *file)
{
	struct mempin_container *c = file->private_data;
	struct mempin_region *pin;
	unsigned long id;

	xa_for_each(&c->pins, id, pin) {
		mempin_unlink(c, pin);
		mempin_destroy(pin);
	}
	xa_destroy(&c->pins);
	kfree(c);
	return 0;
}

static const struct file_operations mempin_fops = {
	.owner = THIS_MODULE,
	.open = mempin_open,
	.release = mempin_release,
	.unlocked_ioctl = mempin_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice mempin_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "mempinfd",
	.fops = &mempin_fops,
	.mode = 0666,
};

static int __init mempin_init(void)
{
	/* The ABI has one layout on every architecture. */
	BUILD_BUG_ON(sizeof(struct mem_pin_address) != 16);
	BUILD_BUG_ON(sizeof(struct mempin_version) != 40);
	BUILD_BUG_ON(sizeof(struct mempin_pin) != 64);
	BUILD_BUG_ON(sizeof(struct mempin_unpin) != 16);
	BUILD_BUG_ON(sizeof(struct mempin_pin_info) != 72);
	BUILD_BUG_ON(sizeof(struct mempin_list) != 32);
	BUILD_BUG_ON(sizeof(struct mempin_page_info) != 24);
	BUILD_BUG_ON(sizeof(struct mempin_pages) != 40);
	return misc_register(&mempin_dev);
}

static void __exit mempin_exit(void)
{
	misc_deregister(&mempin_dev);
}

module_init(mempin_init);
module_exit(mempin_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Accounted, visible, revocable long-term memory pins");
MODULE_AUTHOR("The mempin developers");
MODULE_VERSION("0.1.0");
