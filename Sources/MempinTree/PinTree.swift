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

    struct State {
        /// Lookup counts of the inodes the kernel knows, with their nodes.
        var lookups: [UInt64: (node: Node, count: UInt64)] = [:]
        /// The pins, by id.
        var pins: [UInt64: PinRecord] = [:]
        /// Pin ids by process and file name.
        var names: [Int32: [String: UInt64]] = [:]

        mutating func insert(_ pin: PinRecord) {
            pins[pin.id] = pin
            names[pin.pid, default: [:]][Formats.pinFileName(start: pin.start, end: pin.end)] = pin.id
        }

        mutating func remove(id: UInt64) {
            guard let pin = pins.removeValue(forKey: id) else { return }
            names[pin.pid]?[Formats.pinFileName(start: pin.start, end: pin.end)] = nil
            if names[pin.pid]?.isEmpty == true { names[pin.pid] = nil }
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
            default:
                guard let pid = Self.pid(fromName: name) else { throw .noSuchFileOrDirectory }
                do { _ = try processes.owner(of: pid) } catch { throw .noSuchFileOrDirectory }
                return .processDirectory(pid: pid)
            }
        case .processDirectory(let pid):
            switch name {
            case "pin": return .pinControl(pid: pid)
            case "status": return .processStatus(pid: pid)
            default:
                let id = state.withLock { $0.names[pid]?[name] }
                guard let id else { throw .noSuchFileOrDirectory }
                return .pinFile(pid: pid, id: id)
            }
        case .selfLink, .stats, .pinControl, .processStatus, .pinFile:
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

    /// The entries of a directory, without `.` and `..`.
    public func entries(of directory: Node) throws(Errno) -> [DirectoryEntry] {
        switch directory {
        case .root:
            refresh()
            let pids = state.withLock { Array($0.names.keys) }.sorted()
            return [
                DirectoryEntry(name: "self", node: .selfLink, kind: .symbolicLink),
                DirectoryEntry(name: "stats", node: .stats, kind: .regularFile),
            ] + pids.map { DirectoryEntry(name: String($0), node: .processDirectory(pid: $0), kind: .directory) }
        case .processDirectory(let pid):
            do { _ = try processes.owner(of: pid) } catch { throw .noSuchFileOrDirectory }
            let pins = state.withLock { state in
                (state.names[pid] ?? [:]).compactMap { state.pins[$0.value] }
            }.sorted { $0.start < $1.start }
            return [
                DirectoryEntry(name: "pin", node: .pinControl(pid: pid), kind: .regularFile),
                DirectoryEntry(name: "status", node: .processStatus(pid: pid), kind: .regularFile),
            ] + pins.map {
                DirectoryEntry(name: Formats.pinFileName(start: $0.start, end: $0.end),
                               node: .pinFile(pid: pid, id: $0.id), kind: .regularFile)
            }
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
        case .stats:
            return Attributes(inode: node.inode, kind: .regularFile, permissions: 0o444, uid: 0, gid: 0,
                              size: 0, linkCount: 1, modificationTime: now)
        case .processDirectory(let pid), .pinControl(let pid), .processStatus(let pid):
            let owner: (uid: UInt32, gid: UInt32)
            do { owner = try processes.owner(of: pid) } catch { throw .noSuchFileOrDirectory }
            let (kind, permissions, links): (Attributes.Kind, UInt16, UInt32) = switch node {
            case .processDirectory: (.directory, 0o755, 2)
            case .pinControl: (.regularFile, 0o200, 1)
            default: (.regularFile, 0o444, 1)
            }
            return Attributes(inode: node.inode, kind: kind, permissions: permissions, uid: owner.uid,
                              gid: owner.gid, size: 0, linkCount: links, modificationTime: now)
        case .pinFile(let pid, let id):
            guard let pin = state.withLock({ $0.pins[id] }) else { throw .noSuchFileOrDirectory }
            let owner = (try? processes.owner(of: pid)) ?? (uid: 0, gid: 0)
            return Attributes(inode: node.inode, kind: .regularFile, permissions: 0o644, uid: owner.uid,
                              gid: owner.gid, size: 0, linkCount: 1,
                              modificationTime: pin.pinnedAtNanoseconds / 1_000_000_000)
        }
    }

    /// The target of the `self` link for `requester`.
    public func linkTarget(of node: Node, for requester: Requester) throws(Errno) -> String {
        guard node == .selfLink else { throw .invalidArgument }
        guard requester.pid > 0 else { throw .noSuchFileOrDirectory }
        return String(requester.pid)
    }
}
