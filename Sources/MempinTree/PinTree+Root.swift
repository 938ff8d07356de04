#if canImport(Glibc)
import Glibc
#endif

import MempinDevice
import SystemPackage

// The root of the tree: `self`, `stats`, `metrics`, `events`, `memory` and
// the pid directories.
extension PinTree {
    func rootChild(named name: String) throws(Errno) -> Node {
        switch name {
        case "self": return .selfLink
        case "stats": return .stats
        case "metrics": return .metrics
        case "events": return .events
        case "memory": return .memoryDirectory
        default:
            guard let pid = Self.pid(fromName: name) else { throw .noSuchFileOrDirectory }
            do { _ = try displayedOwner(of: pid) } catch { throw .noSuchFileOrDirectory }
            return .processDirectory(pid: pid)
        }
    }

    /// `self`, the files at the root, `memory`, and the pid of every
    /// process with a long-term pin: one of the module's, or a `VmPin`
    /// above what the module charged it (io_uring, RDMA, ...).
    func rootEntries() -> [DirectoryEntry] {
        refreshIfChanged()
        let others = processesPinnedByOthers()
        let pids = withState { Set($0.processes.keys) }.union(others.keys).sorted()
        return [
            DirectoryEntry(name: "self", node: .selfLink, kind: .symbolicLink),
            DirectoryEntry(name: "stats", node: .stats, kind: .regularFile),
            DirectoryEntry(name: "metrics", node: .metrics, kind: .regularFile),
            DirectoryEntry(name: "events", node: .events, kind: .regularFile),
            DirectoryEntry(name: "memory", node: .memoryDirectory, kind: .directory),
        ] + pids.map { DirectoryEntry(name: String($0), node: .processDirectory(pid: $0), kind: .directory) }
    }

    /// How long a scan of every process's `VmPin` is reused: a listing
    /// costs one read of `/proc/PID/status` per process, and a directory
    /// still leaves listings within a second of its last pin.
    static let pinnedScanTime: Duration = .milliseconds(500)

    /// Every live process whose `VmPin` exceeds what the module charged it
    /// (io_uring, RDMA, ...), with its `VmPin` in bytes: from a scan of
    /// every process's `VmPin`, made at most every ``pinnedScanTime``.
    ///
    /// The excess is judged when the scan is made, against the module's
    /// pins before and after it (the larger), so that a reused scan does not
    /// show a process as pinned by others once its last pin of ours is gone:
    /// an unpin leaves the tree only after the kernel has dropped its pages.
    func processesPinnedByOthers() -> [Int32: UInt64] {
        let now = TickTime.now
        if let scan = withState({ state in state.pinnedScan.flatMap { $0.until > now ? $0.pids : nil } }) {
            return withState { state in scan.filter { $0.value > (state.processes[$0.key]?.bytes ?? 0) } }
        }
        let oursBefore = withState { state in state.processes.mapValues(\.bytes) }
        let scanned = processes.processesWithPinnedMemory()
        return withState { state in
            let others = scanned.filter { pid, vmPinned in
                vmPinned > max(oursBefore[pid] ?? 0, state.processes[pid]?.bytes ?? 0)
            }
            state.pinnedScan = (others, now + Self.pinnedScanTime)
            return others
        }
    }

    func rootAttributes(of node: Node, now: UInt64) -> Attributes {
        switch node {
        case .root:
            Attributes(inode: node.inode, kind: .directory, permissions: 0o755, uid: 0, gid: 0,
                       size: 0, linkCount: 2, modificationTime: now)
        case .selfLink:
            Attributes(inode: node.inode, kind: .symbolicLink, permissions: 0o777, uid: 0, gid: 0,
                       size: 0, linkCount: 1, modificationTime: now)
        case .memoryDirectory:
            Attributes(inode: node.inode, kind: .directory, permissions: 0o555, uid: 0, gid: 0,
                       size: 0, linkCount: 2, modificationTime: now)
        default:
            Attributes(inode: node.inode, kind: .regularFile, permissions: 0o444, uid: 0, gid: 0,
                       size: 0, linkCount: 1, modificationTime: now)
        }
    }

    /// Opens `stats`, `metrics` or `events`.
    func openRootFile(_ node: Node, for requester: Requester, writing: Bool) throws(Errno) -> OpenFile {
        guard !writing else { throw .permissionDenied }
        switch node {
        case .stats: return .snapshot(Array(renderStats().utf8))
        case .metrics: return .snapshot(Array(renderMetrics().utf8))
        case .events:
            let reader = events.reader(for: requester)
            if !requester.isRoot { refreshSkippedAudiences() }
            return .events(reader)
        case .root: throw .isDirectory
        default: throw .tooManySymbolicLinkLevels
        }
    }

    /// The target of the `self` link for `requester`.
    public func linkTarget(of node: Node, for requester: Requester) throws(Errno) -> String {
        guard node == .selfLink else { throw .invalidArgument }
        guard requester.pid > 0 else { throw .noSuchFileOrDirectory }
        return String(requester.pid)
    }

    /// The pins the tree shows.
    public var pinCount: Int { withState { $0.pins.count } }

    /// `stats`: totals over all pins.
    public func renderStats() -> String {
        refreshIfChanged()
        let (pins, processes) = withState { ($0.pins.count, Array($0.processes.values)) }
        return Formats.keyedLines([
            "pins": String(pins),
            "pages": String(processes.reduce(0) { $0 + $1.pages }),
            "bytes": String(processes.reduce(0) { $0 + $1.bytes }),
            "processes": String(processes.count),
            "detached_pins": String(processes.reduce(0) { $0 + $1.detached }),
        ])
    }

    /// `metrics`: totals, per-process figures and counters in Prometheus's
    /// text format.
    public func renderMetrics() -> String {
        refreshIfChanged()
        var snapshot = MetricsSnapshot()
        let totals = withState { state in
            snapshot.pinsMade = state.pinsMade
            snapshot.pinsRemoved = state.pinsRemoved
            snapshot.refusals = state.refusals
            return state.processes.map { ($0.key, $0.value.count, $0.value.detached, $0.value.pages, $0.value.bytes) }
        }
        snapshot.processes = totals.map { pid, pins, detached, pages, bytes in
            let figures = processes.statusFigures(of: pid)
            return MetricsSnapshot.Process(
                pid: pid, command: processes.command(of: pid) ?? "", pins: pins, detachedPins: detached,
                pages: pages, bytes: bytes, vmPinnedBytes: figures.pinnedBytes,
                memlockLimit: figures.memlockLimit, cgroup: figures.cgroup
            )
        }
        // And the processes only other subsystems pin (io_uring, RDMA).
        let ours = Set(totals.map(\.0))
        for (pid, bytes) in processesPinnedByOthers() where !ours.contains(pid) {
            snapshot.processes.append(MetricsSnapshot.Process(
                pid: pid, command: processes.command(of: pid) ?? "", pins: 0, detachedPins: 0, pages: 0, bytes: 0,
                vmPinnedBytes: bytes, memlockLimit: nil, cgroup: processes.cgroup(of: pid)
            ))
        }
        snapshot.events = events.counts
        if let module = try? backend.version() {
            snapshot.modulePinnedPages = module.pinnedPages
            snapshot.moduleMaxPinnedPages = module.maxPinnedPages
        }
        return PrometheusText.render(snapshot)
    }
}
