import MempinDevice
import SystemPackage

// A process's directory: `pin`, `status`, `other_pins` and its pin files'
// names.
extension PinTree {
    func processChild(of pid: Int32, named name: String) throws(Errno) -> Node {
        switch name {
        case "pin": return .pinControl(pid: pid)
        case "status": return .processStatus(pid: pid)
        case "other_pins": return .otherPins(pid: pid)
        default:
            let id = withState { $0.processes[pid]?.id(named: name) }
            guard let id else { throw .noSuchFileOrDirectory }
            return .pinFile(pid: pid, id: id)
        }
    }

    /// A pid directory's names give away the process's address layout:
    /// only who may read its pin files may list it
    /// (``authorize(_:toInspect:)``), as for `/proc/PID/maps`.
    func processEntries(of pid: Int32, for requester: Requester) throws(Errno) -> [DirectoryEntry] {
        do { _ = try displayedOwner(of: pid) } catch { throw .noSuchFileOrDirectory }
        _ = try currentInstance(of: pid)
        do { try authorize(requester, toInspect: pid) } catch .noSuchProcess { throw .noSuchFileOrDirectory }
        return withState { $0.listing(of: pid) }
    }

    /// The directory, `pin`, `status` and `other_pins`: owned by the
    /// process's real uid, like `/proc/PID`.
    func processAttributes(of node: Node, pid: Int32, now: UInt64) throws(Errno) -> Attributes {
        let owner: (uid: UInt32, gid: UInt32)
        do { owner = try displayedOwner(of: pid) } catch { throw .noSuchFileOrDirectory }
        let (kind, permissions, links): (Attributes.Kind, UInt16, UInt32) = switch node {
        case .processDirectory: (.directory, 0o755, 2)
        case .pinControl: (.regularFile, 0o200, 1)
        default: (.regularFile, 0o644, 1)  // status, other_pins
        }
        return Attributes(inode: node.inode, kind: kind, permissions: permissions, uid: owner.uid,
                          gid: owner.gid, size: 0, linkCount: links, modificationTime: now)
    }

    /// Opens `pin` (writing only) or `status` (reading only).
    func openProcessFile(_ node: Node, pid: Int32, for requester: Requester, writing: Bool) throws(Errno) -> OpenFile {
        // Found in a directory of an earlier process of this pid: ENOENT.
        if case .processStatus = node {
            guard !writing else { throw .permissionDenied }
            // One look at the process for its start time and figures.
            let figures = processes.statusFigures(of: pid)
            _ = try currentInstance(of: pid, now: figures.identity)
            return .snapshot(try statusBytes(of: pid, figures: figures))
        }
        let instance = try currentInstance(of: pid)
        switch node {
        case .pinControl:
            guard writing else { throw .permissionDenied }
            do { _ = try displayedOwner(of: pid) } catch { throw .noSuchFileOrDirectory }
            do {
                try authorize(requester, toChange: pid)
            } catch .noSuchProcess {
                throw .noSuchFileOrDirectory
            } catch {
                // Refused before any range is written: the line names none.
                noteRefusal(of: nil, in: pid, by: requester, error)
                throw error
            }
            return .control(ControlFile(pid: pid, opener: requester, identity: instance))
        case .otherPins:
            guard !writing else { throw .permissionDenied }
            // Its ranges give away the address layout, as pin files do.
            do { try authorize(requester, toInspect: pid) } catch .noSuchProcess { throw .noSuchFileOrDirectory }
            return .snapshot(Array(try renderOtherPins(of: pid).utf8))
        default:
            throw .isDirectory
        }
    }

    /// `PID/status`: this process's pin totals and limits.
    public func renderStatus(of pid: Int32) throws(Errno) -> String {
        try renderStatus(of: pid, figures: processes.statusFigures(of: pid))
    }

    func renderStatus(of pid: Int32, figures: StatusFigures) throws(Errno) -> String {
        String(decoding: try statusBytes(of: pid, figures: figures), as: UTF8.self)
    }

    /// `status`'s bytes: every reader's open of it makes them.
    func statusBytes(of pid: Int32, figures: StatusFigures) throws(Errno) -> [UInt8] {
        do { _ = try displayedOwner(of: pid) } catch { throw .noSuchFileOrDirectory }
        let totals = withState { $0.processes[pid] } ?? ProcessPins()
        // What cannot be read is left out, never shown as 0 or unlimited.
        var lines = Formats.KeyedLines()
        lines.append("pins", UInt64(totals.count))
        lines.append("pages", totals.pages)
        lines.append("bytes", totals.bytes)
        lines.append("detached_pins", UInt64(totals.detached))
        if let bytes = figures.pinnedBytes {
            lines.append("vm_pinned_bytes", bytes)
            // What io_uring, RDMA and others charged: VmPin less the module's.
            lines.append("other_pinned_bytes", bytes > totals.bytes ? bytes - totals.bytes : 0)
        }
        switch figures.memlockLimit {
        case .bytes(let bytes): lines.append("memlock_limit_bytes", bytes)
        case .unlimited: lines.append("memlock_limit_bytes", word: "unlimited")
        case nil: break
        }
        if let cgroup = figures.cgroup { lines.append("cgroup", escaping: cgroup) }
        return lines.bytes
    }
}
