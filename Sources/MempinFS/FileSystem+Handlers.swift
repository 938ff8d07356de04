import CFuse
import MempinDevice
import MempinTree
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

// The low-level handlers: named functions in a table, in the order of
// struct fuse_lowlevel_ops. Each path ends in exactly one fuse_reply_*:
// success replies in the body, errors through FileSystem.replying's single
// catch.

extension FileSystem {
    static func from(_ req: fuse_req_t?) -> FileSystem {
        Unmanaged<FileSystem>.fromOpaque(fuse_req_userdata(req)!).takeUnretainedValue()
    }

    /// The handler table handed to `fuse_session_new`.
    static func operations() -> fuse_lowlevel_ops {
        var ops = fuse_lowlevel_ops()
        ops.lookup = handleLookup
        ops.forget = handleForget
        ops.forget_multi = handleForgetMulti
        ops.getattr = handleGetattr
        ops.setattr = handleSetattr
        ops.readlink = handleReadlink
        ops.mknod = handleMknod
        ops.mkdir = handleMkdir
        ops.unlink = handleUnlink
        ops.rmdir = handleRmdir
        ops.symlink = handleSymlink
        ops.rename = handleRename
        ops.link = handleLink
        ops.create = handleCreate
        ops.open = handleOpen
        ops.read = handleRead
        ops.write = handleWrite
        ops.flush = handleFlush
        ops.release = handleRelease
        ops.poll = handlePoll
        ops.opendir = handleOpendir
        ops.readdir = handleReaddir
        ops.readdirplus = handleReaddirplus
        ops.releasedir = handleReleasedir
        return ops
    }

    /// A read of `events`: what there is now, else `EAGAIN` for a
    /// non-blocking reader, else the request is kept until there is.
    func readEvents(_ req: fuse_req_t, _ file: OpenFile, size: Int, nonBlocking: Bool, handle: UInt64) {
        do throws(Errno) {
            let bytes = try tree.read(file, offset: 0, size: size)
            _ = bytes.withUnsafeBytes { fuse_reply_buf(req, $0.baseAddress, $0.count) }
        } catch .resourceTemporarilyUnavailable where !nonBlocking {
            eventWaiters.keep(req, size: size, of: handle, from: tree.events)
        } catch {
            fuse_reply_err(req, error.rawValue)
        }
    }

    /// The tree's names are generated: creating, renaming and removing
    /// directories is not permitted.
    static func refuse(_ req: fuse_req_t?, _ operation: String, _ name: UnsafePointer<CChar>?) {
        let fs = FileSystem.from(req)
        fs.replying(req!, operation, name.map { String(cString: $0) } ?? "") { () throws(Errno) in
            throw .notPermitted
        }
    }
}

// MARK: The handlers

/// Finds a name in a directory, counting one lookup of what it names.
private func handleLookup(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: UnsafePointer<CChar>?) {
    let fs = FileSystem.from(req)
    let name = String(cString: name!)
    fs.replying(req!, "lookup", name, quietly: [.noSuchFileOrDirectory, .notDirectory]) { () throws(Errno) in
        let attributes = try fs.tree.lookup(parent: UInt64(parent), name: name)
        if case .pinFile(let pid, _) = try? fs.tree.node(forInode: attributes.inode) {
            // A pin file's name is part of the address layout.
            do throws(Errno) {
                try fs.tree.authorize(fs.requester(of: req!, processNeeded: false), toInspect: pid)
            } catch {
                fs.tree.forget(inode: attributes.inode, count: 1)
                throw error == .noSuchProcess ? .noSuchFileOrDirectory : error
            }
        }
        var entry = fuse_entry_param()
        entry.ino = fuse_ino_t(attributes.inode)
        entry.generation = attributes.generation
        entry.attr = fs.stat(of: attributes)
        entry.attr_timeout = fs.attributeTimeout(of: attributes)
        entry.entry_timeout = fs.cacheTimeout
        if fuse_reply_entry(req, &entry) != 0 {
            // The request was interrupted: the kernel did not take it.
            fs.tree.forget(inode: attributes.inode, count: 1)
        }
    }
}

/// The kernel dropped lookups of an inode.
private func handleForget(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ nlookup: UInt64) {
    FileSystem.from(req).tree.forget(inode: UInt64(ino), count: nlookup)
    fuse_reply_none(req)
}

/// The kernel dropped lookups of several inodes.
private func handleForgetMulti(_ req: fuse_req_t?, _ count: Int, _ forgets: UnsafeMutablePointer<fuse_forget_data>?) {
    let fs = FileSystem.from(req)
    for index in 0..<count {
        let forget = forgets![index]
        fs.tree.forget(inode: UInt64(forget.ino), count: forget.nlookup)
    }
    fuse_reply_none(req)
}

/// `stat`.
private func handleGetattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ _: UnsafeMutablePointer<fuse_file_info>?) {
    let fs = FileSystem.from(req)
    fs.replying(req!, "getattr", "inode \(ino)", quietly: [.noSuchFileOrDirectory]) { () throws(Errno) in
        let attributes = try fs.tree.attributes(of: try fs.tree.node(forInode: UInt64(ino)))
        var st = fs.stat(of: attributes)
        fuse_reply_attr(req, &st, fs.attributeTimeout(of: attributes))
    }
}

/// Only the truncation of `echo RANGE > pin`; times are ignored.
private func handleSetattr(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ _: UnsafeMutablePointer<stat>?, _ toSet: Int32, _ _: UnsafeMutablePointer<fuse_file_info>?) {
    let fs = FileSystem.from(req)
    fs.replying(req!, "setattr", "inode \(ino)") { () throws(Errno) in
        let node = try fs.tree.node(forInode: UInt64(ino))
        // `echo RANGE > pin` truncates first; times are ignored.
        let harmless = FUSE_SET_ATTR_SIZE | FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME
            | FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME
        guard case .pinControl = node, toSet & ~harmless == 0 else { throw .notPermitted }
        let attributes = try fs.tree.attributes(of: node)
        var st = fs.stat(of: attributes)
        fuse_reply_attr(req, &st, fs.attributeTimeout(of: attributes))
    }
}

/// The `self` link.
private func handleReadlink(_ req: fuse_req_t?, _ ino: fuse_ino_t) {
    let fs = FileSystem.from(req)
    fs.replying(req!, "readlink", "inode \(ino)") { () throws(Errno) in
        let target = try fs.tree.linkTarget(of: try fs.tree.node(forInode: UInt64(ino)), for: fs.requester(of: req!))
        fuse_reply_readlink(req, target)
    }
}

/// Refused: the tree's names are generated.
private func handleMknod(_ req: fuse_req_t?, _ _: fuse_ino_t, _ name: UnsafePointer<CChar>?, _ _: mode_t, _ _: dev_t) {
    FileSystem.refuse(req, "mknod", name)
}

/// Refused.
private func handleMkdir(_ req: fuse_req_t?, _ _: fuse_ino_t, _ name: UnsafePointer<CChar>?, _ _: mode_t) {
    FileSystem.refuse(req, "mkdir", name)
}

/// `rm` of a pin file: unpins (or revokes) it.
private func handleUnlink(_ req: fuse_req_t?, _ parent: fuse_ino_t, _ name: UnsafePointer<CChar>?) {
    let fs = FileSystem.from(req)
    let name = String(cString: name!)
    let unpinned = fs.replying(req!, "unlink", name) { () throws(Errno) in
        guard case .processDirectory(let pid) = try fs.tree.node(forInode: UInt64(parent)) else {
            throw .notPermitted
        }
        let who = fs.requester(of: req!)
        fs.expectChange()
        let pin = try fs.tree.unlink(name, in: pid, for: who)
        // The reply first: the log line is not the caller's to wait for.
        fuse_reply_err(req, 0)
        return (pid: pid, pages: pin.pages, by: who)
    }
    // After any reply: the module's records of it, their events lines
    // before the log line.
    fs.catchUpOnChanges()
    if let unpinned {
        FileSystem.logPinChange(fs.pinLog, "unpinned", pid: unpinned.pid, name: name, pages: unpinned.pages,
                                uid: unpinned.by.uid, by: unpinned.by.pid)
    }
}

/// Refused.
private func handleRmdir(_ req: fuse_req_t?, _ _: fuse_ino_t, _ name: UnsafePointer<CChar>?) {
    FileSystem.refuse(req, "rmdir", name)
}

/// Refused.
private func handleSymlink(_ req: fuse_req_t?, _ _: UnsafePointer<CChar>?, _ _: fuse_ino_t, _ name: UnsafePointer<CChar>?) {
    FileSystem.refuse(req, "symlink", name)
}

/// Refused.
private func handleRename(_ req: fuse_req_t?, _ _: fuse_ino_t, _ name: UnsafePointer<CChar>?, _ _: fuse_ino_t, _ _: UnsafePointer<CChar>?, _ _: UInt32) {
    FileSystem.refuse(req, "rename", name)
}

/// Refused.
private func handleLink(_ req: fuse_req_t?, _ _: fuse_ino_t, _ _: fuse_ino_t, _ name: UnsafePointer<CChar>?) {
    FileSystem.refuse(req, "link", name)
}

/// Refused.
private func handleCreate(_ req: fuse_req_t?, _ _: fuse_ino_t, _ name: UnsafePointer<CChar>?, _ _: mode_t, _ _: UnsafeMutablePointer<fuse_file_info>?) {
    FileSystem.refuse(req, "create", name)
}

/// Opens a file; generated content is served with direct I/O.
private func handleOpen(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    let fs = FileSystem.from(req)
    fs.replying(req!, "open", "inode \(ino)") { () throws(Errno) in
        let node = try fs.tree.node(forInode: UInt64(ino))
        let writing = fi!.pointee.flags & O_ACCMODE != O_RDONLY
        // A reader's user and root-ness decide; only `pin`'s opener, whose
        // process its pins name, needs the thread group.
        let requester = fs.requester(of: req!, processNeeded: writing)
        let file = try fs.tree.open(node, for: requester, writing: writing)
        let handle = try fs.register(.file(file), for: requester)
        fi!.pointee.fh = handle
        // Generated content has no size up front: direct I/O makes
        // the kernel read until we return less.
        CFuse_set_direct_io(fi)
        // Only a control file's close has work (its unfinished last line
        // fails it): every other close is spared a FUSE round trip, as a
        // server without a flush handler spares all of them.
        if case .control = file {} else { CFuse_set_noflush(fi) }
        if case .events(let reader) = file {
            fs.eventWaiters.opened(handle, reader: reader)
            CFuse_set_nonseekable(fi)
        }
        if fuse_reply_open(req, fi) != 0 {
            fs.eventWaiters.closed(handle)
            fs.release(handle)
        }
    }
}

/// Reads a file; a read of `events` may be kept until there is a line.
private func handleRead(_ req: fuse_req_t?, _ _: fuse_ino_t, _ size: Int, _ offset: off_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    let fs = FileSystem.from(req)
    fs.replying(req!, "read", "handle \(fi!.pointee.fh)") { () throws(Errno) in
        guard case .file(let file) = fs.handle(fi!.pointee.fh) else { throw .badFileDescriptor }
        if case .events = file {
            fs.readEvents(req!, file, size: size, nonBlocking: fi!.pointee.flags & O_NONBLOCK != 0,
                          handle: fi!.pointee.fh)
            return
        }
        let start = UInt64(max(0, offset))
        if case .pinFile(let reader) = file {
            // The next chunk is rendered while this one is copied to the
            // reader: by the read-ahead worker for large reads (`cat`'s
            // 128 KiB); for small ones (`wc`'s 16 KiB) waking the worker costs
            // more than it saves, and the next is rendered after the reply.
            var inline = size < ReadAheadWorker.smallestRead
            let count = try reader.read(offset: start, size: size) { bytes in
                if bytes.count == size && !inline {
                    let next = start + UInt64(size)
                    inline = !fs.readAhead.post { reader.renderAhead(after: next, size: size) }
                }
                _ = fuse_reply_buf(req, bytes.baseAddress, bytes.count)
            }.get()
            if inline && count == size { reader.renderAhead(after: start + UInt64(count), size: size) }
            return
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
        defer { buffer.deallocate() }
        let count = try fs.tree.read(file, offset: start, into: buffer)
        _ = fuse_reply_buf(req, buffer.baseAddress, count)
    }
}

/// A write to a control file pins the lines it completes.
private func handleWrite(_ req: fuse_req_t?, _ _: fuse_ino_t, _ buf: UnsafePointer<CChar>?, _ size: Int, _ _: off_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    let fs = FileSystem.from(req)
    let bytes = UnsafeRawBufferPointer(start: buf, count: size)
    let pinned = fs.replying(req!, "write", FileSystem.firstLine(of: bytes)) { () throws(Errno) in
        guard case .file(.control(let file)) = fs.handle(fi!.pointee.fh) else { throw .badFileDescriptor }
        // The pins are made as the file's opener (its process is in the
        // log line); of the writer only its user and root-ness count.
        let writer = fs.requester(of: req!, processNeeded: false)
        fs.expectChange()
        let pins = try fs.tree.write(bytes, to: file, by: writer)
        if fuse_reply_write(req, size) != 0 {
            // The writer was interrupted or killed: it never learned.
            fs.tree.undo(pins)
            return (file: file, pins: [PinRecord]())
        }
        return (file: file, pins: pins)
    }
    // After any reply (made, refused, undone): the module's records of it,
    // their events lines before the log lines.
    fs.catchUpOnChanges()
    guard let pinned else { return }
    for pin in pinned.pins {
        FileSystem.logPinChange(fs.pinLog, "pinned", pid: pinned.file.pid, name: Formats.pinFileName(start: pin.start, end: pin.end),
                                pages: pin.pages, uid: pinned.file.opener.uid, by: pinned.file.opener.pid)
    }
}

/// close(2) of a control file (other files are opened without flush): its
/// unfinished last line fails it.
private func handleFlush(_ req: fuse_req_t?, _ _: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    let fs = FileSystem.from(req)
    fs.replying(req!, "close", "handle \(fi!.pointee.fh)") { () throws(Errno) in
        if case .file(.control(let file)) = fs.handle(fi!.pointee.fh) {
            try fs.tree.close(file)
        }
        fuse_reply_err(req, 0)
    }
}

/// The last close of an open file.
private func handleRelease(_ req: fuse_req_t?, _ _: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    let fs = FileSystem.from(req)
    fs.eventWaiters.closed(fi!.pointee.fh)
    fs.release(fi!.pointee.fh)
    fuse_reply_err(req, 0)
}

/// `events` is readable when a line waits; other files always are.
private func handlePoll(_ req: fuse_req_t?, _ _: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?, _ ph: OpaquePointer?) {
    let fs = FileSystem.from(req)
    guard case .file(.events(let reader)) = fs.handle(fi!.pointee.fh) else {
        // Not a stream: always ready, as for a regular file.
        if let ph { fuse_pollhandle_destroy(ph) }
        fuse_reply_poll(req, UInt32(POLLIN | POLLOUT))
        return
    }
    if let ph { fs.eventWaiters.keepPoll(ph, of: fi!.pointee.fh) }
    fuse_reply_poll(req, fs.tree.events.hasLines(for: reader) ? UInt32(POLLIN) : 0)
}

/// Lists a directory with the opener's credentials.
private func handleOpendir(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    let fs = FileSystem.from(req)
    fs.replying(req!, "opendir", "inode \(ino)", quietly: [.noSuchFileOrDirectory]) { () throws(Errno) in
        let node = try fs.tree.node(forInode: UInt64(ino))
        // Listing is decided by uid, gid and root-ness (the ptrace rule of
        // /proc/PID/maps), and the handle counted by user.
        let requester = fs.requester(of: req!, processNeeded: false)
        let listing = try FileSystem.Listing(node: node, requester: requester, tree: fs.tree)
        let handle = try fs.register(.directory(listing), for: requester)
        fi!.pointee.fh = handle
        if fuse_reply_open(req, fi) != 0 { fs.release(handle) }
    }
}

/// Reads a directory listing.
private func handleReaddir(_ req: fuse_req_t?, _ _: fuse_ino_t, _ size: Int, _ offset: off_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    let fs = FileSystem.from(req)
    fs.replying(req!, "readdir", "handle \(fi!.pointee.fh)") { () throws(Errno) in
        guard case .directory(let listing) = fs.handle(fi!.pointee.fh) else { throw .badFileDescriptor }
        let entries = try listing.entries(from: offset, tree: fs.tree)
        var used = 0
        var index = max(0, Int(offset))
        // Not zeroed: fuse_add_direntry() writes every byte it counts.
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: max(size, 1)) { buffer in
            while index < entries.count {
                let entry = entries[index]
                var st = Glibc.stat()
                st.st_ino = UInt(entry.node.inode)
                st.st_mode = entry.kind == .directory ? S_IFDIR : entry.kind == .symbolicLink ? S_IFLNK : S_IFREG
                let needed = fuse_add_direntry(req, buffer.baseAddress! + used, size - used, entry.name, &st, off_t(index + 1))
                if needed > size - used { break }
                used += needed
                index += 1
            }
            _ = fuse_reply_buf(req, buffer.baseAddress, used)
        }
    }
}

/// Reads a directory listing with attributes.
/// With attributes: `ls -l` of 10,000 pins then costs a round trip
/// per page of entries, not one per file. Each entry but `.` and
/// `..` counts a lookup, as `lookup` does.
private func handleReaddirplus(_ req: fuse_req_t?, _ ino: fuse_ino_t, _ size: Int, _ offset: off_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    let fs = FileSystem.from(req)
    fs.replying(req!, "readdirplus", "handle \(fi!.pointee.fh)") { () throws(Errno) in
        guard case .directory(let listing) = fs.handle(fi!.pointee.fh) else { throw .badFileDescriptor }
        let entries = try listing.entries(from: offset, tree: fs.tree)
        var used = 0
        var index = max(0, Int(offset))
        var counted: [UInt64] = []
        var seen = PinTree.ProcessesSeen()
        // Not zeroed: fuse_add_direntry_plus() writes every byte it counts.
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: max(size, 1)) { buffer in
            while index < entries.count {
                let entry = entries[index]
                var param = fuse_entry_param()
                if entry.name == "." || entry.name == ".." {
                    // Inode 0: a name without attributes, no lookup.
                    param.attr.st_ino = UInt(entry.node.inode)
                    param.attr.st_mode = S_IFDIR
                } else {
                    // Gone since opendir (unpinned, exited): left out.
                    guard let attributes = try? fs.tree.lookup(listed: entry, in: UInt64(ino), seen: &seen) else {
                        index += 1
                        continue
                    }
                    counted.append(attributes.inode)
                    param.ino = fuse_ino_t(attributes.inode)
                    param.generation = attributes.generation
                    param.attr = fs.stat(of: attributes)
                    param.attr_timeout = fs.attributeTimeout(of: attributes)
                    param.entry_timeout = fs.cacheTimeout
                }
                let needed = fuse_add_direntry_plus(req, buffer.baseAddress! + used, size - used, entry.name, &param, off_t(index + 1))
                if needed > size - used {
                    if param.ino != 0 { fs.tree.forget(inode: counted.removeLast(), count: 1) }
                    break
                }
                used += needed
                index += 1
            }
            if fuse_reply_buf(req, buffer.baseAddress, used) != 0 {
                // Interrupted: the kernel took none of these lookups.
                for inode in counted { fs.tree.forget(inode: inode, count: 1) }
            }
        }
    }
}

/// The last close of an open directory.
private func handleReleasedir(_ req: fuse_req_t?, _ _: fuse_ino_t, _ fi: UnsafeMutablePointer<fuse_file_info>?) {
    FileSystem.from(req).release(fi!.pointee.fh)
    fuse_reply_err(req, 0)
}
