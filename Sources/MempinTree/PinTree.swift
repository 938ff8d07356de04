import MempinDevice
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The mempin file tree, independent of FUSE: names, attributes, contents
/// and the pin/unpin operations, with the permission rules of the contract.
///
/// Every pin goes through this tree, so it keeps a cache of them (by id and
/// by name); ``refresh()`` reconciles it with the backend, which alone knows
/// when a target exited or a range was detached.
public final class PinTree: Sendable {
    let backend: any PinBackend
    let processes: any ProcessFacts

    /// The pins of one process, with running totals.
    struct ProcessPins {
        /// Pin ids by file name.
        var idsByName: [String: UInt64] = [:]
        var pages: UInt64 = 0
        var bytes: UInt64 = 0
        var detached = 0
        /// The names in address order; rebuilt on demand after a change.
        var ordered: [(name: String, id: UInt64)]?

        mutating func add(_ pin: PinRecord) {
            idsByName[Formats.pinFileName(start: pin.start, end: pin.end)] = pin.id
            pages += pin.pages
            bytes += pin.bytes
            detached += pin.isDetached ? 1 : 0
            ordered = nil
        }

        mutating func remove(_ pin: PinRecord) {
            idsByName[Formats.pinFileName(start: pin.start, end: pin.end)] = nil
            pages -= pin.pages
            bytes -= pin.bytes
            detached -= pin.isDetached ? 1 : 0
            ordered = nil
        }
    }

    struct State {
        /// Lookup counts of the inodes the kernel knows, with their nodes.
        var lookups: [UInt64: (node: Node, count: UInt64)] = [:]
        /// The pins, by id.
        var pins: [UInt64: PinRecord] = [:]
        /// The pins by process.
        var processes: [Int32: ProcessPins] = [:]
        /// The backend's change counter at the last refresh.
        var changesSeen: UInt64?
        /// Pins being made now, per non-root uid.
        var pinsInFlight: [UInt32: Int] = [:]
        /// What refreshes found gone, not yet taken by the refresher.
        var removedNames = RemovedNames()
        /// What the `metrics` file counts since the server started.
        var pinsMade: UInt64 = 0
        var pinsRemoved: UInt64 = 0
        var refusals: [MetricsSnapshot.Refusal: UInt64] = [:]
        /// Recently read owners of processes, for display (see ``PinTree/displayedOwner(of:)``).
        var owners: [Int32: (uid: UInt32, gid: UInt32, until: ContinuousClock.Instant)] = [:]
        /// The size at which ``owners`` is next pruned: twice what a prune
        /// left, so that pruning stays linear in the inserts.
        var ownersPruneAt = 4096

        mutating func insert(_ pin: PinRecord) {
            if let old = pins[pin.id] {
                update(old, to: pin)
                return
            }
            pins[pin.id] = pin
            // Mutated in place: a copy of the process's table would cost
            // as much as the table (10,000 pins).
            processes[pin.pid, default: ProcessPins()].add(pin)
        }

        /// A fresh record of a known pin (its state may have changed).
        mutating func update(_ old: PinRecord, to fresh: PinRecord) {
            pins[fresh.id] = fresh
            if old.isDetached != fresh.isDetached {
                processes[fresh.pid]?.detached += fresh.isDetached ? 1 : -1
            }
        }

        mutating func remove(id: UInt64) {
            guard let pin = pins.removeValue(forKey: id) else { return }
            processes[pin.pid]?.remove(pin)
            if processes[pin.pid]?.idsByName.isEmpty == true {
                processes[pin.pid] = nil
            }
        }

        /// The pin files of `pid` in address order.
        mutating func orderedNames(of pid: Int32) -> [(name: String, id: UInt64)] {
            if let ordered = processes[pid]?.ordered { return ordered }
            guard let ids = processes[pid]?.idsByName else { return [] }
            let ordered = ids.map { (name: $0.key, id: $0.value) }
                .sorted { (pins[$0.id]?.start ?? 0) < (pins[$1.id]?.start ?? 0) }
            processes[pid]?.ordered = ordered
            return ordered
        }
    }

    private let state = Mutex(State())

    /// Runs `body` with the tree's state locked. Never call the backend in it.
    func withState<R>(_ body: (inout State) -> R) -> R {
        state.withLock { body(&$0) }
    }

    public init(backend: any PinBackend, processes: any ProcessFacts = ProcFS()) {
        self.backend = backend
        self.processes = processes
    }

    // MARK: Lookup counting

    /// Finds `name` in the directory `parent` and counts one lookup of it.
    public func lookup(parent: UInt64, name: String) throws(Errno) -> Attributes {
        let child = try childNode(of: try node(forInode: parent), named: name)
        let attributes = try self.attributes(of: child)
        state.withLock { state in
            state.lookups[child.inode, default: (child, 0)].count += 1
        }
        return attributes
    }

    /// The kernel forgot `count` lookups of `inode`.
    public func forget(inode: UInt64, count: UInt64) {
        state.withLock { state in
            guard let entry = state.lookups[inode] else { return }
            if entry.count <= count {
                state.lookups[inode] = nil
            } else {
                state.lookups[inode]?.count = entry.count - count
            }
        }
    }

    /// The lookup count of `inode` (for tests and diagnostics).
    public func lookupCount(of inode: UInt64) -> UInt64 {
        state.withLock { $0.lookups[inode]?.count ?? 0 }
    }

    /// The node an inode number stands for.
    public func node(forInode inode: UInt64) throws(Errno) -> Node {
        if let node = Node.decode(inode) { return node }
        let known: Node? = state.withLock { state in
            if let node = state.lookups[inode]?.node { return node }
            if let id = Node.pinID(ofInode: inode), let pin = state.pins[id] { return .pinFile(pid: pin.pid, id: id) }
            return nil
        }
        guard let known else { throw .noSuchFileOrDirectory }
        return known
    }

    // MARK: Names

    /// The node called `name` in `directory`.
    public func childNode(of directory: Node, named name: String) throws(Errno) -> Node {
        switch directory {
        case .root:
            switch name {
            case "self": return .selfLink
            case "stats": return .stats
            // Found by name but not listed, like /proc's thread ids: `ls`
            // of the root shows what the contract lists (self, stats, pids).
            case "metrics": return .metrics
            default:
                guard let pid = Self.pid(fromName: name) else { throw .noSuchFileOrDirectory }
                do { _ = try displayedOwner(of: pid) } catch { throw .noSuchFileOrDirectory }
                return .processDirectory(pid: pid)
            }
        case .processDirectory(let pid):
            switch name {
            case "pin": return .pinControl(pid: pid)
            case "status": return .processStatus(pid: pid)
            default:
                let id = state.withLock { $0.processes[pid]?.idsByName[name] }
                guard let id else { throw .noSuchFileOrDirectory }
                return .pinFile(pid: pid, id: id)
            }
        case .selfLink, .stats, .metrics, .pinControl, .processStatus, .pinFile:
            throw .notDirectory
        }
    }

    /// A decimal pid as a directory name: no sign, no leading zero.
    static func pid(fromName name: String) -> Int32? {
        guard let first = name.utf8.first, first != UInt8(ascii: "0"),
              name.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let pid = Int32(name), pid > 0
        else { return nil }
        return pid
    }

    /// The entries of a directory, without `.` and `..`. A pid directory's
    /// names give away the process's address layout: only who may read its
    /// pin files may list it (``authorize(_:toInspect:)``), as for
    /// `/proc/PID/maps`.
    public func entries(of directory: Node, for requester: Requester) throws(Errno) -> [DirectoryEntry] {
        switch directory {
        case .root:
            refreshIfChanged()
            let pids = state.withLock { Array($0.processes.keys) }.sorted()
            return [
                DirectoryEntry(name: "self", node: .selfLink, kind: .symbolicLink),
                DirectoryEntry(name: "stats", node: .stats, kind: .regularFile),
                DirectoryEntry(name: "metrics", node: .metrics, kind: .regularFile),
            ] + pids.map { DirectoryEntry(name: String($0), node: .processDirectory(pid: $0), kind: .directory) }
        case .processDirectory(let pid):
            do { _ = try displayedOwner(of: pid) } catch { throw .noSuchFileOrDirectory }
            do { try authorize(requester, toInspect: pid) } catch .noSuchProcess { throw .noSuchFileOrDirectory }
            let names = state.withLock { $0.orderedNames(of: pid) }
            var entries = [
                DirectoryEntry(name: "pin", node: .pinControl(pid: pid), kind: .regularFile),
                DirectoryEntry(name: "status", node: .processStatus(pid: pid), kind: .regularFile),
            ]
            entries.reserveCapacity(names.count + 2)
            for (name, id) in names {
                entries.append(DirectoryEntry(name: name, node: .pinFile(pid: pid, id: id), kind: .regularFile))
            }
            return entries
        default:
            throw .notDirectory
        }
    }

    // MARK: Attributes

    /// What `stat` shows of `node`.
    public func attributes(of node: Node) throws(Errno) -> Attributes {
        let now = UInt64(max(0, time(nil)))
        switch node {
        case .root:
            return Attributes(inode: node.inode, kind: .directory, permissions: 0o755, uid: 0, gid: 0,
                              size: 0, linkCount: 2, modificationTime: now)
        case .selfLink:
            return Attributes(inode: node.inode, kind: .symbolicLink, permissions: 0o777, uid: 0, gid: 0,
                              size: 0, linkCount: 1, modificationTime: now)
        case .stats, .metrics:
            return Attributes(inode: node.inode, kind: .regularFile, permissions: 0o444, uid: 0, gid: 0,
                              size: 0, linkCount: 1, modificationTime: now)
        case .processDirectory(let pid), .pinControl(let pid), .processStatus(let pid):
            let owner: (uid: UInt32, gid: UInt32)
            do { owner = try displayedOwner(of: pid) } catch { throw .noSuchFileOrDirectory }
            let (kind, permissions, links): (Attributes.Kind, UInt16, UInt32) = switch node {
            case .processDirectory: (.directory, 0o755, 2)
            case .pinControl: (.regularFile, 0o200, 1)
            default: (.regularFile, 0o444, 1)
            }
            return Attributes(inode: node.inode, kind: kind, permissions: permissions, uid: owner.uid,
                              gid: owner.gid, size: 0, linkCount: links, modificationTime: now)
        case .pinFile(let pid, let id):
            guard let pin = state.withLock({ $0.pins[id] }) else { throw .noSuchFileOrDirectory }
            let owner = (try? displayedOwner(of: pid)) ?? (uid: 0, gid: 0)
            return Attributes(inode: node.inode, kind: .regularFile, permissions: 0o644, uid: owner.uid,
                              gid: owner.gid, size: 0, linkCount: 1,
                              modificationTime: pin.pinnedAtNanoseconds / 1_000_000_000)
        }
    }

    /// How long an owner read for display is reused: the kernel caches
    /// attributes as long.
    static let ownerCacheTime: Duration = .seconds(1)

    /// The owner of a live process, for names and attributes: reused for up
    /// to a second, like the kernel's own attribute cache. Permission
    /// decisions never use it (``authorize(_:toChange:)`` reads afresh).
    func displayedOwner(of pid: Int32) throws(Errno) -> (uid: UInt32, gid: UInt32) {
        let now = ContinuousClock.now
        if let cached = state.withLock({ $0.owners[pid] }), cached.until > now {
            return (cached.uid, cached.gid)
        }
        let owner = try processes.owner(of: pid)
        state.withLock { state in
            if state.owners.count >= state.ownersPruneAt {
                state.owners = state.owners.filter { $0.value.until > now }
                state.ownersPruneAt = max(4096, 2 * state.owners.count)
            }
            state.owners[pid] = (owner.uid, owner.gid, now + Self.ownerCacheTime)
        }
        return owner
    }

    /// Forgets the cached owner of `pid` (it exited, or was found gone).
    func forgetOwner(of pid: Int32) {
        state.withLock { _ = $0.owners.removeValue(forKey: pid) }
    }

    /// The target of the `self` link for `requester`.
    public func linkTarget(of node: Node, for requester: Requester) throws(Errno) -> String {
        guard node == .selfLink else { throw .invalidArgument }
        guard requester.pid > 0 else { throw .noSuchFileOrDirectory }
        return String(requester.pid)
    }
}
