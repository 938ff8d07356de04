import Foundation
import MempinDevice
import MempinTestSupport
import MempinTree
import SystemPackage
import Testing

@Suite("Pin tree")
struct PinTreeTests {
    let backend = InMemoryBackend { [4242, 500, 4343].contains($0) }
    let tree: PinTree
    let root = Requester(uid: 0, gid: 0, pid: 1, isRoot: true)
    let alice = Requester(uid: 1000, gid: 1000, pid: 500, isRoot: false)
    let bob = Requester(uid: 1001, gid: 1001, pid: 501, isRoot: false)

    init() {
        tree = PinTree(backend: backend, processes: FakeProcesses([
            4242: (1000, 1000), 500: (1000, 1000), 4343: (1001, 1001),
        ]))
    }

    func pin(_ text: String, in pid: Int32 = 4242, as requester: Requester? = nil) throws(Errno) -> [PinRecord] {
        try tree.pin(Array(text.utf8), in: pid, for: requester ?? root)
    }

    @Test("a write pins every line and names files like /proc/PID/maps")
    func pinsAndNames() throws {
        let pins = try pin("7f3a1c000000-7f3a1c100000\n0x1000+4K\n0x5000 8192\n")
        #expect(pins.count == 3)
        let names = try tree.entries(of: .processDirectory(pid: 4242), for: root).map(\.name)
        #expect(names == ["pin", "status", "other_pins", "00001000-00002000", "00005000-00007000", "7f3a1c000000-7f3a1c100000"])
        let root = try tree.entries(of: .root, for: root).map(\.name)
        #expect(root == ["self", "stats", "metrics", "events", "memory", "4242"])
    }

    @Test("a write is all or nothing", arguments: [
        ("1000-2000\n9000-a000\n", Errno.badAddress),
        ("1000-2000\n1800-3000\n", Errno.fileExists),
        ("1000-2000\nbad\n", Errno.invalidArgument),
    ])
    func allOrNothing(text: String, error: Errno) throws {
        backend.makeFault(at: 0x9000)
        #expect(throws: error) { try pin(text) }
        #expect(backend.pinnedPages == 0)
        #expect(try tree.entries(of: .root, for: root).map(\.name) == ["self", "stats", "metrics", "events", "memory"])
    }

    @Test("a write's lines reach the backend in one request; a single line alone")
    func oneRequestPerWrite() throws {
        _ = try pin("1000+4K\n3000+4K\n5000+4K\n")
        _ = try pin("9000+4K\n")
        #expect(backend.batches == [3])
        #expect(backend.pinnedPages == 4)
    }

    @Test("over the limit is ENOMEM and pins nothing")
    func overLimit() {
        backend.limitPages(to: 2)
        #expect(throws: Errno.noMemory) { try pin("1000+4K\n10000+16K\n") }
        #expect(backend.pinnedPages == 0)
    }

    @Test("only root or the target's uid may pin and unpin")
    func permissions() throws {
        #expect(throws: Errno.permissionDenied) { try pin("1000+4K", as: bob) }
        let made = try pin("1000+4K", as: alice)
        #expect(made.first?.requesterUID == 1000)
        #expect(throws: Errno.permissionDenied) {
            try tree.unlink("00001000-00002000", in: 4242, for: bob)
        }
        _ = try tree.unlink("00001000-00002000", in: 4242, for: alice)
        #expect(backend.pinnedPages == 0)
        #expect(throws: Errno.noSuchProcess) { try pin("1000+4K", in: 999) }
    }

    @Test("rm of an unknown name is ENOENT; of the control files EPERM")
    func unlinkErrors() {
        #expect(throws: Errno.noSuchFileOrDirectory) { try tree.unlink("00001000-00002000", in: 4242, for: root) }
        #expect(throws: Errno.notPermitted) { try tree.unlink("pin", in: 4242, for: root) }
    }

    @Test("lookups are counted and forgotten")
    func lookupCounting() throws {
        _ = try pin("1000+4K")
        let dir = try tree.lookup(parent: 1, name: "4242")
        _ = try tree.lookup(parent: 1, name: "4242")
        let file = try tree.lookup(parent: dir.inode, name: "00001000-00002000")
        #expect(tree.lookupCount(of: dir.inode) == 2)
        #expect(try tree.node(forInode: file.inode) == .pinFile(pid: 4242, id: 1))
        tree.forget(inode: dir.inode, count: 1)
        #expect(tree.lookupCount(of: dir.inode) == 1)
        tree.forget(inode: dir.inode, count: 1)
        #expect(tree.lookupCount(of: dir.inode) == 0)
        tree.forget(inode: file.inode, count: 1)
        #expect(tree.lookupCount(of: file.inode) == 0)
    }

    @Test("a listed entry's lookup is the lookup of its name, counted alike; ENOENT once its pin went")
    func listedLookup() throws {
        _ = try pin("1000+4K\n3000+8K\n")
        let dir = try tree.lookup(parent: 1, name: "4242")
        let entries = try tree.entries(of: .processDirectory(pid: 4242), for: root)
        var seen = PinTree.ProcessesSeen()
        for entry in entries {
            let listed = try tree.lookup(listed: entry, in: dir.inode, seen: &seen)
            let named = try tree.lookup(parent: dir.inode, name: entry.name)
            #expect(listed == named, "\(entry.name)")
            #expect(tree.lookupCount(of: listed.inode) == 2)
        }
        let file = try #require(entries.first { $0.name == "00003000-00005000" })
        _ = try tree.unlink(file.name, in: 4242, for: root)
        #expect(throws: Errno.noSuchFileOrDirectory) { try tree.lookup(listed: file, in: dir.inode, seen: &seen) }
    }

    @Test("lookup: unknown names and dead pids are ENOENT", arguments: ["999", "0", "-1", "04242", "abc", "4242x", "pin"])
    func lookupMisses(name: String) {
        #expect(throws: Errno.noSuchFileOrDirectory) { try tree.lookup(parent: 1, name: name) }
    }

    @Test("a live pid resolves before its first pin, owned by its real uid")
    func livePidResolves() throws {
        let dir = try tree.lookup(parent: 1, name: "4343")
        #expect(dir.kind == .directory && dir.permissions == 0o755 && dir.uid == 1001)
        let control = try tree.lookup(parent: dir.inode, name: "pin")
        #expect(control.permissions == 0o200 && control.uid == 1001)
    }

    @Test("a process's exit drops its pins and its directory at refresh")
    func exitRefresh() throws {
        _ = try pin("1000+4K\n3000+4K\n")
        backend.processExited(4242)
        let removed = tree.refresh()
        #expect(removed.processes == [4242])
        #expect(removed.pinFiles.map(\.name).sorted() == ["00001000-00002000", "00003000-00004000"])
        #expect(try tree.entries(of: .root, for: root).map(\.name) == ["self", "stats", "metrics", "events", "memory"])
    }

    @Test("status and stats are flat key value lines")
    func statusAndStats() throws {
        _ = try pin("1000+8K\n")
        let status = try tree.renderStatus(of: 4242)
        #expect(status == "pins 1\npages 2\nbytes 8192\ndetached_pins 0\nvm_pinned_bytes 0\nother_pinned_bytes 0\n"
            + "memlock_limit_bytes 65536\ncgroup /user.slice/fake-4242.scope\n")
        #expect(tree.renderStats() == "pins 1\npages 2\nbytes 8192\nprocesses 1\ndetached_pins 0\n")
    }

    @Test("pin files stream by offset, the same bytes whatever the read size", arguments: [1, 7, 100, 4096, (64 << 10) + 13, 1 << 20])
    func streaming(readSize: Int) throws {
        let made = try pin("100000+40M")   // 10240 pages
        let file = try tree.open(.pinFile(pid: 4242, id: made[0].id), for: root, writing: false)
        var whole: [UInt8] = []
        while true {
            let chunk = try tree.read(file, offset: UInt64(whole.count), size: readSize)
            if chunk.isEmpty { break }
            whole += chunk
        }
        let text = String(decoding: whole, as: UTF8.self)
        let blank = try #require(text.firstRange(of: "\n\n"))
        let lines = text[blank.upperBound...].split(separator: "\n")
        #expect(!text[blank.upperBound...].contains("\n\n"))
        #expect(lines.count == 10240)
        #expect(Set(lines.map(\.utf8.count)) == [37])
        #expect(lines.first?.trimmingTrailingSpaces == "00100000 100000 0 normal 0")
        #expect(lines.last?.trimmingTrailingSpaces == "028ff000 1027ff 0 normal 0")
        // A read from the middle, not where the last one ended.
        let header = text[..<blank.upperBound].utf8.count
        let line = 38
        let middle = try tree.read(file, offset: UInt64(header + 5 * line + 9), size: 6)
        #expect(String(decoding: middle, as: UTF8.self) == "100005")
    }

    @Test("a read answered from the chunk rendered ahead is the same bytes, whatever comes between", arguments: [7, 4096, 128 << 10])
    func renderedAhead(readSize: Int) throws {
        let made = try pin("100000+40M")   // 10240 pages
        let file = try tree.open(.pinFile(pid: 4242, id: made[0].id), for: root, writing: false)
        let plain = try tree.open(.pinFile(pid: 4242, id: made[0].id), for: root, writing: false)
        guard case .pinFile(let reader) = file else {
            Issue.record("not a pin file")
            return
        }
        func read(_ offset: Int, _ size: Int) throws(Errno) -> [UInt8] {
            var bytes: [UInt8] = []
            let count = try reader.read(offset: UInt64(offset), size: size) { bytes = Array($0) }.get()
            #expect(count == bytes.count)
            if count == size { reader.renderAhead(after: UInt64(offset + count), size: size) }
            return bytes
        }
        // Sequential reads, each next one rendered ahead: the file as it is.
        var whole: [UInt8] = []
        var reads = 0
        while true {
            let chunk = try read(whole.count, readSize)
            if chunk.isEmpty { break }
            whole += chunk
            reads += 1
            // Now and then a read elsewhere, or of another size, between.
            if reads % 5 == 0 {
                let elsewhere = max(0, whole.count - 3 * readSize)
                #expect(try read(elsewhere, 11) == Array(whole[elsewhere..<min(whole.count, elsewhere + 11)]))
            }
            if reads % 7 == 0, whole.count > 100 {
                let shorter = try read(whole.count, readSize / 2 + 1)
                whole += shorter
            }
        }
        var expected: [UInt8] = []
        while true {
            let chunk = try tree.read(plain, offset: UInt64(expected.count), size: 1 << 20)
            if chunk.isEmpty { break }
            expected += chunk
        }
        #expect(whole == expected)
    }

    @Test("readers together hold at most the read-ahead budget; a reader's chunk goes with it")
    func renderedAheadIsBounded() throws {
        let made = try pin("100000+40M")
        var readers: [PinFileReader] = []
        let chunk = 64 << 10   // the file is some 380 KiB
        for _ in 0..<(tree.readAhead.limit / chunk + 4) {
            guard case .pinFile(let reader) = try tree.open(.pinFile(pid: 4242, id: made[0].id), for: root, writing: false)
            else { continue }
            _ = reader.read(offset: 0, size: chunk) { _ in }
            reader.renderAhead(after: UInt64(chunk), size: chunk)
            readers.append(reader)
        }
        #expect(tree.readAhead.bytesHeld == tree.readAhead.limit)
        readers.removeAll()
        #expect(tree.readAhead.bytesHeld == 0)
    }

    @Test("a read at any offset costs what a read at the start costs; past the end is EOF at once")
    func readsAnywhere() throws {
        let made = try pin("100000+512M")   // 131072 pages
        let file = try tree.open(.pinFile(pid: 4242, id: made[0].id), for: root, writing: false)
        let start = backend.pagesFetched
        let first = try tree.read(file, offset: 0, size: 4096)
        let atStart = backend.pagesFetched - start
        let header = String(decoding: first, as: UTF8.self).firstRange(of: "\n\n")!.upperBound.utf16Offset(in: String(decoding: first, as: UTF8.self))
        let size = UInt64(header) + 131_072 * 38
        let before = backend.pagesFetched
        let last = try tree.read(file, offset: size - 38 - 1000 * 38 + 9, size: 4096)
        let nearEnd = backend.pagesFetched - before
        #expect(nearEnd <= 2 * atStart + 1, "\(nearEnd) pages fetched near the end, \(atStart) at the start")
        #expect(String(decoding: last, as: UTF8.self).hasPrefix("11fc17 "))
        let tail = try tree.read(file, offset: size - 38, size: 4096)
        #expect(String(decoding: tail, as: UTF8.self).trimmingTrailingSpaces == "200ff000 11ffff 0 normal 0\n")
        let fetched = backend.pagesFetched
        #expect(try tree.read(file, offset: size, size: 4096).isEmpty)
        #expect(try tree.read(file, offset: size + 1 << 30, size: 4096).isEmpty)
        #expect(backend.pagesFetched == fetched)
    }

    @Test("readers that are not root see PFN 0")
    func hiddenFrames() throws {
        let made = try pin("1000+4K", as: alice)
        let file = try tree.open(.pinFile(pid: 4242, id: made[0].id), for: alice, writing: false)
        let text = String(decoding: try tree.read(file, offset: 0, size: 4096), as: UTF8.self)
        #expect(text.hasSuffix("\n\n00001000 0 0 normal 0" + String(repeating: " ", count: 4) + "\n"))
    }

    @Test("pages in runs of every length read as each page's line, with frames shown and hidden")
    func scatteredPages() throws {
        backend.scatterPages()
        let made = try pin("100000+8M", as: alice)   // 2048 pages
        for reader in [root, alice] {
            let file = try tree.open(.pinFile(pid: 4242, id: made[0].id), for: reader, writing: false)
            var text: [UInt8] = []
            while true {
                let chunk = try tree.read(file, offset: UInt64(text.count), size: 5000)
                if chunk.isEmpty { break }
                text += chunk
            }
            let shows = reader.uid == 0
            let width = Formats.pageLineWidth(end: made[0].end, showsFrame: shows)
            var expected: [UInt8] = []
            for page in try backend.pages(of: made[0].id, from: 0, count: 4096) {
                Formats.appendPageLine(page, showsFrame: shows, width: width, to: &expected)
            }
            let body = try #require(text.indices.first { text[$0] == 10 && text[$0 + 1] == 10 })
            #expect(Array(text[(body + 2)...]) == expected, "as uid \(reader.uid)")
        }
    }

    @Test("a detached pin says so")
    func detached() throws {
        let made = try pin("1000+4K")
        backend.detach(id: made[0].id)
        let file = try tree.open(.pinFile(pid: 4242, id: made[0].id), for: root, writing: false)
        let text = String(decoding: try tree.read(file, offset: 0, size: 4096), as: UTF8.self)
        #expect(text.contains("\nstate detached\n"))
    }

    @Test("a pid directory stays its process's: after the pid is reused, what was found in it is ENOENT")
    func pidReuse() throws {
        let processes = FakeProcesses([4242: (1000, 1000)])
        let tree = PinTree(backend: backend, processes: processes)
        let directory = try tree.lookup(parent: Node.root.inode, name: "4242")
        let control = try tree.lookup(parent: directory.inode, name: "pin")
        #expect(directory.generation == 1 && control.generation == 1)
        guard case .control(let opened) = try tree.open(.pinControl(pid: 4242), for: alice, writing: true) else {
            Issue.record("pin did not open as a control file")
            return
        }
        // The process exits; another of the same user gets pid 4242.
        processes.startTimes.withLock { $0[4242] = 77 }
        #expect(throws: Errno.noSuchFileOrDirectory) { try tree.lookup(parent: directory.inode, name: "pin") }
        #expect(throws: Errno.noSuchFileOrDirectory) { try tree.open(.pinControl(pid: 4242), for: alice, writing: true) }
        #expect(throws: Errno.noSuchFileOrDirectory) { try tree.entries(of: .processDirectory(pid: 4242), for: alice) }
        #expect(throws: Errno.noSuchProcess) { try tree.write(Array("1000+4K\n".utf8), to: opened, by: alice) }
        #expect(backend.pinnedPages == 0)
        // Found afresh from the root, it is the new process's, under a new
        // generation (the kernel takes the old inode for stale).
        let again = try tree.lookup(parent: Node.root.inode, name: "4242")
        #expect(again.inode == directory.inode && again.generation == 77)
        #expect(try tree.lookup(parent: again.inode, name: "pin").generation == 77)
        guard case .control(let file) = try tree.open(.pinControl(pid: 4242), for: alice, writing: true) else {
            Issue.record("pin did not open as a control file")
            return
        }
        #expect(try tree.write(Array("1000+4K\n".utf8), to: file, by: alice).count == 1)
    }

    @Test("where the module checks start times, a write through a pid reused since its open is its ESRCH, and the tree does not look first")
    func pidReuseCheckedByTheModule() throws {
        let processes = FakeProcesses([4242: (1000, 1000)])
        let tree = PinTree(backend: backend, processes: processes)
        backend.moduleStartTimes.withLock { $0 = { pid in processes.startTimes.withLock { $0[pid] } ?? 1 } }
        guard case .control(let opened) = try tree.open(.pinControl(pid: 4242), for: alice, writing: true) else {
            Issue.record("pin did not open as a control file")
            return
        }
        #expect(try tree.write(Array("1000+4K\n".utf8), to: opened, by: alice).count == 1)
        #expect(backend.lastRequest?.startTime == 1)
        processes.startTimes.withLock { $0[4242] = 77 }
        #expect(throws: Errno.noSuchProcess) { try tree.write(Array("3000+4K\n".utf8), to: opened, by: alice) }
        #expect(backend.lastRequest?.startTime == 1)
        #expect(backend.pinnedPages == 1)
    }

    @Test("a pid directory is listed, and its pin files read, only as /proc/PID/maps allows")
    func readingRules() throws {
        let processes = FakeProcesses([4242: (1000, 1000), 4343: (1001, 1001), 500: (1000, 1000)], nonDumpable: [500])
        let tree = PinTree(backend: backend, processes: processes)
        let id = try tree.pin(Array("1000+4K\n".utf8), in: 4242, for: root)[0].id
        _ = try tree.pin(Array("1000+4K\n".utf8), in: 500, for: root)
        #expect(try tree.entries(of: .processDirectory(pid: 4242), for: alice).count == 4)
        #expect(throws: Errno.permissionDenied) { try tree.entries(of: .processDirectory(pid: 4242), for: bob) }
        // Her own process, but not dumpable (ssh-agent, a setuid program).
        #expect(throws: Errno.permissionDenied) { try tree.entries(of: .processDirectory(pid: 500), for: alice) }
        #expect(try tree.entries(of: .processDirectory(pid: 500), for: root).count == 4)
        #expect(throws: Errno.permissionDenied) { try tree.open(.pinFile(pid: 4242, id: id), for: bob, writing: false) }
        _ = try tree.open(.pinFile(pid: 4242, id: id), for: alice, writing: false)
        // status stays readable by everyone.
        _ = try tree.open(.processStatus(pid: 4242), for: bob, writing: false)
    }

    @Test("uid 0 without CAP_SYS_ADMIN is not root")
    func uidZeroIsNotRoot() {
        let contained = Requester(uid: 0, gid: 0, pid: 2, isRoot: false)
        #expect(throws: Errno.permissionDenied) { try pin("1000+4K", as: contained) }
        #expect(throws: Errno.permissionDenied) { try tree.entries(of: .processDirectory(pid: 4242), for: contained) }
    }

    /// Opens `pid`'s control file as `requester`.
    func control(of pid: Int32 = 4242, as requester: Requester) throws(Errno) -> ControlFile {
        guard case .control(let file) = try tree.open(.pinControl(pid: pid), for: requester, writing: true) else {
            throw .badFileDescriptor
        }
        return file
    }

    @Test("a line split across writes is pinned whole; one unfinished at close fails it and pins nothing")
    func linesAcrossWrites() throws {
        let file = try control(as: root)
        #expect(try tree.write(Array("0x1000+4K\n0x30".utf8), to: file, by: root).map(\.start) == [0x1000])
        #expect(try tree.write(Array("00+4K\n0x50".utf8), to: file, by: root).map(\.start) == [0x3000])
        #expect(try tree.write(Array("00+4".utf8), to: file, by: root).isEmpty)
        #expect(throws: Errno.invalidArgument) { try tree.close(file) }
        #expect(backend.pinnedPages == 2)
        // The next close of the same file has nothing left over.
        try tree.close(file)
    }

    @Test("the opener's credentials count, and the writer must pass too")
    func openerCredentials() throws {
        #expect(throws: Errno.permissionDenied) { try control(as: bob) }
        let file = try control(as: alice)
        // A setuid-root program writing to alice's descriptor pins as alice.
        let made = try tree.write(Array("1000+4K\n".utf8), to: file, by: root)
        #expect(made.first?.requesterUID == 1000)
        #expect(backend.lastRequest?.requesterIsRoot == false)
        #expect(throws: Errno.permissionDenied) { try tree.write(Array("3000+4K\n".utf8), to: file, by: bob) }
    }

    @Test("a pin released while its file is read ends the read, it does not fail it")
    func releasedMidRead() throws {
        let id = try pin("10000+64K\n")[0].id
        let file = try tree.open(.pinFile(pid: 4242, id: id), for: root, writing: false)
        let head = try tree.read(file, offset: 0, size: 200)
        #expect(head.count == 200)
        try backend.unpin(id: id)
        let rest = try tree.read(file, offset: 200, size: 4096)
        #expect(try tree.read(file, offset: 200 + UInt64(rest.count), size: 4096).isEmpty)
        // A read elsewhere (seek) ends the same way.
        #expect(try tree.read(file, offset: 100_000, size: 4096).isEmpty)
    }

    @Test("what any refresh finds gone reaches the kernel's caches, once")
    func removalsReachTheRefresher() throws {
        _ = try pin("1000+4K\n")
        backend.processExited(4242)
        // A request's refresh (stats), not the refresher's, finds it.
        _ = tree.renderStats()
        let removed = tree.takeRemovedNames()
        #expect(removed.processes == [4242])
        #expect(removed.pinFiles.map(\.name) == ["00001000-00002000"])
        #expect(tree.takeRemovedNames().processes.isEmpty)
    }

    @Test("one user's stuck pins hold at most four threads; root and others go on; a FUSE-backed range is refused")
    func stuckPinsAreBounded() throws {
        var processes = FakeProcesses([4242: (1000, 1000), 4343: (1001, 1001)])
        processes.fuseMappings = [4242: [0x90_0000]]
        let tree = PinTree(backend: backend, processes: processes)
        #expect(throws: Errno.badAddress) { try tree.pin(Array("900000+4K\n".utf8), in: 4242, for: alice) }
        backend.stallPins(at: 0x10_0000)
        let user = alice
        let threads = (0..<4).map { index in
            Thread {
                _ = try? tree.pin(Array("\(String(0x10_0000, radix: 16))+\(index + 1)M\n".utf8), in: 4242, for: user)
            }
        }
        threads.forEach { $0.start() }
        while backend.stalledPins < 4 { usleep(1000) }
        #expect(throws: Errno.resourceTemporarilyUnavailable) { try tree.pin(Array("a00000+4K\n".utf8), in: 4242, for: alice) }
        // Root and another user are not held back.
        #expect(try tree.pin(Array("b00000+4K\n".utf8), in: 4242, for: root).count == 1)
        #expect(try tree.pin(Array("b00000+4K\n".utf8), in: 4343, for: bob).count == 1)
        backend.releaseStalls()
        while backend.stalledPins > 0 { usleep(1000) }
        usleep(10000)
        #expect(try tree.pin(Array("a00000+4K\n".utf8), in: 4242, for: alice).count == 1)
    }

    @Test("a process's own seed pin is adopted with via ioctl; only root's rm revokes it")
    func seedPins() throws {
        let seed = backend.addSeedPin(pid: 4242, start: 0x1000, end: 0x3000, holder: 4242)
        tree.refresh()
        let names = try tree.entries(of: .processDirectory(pid: 4242), for: root).map(\.name)
        #expect(names == ["pin", "status", "other_pins", "00001000-00003000"])
        let file = try tree.open(.pinFile(pid: 4242, id: seed.id), for: root, writing: false)
        let text = String(decoding: try tree.read(file, offset: 0, size: 4096), as: UTF8.self)
        #expect(text.contains("\nstate pinned\nvia ioctl\nholder_pid 4242\n"))
        #expect(throws: Errno.notPermitted) { try tree.unlink("00001000-00003000", in: 4242, for: alice) }
        #expect(backend.pinnedPages == 2)
        _ = try tree.unlink("00001000-00003000", in: 4242, for: root)
        #expect(backend.pinnedPages == 0)
    }

    @Test("a restarted tree adopts a ledger of interleaved processes' pins as the tree that made them had them")
    func adoptsInterleavedLedger() throws {
        // Runs of one process's pins, the processes taking turns: 180
        // pins, past the start's reservation.
        for index in 0..<180 {
            let pid: Int32 = [4242, 500, 4343][(index / 7) % 3]
            let start = 0x10_0000 + index * 0x2000
            _ = try pin("\(String(start, radix: 16))+4K", in: pid)
        }
        let restarted = PinTree(backend: backend, processes: FakeProcesses([4242: (1000, 1000), 500: (1000, 1000), 4343: (1001, 1001)]))
        restarted.refresh()
        #expect(restarted.pinCount == 180)
        for pid: Int32 in [4242, 500, 4343] {
            let before = try tree.entries(of: .processDirectory(pid: pid), for: root)
            #expect(try restarted.entries(of: .processDirectory(pid: pid), for: root) == before)
            #expect(before.count > 3 + 50)
            #expect(try restarted.renderStatus(of: pid) == tree.renderStatus(of: pid))
        }
        #expect(try restarted.entries(of: .root, for: root).map(\.name) == tree.entries(of: .root, for: root).map(\.name))
    }

    @Test("two pins of one range: the second is START-END.ID; names never change, and a new tree gives the same")
    func sharedRangeNames() throws {
        let seed = backend.addSeedPin(pid: 4242, start: 0x1000, end: 0x2000)
        tree.refresh()
        let made = try pin("1000+4K")
        let second = "00001000-00002000.\(made[0].id)"
        let names = try tree.entries(of: .processDirectory(pid: 4242), for: root).map(\.name).sorted()
        #expect(names == ["00001000-00002000", second, "other_pins", "pin", "status"])
        // The restarted server's tree: the older pin keeps the plain name.
        let restarted = PinTree(backend: backend, processes: FakeProcesses([4242: (1000, 1000)]))
        restarted.refresh()
        let again = try restarted.entries(of: .processDirectory(pid: 4242), for: root).map(\.name).sorted()
        #expect(again == names)
        // Only the names as listed find the pins: no other spelling.
        #expect(try tree.lookup(parent: Node.processDirectory(pid: 4242).inode, name: second).kind == .regularFile)
        for alias in ["00001000-00002000.0\(made[0].id)", "00001000-00002000.", "0001000-00002000", "00001000-00002000.+1",
                      "00001000-0000200a".uppercased(), "0x1000-0x2000", "00001000+00002000", "-00002000", "00001000-"] {
            #expect(throws: Errno.noSuchFileOrDirectory, "\(alias)") {
                try tree.lookup(parent: Node.processDirectory(pid: 4242).inode, name: alias)
            }
        }
        // Removing the first leaves the second under its own name.
        _ = try tree.unlink("00001000-00002000", in: 4242, for: root)
        #expect(try tree.entries(of: .processDirectory(pid: 4242), for: root).map(\.name) == ["pin", "status", "other_pins", second])
        #expect(backend.pinnedPages == 1 && seed.id < made[0].id)
    }

    @Test("a pin file is found by its name as listed, never by another spelling of its numbers")
    func nameSpellings() throws {
        let made = try pin("7f3a1c000000+4K\n1000000000000000+4K")
        let directory = Node.processDirectory(pid: 4242).inode
        for name in ["7f3a1c000000-7f3a1c001000", "1000000000000000-1000000000001000"] {
            #expect(try tree.lookup(parent: directory, name: name).kind == .regularFile, "\(name)")
        }
        for alias in ["07f3a1c000000-7f3a1c001000", "7f3a1c000000-07f3a1c001000", "7F3A1C000000-7f3a1c001000",
                      "01000000000000000-1000000000001000", "1000000000000000-01000000000001000",
                      "7f3a1c000000-7f3a1c001000.", "7f3a1c000000-7f3a1c001000.1.2", "7f3a1c000000-7f3a1c001000-1",
                      "7f3a1c000000-7f3a1c001000.99999999999999999999999", "7f3a1c000000-7f3a1c001000.a",
                      "7f3a1c000000-7f3a1c001000 ", " 7f3a1c000000-7f3a1c001000", "7f3a1c000000--7f3a1c001000",
                      "7f3a1c000000", "", "-", ".", "-.", "7f3a1c000000-7f3a1c001000\n", "7f3a1c000000-7f3a1c001000é"] {
            #expect(throws: Errno.noSuchFileOrDirectory, "\(alias)") { try tree.lookup(parent: directory, name: alias) }
            #expect(throws: Errno.noSuchFileOrDirectory, "\(alias)") { try tree.unlink(alias, in: 4242, for: root) }
        }
        #expect(made.count == 2 && backend.pinnedPages == 2)
    }
}

extension StringProtocol {
    /// The line without the spaces that pad it to its file's width.
    var trimmingTrailingSpaces: String {
        var text = String(self)
        let newline = text.hasSuffix("\n")
        if newline { text.removeLast() }
        while text.hasSuffix(" ") { text.removeLast() }
        return newline ? text + "\n" : text
    }
}
