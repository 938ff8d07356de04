import CMempin
import SystemPackage

/// One pin, as the module reports it.
public struct PinRecord: Hashable, Sendable {
    /// The pin's id in its container; never reused by it.
    public var id: UInt64
    /// The first byte of the pinned range, page-aligned.
    public var start: UInt64
    /// The end of the pinned range, page-aligned, exclusive.
    public var end: UInt64
    /// Pages pinned and charged to the target's `VmPin`.
    public var pages: UInt64
    /// Of `pages`, those inside a huge page or large folio.
    public var hugePages: UInt64
    /// The target process (its thread-group id).
    public var pid: Int32
    /// Whether the pages are pinned for writing.
    public var isWritable: Bool
    /// Whether the range was unmapped or remapped since it was pinned.
    public var isDetached: Bool
    /// Who asked for the pin.
    public var requesterUID: UInt32
    /// Which process asked for the pin.
    public var requesterPID: Int32
    /// When the pin was made: nanoseconds since the Unix epoch.
    public var pinnedAtNanoseconds: UInt64
    /// How long pinning took, in nanoseconds.
    public var pinDurationNanoseconds: UInt64
    /// Which interface made it.
    public var via: PinVia
    /// For a seed pin, the process whose `/dev/mempinfd` holds it (0 once
    /// it is gone); 0 for the tree's pins.
    public var holderPID: Int32

    public init(
        id: UInt64, start: UInt64, end: UInt64, pages: UInt64, hugePages: UInt64 = 0,
        pid: Int32, isWritable: Bool = true, isDetached: Bool = false,
        requesterUID: UInt32 = 0, requesterPID: Int32 = 0,
        pinnedAtNanoseconds: UInt64 = 0, pinDurationNanoseconds: UInt64 = 0,
        via: PinVia = .tree, holderPID: Int32 = 0
    ) {
        self.id = id
        self.start = start
        self.end = end
        self.pages = pages
        self.hugePages = hugePages
        self.pid = pid
        self.isWritable = isWritable
        self.isDetached = isDetached
        self.requesterUID = requesterUID
        self.requesterPID = requesterPID
        self.pinnedAtNanoseconds = pinnedAtNanoseconds
        self.pinDurationNanoseconds = pinDurationNanoseconds
        self.via = via
        self.holderPID = holderPID
    }

    /// The pinned bytes.
    public var bytes: UInt64 { end - start }
}

/// The interface a pin was made through, as a pin file's `via` says.
public enum PinVia: String, Hashable, Sendable {
    /// Through the tree (the module's manager interface): the pin belongs
    /// to its process and outlives the server.
    case tree
    /// By a process through the seed interface on its own `/dev/mempinfd`:
    /// the pin belongs to that open file.
    case ioctl
}

/// What happened to a pin, as the module's ledger records it.
public enum ChangeKind: String, Hashable, Sendable, CaseIterable {
    /// A pin was made, through any interface.
    case pin
    /// Its owner unpinned it (`rm`, `MEM_CMD_UNPIN`, `MEMPIN_UNPIN`).
    case unpin
    /// Root removed another holder's pin.
    case revoke
    /// Its process's exit released it.
    case exit
    /// Its holder's container was closed.
    case close
    /// Its range no longer maps its pages.
    case detach
    /// A pin was refused.
    case refuse
}

/// Which limit refused a pin with `ENOMEM`.
public enum RefusalReason: String, Hashable, Sendable {
    /// The target's RLIMIT_MEMLOCK.
    case memlock
    /// The user's pins over all its processes, over its RLIMIT_MEMLOCK.
    case userLimit = "user_limit"
    /// The module's `max_pinned_pages`.
    case machineLimit = "machine_limit"
    /// Pages that could not be moved out of the way or pinned.
    case migration
}

/// One change record of the module's ledger (`struct mempin_event`).
public struct ChangeRecord: Hashable, Sendable {
    /// Its number, machine-wide and consecutive: a gap is records lost.
    public var sequence: UInt64
    /// What happened.
    public var kind: ChangeKind
    /// The pin; 0 for a refusal.
    public var id: UInt64
    /// The range (page-aligned, end exclusive).
    public var start: UInt64
    public var end: UInt64
    public var pages: UInt64
    /// The target process.
    public var pid: Int32
    /// A seed pin's holder, else 0.
    public var holderPID: Int32
    /// Who acted.
    public var uid: UInt32
    /// Which interface the pin came from.
    public var via: PinVia
    /// For a refusal: its errno, and which limit for `ENOMEM`.
    public var error: Errno?
    public var reason: RefusalReason?
    /// When, nanoseconds since the Unix epoch.
    public var timeNanoseconds: UInt64

    public init(
        sequence: UInt64, kind: ChangeKind, id: UInt64, start: UInt64, end: UInt64, pages: UInt64,
        pid: Int32, holderPID: Int32 = 0, uid: UInt32 = 0, via: PinVia = .tree,
        error: Errno? = nil, reason: RefusalReason? = nil, timeNanoseconds: UInt64 = 0
    ) {
        self.sequence = sequence
        self.kind = kind
        self.id = id
        self.start = start
        self.end = end
        self.pages = pages
        self.pid = pid
        self.holderPID = holderPID
        self.uid = uid
        self.via = via
        self.error = error
        self.reason = reason
        self.timeNanoseconds = timeNanoseconds
    }
}

/// The memory zone a pinned page lives in.
public enum MemoryZone: String, Hashable, Sendable, CaseIterable {
    case dma, dma32, normal, movable, device, other

    /// The zone's position in ``allCases``.
    public var index: Int {
        switch self {
        case .dma: 0
        case .dma32: 1
        case .normal: 2
        case .movable: 3
        case .device: 4
        case .other: 5
        }
    }
}

/// What the kernel says of one page frame: whether it is an online page
/// and whether it is maybe DMA-pinned by anyone (`folio_maybe_dma_pinned`:
/// exact for large folios, a reference-count heuristic for small pages).
public struct FrameState: OptionSet, Hashable, Sendable {
    public let rawValue: UInt8

    public init(rawValue: UInt8) {
        self.rawValue = rawValue
    }
}

/// One pinned page.
public struct PageRecord: Hashable, Sendable {
    /// Its virtual address in the target.
    public var virtualAddress: UInt64
    /// Its page frame number.
    public var frameNumber: UInt64
    /// Its NUMA node.
    public var node: Int32
    /// Its zone.
    public var zone: MemoryZone
    /// Whether it is part of a huge page or large folio.
    public var isHuge: Bool

    public init(virtualAddress: UInt64, frameNumber: UInt64, node: Int32 = 0, zone: MemoryZone = .normal, isHuge: Bool = false) {
        self.virtualAddress = virtualAddress
        self.frameNumber = frameNumber
        self.node = node
        self.zone = zone
        self.isHuge = isHuge
    }
}

/// Pinned pages that follow each other in the address space and in
/// memory, on one node, in one zone, all huge or none: a THP's 512 pages
/// are one run, or part of one.
public struct PageRun: Hashable, Sendable {
    /// The first page.
    public var first: PageRecord
    /// How many pages, one or more: the i-th is `i` pages past the first in
    /// the address space and `i` frames past it in memory.
    public var count: Int

    public init(first: PageRecord, count: Int) {
        self.first = first
        self.count = count
    }

    /// The run without its first `pages` pages (fewer than ``count``).
    public func dropping(_ pages: Int) -> PageRun {
        var rest = self
        rest.first.virtualAddress &+= UInt64(pages) &* 0x1000
        rest.first.frameNumber &+= UInt64(pages)
        rest.count -= pages
        return rest
    }

    /// Whether `page` is the one after this run's last; with
    /// `comparingFrames` false, whatever its frame.
    public func continues(with page: PageRecord, comparingFrames: Bool = true) -> Bool {
        page.virtualAddress == first.virtualAddress &+ UInt64(count) &* 0x1000
            && (!comparingFrames || page.frameNumber == first.frameNumber &+ UInt64(count))
            && page.node == first.node && page.zone == first.zone && page.isHuge == first.isHuge
    }

    /// `pages`, in order, as runs.
    public static func runs(of pages: [PageRecord]) -> [PageRun] {
        var runs: [PageRun] = []
        for page in pages {
            if let last = runs.last, last.continues(with: page) {
                runs[runs.count - 1].count += 1
            } else {
                runs.append(PageRun(first: page, count: 1))
            }
        }
        return runs
    }
}

/// What to pin, and for whom.
public struct PinRequest: Hashable, Sendable {
    /// The target process.
    public var pid: Int32
    /// The first byte; need not be page-aligned.
    public var address: UInt64
    /// The number of bytes.
    public var length: UInt64
    /// On whose behalf: unless the requester is root, the module refuses
    /// unless this is the target's real, effective and saved uid.
    public var requesterUID: UInt32
    /// The requester's group: likewise the target's real, effective and
    /// saved gid.
    public var requesterGID: UInt32
    /// The requesting process, recorded with the pin.
    public var requesterPID: Int32
    /// The requester is root (CAP_SYS_ADMIN): the module skips its
    /// credential check and the RLIMIT_MEMLOCK limits (the pin is still
    /// charged to `VmPin` and to the module's limit).
    public var requesterIsRoot: Bool
    /// When the target started, in clock ticks since boot (`/proc/PID/stat`'s
    /// start time): the module pins only in the process that started then,
    /// so a later one given the same pid is refused with `ESRCH`. Nil: any.
    public var startTime: UInt64?

    public init(pid: Int32, address: UInt64, length: UInt64, requesterUID: UInt32, requesterGID: UInt32,
                requesterPID: Int32, requesterIsRoot: Bool, startTime: UInt64? = nil) {
        self.startTime = startTime
        self.pid = pid
        self.address = address
        self.length = length
        self.requesterUID = requesterUID
        self.requesterGID = requesterGID
        self.requesterPID = requesterPID
        self.requesterIsRoot = requesterIsRoot
    }
}

/// What `MEMPIN_GET_VERSION` reports.
public struct ModuleVersion: Hashable, Sendable {
    /// The manager interface's version.
    public var version: UInt32
    /// The page size pins are counted in.
    public var pageSize: UInt64
    /// The module's machine-wide limit in pages, 0 for none.
    public var maxPinnedPages: UInt64
    /// Pages pinned now through the module, machine-wide.
    public var pinnedPages: UInt64
    /// The container's change counter.
    public var changes: UInt64

    public init(version: UInt32, pageSize: UInt64, maxPinnedPages: UInt64, pinnedPages: UInt64, changes: UInt64) {
        self.version = version
        self.pageSize = pageSize
        self.maxPinnedPages = maxPinnedPages
        self.pinnedPages = pinnedPages
        self.changes = changes
    }
}

/// What the module reads of a task and its pinning in one call
/// (`MEMPIN_PROCESS`): the figures `/proc/PID/stat`, `status`, `limits` and
/// `cgroup` give, and the credentials ptrace's read rule compares; each a
/// snapshot.
public struct ProcessFigures: Hashable, Sendable {
    /// The thread group of the task asked about.
    public var threadGroup: Int32
    /// Its real, effective and saved uid.
    public var uids: [UInt32] { [uid.real, uid.effective, uid.saved] }
    /// Its real, effective and saved gid.
    public var gids: [UInt32] { [gid.real, gid.effective, gid.saved] }
    /// The ids themselves, kept without an array's allocation: most
    /// questions (the sender's root-ness, every request) read none of them.
    private var uid: IDs
    private var gid: IDs
    /// CAP_SYS_ADMIN in its effective set, with credentials of the
    /// server's user namespace: root where the server is.
    public var isAdministrator: Bool
    /// Its memory may be inspected by its own user (`get_dumpable() ==
    /// SUID_DUMP_USER`).
    public var isDumpable: Bool
    /// When the task started: CLOCK_BOOTTIME nanoseconds, what
    /// `/proc/PID/stat`'s start time counts in clock ticks.
    public var startTimeNanoseconds: UInt64
    /// Its `VmPin` in bytes, charged by every pinner.
    public var pinnedBytes: UInt64
    /// Its soft RLIMIT_MEMLOCK in bytes; nil when it has none
    /// (`RLIM_INFINITY`).
    public var memlockLimitBytes: UInt64?
    /// Its cgroup v2 path, when asked for and the kernel could give it.
    public var cgroup: String?

    public init(threadGroup: Int32, uids: [UInt32], gids: [UInt32], isAdministrator: Bool = false,
                isDumpable: Bool = true, startTimeNanoseconds: UInt64, pinnedBytes: UInt64,
                memlockLimitBytes: UInt64?, cgroup: String? = nil) {
        self.threadGroup = threadGroup
        uid = IDs(uids)
        gid = IDs(gids)
        self.isAdministrator = isAdministrator
        self.isDumpable = isDumpable
        self.startTimeNanoseconds = startTimeNanoseconds
        self.pinnedBytes = pinnedBytes
        self.memlockLimitBytes = memlockLimitBytes
        self.cgroup = cgroup
    }

    /// The figures as `MEMPIN_PROCESS` gives them.
    init(_ arg: mempin_process, cgroup: String?) {
        threadGroup = arg.tgid
        uid = IDs(real: arg.uid, effective: arg.euid, saved: arg.suid)
        gid = IDs(real: arg.gid, effective: arg.egid, saved: arg.sgid)
        isAdministrator = arg.state & UInt32(MEMPIN_PROCESS_ADMIN) != 0
        isDumpable = arg.state & UInt32(MEMPIN_PROCESS_DUMPABLE) != 0
        startTimeNanoseconds = arg.start_time_ns
        pinnedBytes = arg.pinned_bytes
        memlockLimitBytes = arg.memlock_limit == UInt64.max ? nil : arg.memlock_limit
        self.cgroup = cgroup
    }

    /// The real uid and gid: whom `/proc/PID` belongs to.
    public var owner: (uid: UInt32, gid: UInt32) { (uid.real, gid.real) }

    /// A real, effective and saved id.
    fileprivate struct IDs: Hashable, Sendable {
        var real: UInt32
        var effective: UInt32
        var saved: UInt32
    }
}

extension ProcessFigures.IDs {
    /// The first three of `ids`; one given stands for all three.
    init(_ ids: [UInt32]) {
        let real = ids.first ?? 0
        let effective = ids.count > 1 ? ids[1] : real
        self.init(real: real, effective: effective, saved: ids.count > 2 ? ids[2] : effective)
    }
}
