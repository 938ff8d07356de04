import MempinDevice
import SystemPackage

/// An open file of the tree.
public enum OpenFile: Sendable {
    /// A small generated file (`stats`, `status`), rendered once at open.
    case snapshot([UInt8])
    /// A pin file, streamed by offset.
    case pinFile(PinFileReader)
    /// A `pin` control file of a process.
    case control(ControlFile)
    /// The `events` file: its reader's place in the stream.
    case events(EventReader)
}

// Opening and reading files, routed by area, and the permission rule
// every area applies.
extension PinTree {
    // MARK: Permission

    /// ptrace's read rule, the one `/proc/PID/maps` follows: root, or a
    /// requester whose uid is the target's real, effective and saved uid and
    /// whose gid is likewise its gids, with the target dumpable. Who passes
    /// may read the process's pin files, list its directory, pin and unpin.
    /// Always read afresh.
    ///
    /// - Throws: `ESRCH` when the process has gone, `EACCES` when refused.
    public func authorize(_ requester: Requester, toInspect pid: Int32) throws(Errno) {
        if requester.isRoot { return }
        guard let target = processes.credentials(of: pid), target.threadGroup == pid else {
            forgetOwner(of: pid)
            throw .noSuchProcess
        }
        guard target.isDumpable, target.uids.allSatisfy({ $0 == requester.uid }),
              target.gids.allSatisfy({ $0 == requester.gid })
        else { throw .permissionDenied }
    }

    /// The same rule, for pinning and unpinning.
    public func authorize(_ requester: Requester, toChange pid: Int32) throws(Errno) {
        try authorize(requester, toInspect: pid)
    }

    // MARK: Open and read

    /// Opens a file for reading or writing.
    public func open(_ node: Node, for requester: Requester, writing: Bool) throws(Errno) -> OpenFile {
        switch node {
        case .root, .selfLink, .stats, .metrics, .events:
            try openRootFile(node, for: requester, writing: writing)
        case .memoryDirectory, .memoryBlock:
            try openMemoryFile(node, for: requester, writing: writing)
        case .processDirectory(let pid), .processStatus(let pid), .pinControl(let pid), .otherPins(let pid):
            try openProcessFile(node, pid: pid, for: requester, writing: writing)
        case .pinFile(let pid, let id):
            try openPinFile(pid: pid, id: id, for: requester, writing: writing)
        }
    }

    /// Up to `size` bytes of an open file from `offset`.
    public func read(_ file: OpenFile, offset: UInt64, size: Int) throws(Errno) -> [UInt8] {
        switch file {
        case .snapshot(let bytes):
            guard offset < UInt64(bytes.count) else { return [] }
            let start = Int(offset)
            return Array(bytes[start..<min(bytes.count, start + size)])
        case .pinFile(let reader):
            return try reader.read(offset: offset, size: size)
        case .events(let reader):
            // Where the stream is, not the offset: it cannot be sought.
            guard let bytes = events.read(reader, size: size) else { throw .resourceTemporarilyUnavailable }
            return bytes
        case .control:
            throw .badFileDescriptor
        }
    }

    /// Fills `buffer` with an open file's bytes from `offset`; returns how
    /// many (fewer only at the end). Pin files render straight into it.
    public func read(_ file: OpenFile, offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) throws(Errno) -> Int {
        if case .pinFile(let reader) = file {
            return try reader.read(offset: offset, into: buffer).get()
        }
        let bytes = try read(file, offset: offset, size: buffer.count)
        bytes.withUnsafeBytes { buffer.copyMemory(from: $0) }
        return bytes.count
    }
}
