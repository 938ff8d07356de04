// mempin-profile: the server's own work, without FUSE or the module, in
// loops that callgrind can count (mount-scripts/profile runs it under
// valgrind, one phase per run). Each phase prints its wall time per item.
//
// Usage: mempin-profile [parse|pages|ledger|listing|pin|otherpins|status|stat|events|follow|block|memory|sender|log|all]

import Logging
import MempinDevice
import MempinFS
import MempinTestSupport
import MempinTree
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A backend whose listing of the whole ledger was made before: what the
/// module's `MEMPIN_LIST` gives, in id order. The rest is `backend`'s.
struct ListedBackend: PinBackend {
    let backend: InMemoryBackend
    let listing: [PinRecord]

    func listAll(pid: Int32) throws(Errno) -> [PinRecord] {
        pid == 0 ? listing : try backend.listAll(pid: pid)
    }
    func pin(_ request: PinRequest) throws(Errno) -> PinRecord { try backend.pin(request) }
    func unpin(id: UInt64, requesterUID: UInt32, requesterPID: Int32) throws(Errno) {
        try backend.unpin(id: id, requesterUID: requesterUID, requesterPID: requesterPID)
    }
    func pin(id: UInt64) throws(Errno) -> PinRecord? { try backend.pin(id: id) }
    func pages(of id: UInt64, from first: UInt64, count: Int) throws(Errno) -> [PageRecord] {
        try backend.pages(of: id, from: first, count: count)
    }
    func changeCount() throws(Errno) -> UInt64 { try backend.changeCount() }
    func version() throws(Errno) -> ModuleVersion { try backend.version() }
    func frameStates(of frames: [UInt64]) throws(Errno) -> [FrameState] { try backend.frameStates(of: frames) }
    func frameStates(from first: UInt64, count: Int) throws(Errno) -> [FrameState] {
        try backend.frameStates(from: first, count: count)
    }
}

/// The phase being measured, run by `runMeasuredPhase()`.
nonisolated(unsafe) var phase: (() throws -> Void)?
nonisolated(unsafe) var phaseError: (any Error)?

/// Runs `phase`. Callgrind counts only inside this function
/// (`--toggle-collect='*runMeasuredPhase*'`): the set-up of each phase is
/// left out of its instruction count.
@inline(never)
func runMeasuredPhase() {
    do { try phase?() } catch { phaseError = error }
}

func measure(_ name: String, items: Int, each unit: String, _ body: @escaping () throws -> Void) throws {
    phase = body
    let start = ContinuousClock.now
    runMeasuredPhase()
    let elapsed = ContinuousClock.now - start
    if let phaseError { throw phaseError }
    let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
    print("\(name): \(items) in \(Int(nanoseconds / 1e6)) ms, \(Int(nanoseconds / Double(items))) ns per \(unit)")
}

let pid = getpid()
let me = Requester(uid: 0, gid: 0, pid: pid, isRoot: true)

/// The in-memory backend, taking any pid as live: by default it looks in
/// `/proc` with a path spelled from the pid, whose digits would change the
/// counts from run to run (and the module answers that in its ioctl).
func inMemoryBackend() -> InMemoryBackend {
    InMemoryBackend(processExists: { _ in true })
}
let phases = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "all"

// parse: one typical write ("ADDR+SIZE\n"), the path every pin takes.
if phases == "parse" || phases == "all" {
    let writes = (0..<100_000).map { Array("0x7f\(String($0 * 4096, radix: 16))+4K\n".utf8) }
    var total: UInt64 = 0
    try measure("parse", items: writes.count, each: "write") {
        for write in writes { total &+= try RangeParser.parse(write)[0].length }
    }
    precondition(total == 4096 * 100_000)
}

// pages: the page list of a 1 GiB pin, read as cat does (128 KiB reads).
if phases == "pages" || phases == "all" {
    let backend = inMemoryBackend()
    let tree = PinTree(backend: backend)
    let pages: UInt64 = 262_144
    let pin = try tree.pin(Array("0x7f0000000000+\(pages * 4)K".utf8), in: pid, for: me)[0]
    let file = try tree.open(.pinFile(pid: pid, id: pin.id), for: me, writing: false)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 128 << 10, alignment: 16)
    var offset: UInt64 = 0
    try measure("pages", items: Int(pages), each: "page line") {
        while case let count = try tree.read(file, offset: offset, into: buffer), count > 0 {
            offset += UInt64(count)
        }
    }
    print("pages: \(offset) bytes")
    buffer.deallocate()
}

// ledger: a server's start over 100,000 pins it did not make: a fresh
// tree's first refresh, the listing of the whole ledger.
if phases == "ledger" || phases == "all" {
    let count = 100_000
    // The module hands its listing over in id order, as made here (made
    // through a tree, the double's overlap checks cost the set-up O(n²):
    // a quarter of an hour under callgrind).
    let listing = (0..<count).map { index in
        let start = UInt64(0x7f00_0000_0000 + index * 8192)
        return PinRecord(id: UInt64(index + 1), start: start, end: start + 4096, pages: 1, pid: pid,
                         requesterUID: me.uid, requesterPID: me.pid)
    }
    let tree = PinTree(backend: ListedBackend(backend: inMemoryBackend(), listing: listing))
    try measure("ledger", items: count, each: "pin listed") { tree.refresh() }
    let listed = try tree.entries(of: .processDirectory(pid: pid), for: me).count
    precondition(listed >= count)
}

/// A tree over the in-memory backend with `count` one-page pins of this
/// process, a page apart.
func tree(withPins count: Int) throws -> PinTree {
    let tree = PinTree(backend: inMemoryBackend())
    for index in 0..<count {
        let range = "0x\(String(0x7f00_0000_0000 + index * 8192, radix: 16))+4K"
        _ = try tree.pin(Array(range.utf8), in: pid, for: me)
    }
    return tree
}

// listing: opendir of a process directory with 10,000 pins.
if phases == "listing" || phases == "all" {
    let pins = 10_000
    let tree = try tree(withPins: pins)
    // Each entry's name and inode taken, as the readdir handler does.
    var names = 0
    var inodes: UInt64 = 0
    try measure("listing", items: 100 * pins, each: "directory entry") {
        for _ in 0..<100 {
            for entry in try tree.entries(of: .processDirectory(pid: pid), for: me) {
                names += entry.name.utf8.isEmpty ? 0 : 1
                inodes &+= entry.node.inode
            }
        }
    }
    precondition(names >= 100 * pins && inodes != 0)
}

// plus: readdirplus of a process directory with 10,000 pins: each pin
// file's lookup (its attributes, the kernel's count of it), as the
// readdirplus handler does for every entry, then the kernel's forgets.
if phases == "plus" || phases == "all" {
    let tree = try tree(withPins: 10_000)
    let directory = Node.processDirectory(pid: pid)
    let entries = try tree.entries(of: directory, for: me)
    var inodes: UInt64 = 0
    try measure("plus", items: 10 * entries.count, each: "entry with attributes") {
        for _ in 0..<10 {
            var seen = PinTree.ProcessesSeen()
            for entry in entries {
                let attributes = try tree.lookup(listed: entry, in: directory.inode, seen: &seen)
                inodes &+= attributes.inode
                tree.forget(inode: attributes.inode, count: 1)
            }
        }
    }
    precondition(inodes != 0)
}

// pin: the tree's side of one small pin and its rm (parse, checks, state,
// counters) over the in-memory backend: what a write to `pin` and an
// unlink cost the server besides FUSE and the ioctl.
if phases == "pin" || phases == "all" {
    let backend = inMemoryBackend()
    let tree = PinTree(backend: backend)
    let write = Array("0x7f0000000000+4K\n".utf8)
    let name = Formats.pinFileName(start: 0x7f00_0000_0000, end: 0x7f00_0000_1000)
    let rounds = 10_000
    try measure("pin", items: rounds, each: "pin and rm") {
        for _ in 0..<rounds {
            _ = try tree.pin(write, in: pid, for: me)
            _ = try tree.unlink(name, in: pid, for: me)
        }
    }
}

// otherpins: `other_pins` of this process with 1 GiB mapped and touched,
// its first 4 MiB pinned by another subsystem: the real /proc (pagemap,
// as root) and the tree's scan, the module's per-page test answered by
// the in-memory backend.
if phases == "otherpins" || phases == "all" {
    let pages = 262_144
    let size = pages * 4096
    guard let memory = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
          memory != MAP_FAILED
    else { fatalError("mmap: \(errno)") }
    _ = madvise(memory, size, MADV_NOHUGEPAGE)
    for page in stride(from: 0, to: size, by: 4096) { memory.storeBytes(of: 1, toByteOffset: page, as: UInt8.self) }
    let start = UInt64(UInt(bitPattern: memory))
    let backend = inMemoryBackend()
    guard let frames = ProcFS().frames(of: pid, from: start, count: 1024), !frames.contains(0) else {
        fatalError("otherpins: pagemap gives no frames (run as root)")
    }
    backend.pinFramesElsewhere(frames)
    let tree = PinTree(backend: backend)
    var text = ""
    try measure("otherpins", items: pages, each: "page mapped") {
        text = try tree.renderOtherPins(of: pid)
    }
    precondition(text.hasSuffix(" 1024 unknown\n"), text)
    munmap(memory, size)
}

/// What the module's MEMPIN_PROCESS answers for this process, without the
/// module (the host cannot load it): the server's own work around it.
struct ThisProcess: ProcessFigureSource {
    func figures(of pid: Int32, withCgroup: Bool) throws(Errno) -> ProcessFigures {
        guard pid == getpid() else { throw .noSuchProcess }
        return ProcessFigures(threadGroup: pid, uids: [0, 0, 0], gids: [0, 0, 0], isAdministrator: true,
                              startTimeNanoseconds: 123_456_789_000, pinnedBytes: 1_052_672,
                              memlockLimitBytes: 8 << 20, cgroup: withCgroup ? "/user.slice/user-0.slice/session-1.scope" : nil)
    }
}

// status: open and read of a pid directory's status, as cat does, for
// this process, its figures as the module gives them (one answer for its
// start time, VmPin, limit and cgroup), its pins in the in-memory backend.
if phases == "status" || phases == "all" {
    let tree = PinTree(backend: inMemoryBackend(), processes: ModuleProcessFacts(module: ThisProcess()))
    _ = try tree.pin(Array("0x7f0000000000+4K\n0x7f0000010000+1M\n".utf8), in: pid, for: me)
    let rounds = 10_000
    var bytes = 0
    try measure("status", items: rounds, each: "open and read") {
        for _ in 0..<rounds {
            let file = try tree.open(.processStatus(pid: pid), for: me, writing: false)
            bytes += try tree.read(file, offset: 0, size: 4096).count
        }
    }
    precondition(bytes > 0)
}

// stat: the attributes of a pid directory's status, what every stat and
// the kernel's getattr before an open ask (the owner cached a second, as
// in the server).
if phases == "stat" || phases == "all" {
    let tree = PinTree(backend: inMemoryBackend())
    _ = try tree.pin(Array("0x7f0000000000+4K\n".utf8), in: pid, for: me)
    let rounds = 100_000
    var modes = 0
    try measure("stat", items: rounds, each: "stat") {
        for _ in 0..<rounds { modes &+= Int(try tree.attributes(of: .processStatus(pid: pid)).permissions) }
    }
    precondition(modes == rounds * 0o644)
}

// events: the change-record thread's work for a pin and its rm made
// elsewhere (two records: the tree follows them and makes their lines),
// and a root reader of `events` taking the lines. follow: the same with
// no reader of `events` (no line is made).
for name in ["events", "follow"] where phases == name || phases == "all" {
    let backend = inMemoryBackend()
    let tree = PinTree(backend: backend)
    let reader: EventReader? = name == "events" ? tree.events.reader(for: me) : nil
    let rounds = 10_000
    let made = try (0..<rounds).map { index in
        try backend.pin(PinRequest(pid: pid, address: 0x7f00_0000_0000 + UInt64(index) * 8192, length: 4096,
                                   requesterUID: 0, requesterGID: 0, requesterPID: pid, requesterIsRoot: true))
    }
    let records = made.enumerated().flatMap { index, pin in
        [ChangeRecord(sequence: UInt64(2 * index + 1), kind: .pin, id: pin.id, start: pin.start, end: pin.end,
                      pages: pin.pages, pid: pid, timeNanoseconds: 1_800_000_000_000_000_000),
         ChangeRecord(sequence: UInt64(2 * index + 2), kind: .unpin, id: pin.id, start: pin.start, end: pin.end,
                      pages: pin.pages, pid: pid, timeNanoseconds: 1_800_000_000_000_000_000)]
    }
    var bytes = 0
    try measure(name, items: rounds, each: "pin and rm followed") {
        for index in 0..<rounds {
            // One batch each, as records read when they come are: in
            // one batch, a pin that ends there is not even fetched.
            tree.apply([records[2 * index]])
            tree.apply([records[2 * index + 1]])
            while let reader, let lines = tree.events.read(reader, size: 4096), !lines.isEmpty { bytes += lines.count }
        }
    }
    precondition(reader == nil || bytes > rounds * 40, "events: \(bytes) bytes")
}

// block: one 128 MiB memory block that a 1 GiB pin holds all of, read
// again (the pin's frames are kept after the first read).
if phases == "block" || phases == "all" {
    let backend = inMemoryBackend()
    let block = MemoryBlock(index: 32, firstFrame: 0x10_0000, frameCount: 32768, zone: "normal", state: "online")
    let tree = PinTree(backend: backend, processes: FakeProcesses([pid: (0, 0)]), memoryBlocks: FakeMemoryBlocks([block]))
    _ = try tree.pin(Array("0x7f0000000000+1G".utf8), in: pid, for: me)
    _ = try tree.renderMemoryBlock(32)
    let reads = 10
    var text = ""
    try measure("block", items: reads * 32768, each: "frame") {
        for _ in 0..<reads { text = try tree.renderMemoryBlock(32) }
    }
    precondition(text.hasPrefix("pinned_pages 32768\nmempin_pages 32768\n"), text)
}

// memory: the tree's resident memory per pin, 100,000 one-page pins in one process
// (the in-memory backend's own records measured apart and left out).
if phases == "memory" || phases == "all" {
    let count = 100_000
    /// Resident bytes (`/proc/self/statm`): what the server costs the machine.
    func heap() -> Int {
        var bytes = [UInt8](repeating: 0, count: 128)
        let fd = open("/proc/self/statm", O_RDONLY)
        let count = read(fd, &bytes, bytes.count)
        close(fd)
        let text = String(decoding: bytes.prefix(max(0, count)), as: UTF8.self)
        return (text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0) * 4096
    }
    let writes = (0..<count).map { Array("0x\(String(0x7f00_0000_0000 + $0 * 8192, radix: 16))+4K".utf8) }
    let alone = inMemoryBackend()
    var before = heap()
    for write in writes {
        let range = try RangeParser.parse(write)[0]
        _ = try alone.pin(PinRequest(pid: pid, address: range.start, length: range.length, requesterUID: 0,
                                     requesterGID: 0, requesterPID: pid, requesterIsRoot: true))
    }
    let backendBytes = heap() - before
    let backend = inMemoryBackend()
    let tree = PinTree(backend: backend)
    before = heap()
    for write in writes { _ = try tree.pin(write, in: pid, for: me) }
    let pinned = heap() - before
    _ = try tree.entries(of: .processDirectory(pid: pid), for: me)
    let listed = heap() - before
    print("memory: \(count) pins: tree \((pinned - backendBytes) / count) B a pin, "
          + "\((listed - backendBytes) / count) B once listed (backend's records \(backendBytes / count) B apart)")
}

// sender: who sent a request (every request asks), from the real /proc
// and system calls, for this process's leader; beside it the full
// credentials read that the ptrace rule needs.
if phases == "sender" || phases == "all" {
    let proc = ProcFS()
    let rounds = 100_000
    var admitted = 0
    try measure("sender", items: rounds, each: "request") {
        for _ in 0..<rounds where proc.sender(pid)?.isAdministrator == true { admitted += 1 }
    }
    try measure("credentials", items: rounds, each: "read") {
        for _ in 0..<rounds where proc.credentials(of: pid)?.isAdministrator == true { admitted += 1 }
    }
    precondition(admitted == 0 || admitted == 2 * rounds)
}

// log: the line the server logs for each pin and each unpin through the
// tree, by the handler of a server in the foreground or under systemd
// (standard error, here /dev/null).
if phases == "log" || phases == "all" {
    let lines = 100_000
    let null = open("/dev/null", O_WRONLY)
    let standardError = dup(2)
    dup2(null, 2)
    var logger = Logger(label: "mempinfs") { StandardErrorLogHandler(label: $0) }
    logger.logLevel = .info
    let pinLog = FileSystem.PinLog(logger)
    let name = Formats.pinFileName(start: 0x7f12_3456_7000, end: 0x7f12_3456_8000)
    try measure("log", items: lines, each: "line") {
        for index in 0..<lines {
            FileSystem.logPinChange(pinLog, "pinned", pid: pid, name: name, pages: UInt64(index), uid: 0, by: pid)
        }
    }
    dup2(standardError, 2)
    close(null)
    close(standardError)
}
