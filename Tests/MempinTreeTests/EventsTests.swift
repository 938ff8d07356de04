import MempinDevice
import MempinLocking
import MempinTestSupport
import MempinTree
import SystemPackage
import Testing

@Suite("events")
struct EventsTests {
    let backend = InMemoryBackend { [4242, 4343].contains($0) }
    let tree: PinTree
    let root = Requester(uid: 0, gid: 0, pid: 1, isRoot: true)
    let alice = Requester(uid: 1000, gid: 1000, pid: 500, isRoot: false)
    let bob = Requester(uid: 1001, gid: 1001, pid: 501, isRoot: false)

    init() {
        tree = PinTree(backend: backend, processes: FakeProcesses([4242: (1000, 1000), 4343: (1001, 1001)]))
    }

    func text(_ reader: EventReader, size: Int = 65536) -> String? {
        tree.events.read(reader, size: size).map { String(decoding: $0, as: UTF8.self) }
    }

    func record(_ sequence: UInt64, _ kind: ChangeKind, id: UInt64, pid: Int32 = 4242, start: UInt64 = 0x1000,
                pages: UInt64 = 1) -> ChangeRecord {
        ChangeRecord(sequence: sequence, kind: kind, id: id, start: start, end: start + pages * 4096,
                     pages: pages, pid: pid, timeNanoseconds: 1_764_262_800_000_000_000)
    }

    @Test("a reader sees what happens from its open on, one line per event, with the pin file's name")
    func linesFromOpen() throws {
        let before = tree.events.reader(for: root)
        let made = try tree.pin(Array("1000+4K\n".utf8), in: 4242, for: root)
        tree.apply([record(1, .pin, id: made[0].id)])
        let after = tree.events.reader(for: root)
        try backend.unpin(id: made[0].id)
        tree.apply([record(2, .detach, id: made[0].id), record(3, .unpin, id: made[0].id)])
        #expect(text(before) == """
            pin 4242 00001000-00002000 pages=1 via=tree uid=0 id=\(made[0].id) time=1764262800
            detach 4242 00001000-00002000 pages=1 via=tree uid=0 id=\(made[0].id) time=1764262800
            unpin 4242 00001000-00002000 pages=1 via=tree uid=0 id=\(made[0].id) time=1764262800

            """)
        #expect(text(after)?.hasPrefix("detach ") == true)
        #expect(text(before) == nil)
        #expect(try tree.entries(of: .root, for: root).map(\.name) == ["self", "stats", "metrics", "events", "memory"])
    }

    @Test("a pin made elsewhere joins the tree with its record; its release takes it out")
    func followsTheLedger() throws {
        let reader = tree.events.reader(for: root)
        let seed = backend.addSeedPin(pid: 4343, start: 0x5000, end: 0x7000, holder: 4343)
        var pin = record(1, .pin, id: seed.id, pid: 4343, start: 0x5000, pages: 2)
        pin.via = .ioctl
        pin.holderPID = 4343
        tree.apply([pin])
        #expect(try tree.entries(of: .processDirectory(pid: 4343), for: root).map(\.name)
            == ["pin", "status", "other_pins", "00005000-00007000"])
        var gone = pin
        gone.sequence = 2
        gone.kind = .revoke
        let removed = tree.apply([gone])
        #expect(removed.pinFiles.map(\.name) == ["00005000-00007000"] && removed.processes == [4343])
        #expect(text(reader) == """
            pin 4343 00005000-00007000 pages=2 via=ioctl uid=0 holder_pid=4343 id=\(seed.id) time=1764262800
            revoke 4343 00005000-00007000 pages=2 via=ioctl uid=0 holder_pid=4343 id=\(seed.id) time=1764262800

            """)
    }

    @Test("a record that follows a removal here names the file the pin had, suffix included")
    func recordAfterRemovalHere() throws {
        let reader = tree.events.reader(for: root)
        let made = try tree.pin(Array("1000+4K\n".utf8), in: 4242, for: root)
        tree.apply([record(1, .pin, id: made[0].id)])
        // A seed pin of the same range is the suffixed one.
        let seed = backend.addSeedPin(pid: 4242, start: 0x1000, end: 0x2000, holder: 4242)
        var seedRecord = record(2, .pin, id: seed.id)
        seedRecord.via = .ioctl
        seedRecord.holderPID = 4242
        tree.apply([seedRecord])
        let suffixed = "00001000-00002000.\(seed.id)"
        #expect(try tree.entries(of: .processDirectory(pid: 4242), for: root).map(\.name).contains(suffixed))
        _ = try tree.unlink(suffixed, in: 4242, for: root)
        _ = try tree.unlink("00001000-00002000", in: 4242, for: root)
        var revoked = seedRecord
        revoked.sequence = 3
        revoked.kind = .revoke
        tree.apply([revoked, record(4, .unpin, id: made[0].id)])
        let lines = text(reader)?.split(separator: "\n").map { $0.split(separator: " ").prefix(3).joined(separator: " ") }
        #expect(lines == ["pin 4242 00001000-00002000", "pin 4242 \(suffixed)", "revoke 4242 \(suffixed)",
                          "unpin 4242 00001000-00002000"])
    }

    @Test("a pin that ends in the batch its record comes in is not fetched; its lines name the file it would have had")
    func pinAndEndInOneBatch() throws {
        let reader = tree.events.reader(for: root)
        let fetches = Locked(0)
        defer { backend.afterEachFetch(nil) }
        backend.afterEachFetch { _ in fetches.withLock { $0 += 1 } }
        // A seed pin and its unpin, read together (the module still lists
        // it here: had it been fetched, it would have been entered).
        let seed = backend.addSeedPin(pid: 4242, start: 0x1000, end: 0x2000, holder: 4242)
        let removed = tree.apply([record(1, .pin, id: seed.id), record(2, .unpin, id: seed.id)])
        #expect(fetches.withLock { $0 } == 0)
        #expect(removed.isEmpty)
        #expect(try tree.entries(of: .processDirectory(pid: 4242), for: root).map(\.name) == ["pin", "status", "other_pins"])
        // Its range named another pin: the lines give the suffixed name.
        let made = try tree.pin(Array("1000+4K\n".utf8), in: 4242, for: root)
        tree.apply([record(3, .pin, id: made[0].id)])
        let other = backend.addSeedPin(pid: 4242, start: 0x1000, end: 0x2000, holder: 4242)
        tree.apply([record(4, .pin, id: other.id), record(5, .exit, id: other.id)])
        #expect(fetches.withLock { $0 } == 0)
        let lines = text(reader)?.split(separator: "\n").map { $0.split(separator: " ").prefix(3).joined(separator: " ") }
        #expect(lines == ["pin 4242 00001000-00002000", "unpin 4242 00001000-00002000", "pin 4242 00001000-00002000",
                          "pin 4242 00001000-00002000.\(other.id)", "exit 4242 00001000-00002000.\(other.id)"])
    }

    @Test("the ends kept for the records that follow are bounded: the oldest name falls back to its range")
    func endsKeptAreBounded() throws {
        let reader = tree.events.reader(for: root)
        let first = try tree.pin(Array("1000+4K\n".utf8), in: 4242, for: root)[0]
        let seed = backend.addSeedPin(pid: 4242, start: 0x1000, end: 0x2000, holder: 4242)
        var seedRecord = record(1, .pin, id: seed.id)
        seedRecord.via = .ioctl
        seedRecord.holderPID = 4242
        tree.apply([seedRecord])
        _ = try tree.unlink("00001000-00002000.\(seed.id)", in: 4242, for: root)
        _ = try tree.unlink("00001000-00002000", in: 4242, for: root)
        // More pins end here than the tree keeps: the seed pin's end is forgotten.
        for _ in 0..<8192 {
            let pin = try tree.pin(Array("3000+4K\n".utf8), in: 4242, for: root)[0]
            _ = try tree.unlink("00003000-00004000", in: 4242, for: root)
            #expect(pin.id != first.id)
        }
        var revoked = seedRecord
        revoked.sequence = 2
        revoked.kind = .revoke
        tree.apply([revoked])
        let last = text(reader)?.split(separator: "\n").last.map(String.init)
        #expect(last?.hasPrefix("revoke 4242 00001000-00002000 ") == true)
        // And a listing does not bring it back.
        tree.refresh()
        #expect(try tree.entries(of: .processDirectory(pid: 4242), for: root).map(\.name) == ["pin", "status", "other_pins"])
    }

    @Test("a pin whose process exits while its ioctl returns is not entered after its end's record",
          arguments: [false, true])
    func exitBeforeTheMakerEntersIt(fetchedFirst: Bool) throws {
        let tree = tree, backend = backend
        // The hook holds the tree, which holds the backend: undone below.
        defer { backend.afterEachPin(nil) }
        backend.afterEachPin { pin in
            // The change-record thread, while the writer's ioctl returns.
            if fetchedFirst { tree.apply([record(1, .pin, id: pin.id)]) }
            backend.processExited(4242)
            if !fetchedFirst { tree.apply([record(1, .pin, id: pin.id)]) }
            tree.apply([record(2, .exit, id: pin.id)])
        }
        let made = try tree.pin(Array("1000+4K\n".utf8), in: 4242, for: root)
        #expect(made.count == 1)
        #expect(try tree.entries(of: .processDirectory(pid: 4242), for: root).map(\.name) == ["pin", "status", "other_pins"])
        #expect(tree.renderStats().contains("pages 0\n"))
        // A later listing does not bring it back either.
        tree.refresh()
        #expect(tree.renderStats().contains("pins 0\n"))
    }

    @Test("a pin unpinned here while its record's thread fetches it is not entered again")
    func unpinWhileTheRecordThreadFetches() throws {
        let tree = tree, backend = backend, root = root
        // Made elsewhere (the seed ioctl): the tree learns of it from its record.
        let pin = try backend.pin(PinRequest(pid: 4242, address: 0x1000, length: 4096, requesterUID: 0,
                                             requesterGID: 0, requesterPID: 1, requesterIsRoot: true))
        defer { backend.afterEachFetch(nil) }
        backend.afterEachFetch { _ in
            backend.afterEachFetch(nil)
            // While the record's thread fetches it: a listing finds it, rm takes it.
            tree.refresh()
            #expect(throws: Never.self) { _ = try tree.unlink("00001000-00002000", in: 4242, for: root) }
        }
        tree.apply([record(1, .pin, id: pin.id)])
        #expect(try tree.entries(of: .processDirectory(pid: 4242), for: root).map(\.name) == ["pin", "status", "other_pins"])
        #expect(tree.renderStats().contains("pins 0\n"))
    }

    @Test("a refusal names the range asked for, its errno and which limit")
    func refusal() {
        let reader = tree.events.reader(for: root)
        var refused = record(1, .refuse, id: 0, pages: 16)
        refused.error = .noMemory
        refused.reason = .userLimit
        refused.uid = 1000
        tree.apply([refused])
        #expect(text(reader) == "refuse 4242 00001000-00011000 errno=ENOMEM reason=user_limit pages=16 via=tree uid=1000 time=1764262800\n")
    }

    @Test("each reader sees only the events of processes whose pin files it may read")
    func visibility() {
        let forAlice = tree.events.reader(for: alice)
        let forBob = tree.events.reader(for: bob)
        let forRoot = tree.events.reader(for: root)
        tree.apply([record(1, .refuse, id: 0), record(2, .refuse, id: 0, pid: 4343)])
        #expect(text(forAlice)?.hasPrefix("refuse 4242 ") == true)
        #expect(text(forBob)?.hasPrefix("refuse 4343 ") == true)
        #expect(text(forRoot)?.split(separator: "\n").count == 2)
        #expect(!tree.events.hasLines(for: forAlice))
    }

    @Test("while only root reads events, a line costs no read of its process's credentials")
    func rootReadersNeedNoAudience() throws {
        let processes = FakeProcesses([4242: (1000, 1000)])
        let tree = PinTree(backend: backend, processes: processes)
        let forRoot = tree.events.reader(for: root)
        let made = try tree.pin(Array("1000+4K\n".utf8), in: 4242, for: root)
        let reads = processes.credentialReads
        tree.apply([record(1, .pin, id: made[0].id), record(2, .refuse, id: 0)])
        #expect(processes.credentialReads == reads)
        #expect(tree.events.read(forRoot, size: 65536).map { String(decoding: $0, as: UTF8.self) }?
            .split(separator: "\n").count == 2)
    }

    @Test("a reader other than root who opens after lines made for root alone sees its process's exit")
    func audiencesAfterRootAlone() throws {
        let processes = FakeProcesses([4242: (1000, 1000)])
        let tree = PinTree(backend: backend, processes: processes)
        let made = try tree.pin(Array("1000+4K\n".utf8), in: 4242, for: root)
        tree.apply([record(1, .pin, id: made[0].id)])
        guard case .events(let forAlice) = try tree.open(.events, for: alice, writing: false) else {
            Issue.record("events did not open as events")
            return
        }
        processes.exited.withLock { _ = $0.insert(4242) }
        try backend.unpin(id: made[0].id)
        tree.apply([record(2, .exit, id: made[0].id)])
        let lines = tree.events.read(forAlice, size: 65536).map { String(decoding: $0, as: UTF8.self) }
        #expect(lines?.hasPrefix("exit 4242 00001000-00002000 ") == true)
    }

    @Test("a reader more than 4096 events behind gets lost N, then the rest")
    func lost() {
        let reader = tree.events.reader(for: root)
        tree.apply((1...5000).map { record(UInt64($0), .refuse, id: 0) })
        let lines = text(reader, size: 1 << 22)?.split(separator: "\n") ?? []
        #expect(lines.first == "lost 904")
        #expect(lines.count == 1 + EventLog.capacity)
    }

    @Test("short reads get whole lines, and a line longer than the read comes in parts")
    func shortReads() {
        let reader = tree.events.reader(for: root)
        tree.apply([record(1, .refuse, id: 0), record(2, .refuse, id: 0)])
        let line = "refuse 4242 00001000-00002000 pages=1 via=tree uid=0 time=1764262800\n"
        #expect(text(reader, size: line.utf8.count + 10) == line)
        #expect(text(reader, size: 10) == String(line.prefix(10)))
        #expect(text(reader) == String(line.dropFirst(10)))
    }

    @Test("metrics counts events by kind")
    func metrics() {
        tree.apply([record(1, .refuse, id: 0), record(2, .refuse, id: 0)])
        let metrics = tree.renderMetrics()
        #expect(metrics.contains("mempin_events_total{event=\"refuse\"} 2\n"))
        #expect(metrics.contains("mempin_events_total{event=\"revoke\"} 0\n"))
    }

    @Test("a refusal the module never sees is a line too: EACCES for another user's process")
    func serverRefusal() {
        let forRoot = tree.events.reader(for: root)
        let forAlice = tree.events.reader(for: alice)
        #expect(throws: Errno.permissionDenied) { try tree.pin(Array("1000+4K\n".utf8), in: 4343, for: alice) }
        let line = text(forRoot) ?? ""
        #expect(line.hasPrefix("refuse 4343 00001000-00002000 errno=EACCES pages=1 via=tree uid=1000 time="), "\(line)")
        #expect(text(forAlice) == nil)
    }

    @Test("opening another user's process's pin file is refused with a line that names no range")
    func refusalAtOpen() {
        let forRoot = tree.events.reader(for: root)
        #expect(throws: Errno.permissionDenied) { try tree.open(.pinControl(pid: 4343), for: alice, writing: true) }
        let line = text(forRoot) ?? ""
        #expect(line.hasPrefix("refuse 4343 - errno=EACCES pages=0 via=tree uid=1000 time="), "\(line)")
    }

    @Test("one user's refusals cannot flood root's events: a burst, then nothing until the window ends")
    func refusalsAreBounded() {
        let forRoot = tree.events.reader(for: root)
        for _ in 0..<(NoticeLimit.burst + 5) {
            #expect(throws: Errno.permissionDenied) { try tree.open(.pinControl(pid: 4343), for: alice, writing: true) }
        }
        #expect(throws: Errno.permissionDenied) { try tree.open(.pinControl(pid: 4242), for: bob, writing: true) }
        let lines = (text(forRoot) ?? "").split(separator: "\n")
        #expect(lines.filter { $0.contains(" uid=1000 ") }.count == NoticeLimit.burst)
        #expect(lines.filter { $0.contains(" uid=1001 ") }.count == 1)
    }
}
