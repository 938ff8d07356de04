import MempinDevice
import MempinTestSupport
import MempinTree
import SystemPackage
import Testing

/// The whole machine's pins: `status`'s other pinners, `other_pins`, the
/// root listing of processes pinned by others, and `memory/`.
@Suite("Other pinners and memory blocks")
struct OtherPinsTests {
    let backend = InMemoryBackend { [4242, 4343, 4545].contains($0) }
    let root = Requester(uid: 0, gid: 0, pid: 1, isRoot: true)
    let alice = Requester(uid: 1000, gid: 1000, pid: 500, isRoot: false)
    let bob = Requester(uid: 1001, gid: 1001, pid: 501, isRoot: false)
    static let page: UInt64 = 4096

    /// Process 4242 (alice's) maps 64 pages at 0x100000 whose frames are
    /// 0x5000 + i; an io_uring ring of it registered 0x100000 + 16 pages;
    /// its VmPin is 16 pages. Process 4343 (bob's) holds 4 pages pinned
    /// by others at 0x200000 (frames 0x6000 + i) and an RDMA device.
    func makeTree(blocks: [MemoryBlock] = []) -> PinTree {
        var processes = FakeProcesses([4242: (1000, 1000), 4343: (1001, 1001)])
        processes.mappings = [4242: [0x10_0000..<0x14_0000], 4343: [0x20_0000..<0x20_4000]]
        processes.pageFrames = [
            4242: Dictionary(uniqueKeysWithValues: (0..<64).map { (0x10_0000 + $0 * Self.page, 0x5000 + $0) }),
            4343: Dictionary(uniqueKeysWithValues: (0..<4).map { (0x20_0000 + $0 * Self.page, 0x6000 + $0) }),
        ]
        processes.vmPinned = [4242: 16 * Self.page, 4343: 4 * Self.page]
        processes.holders = [
            4242: PinHolders(ioUringBuffers: [0x10_0000..<0x11_0000]),
            4343: PinHolders(usesRDMA: true),
        ]
        backend.pinFramesElsewhere((0..<16).map { 0x5000 + $0 })
        backend.pinFramesElsewhere((0..<4).map { 0x6000 + $0 })
        return PinTree(backend: backend, processes: processes, memoryBlocks: FakeMemoryBlocks(blocks))
    }

    @Test("status: other_pinned_bytes is VmPin less the module's charge; cgroup is the process's")
    func statusKeys() throws {
        let tree = makeTree()
        var status = try tree.renderStatus(of: 4242)
        #expect(status.contains("\nvm_pinned_bytes 65536\nother_pinned_bytes 65536\n"), "\(status)")
        #expect(status.hasSuffix("\ncgroup /user.slice/fake-4242.scope\n"))
        // A pin of the module is charged to VmPin too: not another's.
        _ = try tree.pin(Array("300000+16K\n".utf8), in: 4242, for: root)
        status = try tree.renderStatus(of: 4242)
        #expect(status.contains("\nother_pinned_bytes 49152\n"), "\(status)")
        #expect(Formats.word("/a b\nc\\d") == "/a\\040b\\012c\\134d")
    }

    @Test("the root lists every process whose VmPin exceeds the module's charge")
    func rootListsOtherPinners() throws {
        let tree = makeTree()
        let names = try tree.entries(of: .root, for: root).map(\.name)
        #expect(names == ["self", "stats", "metrics", "events", "memory", "4242", "4343"])
    }

    @Test("a process whose last pin of the module goes is not listed as pinned by others")
    func unpinnedProcessLeavesTheRoot() throws {
        let processes = FakeProcesses([4545: (1000, 1000)])
        let tree = PinTree(backend: backend, processes: processes, memoryBlocks: FakeMemoryBlocks([]))
        _ = try tree.pin(Array("300000+16K\n".utf8), in: 4545, for: root)
        processes.vmPinned = [4545: 4 * Self.page]
        #expect(try tree.entries(of: .root, for: root).map(\.name).last == "4545")
        // The kernel drops the pages; the listing within the scan's reuse
        // must not take the VmPin it read for another subsystem's.
        _ = try tree.unlink("00300000-00304000", in: 4545, for: root)
        processes.vmPinned = [:]
        #expect(try tree.entries(of: .root, for: root).map(\.name).last == "memory")
        #expect(!tree.renderMetrics().contains("pid=\"4545\""))
    }

    @Test("other_pins: runs of pinned pages no pin of the module covers, with their holder")
    func otherPinsRuns() throws {
        let tree = makeTree()
        #expect(try tree.renderOtherPins(of: 4242) == "00100000-00110000 16 io_uring\n")
        #expect(try tree.renderOtherPins(of: 4343) == "00200000-00204000 4 rdma\n")
        // A pin of the module over part of it takes that part out.
        _ = try tree.pin(Array("104000+8K\n".utf8), in: 4242, for: root)
        #expect(try tree.renderOtherPins(of: 4242) == "00100000-00104000 4 io_uring\n00106000-00110000 10 io_uring\n")
    }

    @Test("other_pins: a holder no file names is unknown; a run splits where the buffer ends")
    func otherPinsHolders() throws {
        let tree = makeTree()
        backend.pinFramesElsewhere((16..<20).map { 0x5000 + $0 })
        #expect(try tree.renderOtherPins(of: 4242) == "00100000-00110000 16 io_uring\n00110000-00114000 4 unknown\n")
    }

    @Test("other_pins reads as /proc/PID/maps: root or the dumpable owner; a gone process is ENOENT")
    func otherPinsPermissions() throws {
        let tree = makeTree()
        guard case .snapshot(let bytes) = try tree.open(.otherPins(pid: 4242), for: alice, writing: false) else {
            Issue.record("not a snapshot")
            return
        }
        #expect(String(decoding: bytes, as: UTF8.self) == "00100000-00110000 16 io_uring\n")
        #expect(throws: Errno.permissionDenied) { try tree.open(.otherPins(pid: 4242), for: bob, writing: false) }
        #expect(throws: Errno.permissionDenied) { try tree.open(.otherPins(pid: 4242), for: alice, writing: true) }
        #expect(throws: Errno.noSuchFileOrDirectory) { try tree.renderOtherPins(of: 999) }
        let attributes = try tree.attributes(of: .otherPins(pid: 4242))
        #expect(attributes.permissions == 0o644 && attributes.uid == 1000)
    }

    @Test("memory/memoryN: pinned pages, the module's, and each holder, most pages first")
    func memoryBlock() throws {
        let blocks = [
            MemoryBlock(index: 0, firstFrame: 0x5000, frameCount: 0x1000, zone: "normal", state: "online"),
            MemoryBlock(index: 1, firstFrame: 0x6000, frameCount: 0x1000, zone: "movable", state: "online"),
            MemoryBlock(index: 2, firstFrame: 0x10_0000, frameCount: 0x1_0000, zone: "normal", state: "online"),
        ]
        let tree = makeTree(blocks: blocks)
        let made = try tree.pin(Array("300000+32K\n".utf8), in: 4242, for: root)[0]
        #expect(try tree.entries(of: .memoryDirectory, for: alice).map(\.name) == ["memory0", "memory1", "memory2"])
        #expect(try tree.renderMemoryBlock(0) == """
            pinned_pages 16
            mempin_pages 0
            other_pages 16
            zone normal
            state online
            block_pages 4096
            first_frame 5000

            4242 other 16

            """)
        // The pin's 8 frames are 0x100000 + (id - 1) << 20 + i: block 2.
        let name = Formats.pinFileName(start: made.start, end: made.end)
        #expect(blocks[2].firstFrame...0x10_ffff ~= InMemoryBackend.frame(ofPage: 7, of: made.id))
        let text = try tree.renderMemoryBlock(2)
        #expect(text.hasPrefix("pinned_pages 8\nmempin_pages 8\nother_pages 0\n"), "\(text)")
        #expect(text.hasSuffix("\n\n4242 \(name) 8\n"), "\(text)")
        #expect(try tree.renderMemoryBlock(1).hasSuffix("\n\n4343 other 4\n"))
    }

    @Test("memory/memoryN reads a pin's page list once, and none for a block with nothing pinned")
    func memoryBlockCost() throws {
        let blocks = [
            MemoryBlock(index: 2, firstFrame: 0x10_0000, frameCount: 0x1_0000, zone: "normal", state: "online"),
            MemoryBlock(index: 9, firstFrame: 0x9_0000, frameCount: 0x1000, zone: "normal", state: "online"),
        ]
        let tree = makeTree(blocks: blocks)
        let made = try tree.pin(Array("300000+32K\n".utf8), in: 4242, for: root)[0]
        let name = Formats.pinFileName(start: made.start, end: made.end)
        var fetched = backend.pagesFetched
        #expect(try tree.renderMemoryBlock(9).hasPrefix("pinned_pages 0\nmempin_pages 0\n"))
        #expect(backend.pagesFetched == fetched)
        #expect(try tree.renderMemoryBlock(2).hasSuffix("\n\n4242 \(name) 8\n"))
        #expect(backend.pagesFetched == fetched + 8)
        fetched = backend.pagesFetched
        #expect(try tree.renderMemoryBlock(2).hasSuffix("\n\n4242 \(name) 8\n"))
        #expect(backend.pagesFetched == fetched, "a pin's frames never change: read once")
        // Gone, it leaves the block (and its frames are forgotten).
        _ = try tree.unlink(name, in: 4242, for: root)
        #expect(try tree.renderMemoryBlock(2).hasPrefix("pinned_pages 0\nmempin_pages 0\nother_pages 0\n"))
    }

    @Test("memory/: listed by all, a block's file read by root only; unknown blocks are ENOENT")
    func memoryPermissions() throws {
        let tree = makeTree(blocks: [MemoryBlock(index: 7, firstFrame: 0, frameCount: 16, zone: nil, state: nil)])
        #expect(try tree.lookup(parent: 1, name: "memory").kind == .directory)
        let file = try tree.lookup(parent: Node.memoryDirectory.inode, name: "memory7")
        #expect(file.permissions == 0o400 && file.uid == 0)
        for name in ["memory8", "memory07", "memory", "memoryx", "pin"] {
            #expect(throws: Errno.noSuchFileOrDirectory) { try tree.lookup(parent: Node.memoryDirectory.inode, name: name) }
        }
        #expect(throws: Errno.permissionDenied) { try tree.open(.memoryBlock(index: 7), for: alice, writing: false) }
        _ = try tree.open(.memoryBlock(index: 7), for: root, writing: false)
        #expect(try tree.renderMemoryBlock(7) == "pinned_pages 0\nmempin_pages 0\nother_pages 0\nblock_pages 16\nfirst_frame 0\n\n")
    }

    @Test("an io_uring fdinfo's registered buffers, as 6.1 and 6.12 print them")
    func fdinfoBuffers() {
        let fdinfo = """
            SqMask:\t0x3
            UserFiles:\t0
            UserBufs:\t2
                0: 0x7f3a1c000000/4194304
                1: 0x10000/4096
            PollList:
                2: 0x20000/4096

            """
        #expect(ProcFS.registeredBuffers(in: Array(fdinfo.utf8)) == [0x7f3a_1c00_0000..<0x7f3a_1c40_0000, 0x10000..<0x11000])
        #expect(ProcFS.registeredBuffers(in: Array("UserBufs:\t0\nPollList:\n".utf8)).isEmpty)
    }
}
