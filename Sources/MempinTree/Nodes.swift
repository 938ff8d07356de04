import MempinDevice
import SystemPackage

/// Where the tree gets and makes its pins: `/dev/mempinfd` in the server,
/// an in-memory double in the host tests.
public protocol PinBackend: Sendable {
    /// Pins a range of a process; all or nothing.
    func pin(_ request: PinRequest) throws(Errno) -> PinRecord
    /// Pins several ranges of one process for one requester, each a pin of
    /// its own, in order; all or none.
    func pin(_ requests: [PinRequest]) throws(Errno) -> [PinRecord]
    /// Unpins any pin of the ledger on behalf of a requester (revoking a
    /// seed pin); done when it returns. `ENOENT` if there is no such pin.
    func unpin(id: UInt64, requesterUID: UInt32, requesterPID: Int32) throws(Errno)
    /// All pins, or those of one process (pid 0: all).
    func listAll(pid: Int32) throws(Errno) -> [PinRecord]
    /// The pin with this id, fresh, or nil.
    func pin(id: UInt64) throws(Errno) -> PinRecord?
    /// Up to `count` pages of a pin from index `first`; fewer only at the end.
    func pages(of id: UInt64, from first: UInt64, count: Int) throws(Errno) -> [PageRecord]
    /// A pin's pages from index `first` as runs (``PageRun``): up to
    /// `count` runs, at least one unless past the end.
    func pageRuns(of pin: PinRecord, from first: UInt64, count: Int) throws(Errno) -> [PageRun]
    /// A counter that moves whenever the ledger changes, machine-wide.
    func changeCount() throws(Errno) -> UInt64
    /// The module's version and machine-wide figures.
    func version() throws(Errno) -> ModuleVersion
    /// What the kernel says of each of these page frames, in order.
    func frameStates(of frames: [UInt64]) throws(Errno) -> [FrameState]
    /// The same for `count` consecutive frames from `first`.
    func frameStates(from first: UInt64, count: Int) throws(Errno) -> [FrameState]
    /// Whether ``pin(_:)`` refuses a request whose ``PinRequest/startTime``
    /// is not its target's (then the tree need not look first).
    var checksStartTimes: Bool { get }
}

extension PinBackend {
    public var checksStartTimes: Bool { false }

    /// ``pinOneByOne(_:)``.
    public func pin(_ requests: [PinRequest]) throws(Errno) -> [PinRecord] {
        try pinOneByOne(requests)
    }

    /// One ``pin(_:)-(PinRequest)`` per request; a refusal unpins the
    /// pins made before it, newest first.
    public func pinOneByOne(_ requests: [PinRequest]) throws(Errno) -> [PinRecord] {
        var made: [PinRecord] = []
        for request in requests {
            do {
                made.append(try pin(request))
            } catch {
                takeBack(made)
                throw error
            }
        }
        return made
    }

    /// Unpins pins just made, newest first, each on behalf of the
    /// requester it was made for; a pin already gone is no error.
    public func takeBack(_ pins: [PinRecord]) {
        for pin in pins.reversed() {
            try? unpin(id: pin.id, requesterUID: pin.requesterUID, requesterPID: pin.requesterPID)
        }
    }

    /// The runs of up to `count` pages from ``pages(of:from:count:)``.
    public func pageRuns(of pin: PinRecord, from first: UInt64, count: Int) throws(Errno) -> [PageRun] {
        PageRun.runs(of: try pages(of: pin.id, from: first, count: count))
    }
}

extension MempinDevice: PinBackend {
    /// The lines of a write in one call where the module takes several
    /// (``MempinDevice/pin(together:)``), else one by one.
    public func pin(_ requests: [PinRequest]) throws(Errno) -> [PinRecord] {
        pinsRangesTogether && requests.count > 1 ? try pin(together: requests) : try pinOneByOne(requests)
    }

    /// The module makes the runs: a THP is one record, not 512.
    public func pageRuns(of pin: PinRecord, from first: UInt64, count: Int) throws(Errno) -> [PageRun] {
        try pageRuns(of: pin.id, at: pin.start, from: first, count: count)
    }
}

/// Where the module's change records come from.
public protocol ChangeSource: Sendable {
    /// The records since the last call, up to `limit`, waiting up to
    /// `timeout` milliseconds for one (-1 forever); empty if none came.
    func changes(limit: Int, timeout: Int32) throws(Errno) -> [ChangeRecord]
    /// Waits up to `timeout` milliseconds (-1 forever) for a record to be
    /// there, and takes none; whether one is.
    func waitForChanges(timeout: Int32) throws(Errno) -> Bool
}

extension MempinDevice: ChangeSource {}

/// Who sent a request, from the FUSE request's credentials.
public struct Requester: Hashable, Sendable {
    /// The uid and gid the kernel checks access with (the fsuid and fsgid).
    public var uid: UInt32
    public var gid: UInt32
    /// The requesting process (thread-group id); for a decision that needs
    /// only the user and root-ness (a lookup's ptrace rule, a writer's
    /// right), the server may leave here the sending thread's own id.
    public var pid: Int32
    /// CAP_SYS_ADMIN in the server's user namespace: what this tree calls
    /// root (uid 0 without the capability is not).
    public var isRoot: Bool

    public init(uid: UInt32, gid: UInt32, pid: Int32, isRoot: Bool) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.isRoot = isRoot
    }
}

/// A file or directory of the tree.
public enum Node: Hashable, Sendable {
    /// The mount's root.
    case root
    /// `self`, a symlink to the caller's pid.
    case selfLink
    /// `stats`, totals over all pins.
    case stats
    /// `metrics`, the totals and per-process figures in Prometheus's text
    /// format.
    case metrics
    /// `events`, the stream of what changes.
    case events
    /// `memory/`, one file per memory block.
    case memoryDirectory
    /// `memory/memoryN`, the pins that hold pages of block N.
    case memoryBlock(index: UInt32)
    /// `PID/`.
    case processDirectory(pid: Int32)
    /// `PID/pin`, the control file.
    case pinControl(pid: Int32)
    /// `PID/status`.
    case processStatus(pid: Int32)
    /// `PID/other_pins`, its memory that other subsystems hold pinned.
    case otherPins(pid: Int32)
    /// `PID/START-END`, one pin.
    case pinFile(pid: Int32, id: UInt64)

    /// The node's inode number; stable for the node's life, unique in the
    /// mount. Pin ids are never reused by the server's container.
    public var inode: UInt64 {
        switch self {
        case .root: 1
        case .selfLink: 2
        case .stats: 3
        case .metrics: 4
        case .events: 5
        case .memoryDirectory: 6
        case .processDirectory(let pid): 1 << 32 | UInt64(UInt32(bitPattern: pid))
        case .pinControl(let pid): 2 << 32 | UInt64(UInt32(bitPattern: pid))
        case .processStatus(let pid): 3 << 32 | UInt64(UInt32(bitPattern: pid))
        case .otherPins(let pid): 4 << 32 | UInt64(UInt32(bitPattern: pid))
        case .memoryBlock(let index): 5 << 32 | UInt64(index)
        case .pinFile(_, let id): Node.pinFileBit | id
        }
    }

    static let pinFileBit: UInt64 = 1 << 62

    /// The node an inode number stands for, but for pin files, whose pid is
    /// not in the number (see ``pinID(ofInode:)``).
    public static func decode(_ inode: UInt64) -> Node? {
        let pid = Int32(bitPattern: UInt32(truncatingIfNeeded: inode))
        switch (inode, inode >> 32) {
        case (1, _): return .root
        case (2, _): return .selfLink
        case (3, _): return .stats
        case (4, _): return .metrics
        case (5, _): return .events
        case (6, _): return .memoryDirectory
        case (_, 1): return .processDirectory(pid: pid)
        case (_, 2): return .pinControl(pid: pid)
        case (_, 3): return .processStatus(pid: pid)
        case (_, 4): return .otherPins(pid: pid)
        case (_, 5): return .memoryBlock(index: UInt32(truncatingIfNeeded: inode))
        default: return nil
        }
    }

    static func pinID(ofInode inode: UInt64) -> UInt64? {
        inode & pinFileBit != 0 ? inode & ~pinFileBit : nil
    }
}

/// What `stat` shows of a node.
public struct Attributes: Hashable, Sendable {
    public enum Kind: Hashable, Sendable {
        case directory, regularFile, symbolicLink
    }

    public var inode: UInt64
    public var kind: Kind
    /// Permission bits, e.g. 0o755.
    public var permissions: UInt16
    public var uid: UInt32
    public var gid: UInt32
    /// Always 0 for generated files (served with direct I/O); a symlink's
    /// target length.
    public var size: UInt64
    public var linkCount: UInt32
    /// Seconds since the Unix epoch.
    public var modificationTime: UInt64
    /// The inode's generation: for a pid directory and its files, the
    /// process's start time, so that the kernel takes an inode of the same
    /// number made for an earlier process of that pid for stale.
    public var generation: UInt64 = 1
}

/// A name in a directory listing.
public struct DirectoryEntry: Hashable, Sendable {
    public var name: String
    public var node: Node
    public var kind: Attributes.Kind

    public init(name: String, node: Node, kind: Attributes.Kind) {
        self.name = name
        self.node = node
        self.kind = kind
    }
}
