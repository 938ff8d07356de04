import MempinDevice
import SystemPackage

// A pin file: its attributes, its content (``PinFileReader``) and `rm`.
extension PinTree {
    func pinFileAttributes(of node: Node, pid: Int32, id: UInt64) throws(Errno) -> Attributes {
        guard let pin = withState({ $0.pins[id] }) else { throw .noSuchFileOrDirectory }
        let owner = (try? displayedOwner(of: pid)) ?? (uid: 0, gid: 0)
        return Self.pinFileAttributes(of: node, owner: owner, pinnedAtNanoseconds: pin.pinnedAtNanoseconds)
    }

    /// A pin file is its process's, read-only, dated when it was pinned.
    static func pinFileAttributes(of node: Node, owner: (uid: UInt32, gid: UInt32),
                                  pinnedAtNanoseconds: UInt64) -> Attributes {
        Attributes(inode: node.inode, kind: .regularFile, permissions: 0o644, uid: owner.uid,
                   gid: owner.gid, size: 0, linkCount: 1, modificationTime: pinnedAtNanoseconds / 1_000_000_000)
    }

    /// Opens a pin file for reading, with the pin's record read afresh.
    func openPinFile(pid: Int32, id: UInt64, for requester: Requester, writing: Bool) throws(Errno) -> OpenFile {
        guard !writing else { throw .permissionDenied }
        do { try authorize(requester, toInspect: pid) } catch .noSuchProcess { throw .noSuchFileOrDirectory }
        let fresh: PinRecord?
        do { fresh = try backend.pin(id: id) } catch { throw error == .noSuchFileOrDirectory ? error : .ioError }
        guard let fresh else {
            withState { $0.remove(id: id) }
            throw .noSuchFileOrDirectory
        }
        withState { state in
            if let old = state.pins[id] { state.update(old, to: fresh) }
        }
        return .pinFile(PinFileReader(pin: fresh, showsFrames: requester.isRoot, backend: backend, budget: readAhead))
    }

    /// Unpins the pin file `name` of `pid`; the pages are unpinned when it
    /// returns.
    public func unlink(_ name: String, in pid: Int32, for requester: Requester) throws(Errno) -> PinRecord {
        try countingRefusals(of: "unpin") { () throws(Errno) in try unpin(name, in: pid, for: requester) }
    }

    private func unpin(_ name: String, in pid: Int32, for requester: Requester) throws(Errno) -> PinRecord {
        let pin: PinRecord? = withState { state in state.processes[pid]?.id(named: name).flatMap { state.pins[$0] } }
        guard let pin else {
            if name == "pin" || name == "status" { throw .notPermitted }
            throw .noSuchFileOrDirectory
        }
        if !requester.isRoot {
            try authorize(requester, toChange: pid)
            // Another process's own pin: only root may revoke it.
            if pin.via == .ioctl { throw .notPermitted }
        }
        do {
            try backend.unpin(id: pin.id, requesterUID: requester.uid, requesterPID: requester.pid)
        } catch .noSuchFileOrDirectory {
            // Released already (the target exited): the file goes all the same.
        }
        withState { state in
            state.remove(id: pin.id)
            state.pinsRemoved += 1
        }
        return pin
    }
}
