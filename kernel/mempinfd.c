// SPDX-License-Identifier: GPL-2.0
/*
 * mempinfd: accounted, visible, revocable long-term memory pins.
 *
 * Each open of /dev/mempinfd is a container of pins. A pin holds
 * FOLL_LONGTERM | FOLL_WRITE page references (never FOLL_FORCE) on a range
 * of one process's memory. It is charged to that process's mm->pinned_vm
 * (VmPin), checked against its RLIMIT_MEMLOCK and, for a requester without
 * CAP_IPC_LOCK, also charged to the user's locked_vm as io_uring does, so
 * that one user's pins across all its processes stay within its limit. The
 * module's own total is capped by max_pinned_pages. Every limit is checked
 * before anything is allocated for the pin.
 *
 * Only anonymous memory, shmem/tmpfs and hugetlbfs are pinned: a shared
 * page of a file that the filesystem tracks for writeback is refused with
 * EFAULT (the rule GUP applies itself since Linux 6.5), on every kernel.
 *
 * One ledger holds every pin, by id (unique and never reused while the
 * module is loaded). A pin belongs to a container: a seed pin to the open
 * file that made it, a manager pin to mempin_managed, which no file owns,
 * so that it outlives the manager's file. Each pin holds a reference on
 * the module, so rmmod is refused while the ledger holds anything.
 *
 * Lifetime of a pin:
 *  - it is created by MEM_CMD_PIN (caller's memory) or MEMPIN_PIN (another
 *    process, CAP_SYS_ADMIN), in chunks of at most MEMPIN_CHUNK pages;
 *  - an mmu_interval_notifier watches its range. An unmap marks it
 *    detached; other invalidations (zap, THP split, KSM, reclaim) make a
 *    worker compare what the range maps now with the pinned pages, and
 *    only a difference detaches it. The release of the whole address space
 *    (exit) unpins and uncharges it at once and queues it for the reaper,
 *    which takes it out of the ledger unless its container's close did;
 *    a reference count (@ref) frees it after the last of them;
 *  - MEM_CMD_UNPIN, MEMPIN_UNPIN or its container's release unpin it. A
 *    manager's MEMPIN_UNPIN of another container's seed pin revokes it: it
 *    is unpinned and kept, without pages, on the holder's @revoked list
 *    until the holder's MEM_CMD_UNPIN of that range or its close.
 * Every change is recorded in a ring that managers read (struct
 * mempin_event).
 *
 * Locking, in this order:
 *  - mempin_lock (mutex) protects the ledger, every container's @pins,
 *    @ranges and @revoked, and the pins' membership in them: whoever takes
 *    a pin out of the ledger under it owns its teardown. It is never held
 *    across pinning, mmu_interval_notifier_remove(), a mmap lock or
 *    copy_to_user();
 *  - a target's mmap_lock, read, around each chunk of pin_user_pages_remote()
 *    and each chunk of a verification; on 6.2 and later also taken, inside
 *    pin_user_pages_fast(), by the worker of mempin_gup_fast_remote(),
 *    which holds no other lock;
 *  - pin->lock (mutex) protects pin->pages. The release notifier takes it,
 *    so nothing that waits for notifiers may hold it;
 *  - mempin_events_lock (spinlock) protects the ring; taken last, also
 *    from invalidations that may not sleep.
 * pin->flags bits are atomic and need no lock.
 */

#include <linux/atomic.h>
#include <linux/capability.h>
#include <linux/cgroup.h>
#include <linux/completion.h>
#include <linux/cred.h>
#include <linux/fs.h>
#include <linux/hmm.h>
#include <linux/kref.h>
#include <linux/kthread.h>
#include <linux/llist.h>
#include <linux/lockdep.h>
#include <linux/magic.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/nsproxy.h>
#include <linux/overflow.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/poll.h>
#include <linux/rbtree.h>
#include <linux/refcount.h>
#include <linux/sched/coredump.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/user.h>
#include <linux/shmem_fs.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <linux/mempinfd.h>

/*
 * The machine-wide cap, in pages. ULONG_MAX until the module loads, when it
 * becomes half of RAM unless given; 0 means no limit.
 */
static unsigned long max_pinned_pages = ULONG_MAX;
module_param(max_pinned_pages, ulong, 0644);
MODULE_PARM_DESC(max_pinned_pages,
		 "Machine-wide limit of pages pinned through mempinfd (default: half of RAM; 0: none)");

/* Pages pinned through this module, machine-wide. */
static atomic64_t mempin_pinned_pages = ATOMIC64_INIT(0);

/* Verifications of ranges that were invalidated, and the reaper. */
static struct workqueue_struct *mempin_wq;
/*
 * The walks of mempin_gup_fast_remote(), each queued on its caller's CPU:
 * the caller sleeps until the walk ends, so no other CPU is woken for it,
 * nor the caller from another, and the page array it reads next is in its
 * CPU's cache. CPU-intensive: a walk of a GiB runs for tens of ms (with
 * cond_resched() between chunks) and must not hold back the other work
 * items of that CPU.
 */
static struct workqueue_struct *mempin_walk_wq;

/* Upper bounds on one MEMPIN_LIST / MEMPIN_READ_PAGES call. */
#define MEMPIN_LIST_MAX		4096U
#define MEMPIN_PAGES_MAX	65536U
/* Page frames one MEMPIN_QUERY_PFNS answers at most, and per batch. */
#define MEMPIN_PFNS_MAX		65536U
#define MEMPIN_PFNS_BATCH	512U
/* Entries copied to user space per batch, from a kmalloc'd buffer. */
#define MEMPIN_BATCH		16U
/*
 * Pages pinned, unpinned or verified in one step, with the mmap lock
 * dropped and cond_resched() between steps (8 MiB of 4 KiB pages).
 */
#define MEMPIN_CHUNK		2048UL
/*
 * The fewest pages of another process that mempin_gup_fast_remote() walks
 * (a THP): below, adopting the target's mm in a worker costs more than the
 * slow walk it spares (6.1, a 4 KiB pin 50 us that way against 180 us).
 * The worker's two context switches cost a caller with a large working set
 * more than the ioctl's own time shows: with 64 here, the ioctl's 1 MiB pin
 * of another process gained (6.12 guest, 123 -> 108-115 us) but a 1 MiB
 * pin through mempinfs lost (277/342 -> 376/460 us).
 */
#define MEMPIN_FAST_REMOTE_MIN	512UL
/* The largest argument a manager ioctl accepts, as openat2() does. */
#define MEMPIN_ARGSZ_MAX	PAGE_SIZE

/**
 * struct mempin_container - one open of /dev/mempinfd, or mempin_managed
 * @ref: held by the open file and by each of its pins
 * @pins: its pins, under mempin_lock
 * @ranges: its pins ordered by (mm, start), none overlapping in one mm
 * @revoked: its seed pins a manager revoked, not yet acknowledged by
 *	MEM_CMD_UNPIN; under mempin_lock
 * @nr_revoked: entries of @revoked (POLLPRI while non-zero)
 * @closed: its file was released; under mempin_lock
 * @manager: opened with CAP_SYS_ADMIN: may read the change records
 * @wait: pollers of POLLPRI
 * @read_lock: serializes readers of the change records
 * @event_seq: the next change record this file reads
 */
struct mempin_container {
	struct kref ref;
	struct list_head pins;
	struct rb_root ranges;
	struct list_head revoked;
	unsigned int nr_revoked;
	bool closed;
	bool manager;
	wait_queue_head_t wait;
	struct mutex read_lock;
	u64 event_seq;
};

/* Bits of struct mempin_region's @flags. */
enum {
	MEMPIN_VISIBLE,		/* pinned: listed, may be unpinned */
	MEMPIN_RELEASED,	/* pages unpinned and uncharged at exit */
	MEMPIN_DETACHED,	/* the range no longer maps the pages */
	MEMPIN_VERIFIED,	/* its verification was queued, at least once */
	MEMPIN_DETACH_NOTED,	/* its detach was recorded */
};

/**
 * struct mempin_region - one pinned range
 * @node: in its container's @ranges
 * @link: in its container's @pins, then maybe @revoked
 * @container: the container holding the pin, referenced
 * @reap: in a list of pins to free
 * @released: in mempin_released, once its process's exit released it
 * @ref: one for whoever owns the pin's teardown (its container while it
 *	is in the ledger), one more while it waits in mempin_released
 * @notifier: watches the range in @mm
 * @verify: compares what the range maps with @pages after an invalidation
 * @mm: the target address space, held with mmgrab()
 * @user: the user charged in its locked_vm, held; NULL when exempt
 * @pid: the target's thread group, held
 * @holder: for a seed pin, the thread group that made it, held; else NULL
 * @id: the pin's id in the ledger
 * @id_node: its node in the ledger, by @id
 * @start: first byte, page-aligned
 * @npages: pages in the range
 * @flags: MEMPIN_VISIBLE, MEMPIN_RELEASED, MEMPIN_DETACHED, MEMPIN_VERIFIED,
 *	MEMPIN_DETACH_NOTED
 * @lock: protects @pages
 * @pages: the pinned pages, NULL once released
 * @huge_pages: pages of @pages inside a compound page
 * @requester: who asked for the pin (for the change records)
 * @requester_uid: who asked for the pin, as the manager said
 * @requester_pid: which process asked for it
 * @pinned_at_ns: when, CLOCK_REALTIME_COARSE
 * @pin_duration_ns: how long pinning took
 */
struct mempin_region {
	struct rb_node node;
	struct list_head link;
	struct mempin_container *container;
	struct list_head reap;
	struct llist_node released;
	refcount_t ref;
	struct mmu_interval_notifier notifier;
	struct delayed_work verify;
	struct mm_struct *mm;
	struct user_struct *user;
	struct pid *pid;
	struct pid *holder;
	unsigned long id;
	struct rb_node id_node;
	unsigned long start;
	unsigned long npages;
	unsigned long flags;
	struct mutex lock;
	struct page **pages;
	unsigned long huge_pages;
	kuid_t requester;
	u32 requester_uid;
	pid_t requester_pid;
	u64 pinned_at_ns;
	u64 pin_duration_ns;
};

/*
 * The ledger: every pin, by id; and the last id given. Ids only grow, so a
 * new pin is the tree's rightmost; its node is the pin's own, so entering a
 * pin allocates nothing.
 */
static DEFINE_MUTEX(mempin_lock);
static struct rb_root mempin_ledger = RB_ROOT;
static unsigned long mempin_last_id;

/* The container of the manager's pins: no file owns it, it is never freed. */
static struct mempin_container mempin_managed;

/*
 * Pins released by their process's exit, for the reaper to take out of the
 * ledger: the release notifier may not remove itself.
 */
static LLIST_HEAD(mempin_released);
static void mempin_reap_work(struct work_struct *work);
static DECLARE_WORK(mempin_reaper, mempin_reap_work);

/**
 * struct mempin_record - a change record as the ring keeps it
 * @seq: its sequence number
 * @id: the pin, 0 for a refusal
 * @start: first byte of the range
 * @pages: pages of the range
 * @time_ns: when, CLOCK_REALTIME_COARSE
 * @type: MEMPIN_EVENT_*
 * @pid: the target, in the initial pid namespace
 * @holder_pid: a seed pin's holder, in the initial pid namespace, or 0
 * @uid: who acted
 * @error: a refusal's positive errno
 * @reason: MEMPIN_REASON_*
 * @via: MEMPIN_VIA_*
 */
struct mempin_record {
	u64 seq;
	u64 id;
	u64 start;
	u64 pages;
	u64 time_ns;
	u32 type;
	pid_t pid;
	pid_t holder_pid;
	kuid_t uid;
	int error;
	u32 reason;
	u32 via;
};

/* The last MEMPIN_EVENTS_KEPT change records, and the next one's number. */
static struct mempin_record *mempin_records;
static u64 mempin_next_seq = 1;
static DEFINE_SPINLOCK(mempin_events_lock);
static DECLARE_WAIT_QUEUE_HEAD(mempin_events_wait);

static unsigned long mempin_end(const struct mempin_region *pin)
{
	return pin->start + (pin->npages << PAGE_SHIFT);
}

/* The interface @c's pins come from. */
static u32 mempin_via(const struct mempin_container *c)
{
	return c == &mempin_managed ? MEMPIN_VIA_MANAGER : MEMPIN_VIA_SEED;
}

/*
 * Append @r to the ring, numbered and timed, and wake the readers; the
 * oldest record makes room. Any context: the ring's lock is taken last.
 */
static void mempin_record(struct mempin_record *r)
{
	/* Read in seconds; the last tick's time spares a clock read. */
	r->time_ns = ktime_get_coarse_real_ns();
	spin_lock(&mempin_events_lock);
	r->seq = mempin_next_seq++;
	mempin_records[r->seq % MEMPIN_EVENTS_KEPT] = *r;
	spin_unlock(&mempin_events_lock);
	/*
	 * Most records have no reader waiting: no wake-up lock for them. A
	 * reader enters the queue before it tests mempin_next_seq under
	 * mempin_events_lock (mempin_events_from()), so either it sees this
	 * record or this test sees it queued.
	 */
	if (wq_has_sleeper(&mempin_events_wait))
		wake_up_interruptible_poll(&mempin_events_wait,
					   EPOLLIN | EPOLLRDNORM);
}

/* Record that @type happened to @pin, done by @uid. */
static void mempin_note(const struct mempin_region *pin, u32 type, kuid_t uid)
{
	struct mempin_record r = {
		.id = pin->id,
		.start = pin->start,
		.pages = pin->npages,
		.type = type,
		.pid = pid_nr(pin->pid),
		.holder_pid = pid_nr(pin->holder),
		.uid = uid,
		.via = mempin_via(pin->container),
	};

	mempin_record(&r);
}

static void mempin_container_free(struct kref *ref)
{
	kfree(container_of(ref, struct mempin_container, ref));
}

static void mempin_container_put(struct mempin_container *c)
{
	kref_put(&c->ref, mempin_container_free);
}

/* Add @n to @v unless that takes it past @limit; true if added. */
static bool mempin_add_within(atomic64_t *v, s64 n, s64 limit)
{
	s64 cur = atomic64_read(v);

	do {
		if (cur + n > limit)
			return false;
	} while (!atomic64_try_cmpxchg(v, &cur, cur + n));
	return true;
}

/* The same for a user's locked_vm, an atomic_long_t as io_uring uses it. */
static bool mempin_add_user_within(struct user_struct *user, long n,
				   long limit)
{
	long cur = atomic_long_read(&user->locked_vm);

	do {
		if (cur + n > limit)
			return false;
	} while (!atomic_long_try_cmpxchg(&user->locked_vm, &cur, cur + n));
	return true;
}

/* @rlimit (bytes, or RLIM_INFINITY) in pages, as a signed bound. */
static s64 mempin_rlimit_pages(unsigned long rlimit)
{
	if (rlimit == RLIM_INFINITY)
		return S64_MAX;
	return rlimit >> PAGE_SHIFT;
}

/*
 * Charge @pin's pages: to the module's total (max_pinned_pages), to
 * @pin->mm's pinned_vm and to @pin->user's locked_vm unless the requester
 * is exempt (@pin->user NULL), the last two against @rlimit (bytes, or
 * RLIM_INFINITY when exempt). The checks are those of io_uring
 * (user->locked_vm) and ib_umem_get() (mm->pinned_vm). Returns 0, or
 * -ENOMEM charging nothing, with the limit that refused it in @reason.
 */
static int mempin_charge(struct mempin_region *pin, unsigned long rlimit,
			 u32 *reason)
{
	unsigned long cap = READ_ONCE(max_pinned_pages);
	s64 limit = mempin_rlimit_pages(rlimit);

	*reason = MEMPIN_REASON_MACHINE_LIMIT;
	if (!mempin_add_within(&mempin_pinned_pages, pin->npages,
			       cap ? min_t(u64, cap, S64_MAX) : S64_MAX))
		return -ENOMEM;
	*reason = MEMPIN_REASON_MEMLOCK;
	if (!mempin_add_within(&pin->mm->pinned_vm, pin->npages, limit))
		goto uncharge_module;
	*reason = MEMPIN_REASON_USER_LIMIT;
	if (pin->user &&
	    !mempin_add_user_within(pin->user, pin->npages,
				    min_t(s64, limit, LONG_MAX)))
		goto uncharge_mm;
	*reason = MEMPIN_REASON_NONE;
	return 0;

uncharge_mm:
	atomic64_sub(pin->npages, &pin->mm->pinned_vm);
uncharge_module:
	atomic64_sub(pin->npages, &mempin_pinned_pages);
	return -ENOMEM;
}

static void mempin_uncharge(struct mempin_region *pin)
{
	if (pin->user)
		atomic_long_sub(pin->npages, &pin->user->locked_vm);
	atomic64_sub(pin->npages, &pin->mm->pinned_vm);
	atomic64_sub(pin->npages, &mempin_pinned_pages);
}

/*
 * How many of the @n (at least one) entries at @pages are consecutive
 * pages from pages[0] on, told by the pointers alone.
 */
static unsigned long mempin_page_run(struct page **pages, unsigned long n)
{
	unsigned long run = 1;

	while (run < n && pages[run] == nth_page(pages[0], run))
		run++;
	return run;
}

/*
 * Unpin @npages of @pages a chunk at a time. @dirty: mark them dirty (a
 * device may have written); a pin that is refused is undone clean. Each
 * run of consecutive pages (a large folio, or small pages that happen to
 * be adjacent) goes in one unpin_user_page_range_dirty_lock(), which takes
 * its folios whole; unlike unpin_user_pages_dirty_lock() it does not look
 * up the next page's folio for every page.
 */
static void mempin_unpin_pages(struct page **pages, unsigned long npages,
			       bool dirty)
{
	unsigned long done, end, run;

	for (done = 0; done < npages; cond_resched()) {
		end = done + min(npages - done, MEMPIN_CHUNK);
		for (; done < end; done += run) {
			run = mempin_page_run(pages + done, end - done);
			unpin_user_page_range_dirty_lock(pages[done], run, dirty);
		}
	}
}

/*
 * Unpin and uncharge @pin's pages, once. Called by the unpin paths and by
 * the release notifier (@exiting), which also marks the pin for the reaper
 * under the same lock. Takes pin->lock. Returns true if this call released
 * them.
 */
static bool mempin_release_pages(struct mempin_region *pin, bool exiting)
{
	struct page **pages;

	mutex_lock(&pin->lock);
	pages = pin->pages;
	pin->pages = NULL;
	if (pages) {
		mempin_unpin_pages(pages, pin->npages, true);
		mempin_uncharge(pin);
		if (exiting)
			set_bit(MEMPIN_RELEASED, &pin->flags);
	}
	mutex_unlock(&pin->lock);
	kvfree(pages);
	return pages != NULL;
}

/* Record that @pin is detached, once. */
static void mempin_note_detach(struct mempin_region *pin)
{
	if (!test_and_set_bit(MEMPIN_DETACH_NOTED, &pin->flags))
		mempin_note(pin, MEMPIN_EVENT_DETACH, pin->requester);
}

/*
 * Mark @pin detached. The change is recorded once the pin is visible, after
 * its pin record: by this call, or by mempin_publish() for a pin detached
 * while it was being made (a pin taken back unseen is never named).
 */
static void mempin_detach(struct mempin_region *pin)
{
	if (test_and_set_bit(MEMPIN_DETACHED, &pin->flags))
		return;
	/* test_and_set_bit() is fully ordered: pairs with mempin_publish(). */
	if (test_bit(MEMPIN_VISIBLE, &pin->flags))
		mempin_note_detach(pin);
}

/*
 * Whether the entry @hpfn that HMM read at @addr still maps the pinned
 * @page. A present entry must be that page. A missing one in a shared
 * mapping (shmem, hugetlbfs) still is: the page cache keeps the pinned
 * page and the next access maps it again. HMM_PFN_ERROR in a VMA it does
 * not walk (PROT_NONE, VM_IO) is unknown, so attached; only no VMA at all
 * is detached. Caller holds the mmap lock; *@vma caches the last lookup.
 */
static bool mempin_maps(struct mm_struct *mm, unsigned long addr,
			unsigned long hpfn, struct page *page,
			struct vm_area_struct **vma)
{
	mmap_assert_locked(mm);
	if (hpfn & HMM_PFN_VALID)
		return hmm_pfn_to_page(hpfn) == page;
	if (!*vma || addr < (*vma)->vm_start || addr >= (*vma)->vm_end)
		*vma = vma_lookup(mm, addr);
	if (!*vma)
		return false;
	if (hpfn & HMM_PFN_ERROR)
		return true;
	return (*vma)->vm_flags & VM_SHARED;
}

/*
 * Compare what @pin's range maps now with its pages, a chunk at a time
 * under the mmap lock (never waited for: a contended lock is tried again
 * later), against the notifier's sequence, so that a change during the
 * walk is walked again and a transient state (an unmap attempt that is
 * undone) is never taken for the result. Non-faulting: nothing is mapped
 * in. Returns 1 when the range no longer maps the pages, 0 when it does,
 * -EAGAIN to try again later.
 *
 * @pin->pages is read without pin->lock: the caller holds a user reference
 * on the mm, so the release notifier cannot run, and the unpin paths
 * cancel this work before they release the pages.
 */
static int mempin_verify(struct mempin_region *pin)
{
	struct vm_area_struct *vma;
	unsigned long done = 0, n, i, *hpfns;
	int ret = 0, tries = 0;

	hpfns = kmalloc_array(MEMPIN_CHUNK, sizeof(*hpfns), GFP_KERNEL);
	if (!hpfns)
		return -EAGAIN;
	while (done < pin->npages) {
		struct hmm_range range = {
			.notifier = &pin->notifier,
			.hmm_pfns = hpfns,
		};

		n = min(pin->npages - done, MEMPIN_CHUNK);
		range.start = pin->start + (done << PAGE_SHIFT);
		range.end = range.start + (n << PAGE_SHIFT);
		range.notifier_seq = mmu_interval_read_begin(&pin->notifier);
		if (!mmap_read_trylock(pin->mm)) {
			ret = -EAGAIN;
			break;
		}
		ret = hmm_range_fault(&range);
		vma = NULL;
		for (i = 0; !ret && i < n; i++)
			if (!mempin_maps(pin->mm, range.start + (i << PAGE_SHIFT),
					 hpfns[i], pin->pages[done + i], &vma))
				ret = 1;
		if (ret >= 0 &&
		    mmu_interval_read_retry(&pin->notifier, range.notifier_seq))
			ret = -EBUSY;
		mmap_read_unlock(pin->mm);
		if (ret == -EBUSY) {
			ret = -EAGAIN;
			if (++tries == 8)
				break;
			continue;	/* changed meanwhile: this chunk again */
		}
		if (ret)
			break;
		done += n;
		cond_resched();
	}
	kfree(hpfns);
	return ret;
}

/*
 * Queue @pin's verification after @delay, noting that it was: a pin never
 * verified is stopped without waiting for its work (mempin_stop()).
 */
static void mempin_queue_verify(struct mempin_region *pin, unsigned long delay)
{
	set_bit(MEMPIN_VERIFIED, &pin->flags);
	queue_delayed_work(mempin_wq, &pin->verify, delay);
}

static void mempin_verify_work(struct work_struct *work)
{
	struct mempin_region *pin = container_of(to_delayed_work(work),
						 struct mempin_region, verify);
	int ret;

	if (test_bit(MEMPIN_DETACHED, &pin->flags) || !mmget_not_zero(pin->mm))
		return;	/* nothing to learn, or the process is exiting */
	ret = mempin_verify(pin);
	/* The last reference's teardown runs elsewhere, not in this worker. */
	mmput_async(pin->mm);
	if (ret > 0)
		mempin_detach(pin);
	else if (ret < 0)
		mempin_queue_verify(pin, HZ / 50);
}

/*
 * The range of @pin is being invalidated. An unmap (munmap, mremap) means
 * the process no longer sees these pages at these addresses: the pin is
 * detached, its pages stay pinned and charged until it is unpinned. The
 * release of the whole address space (exit) unpins and uncharges at once;
 * the reaper frees the pin itself. Protection changes
 * (fork's write-protect, mprotect, NUMA hinting, soft-dirty) keep the same
 * pages mapped. Anything else (a zap, a THP split, KSM, reclaim, migration)
 * may or may not replace them: a worker compares once it is over.
 *
 * While the pin is being made, its maker checks the notifier's sequence
 * after pinning instead. Called in non-blockable contexts too (the OOM
 * reaper's unmap): only the release sleeps, and it is always blockable.
 */
static bool mempin_invalidate(struct mmu_interval_notifier *mni,
			      const struct mmu_notifier_range *range,
			      unsigned long cur_seq)
{
	struct mempin_region *pin = container_of(mni, struct mempin_region,
						 notifier);

	mmu_interval_set_seq(mni, cur_seq);
	/* Exit's unmap follows its release: nothing is pinned any more. */
	if (test_bit(MEMPIN_RELEASED, &pin->flags))
		return true;
	switch (range->event) {
	case MMU_NOTIFY_RELEASE:
		if (test_bit(MEMPIN_VISIBLE, &pin->flags) &&
		    mempin_release_pages(pin, true)) {
			mempin_note(pin, MEMPIN_EVENT_EXIT, pin->requester);
			/* Whoever owns the pin holds it: it cannot be freed. */
			refcount_inc(&pin->ref);
			llist_add(&pin->released, &mempin_released);
			queue_work(mempin_wq, &mempin_reaper);
		}
		break;
	case MMU_NOTIFY_UNMAP:
		mempin_detach(pin);
		break;
	case MMU_NOTIFY_PROTECTION_VMA:
	case MMU_NOTIFY_PROTECTION_PAGE:
	case MMU_NOTIFY_SOFT_DIRTY:
		break;
	default:
		if (test_bit(MEMPIN_VISIBLE, &pin->flags) &&
		    !test_bit(MEMPIN_DETACHED, &pin->flags))
			mempin_queue_verify(pin, 0);
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

/* The pin of id @id in the ledger, or NULL. Caller holds mempin_lock. */
static struct mempin_region *mempin_lookup(u64 id)
{
	struct rb_node *node = mempin_ledger.rb_node;

	lockdep_assert_held(&mempin_lock);
	while (node) {
		struct mempin_region *pin =
			rb_entry(node, struct mempin_region, id_node);

		if (id == pin->id)
			return pin;
		node = id < pin->id ? node->rb_left : node->rb_right;
	}
	return NULL;
}

/* The pin of the least id above @id, or NULL. Caller holds mempin_lock. */
static struct mempin_region *mempin_lookup_after(u64 id)
{
	struct rb_node *node = mempin_ledger.rb_node;
	struct mempin_region *after = NULL;

	lockdep_assert_held(&mempin_lock);
	while (node) {
		struct mempin_region *pin =
			rb_entry(node, struct mempin_region, id_node);

		if (pin->id > id) {
			after = pin;
			node = node->rb_left;
		} else {
			node = node->rb_right;
		}
	}
	return after;
}

/* The pin after @pin in id order, or NULL. Caller holds mempin_lock. */
static struct mempin_region *mempin_ledger_next(struct mempin_region *pin)
{
	lockdep_assert_held(&mempin_lock);
	return rb_entry_safe(rb_next(&pin->id_node), struct mempin_region,
			    id_node);
}

/* Enter @pin, of an id above all others, in the ledger. */
static void mempin_ledger_add(struct mempin_region *pin)
{
	struct rb_node **link = &mempin_ledger.rb_node, *parent = NULL;

	lockdep_assert_held(&mempin_lock);
	while (*link) {
		parent = *link;
		link = &parent->rb_right;
	}
	rb_link_node(&pin->id_node, parent, link);
	rb_insert_color(&pin->id_node, &mempin_ledger);
}

/*
 * Find the pin of @mm that overlaps [@start, @end), or NULL. With @link and
 * @parent set, also return where a new pin would go.
 */
static struct mempin_region *mempin_find_range(struct mempin_container *c,
					    struct mm_struct *mm,
					    unsigned long start,
					    unsigned long end,
					    struct rb_node ***link,
					    struct rb_node **parent)
{
	struct rb_node **p = &c->ranges.rb_node, *up = NULL;

	lockdep_assert_held(&mempin_lock);
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
 * Reserve [@pin->start, end) of @pin->mm in @c and enter @pin in the
 * ledger under a new id. Returns 0 or -EEXIST on overlap.
 */
static int mempin_insert(struct mempin_container *c, struct mempin_region *pin)
{
	struct rb_node **link, *parent;
	int ret = -EEXIST;

	mutex_lock(&mempin_lock);
	if (!mempin_find_range(c, pin->mm, pin->start, mempin_end(pin),
			       &link, &parent)) {
		pin->id = ++mempin_last_id;
		mempin_ledger_add(pin);
		rb_link_node(&pin->node, parent, link);
		rb_insert_color(&pin->node, &c->ranges);
		list_add_tail(&pin->link, &c->pins);
		ret = 0;
	}
	mutex_unlock(&mempin_lock);
	return ret;
}

/* Take @pin out of the ledger and of its container; the caller owns it. */
static void mempin_unlink(struct mempin_region *pin)
{
	lockdep_assert_held(&mempin_lock);
	rb_erase(&pin->id_node, &mempin_ledger);
	rb_erase(&pin->node, &pin->container->ranges);
	list_del(&pin->link);
}

/*
 * Drop a reference to a stopped pin; the last one drops what the pin holds,
 * the module reference last, and frees it.
 */
static void mempin_put(struct mempin_region *pin)
{
	if (!refcount_dec_and_test(&pin->ref))
		return;
	if (pin->user)
		free_uid(pin->user);
	put_pid(pin->holder);
	put_pid(pin->pid);
	mmdrop(pin->mm);
	mempin_container_put(pin->container);
	kfree(pin);
	module_put(THIS_MODULE);
}

/*
 * Stop a pin taken out of the ledger: its notifier (waiting for a running
 * callback) and its verification; unpin and uncharge what is still
 * pinned, and record that as @type, done by @uid. Caller holds no lock.
 */
static void mempin_stop(struct mempin_region *pin, u32 type, kuid_t uid)
{
	mmu_interval_notifier_remove(&pin->notifier);
	/*
	 * No callback runs any more, and the maker queued its check before
	 * the pin could be taken (mempin_create()): whoever queued the work
	 * set MEMPIN_VERIFIED first, and a work that queues itself again had.
	 */
	if (test_bit(MEMPIN_VERIFIED, &pin->flags))
		cancel_delayed_work_sync(&pin->verify);
	if (mempin_release_pages(pin, false))
		mempin_note(pin, type, uid);
}

static void mempin_destroy(struct mempin_region *pin, u32 type, kuid_t uid)
{
	mempin_stop(pin, type, uid);
	mempin_put(pin);
}

/*
 * Free the pins whose process exited. The release notifier unpinned them
 * and queued them here. A pin still in the ledger is the reaper's to take
 * out; one its container's close took out meanwhile is the closer's, and
 * the reaper only drops its own reference. Work is per pin, never per pin
 * of the ledger.
 */
static void mempin_reap_work(struct work_struct *work)
{
	struct llist_node *list = llist_del_all(&mempin_released);
	struct mempin_region *pin, *next;
	bool mine;

	llist_for_each_entry_safe(pin, next, list, released) {
		mutex_lock(&mempin_lock);
		mine = mempin_lookup(pin->id) == pin;
		if (mine)
			mempin_unlink(pin);
		mutex_unlock(&mempin_lock);
		/* Released already: nothing left to record. */
		if (mine)
			mempin_destroy(pin, MEMPIN_EVENT_EXIT, pin->requester);
		mempin_put(pin);
		cond_resched();
	}
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
 * How many of the @n entries at @pages are @folio's pages in a row, from
 * pages[0] (one of them) on: GUP puts a large folio's pages in the array
 * in order, so the rest of a folio is told by the pointers alone
 * (mempin_page_run()), without a look at each page.
 */
static unsigned long mempin_folio_run(struct page **pages, unsigned long n,
				      struct folio *folio)
{
	unsigned long left;

	if (!folio_test_large(folio))
		return 1;
	left = folio_nr_pages(folio) - folio_page_idx(folio, pages[0]);
	return mempin_page_run(pages, min(n, left));
}

#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
/*
 * Whether a folio pinned writable may stay pinned long-term: anonymous
 * (KSM included), hugetlbfs or shmem, not a file's that the filesystem
 * tracks for writeback, which a device write behind its back would
 * corrupt. The test of 6.5's folio_fast_pin_allowed(), done on the pinned
 * folio itself, so no VMA check can go stale; 6.1's GUP lacks it.
 */
static bool mempin_folio_allowed(struct folio *folio)
{
	struct address_space *mapping;
	unsigned long bits;

	if (folio_test_hugetlb(folio))
		return true;
	mapping = READ_ONCE(folio->mapping);
	if (!mapping)
		return false;	/* truncated under us */
	bits = (unsigned long)mapping & PAGE_MAPPING_FLAGS;
	if (bits)
		return bits & PAGE_MAPPING_ANON;
	return shmem_mapping(mapping);
}

/*
 * Whether each of the @n pages at @pages may stay pinned long-term: each
 * run of a folio's pages tested once, not once a page.
 */
static bool mempin_pages_allowed(struct page **pages, unsigned long n)
{
	struct folio *folio;
	unsigned long i, run;

	for (i = 0; i < n; i += run) {
		folio = page_folio(pages[i]);
		if (!mempin_folio_allowed(folio))
			return false;
		run = mempin_folio_run(pages + i, n - i, folio);
	}
	return true;
}
#else
/*
 * From 6.5 GUP refuses a FOLL_LONGTERM | FOLL_WRITE pin of such a page
 * itself, on the lockless walk (folio_fast_pin_allowed(), on the folio;
 * gup_fast_folio_allowed() from 6.9) and under the mmap_lock
 * (writable_file_mapping_allowed()): nothing is left to test. Testing again
 * cost a look at every pinned page's folio, some tenth of a 64 MiB pin's
 * time in a 6.12 guest (perf).
 */
static bool mempin_pages_allowed(struct page **pages, unsigned long n)
{
	return true;
}
#endif

/*
 * Whether [@addr, @addr + @npages pages) of @mm maps a file of a FUSE file
 * system. Faulting such a page in waits for a user-space server, which may
 * never answer, and a fault taken on another process's behalf cannot be
 * interrupted: any user could hold a manager's thread for good. At most one
 * lookup per VMA of the range. Caller holds @mm's mmap_lock.
 */
static bool mempin_maps_fuse(struct mm_struct *mm, unsigned long addr,
			     unsigned long npages)
{
	unsigned long end = addr + (npages << PAGE_SHIFT);
	struct vm_area_struct *vma;

	mmap_assert_locked(mm);
	for (; addr < end; addr = vma->vm_end) {
		vma = find_vma(mm, addr);
		if (!vma || vma->vm_start >= end)
			return false;
		if (vma->vm_file &&
		    file_inode(vma->vm_file)->i_sb->s_magic == FUSE_SUPER_MAGIC)
			return true;
	}
	return false;
}

/* How every pin is taken: writable (a device may write), long-term. */
#define MEMPIN_GUP_FLAGS	(FOLL_WRITE | FOLL_LONGTERM)

/* States of a struct mempin_fast_pin, changed with atomic_cmpxchg(). */
enum {
	MEMPIN_FAST_RUNNING,
	MEMPIN_FAST_DONE,
	MEMPIN_FAST_ABANDONED,
};

/**
 * struct mempin_fast_pin - a lockless pin of another process's pages
 * @work: runs on mempin_walk_wq, in a kernel thread that adopts @mm
 * @done: completed when @ret is final, unless the caller abandoned it
 * @state: MEMPIN_FAST_*; whoever moves it from RUNNING owns the end: the
 *	worker (DONE) completes @done, the killed caller (ABANDONED) hands
 *	the worker @pages, which it unpins and frees, and the request
 * @mm: the target; the request holds a user reference
 * @addr: first page
 * @npages: pages to pin
 * @pages: where the pinned pages go
 * @ret: the pages pinned so far, from @addr on
 */
struct mempin_fast_pin {
	struct work_struct work;
	struct completion done;
	atomic_t state;
	struct mm_struct *mm;
	unsigned long addr;
	unsigned long npages;
	struct page **pages;
	unsigned long ret;
};

/*
 * One chunk of the walk, in the adopted mm: what is present, writable,
 * exclusive and pinnable long-term, never a fault. 6.1 offers a walk
 * that takes no lock; 6.2 dropped pin_user_pages_fast_only(), and
 * pin_user_pages_fast() with FOLL_NOFAULT finishes a chunk that the
 * lockless walk leaves under the mm's mmap_lock, which a writer holds
 * only for bounded work: no fault waits for userfaultfd or a FUSE server.
 */
static long mempin_fast_chunk(unsigned long addr, unsigned long npages,
			      struct page **pages)
{
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
	return pin_user_pages_fast_only(addr, npages, MEMPIN_GUP_FLAGS, pages);
#else
	return pin_user_pages_fast(addr, npages,
				   MEMPIN_GUP_FLAGS | FOLL_NOFAULT, pages);
#endif
}

/*
 * The whole range in one pass, a chunk at a time with cond_resched()
 * between chunks: adopting an mm and waking the caller cost more than a
 * chunk's walk, so they are paid once per request.
 */
static void mempin_fast_pin_work(struct work_struct *work)
{
	struct mempin_fast_pin *f = container_of(work, struct mempin_fast_pin,
						 work);

	kthread_use_mm(f->mm);
	while (f->ret < f->npages &&
	       atomic_read(&f->state) == MEMPIN_FAST_RUNNING) {
		unsigned long todo = min(f->npages - f->ret, MEMPIN_CHUNK);
		long n;

		n = mempin_fast_chunk(f->addr + (f->ret << PAGE_SHIFT), todo,
				      f->pages + f->ret);
		if (n <= 0)
			break;
		f->ret += n;
		if (n < todo)
			break;
		cond_resched();
	}
	kthread_unuse_mm(f->mm);
	if (atomic_cmpxchg(&f->state, MEMPIN_FAST_RUNNING,
			   MEMPIN_FAST_DONE) == MEMPIN_FAST_RUNNING) {
		mmput_async(f->mm);
		complete(&f->done);
		return;
	}
	/* Abandoned: nothing wrote through these pins, they end clean. */
	mempin_unpin_pages(f->pages, f->ret, false);
	kvfree(f->pages);
	mmput_async(f->mm);
	kfree(f);
}

/*
 * Pin what the walk of @mm's page tables finds present, writable,
 * exclusive and pinnable long-term, from page @done of [@addr, @addr +
 * @npages pages) on (the @done before it are pinned in *@pagesp), in a
 * worker that adopts @mm: 6.1's slow GUP takes a THP 4 KiB at a time and
 * both kernels' slow GUP walks each 4 KiB page from the top, the fast walk
 * a page table at once. What the walk leaves (a page to fault in, to
 * unshare or to migrate) the caller pins the slow way. The caller's wait is
 * killable: a killed caller hands *@pagesp to the worker, which stops at
 * the next chunk, unpins all it holds (the @done too) and frees them;
 * *@pagesp is then NULL. Those pages stay pinned, uncharged and in no
 * ledger entry, until the worker ends its chunk: the caller's error path
 * uncharges the range at once, not when the worker unpins them.
 * Returns the pages pinned from @addr on, @done at least (@done if the
 * request cannot be allocated: the slow way pins the rest), or -EINTR.
 */
static long mempin_gup_fast_remote(struct mm_struct *mm, unsigned long addr,
				   unsigned long npages, unsigned long done,
				   struct page ***pagesp)
{
	struct mempin_fast_pin *f;
	long ret;

	f = kzalloc(sizeof(*f), GFP_KERNEL);
	if (!f)
		return done;
	INIT_WORK(&f->work, mempin_fast_pin_work);
	init_completion(&f->done);
	atomic_set(&f->state, MEMPIN_FAST_RUNNING);
	mmget(mm);
	f->mm = mm;
	f->addr = addr;
	f->npages = npages;
	f->pages = *pagesp;
	f->ret = done;
	queue_work(mempin_walk_wq, &f->work);
	if (wait_for_completion_killable(&f->done)) {
		if (atomic_cmpxchg(&f->state, MEMPIN_FAST_RUNNING,
				   MEMPIN_FAST_ABANDONED) ==
		    MEMPIN_FAST_RUNNING) {
			*pagesp = NULL;
			return -EINTR;
		}
		/* The worker is done and about to complete: a short wait. */
		wait_for_completion(&f->done);
	}
	ret = f->ret;
	kfree(f);
	return ret;
}

/*
 * Pin up to @npages pages (at most a chunk) of @mm from @addr into @pages,
 * writable and long-term: the caller's own memory with the lockless fast
 * path; another process's under its mmap_lock, held across
 * the call with locked == NULL (6.1 refuses a locked pointer with
 * FOLL_LONGTERM), so no VMA changes between the check for FUSE files and
 * the pinning, and a fault never waits for userfaultfd. Returns the pages
 * pinned, maybe fewer, or a negative errno (-EFAULT for a FUSE file).
 */
static long mempin_gup(struct mm_struct *mm, unsigned long addr,
		       unsigned long npages, struct page **pages)
{
	const unsigned int gup_flags = MEMPIN_GUP_FLAGS;
	long ret;

	if (mm == current->mm)
		return pin_user_pages_fast(addr, npages, gup_flags, pages);
	if (mmap_read_lock_killable(mm))
		return -EINTR;
	if (mempin_maps_fuse(mm, addr, npages)) {
		mmap_read_unlock(mm);
		return -EFAULT;
	}
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 5, 0)
	ret = pin_user_pages_remote(mm, addr, npages, gup_flags, pages, NULL,
				    NULL);
#else
	ret = pin_user_pages_remote(mm, addr, npages, gup_flags, pages, NULL);
#endif
	mmap_read_unlock(mm);
	return ret;
}

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 5, 0)
/*
 * Whether the slow walk pins the rest of a range of another process faster
 * than the worker of mempin_gup_fast_remote(), told by @page, the range's
 * first, pinned the slow way: from 6.5 that walk takes a PMD-mapped folio's
 * pages in one step, and the worker's adoption of the mm and its wake-ups
 * cost more than walking a THP (6.12 guest: another process's 2 MiB THP
 * 9 us the slow way against 57 us, 64 MiB 252 us against 300 us; its
 * 4 KiB pages 245 us against 150 us). A range whose first page is in a
 * THP is taken to be THP-backed: one that is not is still pinned whole,
 * more slowly.
 */
static bool mempin_slow_walk_pays(struct page *page)
{
	return folio_nr_pages(page_folio(page)) >= PTRS_PER_PTE;
}
#define MEMPIN_PROBE_PAGES	1UL
#else
/* Before 6.5 the slow walk takes a THP's pages 4 KiB at a time: no probe. */
static bool mempin_slow_walk_pays(struct page *page)
{
	return false;
}
#define MEMPIN_PROBE_PAGES	0UL
#endif

/*
 * Pin all of [@start, @start + @npages pages) of @mm into *@pagesp, or
 * nothing: another process's first with one walk in a worker that adopts
 * @mm (mempin_gup_fast_remote(), for MEMPIN_FAST_REMOTE_MIN pages or
 * more, unless the range's first page, pinned the slow way from 6.5, shows
 * a THP: mempin_slow_walk_pays()), then what is left a chunk at a time,
 * with cond_resched() and a check for a fatal signal between chunks; a
 * refusal unpins what was pinned before the error returns. If the caller is
 * killed while the worker runs, the worker keeps the pages: *@pagesp is
 * then NULL and -EINTR returned. The caller holds a user reference on @mm.
 */
static int mempin_pin_pages(struct mm_struct *mm, unsigned long start,
			    unsigned long npages, struct page ***pagesp)
{
	struct page **pages = *pagesp;
	unsigned long done = 0;
	long ret;

	if (mm != current->mm && npages >= MEMPIN_FAST_REMOTE_MIN) {
		if (MEMPIN_PROBE_PAGES) {
			ret = mempin_gup(mm, start, MEMPIN_PROBE_PAGES, pages);
			if (ret <= 0)
				return mempin_gup_errno(ret);
			done = ret;
			if (!mempin_pages_allowed(pages, done)) {
				ret = -EFAULT;
				goto unpin;
			}
		}
		if (!done || !mempin_slow_walk_pays(pages[0])) {
			ret = mempin_gup_fast_remote(mm, start, npages, done,
						     pagesp);
			if (ret < 0)
				return ret;
			if (!mempin_pages_allowed(pages + done, ret - done)) {
				done = ret;
				ret = -EFAULT;
				goto unpin;
			}
			done = ret;
		}
	}
	while (done < npages) {
		unsigned long todo = min(npages - done, MEMPIN_CHUNK);

		ret = mempin_gup(mm, start + (done << PAGE_SHIFT), todo,
				 pages + done);
		if (ret <= 0) {
			ret = mempin_gup_errno(ret);
			goto unpin;
		}
		done += ret;
		if (!mempin_pages_allowed(pages + done - ret, ret)) {
			ret = -EFAULT;
			goto unpin;
		}
		if (done < npages && fatal_signal_pending(current)) {
			ret = -EINTR;
			goto unpin;
		}
		cond_resched();
	}
	return 0;

unpin:
	/* Clean: nothing may have written through a pin never handed out. */
	mempin_unpin_pages(pages, done, false);
	return ret;
}

/**
 * struct mempin_request - what to pin, for whom
 * @mm: the target address space; the caller holds a user reference
 * @pid: the target's thread group; the caller holds a reference
 * @holder: for a seed pin, the caller's thread group; else NULL
 * @user: the user whose locked_vm to charge, or NULL when the requester is
 *	exempt; the caller holds a reference
 * @start: first byte, page-aligned
 * @npages: pages to pin
 * @rlimit: the target's RLIMIT_MEMLOCK in bytes, RLIM_INFINITY if exempt
 * @requester: who asks
 * @requester_uid: who asks, as the manager said
 * @requester_pid: which process asks
 */
struct mempin_request {
	struct mm_struct *mm;
	struct pid *pid;
	struct pid *holder;
	struct user_struct *user;
	unsigned long start;
	unsigned long npages;
	unsigned long rlimit;
	kuid_t requester;
	u32 requester_uid;
	pid_t requester_pid;
};

/* Record that @req was refused by @c with @err (and why, for ENOMEM). */
static void mempin_note_refusal(const struct mempin_container *c,
				const struct mempin_request *req, int err,
				u32 reason)
{
	struct mempin_record r = {
		.start = req->start,
		.pages = req->npages,
		.type = MEMPIN_EVENT_REFUSE,
		.pid = pid_nr(req->pid),
		.holder_pid = pid_nr(req->holder),
		.uid = req->requester,
		.error = -err,
		.reason = err == -ENOMEM ? reason : MEMPIN_REASON_NONE,
		.via = mempin_via(c),
	};

	mempin_record(&r);
}

/**
 * struct mempin_made - a pin made but not yet visible
 * @pin: the pin, in the ledger and its container, not MEMPIN_VISIBLE
 * @seq: its notifier's sequence from before its pages were pinned
 */
struct mempin_made {
	struct mempin_region *pin;
	unsigned long seq;
};

/*
 * Make a pin in @c as @req says, out of sight: charge every limit,
 * allocate, reserve the range, watch it, pin. All or nothing; unwinds in
 * reverse order. The pin is in the ledger under its id but not visible: no
 * listing shows it, no unpin takes it, no change record names it, until
 * mempin_publish(); mempin_unmake() takes it back. Returns 0, or a
 * negative errno with *@reason saying why for ENOMEM.
 */
static int mempin_make(struct mempin_container *c,
		       const struct mempin_request *req,
		       struct mempin_made *made, u32 *reason)
{
	struct mempin_region *pin;
	unsigned long i, run;
	struct page **pages;
	struct folio *folio;
	u64 t0;
	int ret;

	pin = kzalloc(sizeof(*pin), GFP_KERNEL_ACCOUNT);
	if (!pin)
		return -ENOMEM;
	__module_get(THIS_MODULE);
	refcount_set(&pin->ref, 1);
	mutex_init(&pin->lock);
	INIT_DELAYED_WORK(&pin->verify, mempin_verify_work);
	kref_get(&c->ref);
	pin->container = c;
	pin->mm = req->mm;
	mmgrab(pin->mm);
	pin->pid = get_pid(req->pid);
	pin->holder = get_pid(req->holder);
	pin->user = req->user ? get_uid(req->user) : NULL;
	pin->start = req->start;
	pin->npages = req->npages;
	pin->requester = req->requester;
	pin->requester_uid = req->requester_uid;
	pin->requester_pid = req->requester_pid;

	/* Every limit first: a refused pin allocates nothing for its pages. */
	ret = mempin_charge(pin, req->rlimit, reason);
	if (ret)
		goto free_pin;
	pages = kvmalloc_array(pin->npages, sizeof(*pages),
			       GFP_KERNEL_ACCOUNT | __GFP_NOWARN);
	if (!pages) {
		ret = -ENOMEM;
		goto uncharge;
	}
	ret = mempin_insert(c, pin);
	if (ret)
		goto free_pages;
	ret = mmu_interval_notifier_insert(&pin->notifier, pin->mm, pin->start,
					   pin->npages << PAGE_SHIFT,
					   &mempin_notifier_ops);
	if (ret)
		goto unlink;

	made->seq = mmu_interval_read_begin(&pin->notifier);
	pin->pinned_at_ns = ktime_get_coarse_real_ns();
	t0 = ktime_get_ns();
	ret = mempin_pin_pages(pin->mm, pin->start, pin->npages, &pages);
	if (ret) {
		if (ret == -ENOMEM)
			*reason = MEMPIN_REASON_MIGRATION;
		goto remove_notifier;
	}
	pin->pin_duration_ns = ktime_get_ns() - t0;
	for (i = 0; i < pin->npages; i += run) {
		folio = page_folio(pages[i]);
		run = mempin_folio_run(pages + i, pin->npages - i, folio);
		if (folio_test_large(folio))
			pin->huge_pages += run;
	}
	mutex_lock(&pin->lock);
	pin->pages = pages;
	mutex_unlock(&pin->lock);
	made->pin = pin;
	return 0;

remove_notifier:
	mmu_interval_notifier_remove(&pin->notifier);
unlink:
	mutex_lock(&mempin_lock);
	mempin_unlink(pin);
	mutex_unlock(&mempin_lock);
free_pages:
	kvfree(pages);
uncharge:
	mempin_uncharge(pin);
free_pin:
	mempin_put(pin);
	return ret;
}

/*
 * Make @made's pin visible and record it. Once visible, any unpin may take
 * the pin and free it as soon as mempin_lock is dropped (another thread's
 * MEM_CMD_UNPIN of the range, a manager's MEMPIN_UNPIN of a listed id):
 * everything done with the pin here is done before that. Caller holds
 * mempin_lock.
 */
static void mempin_publish(const struct mempin_made *made)
{
	struct mempin_region *pin = made->pin;

	lockdep_assert_held(&mempin_lock);
	mempin_note(pin, MEMPIN_EVENT_PIN, pin->requester);
	set_bit(MEMPIN_VISIBLE, &pin->flags);
	/* Pairs with mempin_detach(): one of the two sees both bits. */
	smp_mb__after_atomic();
	if (test_bit(MEMPIN_DETACHED, &pin->flags))
		mempin_note_detach(pin);
	/* Pinning breaks COW and migrates, so the range may have changed. */
	if (mmu_interval_read_retry(&pin->notifier, made->seq))
		mempin_queue_verify(pin, 0);
}

/*
 * Take back a pin mempin_make() made and nobody saw: unpin its pages clean
 * (nothing can have written through pins never handed out), then undo the
 * rest of mempin_make() in reverse order. Caller holds no lock.
 */
static void mempin_unmake(struct mempin_region *pin)
{
	struct page **pages;

	mutex_lock(&pin->lock);
	pages = pin->pages;
	pin->pages = NULL;
	mutex_unlock(&pin->lock);
	mempin_unpin_pages(pages, pin->npages, false);
	mmu_interval_notifier_remove(&pin->notifier);
	mutex_lock(&mempin_lock);
	mempin_unlink(pin);
	mutex_unlock(&mempin_lock);
	kvfree(pages);
	mempin_uncharge(pin);
	mempin_put(pin);
}

/*
 * Make a pin in @c as @req says and make it visible (see mempin_make()); a
 * refusal is recorded. A change of the range while it was being pinned is
 * verified once it is visible. Returns the new pin's id in @id, or a
 * negative errno.
 */
static int mempin_create(struct mempin_container *c,
			 const struct mempin_request *req, unsigned long *id)
{
	u32 reason = MEMPIN_REASON_NONE;
	struct mempin_made made;
	int ret;

	ret = mempin_make(c, req, &made, &reason);
	if (ret) {
		mempin_note_refusal(c, req, ret, reason);
		return ret;
	}
	mutex_lock(&mempin_lock);
	*id = made.pin->id;
	mempin_publish(&made);
	mutex_unlock(&mempin_lock);
	return 0;
}

/* MEM_CMD_PIN: pin the caller's own memory. */
static long mempin_ioctl_self_pin(struct mempin_container *c,
				  const struct mem_pin_address *a)
{
	bool exempt = capable(CAP_IPC_LOCK);
	struct mempin_request req = {
		.mm = current->mm,
		.pid = task_tgid(current),
		.holder = task_tgid(current),
		.user = exempt ? NULL : current_user(),
		.rlimit = exempt ? RLIM_INFINITY : rlimit(RLIMIT_MEMLOCK),
		.requester = current_uid(),
		.requester_uid = from_kuid_munged(current_user_ns(),
						  current_uid()),
		.requester_pid = task_tgid_vnr(current),
	};
	unsigned long id;
	int ret;

	ret = mempin_range(a->addr, a->size, &req.start, &req.npages);
	if (ret)
		return ret;
	return mempin_create(c, &req, &id);
}

/* Whether @pin is one a caller may see and unpin. */
static bool mempin_visible(const struct mempin_region *pin)
{
	return test_bit(MEMPIN_VISIBLE, &pin->flags) &&
	       !test_bit(MEMPIN_RELEASED, &pin->flags);
}

/*
 * Take @pin out of the ledger if a caller may unpin it (see
 * mempin_visible()); returns it, for mempin_destroy() once the lock is
 * dropped, or NULL.
 */
static struct mempin_region *mempin_take(struct mempin_region *pin)
{
	lockdep_assert_held(&mempin_lock);
	if (!pin || !mempin_visible(pin))
		return NULL;
	mempin_unlink(pin);
	return pin;
}

/*
 * Take the revoked pin of exactly [@start, @start + @npages pages) of @mm
 * off @c's @revoked list: the holder has learnt of the revoke. Returns it,
 * for mempin_put(), or NULL.
 */
static struct mempin_region *mempin_take_revoked(struct mempin_container *c,
						 struct mm_struct *mm,
						 unsigned long start,
						 unsigned long npages)
{
	struct mempin_region *pin;

	lockdep_assert_held(&mempin_lock);
	list_for_each_entry(pin, &c->revoked, link) {
		if (pin->mm == mm && pin->start == start &&
		    pin->npages == npages) {
			list_del(&pin->link);
			c->nr_revoked--;
			return pin;
		}
	}
	return NULL;
}

/*
 * MEM_CMD_UNPIN: undo the MEM_CMD_PIN of exactly this range. ENOENT when
 * there is none, or when a manager revoked it (which acknowledges that).
 */
static long mempin_ioctl_self_unpin(struct mempin_container *c,
				    const struct mem_pin_address *a)
{
	struct mempin_region *pin, *revoked = NULL;
	unsigned long start, npages;
	int ret;

	ret = mempin_range(a->addr, a->size, &start, &npages);
	if (ret == -EFAULT || ret == -ENOMEM)
		return -ENOENT;	/* no pin can have this range */
	if (ret)
		return ret;
	mutex_lock(&mempin_lock);
	pin = mempin_find_range(c, current->mm, start,
				start + (npages << PAGE_SHIFT), NULL, NULL);
	if (pin && (pin->start != start || pin->npages != npages))
		pin = NULL;
	pin = mempin_take(pin);
	if (!pin)
		revoked = mempin_take_revoked(c, current->mm, start, npages);
	mutex_unlock(&mempin_lock);
	if (revoked)
		mempin_put(revoked);
	if (!pin)
		return -ENOENT;
	mempin_destroy(pin, MEMPIN_EVENT_UNPIN, current_uid());
	return 0;
}

/*
 * Copy a manager argument of @size bytes in, as the caller's @argsz says:
 * at least @minsz (its first version's size; missing fields are zero), at
 * most a page; bytes we do not know must be zero (copy_struct_from_user()).
 */
static int mempin_copy_arg(void *dst, size_t size, size_t minsz,
			   void __user *arg)
{
	u32 argsz;

	if (get_user(argsz, (u32 __user *)arg))
		return -EFAULT;
	if (argsz < minsz)
		return -EINVAL;
	if (argsz > MEMPIN_ARGSZ_MAX)
		return -E2BIG;
	return copy_struct_from_user(dst, size, arg, argsz);
}

static long mempin_ioctl_version(struct mempin_container *c, void __user *arg)
{
	struct mempin_version v;
	int ret;

	ret = mempin_copy_arg(&v, sizeof(v), sizeof(v), arg);
	if (ret)
		return ret;
	v.version = MEMPIN_ABI_VERSION;
	v.page_size = PAGE_SIZE;
	v.max_pinned_pages = READ_ONCE(max_pinned_pages);
	v.pinned_pages = atomic64_read(&mempin_pinned_pages);
	spin_lock(&mempin_events_lock);
	v.changes = mempin_next_seq - 1;
	spin_unlock(&mempin_events_lock);
	return copy_to_user(arg, &v, sizeof(v)) ? -EFAULT : 0;
}

/*
 * May the requester of @p pin @task's memory? Root (MEMPIN_PIN_ROOT, set by
 * the manager for a CAP_SYS_ADMIN requester) may. Anyone else only when its
 * uid is the target's real, effective and saved uid, its gid likewise, and
 * @mm is dumpable: ptrace's read rule (ptrace_may_access() and mm_access()
 * are not exported). Caller holds @task's exec_update_lock, so the
 * credentials and @mm belong to the same program.
 */
static bool mempin_may_pin(struct task_struct *task, struct mm_struct *mm,
			   const struct mempin_pin *p)
{
	kuid_t uid = make_kuid(current_user_ns(), p->requester_uid);
	kgid_t gid = make_kgid(current_user_ns(), p->requester_gid);
	const struct cred *tcred;
	bool ok;

	lockdep_assert_held(&task->signal->exec_update_lock);
	if (p->flags & MEMPIN_PIN_ROOT)
		return true;
	if (!uid_valid(uid) || !gid_valid(gid) ||
	    get_dumpable(mm) != SUID_DUMP_USER)
		return false;
	rcu_read_lock();
	tcred = __task_cred(task);
	ok = uid_eq(uid, tcred->uid) && uid_eq(uid, tcred->euid) &&
	     uid_eq(uid, tcred->suid) && gid_eq(gid, tcred->gid) &&
	     gid_eq(gid, tcred->egid) && gid_eq(gid, tcred->sgid);
	rcu_read_unlock();
	return ok;
}

/*
 * Resolve @p->pid once: the target's thread group as a held struct pid,
 * its mm (a user reference), its limit and, unless exempt, its user, all
 * taken under its exec_update_lock after the permission check, as
 * mm_access() does. Fills @req; the caller drops the references.
 */
static int mempin_resolve(const struct mempin_pin *p,
			  struct mempin_request *req)
{
	struct task_struct *task;
	struct pid *pid;
	int ret = 0;

	pid = find_get_pid(p->pid);
	task = pid ? get_pid_task(pid, PIDTYPE_PID) : NULL;
	put_pid(pid);
	if (!task)
		return -ESRCH;
	if (down_read_killable(&task->signal->exec_update_lock)) {
		ret = -EINTR;
		goto put_task;
	}
	req->mm = get_task_mm(task);
	if (!req->mm) {
		ret = -ESRCH;	/* exited, or a kernel thread */
		goto unlock;
	}
	if ((p->flags & MEMPIN_PIN_START_TIME) &&
	    div_u64(task->start_boottime, NSEC_PER_SEC / USER_HZ) !=
	    p->start_time) {
		ret = -ESRCH;	/* another process than the caller meant */
		goto put_mm;
	}
	if (!mempin_may_pin(task, req->mm, p)) {
		ret = -EACCES;
		goto put_mm;
	}
	req->pid = get_task_pid(task, PIDTYPE_TGID);
	if (p->flags & MEMPIN_PIN_NO_RLIMIT) {
		req->rlimit = RLIM_INFINITY;
	} else {
		req->rlimit = task_rlimit(task, RLIMIT_MEMLOCK);
		rcu_read_lock();
		req->user = get_uid(__task_cred(task)->user);
		rcu_read_unlock();
	}
	goto unlock;

put_mm:
	mmput(req->mm);
	req->mm = NULL;
unlock:
	up_read(&task->signal->exec_update_lock);
put_task:
	put_task_struct(task);
	return ret;
}

/* Drop what mempin_resolve() took. */
static void mempin_request_put(struct mempin_request *req)
{
	if (req->user)
		free_uid(req->user);
	put_pid(req->pid);
	/* A target that exited meanwhile is torn down elsewhere, not here. */
	mmput_async(req->mm);
}

/*
 * Unpin the pin @id of the ledger for the manager @c, on behalf of @uid. A
 * seed pin of another container is revoked: unpinned and uncharged now,
 * kept without pages on its holder's @revoked list (the holder polls
 * POLLPRI) until the holder acknowledges it or closes. -ENOENT when the
 * ledger has no such pin.
 */
static int mempin_remove_id(struct mempin_container *c, u64 id, kuid_t uid)
{
	struct mempin_container *holder;
	struct mempin_region *pin;
	bool kept;

	if (id != (unsigned long)id)
		return -ENOENT;
	mutex_lock(&mempin_lock);
	pin = mempin_take(mempin_lookup(id));
	mutex_unlock(&mempin_lock);
	if (!pin)
		return -ENOENT;
	holder = pin->container;
	if (holder == &mempin_managed || holder == c) {
		mempin_destroy(pin, MEMPIN_EVENT_UNPIN, uid);
		return 0;
	}

	mempin_stop(pin, MEMPIN_EVENT_REVOKE, uid);
	/* The pin's reference keeps @holder; its close frees what it finds. */
	mutex_lock(&mempin_lock);
	kept = !holder->closed;
	if (kept) {
		list_add_tail(&pin->link, &holder->revoked);
		holder->nr_revoked++;
		wake_up_interruptible_poll(&holder->wait, EPOLLPRI);
	}
	mutex_unlock(&mempin_lock);
	if (!kept)
		mempin_put(pin);
	return 0;
}

/*
 * MEMPIN_PIN_RANGES: pin each range of @p for @req's target, all or none,
 * out of sight until all are pinned and written back (see struct
 * mempin_pin). Each range's checks and limits are those of a pin of its
 * own, made after the ranges before it. Work is per range, with a check for
 * a fatal signal between ranges.
 */
static int mempin_pin_ranges(const struct mempin_pin *p,
			     struct mempin_request *req)
{
	struct mempin_range __user *ranges = u64_to_user_ptr(p->ranges);
	u32 reason = MEMPIN_REASON_NONE, n = 0, i;
	struct mempin_made *made;
	struct mempin_range r;
	int ret = 0;

	made = kvmalloc_array(p->nr_ranges, sizeof(*made), GFP_KERNEL);
	if (!made)
		return -ENOMEM;
	for (; n < p->nr_ranges; n++) {
		if (n && fatal_signal_pending(current)) {
			ret = -EINTR;
			goto unmake;
		}
		if (copy_from_user(&r, &ranges[n], sizeof(r))) {
			ret = -EFAULT;
			goto unmake;
		}
		ret = mempin_range(r.addr, r.length, &req->start,
				   &req->npages);
		if (ret)
			goto unmake;
		ret = mempin_make(&mempin_managed, req, &made[n], &reason);
		if (ret) {
			mempin_note_refusal(&mempin_managed, req, ret, reason);
			goto unmake;
		}
	}
	/* The caller learns every id before anyone sees one of them. */
	for (i = 0; i < n; i++) {
		struct mempin_region *pin = made[i].pin;

		r.id = pin->id;
		r.start = pin->start;
		r.end = mempin_end(pin);
		if (copy_to_user(&ranges[i].id, &r.id,
				 sizeof(r) - offsetof(typeof(r), id))) {
			ret = -EFAULT;
			goto unmake;
		}
	}
	mutex_lock(&mempin_lock);
	for (i = 0; i < n; i++)
		mempin_publish(&made[i]);
	mutex_unlock(&mempin_lock);
	kvfree(made);
	return 0;

unmake:
	while (n--)
		mempin_unmake(made[n].pin);
	kvfree(made);
	return ret;
}

/* MEMPIN_PIN: pin a range, or several, of the process @p.pid. */
static long mempin_ioctl_pin(struct mempin_container *c, void __user *arg)
{
	struct mempin_request req = {};
	struct mempin_pin p;
	unsigned long id;
	int ret;

	ret = mempin_copy_arg(&p, sizeof(p), offsetofend(typeof(p), end), arg);
	if (ret)
		return ret;
	if ((p.flags & ~MEMPIN_PIN_FLAGS) || p.reserved)
		return -EINVAL;
	if (p.flags & MEMPIN_PIN_RANGES) {
		if (p.addr || p.length || !p.nr_ranges ||
		    p.nr_ranges > MEMPIN_RANGES_MAX)
			return -EINVAL;
	} else {
		if (p.ranges || p.nr_ranges)
			return -EINVAL;
		ret = mempin_range(p.addr, p.length, &req.start, &req.npages);
		if (ret)
			return ret;
	}
	if (ret)
		return ret;
	if (p.pid <= 0)
		return -ESRCH;
	ret = mempin_resolve(&p, &req);
	if (ret)
		return ret;
	req.requester = make_kuid(current_user_ns(), p.requester_uid);
	req.requester_uid = p.requester_uid;
	req.requester_pid = p.requester_pid;
	if (p.flags & MEMPIN_PIN_RANGES) {
		ret = mempin_pin_ranges(&p, &req);
		mempin_request_put(&req);
		return ret;
	}
	ret = mempin_create(&mempin_managed, &req, &id);
	mempin_request_put(&req);
	if (ret)
		return ret;

	p.id = id;
	p.start = req.start;
	p.end = req.start + (req.npages << PAGE_SHIFT);
	/* What is out ends at @end: a caller's shorter struct gets no more. */
	if (copy_to_user(arg, &p, offsetofend(typeof(p), end))) {
		/* The caller cannot learn the id: do not leave the pin behind. */
		mempin_remove_id(c, id, req.requester);
		return -EFAULT;
	}
	return 0;
}

/* MEMPIN_UNPIN: unpin by id; done when it returns. */
static long mempin_ioctl_unpin(struct mempin_container *c, void __user *arg)
{
	struct mempin_unpin u;
	int ret;

	ret = mempin_copy_arg(&u, sizeof(u), offsetofend(typeof(u), id), arg);
	if (ret)
		return ret;
	if (u.flags)
		return -EINVAL;
	return mempin_remove_id(c, u.id,
				make_kuid(current_user_ns(), u.requester_uid));
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
	info->pid = pid_vnr(pin->pid);
	info->flags = MEMPIN_INFO_WRITABLE;
	if (test_bit(MEMPIN_DETACHED, &pin->flags))
		info->flags |= MEMPIN_INFO_DETACHED;
	info->requester_uid = pin->requester_uid;
	info->requester_pid = pin->requester_pid;
	info->pinned_at_ns = pin->pinned_at_ns;
	info->pin_duration_ns = pin->pin_duration_ns;
	info->via = mempin_via(pin->container);
	info->holder_pid = pin->holder ? pid_vnr(pin->holder) : 0;
}

/*
 * Copy @n entries of @batch to @out, @size bytes apart: the caller's
 * struct mempin_pin_info may be older (shorter) or newer (zeroed tail).
 */
static int mempin_copy_infos(void __user *out, u32 size,
			     const struct mempin_pin_info *batch, u32 n)
{
	size_t known = min_t(size_t, size, sizeof(*batch));
	u32 i;

	if (size == sizeof(*batch))
		return copy_to_user(out, batch, n * size) ? -EFAULT : 0;
	for (i = 0; i < n; i++, out += size) {
		if (copy_to_user(out, &batch[i], known) ||
		    clear_user(out + known, size - known))
			return -EFAULT;
	}
	return 0;
}

/*
 * MEMPIN_LIST: the ledger's pins in id order, from after_id on. Fills a
 * batch under the lock, copies it out without it, and goes on from the
 * batch's last id.
 */
static long mempin_ioctl_list(struct mempin_container *c, void __user *arg)
{
	struct mempin_list __user *uarg = arg;
	struct mempin_pin_info *batch;
	struct mempin_region *pin;
	struct mempin_list l;
	unsigned long index;
	u32 count, filled = 0, n;
	void __user *out;
	int ret;

	ret = mempin_copy_arg(&l, sizeof(l), offsetofend(typeof(l), entries),
			      arg);
	if (ret)
		return ret;
	if (!l.entry_size)
		l.entry_size = MEMPIN_PIN_INFO_SIZE_V2;
	if (l.flags || l.reserved || l.entry_size < MEMPIN_PIN_INFO_SIZE_V2 ||
	    l.entry_size > MEMPIN_ARGSZ_MAX)
		return -EINVAL;
	count = min(l.count, MEMPIN_LIST_MAX);
	out = u64_to_user_ptr(l.entries);
	batch = kmalloc_array(MEMPIN_BATCH, sizeof(*batch), GFP_KERNEL);
	if (!batch)
		return -ENOMEM;

	index = l.after_id;
	while (filled < count && l.after_id == (unsigned long)l.after_id &&
	       index < ULONG_MAX) {
		n = 0;
		mutex_lock(&mempin_lock);
		for (pin = mempin_lookup_after(index);
		     pin && n < min(MEMPIN_BATCH, count - filled);
		     pin = mempin_ledger_next(pin)) {
			if (!mempin_visible(pin) ||
			    (l.pid && pid_vnr(pin->pid) != l.pid))
				continue;
			mempin_fill_info(pin, &batch[n++]);
		}
		mutex_unlock(&mempin_lock);
		if (!n)
			break;
		ret = mempin_copy_infos(out + (size_t)filled * l.entry_size,
					l.entry_size, batch, n);
		if (ret)
			break;
		filled += n;
		/* Go on after the last pin copied. */
		index = batch[n - 1].id;
	}
	kfree(batch);
	if (ret)
		return ret;
	return put_user(filled, &uarg->count);
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

/* Pages of a pin looked at per hold of its locks by MEMPIN_READ_PAGES. */
#define MEMPIN_READ_BATCH	(MEMPIN_BATCH * 16)

/*
 * MEMPIN_READ_PAGES with MEMPIN_PAGES_RUNS: the pages of pin @p->id from
 * @p->first on as runs of consecutive frames, into @p->count runs at most,
 * covering MEMPIN_PAGES_MAX pages at most. Looks at MEMPIN_READ_BATCH pages
 * per hold of the locks, each hold looking the pin up again, as below; the
 * runs made in a hold are copied out after it. Returns the runs filled.
 */
static long mempin_read_runs(const struct mempin_pages *p)
{
	struct mempin_page_run __user *out = u64_to_user_ptr(p->entries);
	u64 next = p->first, last;
	u32 room = min(p->count, MEMPIN_PAGES_MAX), filled = 0, n;
	struct mempin_page_run run = {}, *batch;
	struct mempin_region *pin;
	bool more = true;
	long ret = 0;

	if (check_add_overflow(p->first, (u64)MEMPIN_PAGES_MAX, &last))
		last = U64_MAX;
	/* A hold ends up to one run per page it looks at, and the last. */
	batch = kmalloc_array(MEMPIN_READ_BATCH + 1, sizeof(*batch), GFP_KERNEL);
	if (!batch)
		return -ENOMEM;
	while (more) {
		n = 0;
		mutex_lock(&mempin_lock);
		pin = mempin_lookup(p->id);
		if (pin && test_bit(MEMPIN_VISIBLE, &pin->flags))
			mutex_lock(&pin->lock);
		else
			pin = NULL;
		if (!pin || !pin->pages) {
			/* Unpinned, or its process exited. */
			ret = filled || run.npages ? 0 : -ENOENT;
			more = false;
		} else if (!room || next >= min(pin->npages, last)) {
			more = false;	/* no room, past the end, or 65536 pages */
		} else {
			u64 stop = min(pin->npages, last);
			u64 end = min(stop, next + MEMPIN_READ_BATCH);

			more = end < stop;
			for (; next < end; next++) {
				struct page *page = pin->pages[next];
				unsigned long pfn = page_to_pfn(page);
				u32 flags = mempin_page_flags(page);
				int nid = page_to_nid(page);

				if (run.npages && pfn == run.pfn + run.npages &&
				    flags == run.flags && nid == run.nid) {
					run.npages++;
					continue;
				}
				if (run.npages) {
					/* The last run there is room for ends here. */
					if (filled + n + 1 == room) {
						more = false;
						break;
					}
					batch[n++] = run;
				}
				run = (struct mempin_page_run){
					.pfn = pfn, .npages = 1,
					.flags = flags, .nid = nid,
				};
			}
		}
		if (pin)
			mutex_unlock(&pin->lock);
		mutex_unlock(&mempin_lock);
		/* The run still open ends with the call. */
		if (!more && run.npages && !ret)
			batch[n++] = run;
		if (n && copy_to_user(out + filled, batch, n * sizeof(*batch))) {
			ret = -EFAULT;
			break;
		}
		filled += n;
	}
	kfree(batch);
	return ret ? ret : filled;
}

/*
 * MEMPIN_READ_PAGES: a pin's pages from index first on. Each batch looks the
 * pin up again in the ledger, under its lock, so a concurrent unpin ends the
 * read (ENOENT if nothing was read yet) instead of racing it.
 */
static long mempin_ioctl_read_pages(void __user *arg)
{
	struct mempin_page_info __user *out;
	struct mempin_page_info *batch;
	struct mempin_region *pin;
	struct mempin_pages p;
	u32 count, filled = 0, n, i;
	int ret;

	ret = mempin_copy_arg(&p, sizeof(p), sizeof(p), arg);
	if (ret)
		return ret;
	if ((p.flags & ~MEMPIN_PAGES_FLAGS) || p.reserved)
		return -EINVAL;
	if (p.id != (unsigned long)p.id)
		return -ENOENT;
	if (p.flags & MEMPIN_PAGES_RUNS) {
		long runs = mempin_read_runs(&p);

		if (runs < 0)
			return runs;
		p.count = runs;
		return copy_to_user(arg, &p, sizeof(p)) ? -EFAULT : 0;
	}
	count = min(p.count, MEMPIN_PAGES_MAX);
	out = u64_to_user_ptr(p.entries);
	batch = kmalloc_array(MEMPIN_READ_BATCH, sizeof(*batch), GFP_KERNEL);
	if (!batch)
		return -ENOMEM;

	for (;;) {
		n = 0;
		mutex_lock(&mempin_lock);
		pin = mempin_lookup(p.id);
		if (!pin || !test_bit(MEMPIN_VISIBLE, &pin->flags)) {
			mutex_unlock(&mempin_lock);
			ret = filled ? 0 : -ENOENT;
			break;
		}
		mutex_lock(&pin->lock);
		if (!pin->pages) {
			ret = filled ? 0 : -ENOENT;	/* process exited */
		} else if (p.first + filled < pin->npages) {
			u64 first = p.first + filled;

			n = min3(MEMPIN_READ_BATCH, count - filled,
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
		mutex_unlock(&mempin_lock);
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

/*
 * The MEMPIN_PFN_* state of the page frame @pfn: whether it is an online
 * page, and whether the kernel reports its folio as maybe DMA-pinned by
 * anyone. Takes no reference and no lock, as /proc/kpagecount does: a page
 * freed or split meanwhile gives a stale answer, never a fault (the memory
 * map of an online section stays).
 */
static u8 mempin_pfn_state(u64 pfn)
{
	struct folio *folio;
	struct page *page;
	u8 state = MEMPIN_PFN_ONLINE;

	if (pfn != (unsigned long)pfn)
		return 0;
	page = pfn_to_online_page(pfn);
	if (!page)
		return 0;
	folio = page_folio(page);
	if (folio_test_large(folio))
		state |= MEMPIN_PFN_LARGE;
	if (folio_maybe_dma_pinned(folio))
		state |= MEMPIN_PFN_PINNED;
	return state;
}

/*
 * MEMPIN_QUERY_PFNS: the state of up to MEMPIN_PFNS_MAX page frames, a
 * range or a list, MEMPIN_PFNS_BATCH at a time with cond_resched() and a
 * check for a fatal signal between batches. Frames that are not online
 * pages read as 0, whatever their number; a range past the last frame
 * number is EINVAL.
 */
static long mempin_ioctl_query_pfns(void __user *arg)
{
	struct mempin_pfns q;
	u64 __user *pfns;
	u8 __user *states;
	u32 count, done, n, i, pinned = 0;
	u64 *in;
	u8 *out;
	int ret;

	ret = mempin_copy_arg(&q, sizeof(q), sizeof(q), arg);
	if (ret)
		return ret;
	if (q.flags & ~MEMPIN_PFNS_FLAGS)
		return -EINVAL;
	count = min(q.count, MEMPIN_PFNS_MAX);
	if ((q.flags & MEMPIN_PFNS_RANGE) && q.first + count < q.first)
		return -EINVAL;
	pfns = u64_to_user_ptr(q.pfns);
	states = u64_to_user_ptr(q.states);
	in = kmalloc_array(MEMPIN_PFNS_BATCH, sizeof(*in) + sizeof(*out),
			   GFP_KERNEL);
	if (!in)
		return -ENOMEM;
	out = (u8 *)(in + MEMPIN_PFNS_BATCH);

	for (done = 0; done < count; done += n) {
		n = min(count - done, MEMPIN_PFNS_BATCH);
		if (!(q.flags & MEMPIN_PFNS_RANGE) &&
		    copy_from_user(in, pfns + done, n * sizeof(*in))) {
			ret = -EFAULT;
			break;
		}
		for (i = 0; i < n; i++) {
			u64 pfn = q.flags & MEMPIN_PFNS_RANGE ?
				  q.first + done + i : in[i];

			out[i] = mempin_pfn_state(pfn);
			pinned += !!(out[i] & MEMPIN_PFN_PINNED);
		}
		if (copy_to_user(states + done, out, n)) {
			ret = -EFAULT;
			break;
		}
		if (fatal_signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		cond_resched();
	}
	kfree(in);
	if (ret)
		return ret;
	q.count = done;
	q.pinned = pinned;
	return copy_to_user(arg, &q, sizeof(q)) ? -EFAULT : 0;
}

/*
 * Give @q->cgroup the cgroup v2 path of @task relative to the caller's
 * cgroup namespace, as /proc/PID/cgroup's "0::" line does, and its length
 * in @q->cgroup_length (0 when there is none to give). Called with no
 * lock held: cgroup_path_ns() takes cgroup_mutex and css_set_lock.
 */
static int mempin_process_cgroup(struct task_struct *task,
				 struct mempin_process *q)
{
	struct cgroup *cgrp;
	char *path;
	int len, ret = 0;

	q->cgroup_length = 0;
	if (!q->cgroup)
		return 0;
	rcu_read_lock();
	cgrp = task_dfl_cgroup(task);
	if (!cgroup_tryget(cgrp))
		cgrp = NULL;	/* it moved, and its cgroup went away */
	rcu_read_unlock();
	if (!cgrp)
		return 0;
	path = kmalloc(PATH_MAX, GFP_KERNEL);
	len = path ? cgroup_path_ns(cgrp, path, PATH_MAX,
				    current->nsproxy->cgroup_ns) : 0;
	cgroup_put(cgrp);
	if (len > 0 && len < PATH_MAX) {
		q->cgroup_length = len;
		if (len < q->cgroup_size &&
		    copy_to_user(u64_to_user_ptr(q->cgroup), path, len + 1))
			ret = -EFAULT;
	}
	kfree(path);
	return ret;
}

/*
 * Give @q the credentials of @task as the caller's user namespace sees
 * them, and whether it is root there: CAP_SYS_ADMIN in its effective set,
 * with credentials of that namespace (a task of a child namespace holds
 * capabilities only in its own, cap_capable()).
 */
static void mempin_process_cred(struct task_struct *task,
				struct mempin_process *q)
{
	struct user_namespace *ns = current_user_ns();
	const struct cred *cred;

	rcu_read_lock();
	cred = __task_cred(task);
	q->uid = from_kuid_munged(ns, cred->uid);
	q->euid = from_kuid_munged(ns, cred->euid);
	q->suid = from_kuid_munged(ns, cred->suid);
	q->gid = from_kgid_munged(ns, cred->gid);
	q->egid = from_kgid_munged(ns, cred->egid);
	q->sgid = from_kgid_munged(ns, cred->sgid);
	if (cred->user_ns == ns && cap_raised(cred->cap_effective, CAP_SYS_ADMIN))
		q->state |= MEMPIN_PROCESS_ADMIN;
	rcu_read_unlock();
}

/*
 * MEMPIN_PROCESS: what /proc/PID/stat, status, limits and cgroup show of a
 * process's pinning, without formatting their text. No lock of the target
 * is held across the reads: each figure is a snapshot, as /proc's are.
 */
static long mempin_ioctl_process(void __user *arg)
{
	struct mempin_process q;
	struct task_struct *task;
	struct mm_struct *mm;
	struct pid *pid;
	unsigned long limit;
	int ret;

	ret = mempin_copy_arg(&q, sizeof(q), sizeof(q), arg);
	if (ret)
		return ret;
	if (q.flags)
		return -EINVAL;
	q.state = 0;
	q.reserved = 0;
	pid = find_get_pid(q.pid);
	task = pid ? get_pid_task(pid, PIDTYPE_PID) : NULL;
	put_pid(pid);
	if (!task)
		return -ESRCH;
	mm = get_task_mm(task);
	if (!mm) {
		ret = -ESRCH;	/* exited, or a kernel thread */
		goto put_task;
	}
	q.tgid = task_tgid_vnr(task);
	mempin_process_cred(task, &q);
	if (get_dumpable(mm) == SUID_DUMP_USER)
		q.state |= MEMPIN_PROCESS_DUMPABLE;
	q.start_time_ns = task->start_boottime;
	q.pinned_bytes = (u64)atomic64_read(&mm->pinned_vm) << PAGE_SHIFT;
	limit = task_rlimit(task, RLIMIT_MEMLOCK);
	q.memlock_limit = limit == RLIM_INFINITY ? MEMPIN_UNLIMITED : limit;
	mmput(mm);
	ret = mempin_process_cgroup(task, &q);
put_task:
	put_task_struct(task);
	if (ret)
		return ret;
	return copy_to_user(arg, &q, sizeof(q)) ? -EFAULT : 0;
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
		if (cmd == MEM_CMD_PIN)
			return mempin_ioctl_self_pin(c, &a);
		return mempin_ioctl_self_unpin(c, &a);
	case MEMPIN_GET_VERSION:
		return mempin_ioctl_version(c, uarg);
	case MEMPIN_PIN:
	case MEMPIN_UNPIN:
	case MEMPIN_LIST:
	case MEMPIN_READ_PAGES:
	case MEMPIN_QUERY_PFNS:
	case MEMPIN_PROCESS:
		break;
	default:
		return -ENOTTY;
	}

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	switch (cmd) {
	case MEMPIN_PIN:
		return mempin_ioctl_pin(c, uarg);
	case MEMPIN_UNPIN:
		return mempin_ioctl_unpin(c, uarg);
	case MEMPIN_LIST:
		return mempin_ioctl_list(c, uarg);
	case MEMPIN_QUERY_PFNS:
		return mempin_ioctl_query_pfns(uarg);
	case MEMPIN_PROCESS:
		return mempin_ioctl_process(uarg);
	default:
		return mempin_ioctl_read_pages(uarg);
	}
}

/* Whether the ring holds a record numbered @seq or later. */
static bool mempin_events_from(u64 seq)
{
	bool ret;

	spin_lock(&mempin_events_lock);
	ret = mempin_next_seq > seq;
	spin_unlock(&mempin_events_lock);
	return ret;
}

/*
 * Take up to @max records from *@seq on out of the ring into @batch,
 * moving *@seq past them; a reader that fell behind the ring skips to its
 * oldest record. Returns how many.
 */
static u32 mempin_events_take(u64 *seq, struct mempin_record *batch, u32 max)
{
	u32 n = 0;

	spin_lock(&mempin_events_lock);
	if (mempin_next_seq > MEMPIN_EVENTS_KEPT &&
	    *seq < mempin_next_seq - MEMPIN_EVENTS_KEPT)
		*seq = mempin_next_seq - MEMPIN_EVENTS_KEPT;
	while (n < max && *seq < mempin_next_seq)
		batch[n++] = mempin_records[(*seq)++ % MEMPIN_EVENTS_KEPT];
	spin_unlock(&mempin_events_lock);
	return n;
}

/* A pid of the initial namespace as the reader sees it, 0 if it cannot. */
static pid_t mempin_pid_for_reader(pid_t nr)
{
	pid_t ret;

	if (!nr || task_active_pid_ns(current) == &init_pid_ns)
		return nr;
	rcu_read_lock();
	ret = pid_vnr(find_pid_ns(nr, &init_pid_ns));
	rcu_read_unlock();
	return ret;
}

static void mempin_fill_event(const struct mempin_record *r,
			      struct mempin_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->seq = r->seq;
	ev->id = r->id;
	ev->start = r->start;
	ev->end = r->start + (r->pages << PAGE_SHIFT);
	ev->pages = r->pages;
	ev->time_ns = r->time_ns;
	ev->type = r->type;
	ev->pid = mempin_pid_for_reader(r->pid);
	ev->holder_pid = mempin_pid_for_reader(r->holder_pid);
	ev->uid = from_kuid_munged(current_user_ns(), r->uid);
	ev->error = r->error;
	ev->reason = r->reason;
	ev->via = r->via;
}

/*
 * read(2) of a manager's file: whole struct mempin_event records, from the
 * file's position in the ring on. Waits for one unless O_NONBLOCK.
 */
static ssize_t mempin_read(struct file *file, char __user *buf, size_t len,
			   loff_t *ppos)
{
	struct mempin_container *c = file->private_data;
	size_t want = min_t(size_t, len / sizeof(struct mempin_event),
			    MEMPIN_EVENTS_KEPT);
	struct mempin_record *batch;
	struct mempin_event ev;
	size_t done = 0;
	ssize_t ret = 0;
	u32 n, i;

	if (!c->manager)
		return -EPERM;
	if (!want)
		return -EINVAL;
	if (mutex_lock_interruptible(&c->read_lock))
		return -ERESTARTSYS;
	while (!mempin_events_from(c->event_seq)) {
		if (file->f_flags & O_NONBLOCK) {
			ret = -EAGAIN;
			goto unlock;
		}
		ret = wait_event_interruptible(mempin_events_wait,
					       mempin_events_from(c->event_seq));
		if (ret)
			goto unlock;
	}
	/* Taken once there is something to read: a waiting reader holds none. */
	batch = kmalloc_array(MEMPIN_BATCH, sizeof(*batch), GFP_KERNEL);
	if (!batch) {
		ret = -ENOMEM;
		goto unlock;
	}
	while (done < want) {
		u64 seq = c->event_seq;

		n = mempin_events_take(&seq, batch,
				       min_t(size_t, MEMPIN_BATCH, want - done));
		if (!n)
			break;
		for (i = 0; i < n; i++) {
			mempin_fill_event(&batch[i], &ev);
			if (copy_to_user(buf + (done + i) * sizeof(ev), &ev,
					 sizeof(ev))) {
				ret = -EFAULT;
				break;
			}
		}
		/* What was not copied out is read again next time. */
		WRITE_ONCE(c->event_seq, i ? batch[i - 1].seq + 1 : c->event_seq);
		done += i;
		if (ret)
			break;
	}
	kfree(batch);
unlock:
	mutex_unlock(&c->read_lock);
	return done ? done * sizeof(ev) : ret;
}

/* POLLIN: a manager has records to read; POLLPRI: a seed pin was revoked. */
static __poll_t mempin_poll(struct file *file, poll_table *wait)
{
	struct mempin_container *c = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &c->wait, wait);
	if (c->manager) {
		poll_wait(file, &mempin_events_wait, wait);
		if (mempin_events_from(READ_ONCE(c->event_seq)))
			mask |= EPOLLIN | EPOLLRDNORM;
	}
	if (READ_ONCE(c->nr_revoked))
		mask |= EPOLLPRI;
	return mask;
}

static void mempin_container_init(struct mempin_container *c)
{
	kref_init(&c->ref);
	INIT_LIST_HEAD(&c->pins);
	c->ranges = RB_ROOT;
	INIT_LIST_HEAD(&c->revoked);
	init_waitqueue_head(&c->wait);
	mutex_init(&c->read_lock);
}

static int mempin_open(struct inode *inode, struct file *file)
{
	struct mempin_container *c;

	c = kzalloc(sizeof(*c), GFP_KERNEL_ACCOUNT);
	if (!c)
		return -ENOMEM;
	mempin_container_init(c);
	c->manager = capable(CAP_SYS_ADMIN);
	spin_lock(&mempin_events_lock);
	c->event_seq = mempin_next_seq;
	spin_unlock(&mempin_events_lock);
	file->private_data = c;
	return 0;
}

/*
 * The last reference to the container went away: unpin its seed pins and
 * forget its revoked ones. The pins taken out of the ledger here are this
 * call's; one being revoked meanwhile is freed by its revoker.
 */
static int mempin_release(struct inode *inode, struct file *file)
{
	struct mempin_container *c = file->private_data;
	struct mempin_region *pin, *next;
	LIST_HEAD(doomed);
	LIST_HEAD(revoked);

	mutex_lock(&mempin_lock);
	c->closed = true;
	list_for_each_entry_safe(pin, next, &c->pins, link) {
		mempin_unlink(pin);
		list_add_tail(&pin->reap, &doomed);
	}
	list_splice_init(&c->revoked, &revoked);
	c->nr_revoked = 0;
	mutex_unlock(&mempin_lock);

	list_for_each_entry_safe(pin, next, &doomed, reap)
		mempin_destroy(pin, MEMPIN_EVENT_CLOSE, pin->requester);
	list_for_each_entry_safe(pin, next, &revoked, link)
		mempin_put(pin);
	mempin_container_put(c);
	return 0;
}

static const struct file_operations mempin_fops = {
	.owner = THIS_MODULE,
	.open = mempin_open,
	.release = mempin_release,
	.read = mempin_read,
	.poll = mempin_poll,
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
	int ret;

	/* The ABI has one layout on every architecture. */
	BUILD_BUG_ON(sizeof(struct mem_pin_address) != 16);
	BUILD_BUG_ON(sizeof(struct mempin_version) != 40);
	BUILD_BUG_ON(sizeof(struct mempin_pin) != 88);
	BUILD_BUG_ON(offsetof(struct mempin_pin, ranges) != 72);
	BUILD_BUG_ON(sizeof(struct mempin_range) != 40);
	BUILD_BUG_ON(offsetofend(struct mempin_pin, end) != 64);
	BUILD_BUG_ON(sizeof(struct mempin_unpin) != 24);
	BUILD_BUG_ON(sizeof(struct mempin_pin_info) != 80);
	BUILD_BUG_ON(offsetof(struct mempin_pin_info, via) !=
		     MEMPIN_PIN_INFO_SIZE_V2);
	BUILD_BUG_ON(sizeof(struct mempin_list) != 40);
	BUILD_BUG_ON(sizeof(struct mempin_page_info) != 24);
	BUILD_BUG_ON(sizeof(struct mempin_pages) != 40);
	BUILD_BUG_ON(sizeof(struct mempin_event) != 80);
	BUILD_BUG_ON(sizeof(struct mempin_process) != 88);
	/* Ids are never reused: the ledger's index must not wrap. */
	BUILD_BUG_ON(sizeof(unsigned long) < sizeof(u64));

	/* Unpinnable memory is memory the kernel cannot reclaim or move. */
	if (max_pinned_pages == ULONG_MAX)
		max_pinned_pages = totalram_pages() / 2;
	mempin_container_init(&mempin_managed);
	mempin_records = kvcalloc(MEMPIN_EVENTS_KEPT, sizeof(*mempin_records),
				  GFP_KERNEL);
	if (!mempin_records)
		return -ENOMEM;
	mempin_wq = alloc_workqueue("mempinfd", WQ_UNBOUND, 0);
	if (!mempin_wq) {
		ret = -ENOMEM;
		goto free_records;
	}
	mempin_walk_wq = alloc_workqueue("mempinfd_walk", WQ_CPU_INTENSIVE, 0);
	if (!mempin_walk_wq) {
		ret = -ENOMEM;
		goto destroy_wq;
	}
	ret = misc_register(&mempin_dev);
	if (ret)
		goto destroy_walk_wq;
	return 0;

destroy_walk_wq:
	destroy_workqueue(mempin_walk_wq);
destroy_wq:
	destroy_workqueue(mempin_wq);
free_records:
	kvfree(mempin_records);
	return ret;
}

/* Every pin holds the module: the ledger is empty here. */
static void __exit mempin_exit(void)
{
	misc_deregister(&mempin_dev);
	destroy_workqueue(mempin_walk_wq);
	destroy_workqueue(mempin_wq);
	WARN_ON_ONCE(!RB_EMPTY_ROOT(&mempin_ledger));
	kvfree(mempin_records);
}

module_init(mempin_init);
module_exit(mempin_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Accounted, visible, revocable long-term memory pins");
MODULE_VERSION("0.4.0");
