import MempinDevice
import MempinLocking
import MempinTree
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A pin backend in memory, for the host tests of the tree and the FUSE
/// layer. It follows the module's rules (overlap EEXIST, zero length
/// EINVAL, a refusal list for EFAULT/ENOMEM) but pins nothing: the
/// kernel-backed tests run in the VM.
public final class InMemoryBackend: PinBackend {
    private struct State {
        var pins: [UInt64: PinRecord] = [:]
        var nextID: UInt64 = 1
        var faultingAddresses: Set<UInt64> = []
        var pageLimit: UInt64 = .max
        var unpinCount = 0
        var changes: UInt64 = 0
        var lastRequest: PinRequest?
        var batches: [Int] = []
        var stalledAddresses: Set<UInt64> = []
        var stalled = 0
        var pagesFetched: UInt64 = 0
        var scattered = false
        var otherPinnedFrames: Set<UInt64> = []
        var afterPin: (@Sendable (PinRecord) -> Void)?
        var afterFetch: (@Sendable (PinRecord) -> Void)?
    }

    private let state = Locked(State())
    private let processExists: @Sendable (Int32) -> Bool
    public static let pageSize: UInt64 = 4096

    /// - Parameter processExists: whether a pid is a live process (the
    ///   module answers ESRCH otherwise); by default, whether /proc has it.
    public init(processExists: @escaping @Sendable (Int32) -> Bool = { access("/proc/\($0)/stat", F_OK) == 0 }) {
        self.processExists = processExists
    }

    /// Pins of ranges containing `address` wait until ``releaseStalls()``,
    /// as a pin faulting into a server that does not answer does.
    public func stallPins(at address: UInt64) {
        state.withLock { _ = $0.stalledAddresses.insert(address) }
    }

    /// Lets stalled pins go on; no new ones stall.
    public func releaseStalls() {
        state.withLock { $0.stalledAddresses = [] }
    }

    /// Pins waiting in ``stallPins(at:)`` now.
    public var stalledPins: Int { state.withLock { $0.stalled } }

    /// Pages from now on are not all one run: frames jump now and then,
    /// nodes change every 7 pages, half of each 64 are huge.
    public func scatterPages() {
        state.withLock { $0.scattered = true }
    }

    /// Page records handed out by ``pages(of:from:count:)`` so far.
    public var pagesFetched: UInt64 { state.withLock { $0.pagesFetched } }

    /// The last request that reached the backend.
    public var lastRequest: PinRequest? { state.withLock { $0.lastRequest } }

    /// Ranges containing `address` fail with EFAULT.
    public func makeFault(at address: UInt64) {
        state.withLock { _ = $0.faultingAddresses.insert(address) }
    }

    /// More than `pages` pinned in all fails with ENOMEM.
    public func limitPages(to pages: UInt64) {
        state.withLock { $0.pageLimit = pages }
    }

    /// Runs `body` with each new pin before ``pin(_:)`` returns it, as
    /// another thread may while the module's ioctl returns; nil stops it
    /// (a `body` that holds the tree holds this backend too).
    public func afterEachPin(_ body: (@Sendable (PinRecord) -> Void)?) {
        state.withLock { $0.afterPin = body }
    }

    /// Runs `body` with each pin ``pin(id:)`` found, before it returns it,
    /// as another thread may while the module's ioctl returns; nil stops it.
    public func afterEachFetch(_ body: (@Sendable (PinRecord) -> Void)?) {
        state.withLock { $0.afterFetch = body }
    }

    /// A process exits: its pins go, as the module's release notifier does.
    public func processExited(_ pid: Int32) {
        state.withLock { state in
            state.pins = state.pins.filter { $0.value.pid != pid }
            state.changes += 1
        }
    }

    /// Marks a pin detached.
    public func detach(id: UInt64) {
        state.withLock { state in
            state.pins[id]?.isDetached = true
            state.changes += 1
        }
    }

    public var pinnedPages: UInt64 {
        state.withLock { $0.pins.values.reduce(0) { $0 + $1.pages } }
    }

    public var unpinCount: Int { state.withLock { $0.unpinCount } }

    /// When set, requests' start times are checked against it (pid → start
    /// time), as the module of interface version 5 checks them.
    public let moduleStartTimes = Locked<(@Sendable (Int32) -> UInt64?)?>(nil)

    public var checksStartTimes: Bool { moduleStartTimes.withLock { $0 != nil } }

    /// The sizes of the batches ``pin(_:)-([PinRequest])`` was given.
    public var batches: [Int] { state.withLock { $0.batches } }

    /// One request for several ranges, made one by one (the module makes
    /// them out of sight; here a refusal takes the made ones back).
    public func pin(_ requests: [PinRequest]) throws(Errno) -> [PinRecord] {
        state.withLock { $0.batches.append(requests.count) }
        return try pinOneByOne(requests)
    }

    public func pin(_ request: PinRequest) throws(Errno) -> PinRecord {
        let (end, overflow) = request.address.addingReportingOverflow(request.length)
        guard request.length > 0, !overflow else { throw .invalidArgument }
        guard processExists(request.pid) else { throw .noSuchProcess }
        if let startTime = request.startTime, let current = moduleStartTimes.withLock({ $0 }),
           current(request.pid) != startTime {
            throw .noSuchProcess
        }
        let start = request.address & ~(Self.pageSize - 1)
        let alignedEnd = (end + Self.pageSize - 1) & ~(Self.pageSize - 1)
        let stalls = state.withLock { state in
            let stalls = state.stalledAddresses.contains { $0 >= start && $0 < alignedEnd }
            if stalls { state.stalled += 1 }
            return stalls
        }
        if stalls {
            while state.withLock({ $0.stalledAddresses.contains { $0 >= start && $0 < alignedEnd } }) { usleep(1000) }
            state.withLock { $0.stalled -= 1 }
        }
        let result: Result<PinRecord, Errno> = state.withLock { state in
            state.lastRequest = request
            if state.faultingAddresses.contains(where: { $0 >= start && $0 < alignedEnd }) {
                return .failure(.badAddress)
            }
            // Like the module: the tree's pins of a process do not overlap; its own seed pins may.
            if state.pins.values.contains(where: { $0.via == .tree && $0.pid == request.pid && $0.start < alignedEnd && start < $0.end }) {
                return .failure(.fileExists)
            }
            let pages = (alignedEnd - start) / Self.pageSize
            if state.pins.values.reduce(0, { $0 + $1.pages }) + pages > state.pageLimit {
                return .failure(.noMemory)
            }
            let pin = PinRecord(
                id: state.nextID, start: start, end: alignedEnd, pages: pages, pid: request.pid,
                requesterUID: request.requesterUID, requesterPID: request.requesterPID,
                pinnedAtNanoseconds: 1_764_262_800_000_000_000, pinDurationNanoseconds: 1000
            )
            state.nextID += 1
            state.pins[pin.id] = pin
            return .success(pin)
        }
        let pin = try result.get()
        state.withLock { $0.afterPin }?(pin)
        return pin
    }

    public func unpin(id: UInt64, requesterUID: UInt32 = 0, requesterPID: Int32 = 0) throws(Errno) {
        let found = state.withLock { state in
            state.unpinCount += 1
            return state.pins.removeValue(forKey: id) != nil
        }
        guard found else { throw .noSuchFileOrDirectory }
    }

    /// A pin that a process made itself through the seed interface, which
    /// the tree finds in the ledger.
    @discardableResult
    public func addSeedPin(pid: Int32, start: UInt64, end: UInt64, holder: Int32? = nil) -> PinRecord {
        state.withLock { state in
            let pin = PinRecord(
                id: state.nextID, start: start, end: end, pages: (end - start) / 4096, pid: pid,
                requesterPID: pid, via: .ioctl, holderPID: holder ?? pid
            )
            state.nextID += 1
            state.pins[pin.id] = pin
            state.changes += 1
            return pin
        }
    }

    public func listAll(pid: Int32) throws(Errno) -> [PinRecord] {
        state.withLock { state in
            state.pins.values.filter { pid == 0 || $0.pid == pid }.sorted { $0.id < $1.id }
        }
    }

    public func pin(id: UInt64) throws(Errno) -> PinRecord? {
        let (pin, hook) = state.withLock { ($0.pins[id], $0.afterFetch) }
        if let pin { hook?(pin) }
        return pin
    }

    public func changeCount() throws(Errno) -> UInt64 {
        state.withLock { $0.changes }
    }

    public func version() throws(Errno) -> ModuleVersion {
        let (pages, changes) = state.withLock { state in (state.pins.values.reduce(0) { $0 + $1.pages }, state.changes) }
        return ModuleVersion(version: 1, pageSize: 4096, maxPinnedPages: 0, pinnedPages: pages, changes: changes)
    }

    /// Frames that other subsystems hold pinned, as the kernel would say.
    public func pinFramesElsewhere(_ frames: some Sequence<UInt64>) {
        state.withLock { $0.otherPinnedFrames.formUnion(frames) }
    }

    /// The frame of page `index` of pin `id`.
    public static func frame(ofPage index: UInt64, of id: UInt64) -> UInt64 {
        0x10_0000 + (id - 1) << 20 + index
    }

    /// Frames below 2^40 are online pages; pinned when a pin holds them or
    /// ``pinFramesElsewhere(_:)`` named them.
    public func frameStates(of frames: [UInt64]) throws(Errno) -> [FrameState] {
        state.withLock { state in
            frames.map { frame in
                frame >= 1 << 40 ? [] : Self.isPinned(frame, in: state) ? [.online, .pinned] : .online
            }
        }
    }

    /// Inverts ``frame(ofPage:of:)``: constant time, so that a profile
    /// counts the tree's work rather than this double's.
    private static func isPinned(_ frame: UInt64, in state: State) -> Bool {
        if state.otherPinnedFrames.contains(frame) { return true }
        guard frame >= 0x10_0000 else { return false }
        let id = (frame - 0x10_0000) >> 20 + 1, index = (frame - 0x10_0000) & 0xF_FFFF
        return state.pins[id].map { index < $0.pages } ?? false
    }

    public func frameStates(from first: UInt64, count: Int) throws(Errno) -> [FrameState] {
        try frameStates(of: (0..<UInt64(count)).map { first + $0 })
    }

    /// Runs as the module makes them: one run of a pin's pages, at most
    /// 65,536 of them, unless ``scatterPages()`` was called.
    public func pageRuns(of pin: PinRecord, from first: UInt64, count: Int) throws(Errno) -> [PageRun] {
        guard let known = state.withLock({ $0.scattered ? nil : $0.pins[pin.id] }) else {
            return PageRun.runs(of: try pages(of: pin.id, from: first, count: count))
        }
        guard first < known.pages, count > 0 else { return [] }
        let pages = min(known.pages - first, 65536)
        state.withLock { $0.pagesFetched += pages }
        return [PageRun(first: PageRecord(virtualAddress: known.start + first * Self.pageSize,
                                          frameNumber: Self.frame(ofPage: first, of: pin.id)),
                        count: Int(pages))]
    }

    /// Page i of pin n has PFN 0x100000 + (n - 1) << 20 + i.
    public func pages(of id: UInt64, from first: UInt64, count: Int) throws(Errno) -> [PageRecord] {
        guard let pin = state.withLock({ $0.pins[id] }) else { throw .noSuchFileOrDirectory }
        guard first < pin.pages else { return [] }
        let last = min(pin.pages, first + UInt64(count))
        let scattered = state.withLock { state in
            state.pagesFetched += last - first
            return state.scattered
        }
        return (first..<last).map { index in
            let frame = Self.frame(ofPage: index, of: id)
            guard scattered else { return PageRecord(virtualAddress: pin.start + index * Self.pageSize, frameNumber: frame) }
            return PageRecord(virtualAddress: pin.start + index * Self.pageSize, frameNumber: frame + (index / 5) * 7,
                              node: Int32(index / 7 % 2), isHuge: index % 64 < 32)
        }
    }
}

/// Process facts from a table, for unit tests.
public struct FakeProcesses: ProcessFacts {
    public var owners: [Int32: (uid: UInt32, gid: UInt32)]
    /// Processes that are not dumpable (setuid programs, ssh-agent).
    public var nonDumpable: Set<Int32>
    /// Addresses of each process that map a file of a FUSE file system.
    public var fuseMappings: [Int32: [UInt64]] = [:]
    /// Start times other than 1, shared by every copy: a test that sets
    /// one makes a pid name a new process.
    public let startTimes = Locked<[Int32: UInt64]>([:])
    /// Processes gone since, shared by every copy: /proc no longer has
    /// their credentials.
    public let exited = Locked<Set<Int32>>([])
    /// How many times credentials were read, by every copy.
    public var credentialReads: Int { credentialReadCount.withLock { $0 } }
    private let credentialReadCount = Locked(0)

    public init(_ owners: [Int32: (uid: UInt32, gid: UInt32)], nonDumpable: Set<Int32> = []) {
        self.owners = owners
        self.nonDumpable = nonDumpable
    }

    public func owner(of pid: Int32) throws(Errno) -> (uid: UInt32, gid: UInt32) {
        guard let owner = owners[pid] else { throw .noSuchProcess }
        return owner
    }

    public func credentials(of tid: Int32) -> ProcessCredentials? {
        credentialReadCount.withLock { $0 += 1 }
        guard let owner = owners[tid], !exited.withLock({ $0.contains(tid) }) else { return nil }
        return ProcessCredentials(
            threadGroup: tid, uids: [owner.uid, owner.uid, owner.uid], gids: [owner.gid, owner.gid, owner.gid],
            isAdministrator: false, isDumpable: !nonDumpable.contains(tid)
        )
    }

    public func identity(of pid: Int32) -> UInt64? {
        owners[pid] != nil ? startTimes.withLock { $0[pid] } ?? 1 : nil
    }
    public func mapsFUSEFile(of pid: Int32, from start: UInt64, to end: UInt64) -> Bool {
        fuseMappings[pid].map { $0.contains { $0 >= start && $0 < end } } ?? false
    }
    /// VmPin of each process, 0 when not set; shared by every copy, as the
    /// kernel's figure would be.
    public var vmPinned: [Int32: UInt64] {
        get { vmPinnedTable.withLock { $0 } }
        nonmutating set { vmPinnedTable.withLock { $0 = newValue } }
    }
    private let vmPinnedTable = Locked<[Int32: UInt64]>([:])
    /// The mapped ranges of each process, none when not set.
    public var mappings: [Int32: [Range<UInt64>]] = [:]
    /// The frame of each present page, by process and address.
    public var pageFrames: [Int32: [UInt64: UInt64]] = [:]
    /// What each process's open files say.
    public var holders: [Int32: PinHolders] = [:]

    public func pinnedBytes(of pid: Int32) -> UInt64? { owners[pid] != nil ? vmPinned[pid] ?? 0 : nil }
    public func cgroup(of pid: Int32) -> String? { owners[pid] != nil ? "/user.slice/fake-\(pid).scope" : nil }
    public func processesWithPinnedMemory() -> [Int32: UInt64] { vmPinned.filter { owners[$0.key] != nil && $0.value > 0 } }
    public func mappedRanges(of pid: Int32) -> [Range<UInt64>]? { owners[pid] != nil ? mappings[pid] ?? [] : nil }
    public func frames(of pid: Int32, from start: UInt64, count: Int) -> [UInt64]? {
        guard owners[pid] != nil else { return nil }
        let frames = pageFrames[pid] ?? [:]
        return (0..<UInt64(count)).map { frames[start + $0 * 4096] ?? 0 }
    }
    public func pinHolders(of pid: Int32) -> PinHolders { holders[pid] ?? PinHolders() }
    public func memlockLimit(of pid: Int32) -> MemlockLimit? { .bytes(65536) }
    public func command(of pid: Int32) -> String? { owners[pid] != nil ? "fake \"\(pid)\"" : nil }
}

/// Change records a test hands to the server, as the module would.
public final class QueuedChanges: ChangeSource {
    private let queue = Locked<[ChangeRecord]>([])

    public init() {}

    /// Records to be read next.
    public func push(_ records: [ChangeRecord]) {
        queue.withLock { $0 += records }
    }

    public func changes(limit: Int, timeout: Int32) throws(Errno) -> [ChangeRecord] {
        guard try waitForChanges(timeout: timeout) else { return [] }
        return queue.withLock { queue -> [ChangeRecord] in
            let taken = Array(queue.prefix(limit))
            queue.removeFirst(taken.count)
            return taken
        }
    }

    public func waitForChanges(timeout: Int32) throws(Errno) -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(max(0, Int(timeout)))
        while true {
            if queue.withLock({ !$0.isEmpty }) { return true }
            if timeout >= 0 && ContinuousClock.now >= deadline { return false }
            usleep(5_000)
        }
    }
}

/// Memory blocks from a table, for unit tests.
public struct FakeMemoryBlocks: MemoryBlockFacts {
    public var blocks: [UInt32: MemoryBlock]

    public init(_ blocks: [MemoryBlock]) {
        self.blocks = Dictionary(uniqueKeysWithValues: blocks.map { ($0.index, $0) })
    }

    public func blockIndices() -> [UInt32] { blocks.keys.sorted() }
    public func block(_ index: UInt32) -> MemoryBlock? { blocks[index] }
}
