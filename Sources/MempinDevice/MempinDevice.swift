import CMempin
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// An open `/dev/mempinfd`: one pin container.
///
/// Closing it (``close()``, or the process ending) unpins everything in it.
/// Methods are safe to call from several threads at once: the module
/// serialises what must be.
public final class MempinDevice: Sendable {
    /// The container's file descriptor.
    public let fileDescriptor: FileDescriptor
    /// The module's interface version (`MEMPIN_ABI_VERSION`), read once.
    public let interfaceVersion: UInt32
    /// Whether the file was opened `O_NONBLOCK`: a read of change records
    /// never waits.
    public let isNonBlocking: Bool

    /// Opens a new container.
    ///
    /// - Parameters:
    ///   - path: the device, `/dev/mempinfd` by default.
    ///   - nonBlocking: opens it `O_NONBLOCK` (see ``changes(limit:timeout:)``).
    /// - Throws: the `Errno` of `open(2)`.
    public init(path: FilePath = "/dev/mempinfd", nonBlocking: Bool = false) throws(Errno) {
        isNonBlocking = nonBlocking
        do {
            fileDescriptor = try FileDescriptor.open(path, .readWrite,
                                                     options: nonBlocking ? [.closeOnExec, .nonBlocking] : .closeOnExec)
        } catch let error as Errno {
            throw error
        } catch {
            throw .ioError
        }
        // Open to every caller.
        var arg = mempin_version()
        arg.argsz = UInt32(MemoryLayout<mempin_version>.size)
        let known = fileDescriptor.rawValue
        interfaceVersion = withUnsafeMutablePointer(to: &arg) { system_ioctl(known, CMempin_GET_VERSION(), $0) } == 0
            ? arg.version : 0
    }

    /// Whether the module reads a pin's pages as runs
    /// (`MEMPIN_PAGES_RUNS`, interface version 6 and later); else
    /// ``pageRuns(of:at:from:count:)`` makes them of its pages.
    public var makesPageRuns: Bool { interfaceVersion >= 6 }

    /// Whether ``pin(_:)`` has the module check a request's
    /// ``PinRequest/startTime`` (interface version 5 and later).
    public var checksStartTimes: Bool { interfaceVersion >= 5 }

    /// Closes the container, unpinning all of it.
    public func close() {
        try? fileDescriptor.close()
    }

    /// Calls `ioctl(2)` on the container with `arg`.
    private func control<Argument>(_ request: UInt, _ arg: inout Argument) -> Result<CInt, Errno> {
        let result = withUnsafeMutablePointer(to: &arg) { pointer in
            valueOrErrno { system_ioctl(fileDescriptor.rawValue, request, pointer) }
        }
        if case .failure(.badFileDescriptor) = result {
            preconditionFailure("mempinfd: ioctl on a closed container")
        }
        return result
    }

    // MARK: The seed interface (the caller's own memory)

    /// Pins a range of the caller's own memory (`MEM_CMD_PIN`).
    ///
    /// - Throws: `EINVAL`, `EEXIST`, `EFAULT` or `ENOMEM`; nothing stays
    ///   pinned on error.
    public func pinOwnMemory(address: UInt64, size: UInt64) throws(Errno) {
        var arg = mem_pin_address(addr: address, size: size)
        _ = try control(CMempin_MEM_CMD_PIN(), &arg).get()
    }

    /// Unpins a range pinned by ``pinOwnMemory(address:size:)`` (`MEM_CMD_UNPIN`).
    public func unpinOwnMemory(address: UInt64, size: UInt64) throws(Errno) {
        var arg = mem_pin_address(addr: address, size: size)
        _ = try control(CMempin_MEM_CMD_UNPIN(), &arg).get()
    }

    // MARK: The manager interface (CAP_SYS_ADMIN)

    /// The module's interface version, its limits, and the ledger's
    /// change counter.
    public func version() throws(Errno) -> ModuleVersion {
        var arg = mempin_version()
        arg.argsz = UInt32(MemoryLayout<mempin_version>.size)
        _ = try control(CMempin_GET_VERSION(), &arg).get()
        return ModuleVersion(
            version: arg.version, pageSize: arg.page_size, maxPinnedPages: arg.max_pinned_pages,
            pinnedPages: arg.pinned_pages, changes: arg.changes
        )
    }

    /// The number of the ledger's last change record, machine-wide: when it
    /// moves, something was pinned, unpinned, released or detached.
    public func changeCount() throws(Errno) -> UInt64 {
        try version().changes
    }

    /// Pins a range of another process (`MEMPIN_PIN`).
    ///
    /// - Returns: the new pin.
    /// - Throws: `EINVAL`, `EEXIST`, `EFAULT`, `ENOMEM`, `ESRCH`, `EACCES`
    ///   or `EPERM`; nothing stays pinned on error.
    public func pin(_ request: PinRequest) throws(Errno) -> PinRecord {
        var arg = Self.pinArgument(request, checkingStartTime: checksStartTimes)
        arg.addr = request.address
        arg.length = request.length
        _ = try control(CMempin_PIN(), &arg).get()
        return record(of: request, id: arg.id, start: arg.start, end: arg.end, pinnedAt: Self.coarseNow())
    }

    /// Whether the module pins several ranges in one call
    /// (``pin(together:)``, interface version 7 and later).
    public var pinsRangesTogether: Bool { interfaceVersion >= 7 }

    /// The most ranges one `MEMPIN_PIN_RANGES` call takes.
    public static let rangesPerCall = Int(MEMPIN_RANGES_MAX)

    /// Pins several ranges of one process for one requester, all or none
    /// (`MEMPIN_PIN` with `MEMPIN_PIN_RANGES`, interface version 7 and
    /// later; an older module answers `EINVAL`): each range a pin of its
    /// own, in order. The module resolves the target and checks the
    /// requester once per ``rangesPerCall`` ranges, and shows a call's pins
    /// together once all are made; a call that fails made none, and those
    /// of the calls before it are unpinned.
    ///
    /// - Parameter requests: the ranges, all of one target and requester
    ///   (the first request's are used).
    /// - Returns: the new pins, in the order of `requests`.
    /// - Throws: as ``pin(_:)``; nothing stays pinned.
    public func pin(together requests: [PinRequest]) throws(Errno) -> [PinRecord] {
        guard let first = requests.first else { return [] }
        var made: [PinRecord] = []
        made.reserveCapacity(requests.count)
        var ranges = [mempin_range](repeating: mempin_range(), count: min(requests.count, Self.rangesPerCall))
        var index = 0
        while index < requests.count {
            let count = min(requests.count - index, Self.rangesPerCall)
            for offset in 0..<count {
                let request = requests[index + offset]
                ranges[offset] = mempin_range(addr: request.address, length: request.length, id: 0, start: 0, end: 0)
            }
            var arg = Self.pinArgument(first, checkingStartTime: checksStartTimes)
            arg.flags |= UInt32(MEMPIN_PIN_RANGES)
            arg.nr_ranges = UInt32(count)
            let result = ranges.withUnsafeMutableBufferPointer { buffer in
                arg.ranges = UInt64(UInt(bitPattern: buffer.baseAddress))
                return control(CMempin_PIN(), &arg)
            }
            if case .failure(let error) = result {
                undo(made, for: first)
                throw error
            }
            let now = Self.coarseNow()
            for offset in 0..<count {
                let range = ranges[offset]
                made.append(record(of: requests[index + offset], id: range.id, start: range.start, end: range.end,
                                   pinnedAt: now))
            }
            index += count
        }
        return made
    }

    /// Unpins `pins`, newest first, on behalf of `request`'s requester.
    private func undo(_ pins: [PinRecord], for request: PinRequest) {
        for pin in pins.reversed() {
            try? unpin(id: pin.id, requesterUID: request.requesterUID, requesterPID: request.requesterPID)
        }
    }

    /// A `MEMPIN_PIN` argument for `request`'s target and requester.
    private static func pinArgument(_ request: PinRequest, checkingStartTime: Bool) -> mempin_pin {
        var arg = mempin_pin()
        arg.argsz = UInt32(MemoryLayout<mempin_pin>.size)
        arg.flags = request.requesterIsRoot ? UInt32(MEMPIN_PIN_NO_RLIMIT | MEMPIN_PIN_ROOT) : 0
        arg.pid = request.pid
        arg.requester_uid = request.requesterUID
        arg.requester_gid = request.requesterGID
        arg.requester_pid = request.requesterPID
        if let startTime = request.startTime, checkingStartTime {
            arg.flags |= UInt32(MEMPIN_PIN_START_TIME)
            arg.start_time = startTime
        }
        return arg
    }

    /// The reply has no time: until the next list, a pin is stamped with
    /// ours (what `ls -l` shows as the pin file's time; the kernel's
    /// differs by the return trip). The last tick's time is as good for a
    /// file time and never reads the clock source (in a guest without a
    /// usable TSC, a system call and an emulated device read).
    private static func coarseNow() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    private func record(of request: PinRequest, id: UInt64, start: UInt64, end: UInt64,
                        pinnedAt: UInt64) -> PinRecord {
        PinRecord(
            id: id, start: start, end: end, pages: (end - start) / pageSize,
            pid: request.pid, requesterUID: request.requesterUID, requesterPID: request.requesterPID,
            pinnedAtNanoseconds: pinnedAt
        )
    }

    /// Unpins one pin of the ledger (`MEMPIN_UNPIN`) on behalf of a
    /// requester; the pages are unpinned when it returns. A seed pin
    /// (`via` ``PinVia/ioctl``) is revoked: its holder is told.
    ///
    /// - Throws: `ENOENT` when the ledger has no such pin.
    public func unpin(id: UInt64, requesterUID: UInt32 = 0, requesterPID: Int32 = 0) throws(Errno) {
        var arg = mempin_unpin()
        arg.argsz = UInt32(MemoryLayout<mempin_unpin>.size)
        arg.id = id
        arg.requester_uid = requesterUID
        arg.requester_pid = requesterPID
        _ = try control(CMempin_UNPIN(), &arg).get()
    }

    /// Lists pins in id order, `limit` at most, starting after `afterID`.
    ///
    /// - Parameter pid: only this process's pins, or 0 for all.
    public func list(pid: Int32 = 0, after afterID: UInt64 = 0, limit: Int = 4096) throws(Errno) -> [PinRecord] {
        // A server's start lists the whole ledger, 4,096 at a time: the
        // module fills an uninitialized buffer, converted in one pass.
        let capacity = max(0, min(limit, 4096))
        var arg = mempin_list()
        arg.argsz = UInt32(MemoryLayout<mempin_list>.size)
        arg.entry_size = UInt32(MemoryLayout<mempin_pin_info>.stride)
        arg.pid = pid
        arg.count = UInt32(capacity)
        arg.after_id = afterID
        let infos = UnsafeMutableBufferPointer<mempin_pin_info>.allocate(capacity: max(1, capacity))
        defer { infos.deallocate() }
        arg.entries = UInt64(UInt(bitPattern: infos.baseAddress))
        _ = try control(CMempin_LIST(), &arg).get()
        return Self.records(infos.prefix(min(Int(arg.count), capacity)), PinRecord.init)
    }

    /// Lists all pins (of one process, or all for pid 0).
    public func listAll(pid: Int32 = 0) throws(Errno) -> [PinRecord] {
        var all: [PinRecord] = []
        while true {
            let batch = try list(pid: pid, after: all.last?.id ?? 0)
            if batch.isEmpty { return all }
            all.append(contentsOf: batch)
        }
    }

    /// The pin with this id, or nil if the container has none.
    public func pin(id: UInt64) throws(Errno) -> PinRecord? {
        guard id > 0 else { return nil }
        let next = try list(after: id - 1, limit: 1)
        return next.first?.id == id ? next.first : nil
    }

    /// Reads up to `count` of a pin's pages, from the page with index `first`.
    ///
    /// - Returns: fewer than `count` pages only at the end of the pin.
    /// - Throws: `ENOENT` when there is no such pin.
    public func pages(of id: UInt64, from first: UInt64, count: Int) throws(Errno) -> [PageRecord] {
        // The page list's hot path (a 1 GiB pin is 64 calls of 4,096):
        // the module fills an uninitialized buffer, converted in one pass.
        try readPages(of: id, from: first, count: count, flags: 0, PageRecord.init)
    }

    /// Reads a pin's pages from the page with index `first` as runs of
    /// pages whose frames follow each other: up to `count` runs, covering
    /// at most 65,536 pages.
    ///
    /// - Parameter start: the address of the pin's first page, which the
    ///   runs' addresses are counted from (the module gives none).
    /// - Returns: no runs only past the end of the pin.
    /// - Throws: `ENOENT` when there is no such pin.
    public func pageRuns(of id: UInt64, at start: UInt64, from first: UInt64, count: Int) throws(Errno) -> [PageRun] {
        guard makesPageRuns else { return PageRun.runs(of: try pages(of: id, from: first, count: count)) }
        var address = start &+ first &* 0x1000
        return try readPages(of: id, from: first, count: count, flags: UInt32(MEMPIN_PAGES_RUNS)) { (run: mempin_page_run) in
            let info = mempin_page_info(vaddr: address, pfn: run.pfn, flags: run.flags, nid: run.nid)
            address &+= UInt64(run.npages) &* 0x1000
            return PageRun(first: PageRecord(info), count: Int(run.npages))
        }
    }

    /// One `MEMPIN_READ_PAGES` call into up to `count` entries (at most
    /// 65,536) of the kind `flags` asks for, each converted in order.
    private func readPages<Entry, Record>(of id: UInt64, from first: UInt64, count: Int, flags: UInt32,
                                          _ convert: (Entry) -> Record) throws(Errno) -> [Record] {
        let capacity = max(0, min(count, 65536))
        var arg = mempin_pages()
        arg.argsz = UInt32(MemoryLayout<mempin_pages>.size)
        arg.flags = flags
        arg.id = id
        arg.first = first
        arg.count = UInt32(capacity)
        let entries = UnsafeMutableBufferPointer<Entry>.allocate(capacity: max(1, capacity))
        defer { entries.deallocate() }
        arg.entries = UInt64(UInt(bitPattern: entries.baseAddress))
        _ = try control(CMempin_READ_PAGES(), &arg).get()
        return Self.records(entries.prefix(min(Int(arg.count), capacity)), convert)
    }

    /// The records of the entries the module filled, converted in one pass
    /// into an array that is never zero-filled first.
    private static func records<Entry, Record>(_ entries: Slice<UnsafeMutableBufferPointer<Entry>>,
                                               _ convert: (Entry) -> Record) -> [Record] {
        [Record](unsafeUninitializedCapacity: entries.count) { records, initialized in
            for (offset, entry) in entries.enumerated() {
                (records.baseAddress! + offset).initialize(to: convert(entry))
            }
            initialized = entries.count
        }
    }

    // MARK: Processes

    /// What `/proc` shows of the task `pid` and its pinning, in one call
    /// (`MEMPIN_PROCESS`, module interface version 5).
    ///
    /// - Parameter withCgroup: also read its cgroup v2 path.
    /// - Throws: `ESRCH` when it has no address space (it has exited, or
    ///   is a kernel thread) or does not exist; `ENOTTY` from a module
    ///   older than version 5.
    public func figures(of pid: Int32, withCgroup: Bool = false) throws(Errno) -> ProcessFigures {
        var arg = mempin_process()
        arg.argsz = UInt32(MemoryLayout<mempin_process>.size)
        arg.pid = pid
        // A path that does not fit the first room is asked for again with
        // the room it said it needs (a cgroup may move meanwhile).
        var room = withCgroup ? 512 : 0
        var path: [UInt8] = []
        for _ in 0..<3 {
            path = [UInt8](repeating: 0, count: room)
            try path.withUnsafeMutableBufferPointer { (buffer) throws(Errno) in
                arg.cgroup = room > 0 ? UInt64(UInt(bitPattern: buffer.baseAddress)) : 0
                arg.cgroup_size = UInt32(buffer.count)
                _ = try control(CMempin_PROCESS(), &arg).get()
            }
            guard arg.cgroup_length >= arg.cgroup_size, room > 0 else { break }
            room = Int(arg.cgroup_length) + 1
        }
        let length = Int(arg.cgroup_length)
        return ProcessFigures(arg, cgroup: length > 0 && length < path.count
                              ? String(decoding: path.prefix(length), as: UTF8.self) : nil)
    }

    // MARK: Every pinner's pages

    /// Which of these page frames the kernel reports as maybe DMA-pinned,
    /// by anyone (`MEMPIN_QUERY_PFNS`): one ``FrameState`` per frame, in
    /// order, 65,536 frames a call.
    public func frameStates(of frames: [UInt64]) throws(Errno) -> [FrameState] {
        var states: [FrameState] = []
        states.reserveCapacity(frames.count)
        var done = 0
        while done < frames.count {
            let count = min(frames.count - done, Self.framesPerQuery)
            try frames.withUnsafeBufferPointer { (frames) throws(Errno) in
                try queryFrames(flags: 0, first: 0, list: frames.baseAddress! + done, count: count, into: &states)
            }
            done += count
        }
        return states
    }

    /// The same for the `count` consecutive frames from `first` (a memory
    /// block).
    public func frameStates(from first: UInt64, count: Int) throws(Errno) -> [FrameState] {
        var states: [FrameState] = []
        states.reserveCapacity(count)
        var done = 0
        while done < count {
            let batch = min(count - done, Self.framesPerQuery)
            try queryFrames(flags: UInt32(MEMPIN_PFNS_RANGE), first: first + UInt64(done), list: nil, count: batch,
                            into: &states)
            done += batch
        }
        return states
    }

    /// Frames the module answers in one call at most.
    static let framesPerQuery = 65536

    private func queryFrames(flags: UInt32, first: UInt64, list: UnsafePointer<UInt64>?, count: Int,
                             into states: inout [FrameState]) throws(Errno) {
        let bytes = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(1, count))
        defer { bytes.deallocate() }
        var arg = mempin_pfns()
        arg.argsz = UInt32(MemoryLayout<mempin_pfns>.size)
        arg.flags = flags
        arg.first = first
        arg.pfns = UInt64(UInt(bitPattern: list))
        arg.states = UInt64(UInt(bitPattern: bytes.baseAddress))
        arg.count = UInt32(count)
        _ = try control(CMempin_QUERY_PFNS(), &arg).get()
        // The module answers every frame asked for, up to its maximum.
        guard Int(arg.count) == count else { throw .ioError }
        states.append(contentsOf: bytes.prefix(count).map { FrameState(rawValue: $0) })
    }

    // MARK: The ledger's change records

    /// Reads the change records made since this file was opened (or since
    /// the last read), up to `limit`; waits for one first until `timeout`
    /// (milliseconds, -1 forever) passes. A non-blocking file asked not to
    /// wait is read at once (one system call, not two).
    ///
    /// - Returns: the records in order, empty when none came in time.
    /// - Throws: `EPERM` when the file was not opened with CAP_SYS_ADMIN.
    public func changes(limit: Int = 256, timeout: Int32 = -1) throws(Errno) -> [ChangeRecord] {
        if !(isNonBlocking && timeout == 0) {
            guard try waitForChanges(timeout: timeout) else { return [] }
        }
        let capacity = max(1, min(limit, Int(MEMPIN_EVENTS_KEPT)))
        // A request reads the record or two of its own change: into the
        // stack (a buffer for 256 allocated and freed for each read was a
        // fifth of its cost); what a full first read may have left, after.
        let first = min(capacity, Self.recordsOnStack)
        var records = try withUnsafeTemporaryAllocation(of: mempin_event.self, capacity: first) {
            (buffer) throws(Errno) -> [ChangeRecord] in try readChanges(into: buffer)
        }
        guard records.count == first && capacity > first else { return records }
        // A blocking file would wait for more: look first.
        if try isNonBlocking ? true : waitForChanges(timeout: 0) {
            let buffer = UnsafeMutableBufferPointer<mempin_event>.allocate(capacity: capacity - first)
            defer { buffer.deallocate() }
            records += try readChanges(into: buffer)
        }
        return records
    }

    /// The records read first with room on the stack (640 bytes).
    static let recordsOnStack = 8

    /// One read(2) of the change records into `buffer`; none if there is
    /// none to read without waiting.
    private func readChanges(into buffer: UnsafeMutableBufferPointer<mempin_event>) throws(Errno) -> [ChangeRecord] {
        let size = MemoryLayout<mempin_event>.stride
        let count = valueOrErrno {
            CInt(truncatingIfNeeded: read(fileDescriptor.rawValue, buffer.baseAddress, buffer.count * size))
        }
        switch count {
        case .success(let bytes):
            return (0..<(Int(bytes) / size)).map { ChangeRecord(buffer[$0]) }
        case .failure(.resourceTemporarilyUnavailable):
            return []
        case .failure(let error):
            throw error
        }
    }

    /// Waits until a change record is there to read, or `timeout`
    /// (milliseconds, -1 forever) passes; reads none.
    ///
    /// - Returns: whether one is there.
    public func waitForChanges(timeout: Int32) throws(Errno) -> Bool {
        var poller = pollfd(fd: fileDescriptor.rawValue, events: Int16(POLLIN), revents: 0)
        return try valueOrErrno { poll(&poller, 1, timeout) }.get() > 0
    }

    private let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
}

extension FrameState {
    /// An online page of memory.
    public static let online = FrameState(rawValue: UInt8(MEMPIN_PFN_ONLINE))
    /// Maybe DMA-pinned, by anyone.
    public static let pinned = FrameState(rawValue: UInt8(MEMPIN_PFN_PINNED))
    /// Part of a large folio.
    public static let large = FrameState(rawValue: UInt8(MEMPIN_PFN_LARGE))
}

extension ChangeRecord {
    init(_ event: mempin_event) {
        let kind: ChangeKind = switch Int32(event.type) {
        case MEMPIN_EVENT_PIN: .pin
        case MEMPIN_EVENT_UNPIN: .unpin
        case MEMPIN_EVENT_REVOKE: .revoke
        case MEMPIN_EVENT_EXIT: .exit
        case MEMPIN_EVENT_CLOSE: .close
        case MEMPIN_EVENT_DETACH: .detach
        default: .refuse
        }
        let reason: RefusalReason? = switch Int32(event.reason) {
        case MEMPIN_REASON_MEMLOCK: .memlock
        case MEMPIN_REASON_USER_LIMIT: .userLimit
        case MEMPIN_REASON_MACHINE_LIMIT: .machineLimit
        case MEMPIN_REASON_MIGRATION: .migration
        default: nil
        }
        self.init(
            sequence: event.seq, kind: kind, id: event.id, start: event.start, end: event.end,
            pages: event.pages, pid: event.pid, holderPID: event.holder_pid, uid: event.uid,
            via: event.via == UInt32(MEMPIN_VIA_SEED) ? .ioctl : .tree,
            error: event.error > 0 ? Errno(rawValue: event.error) : nil, reason: reason,
            timeNanoseconds: event.time_ns
        )
    }
}

extension PinRecord {
    init(_ info: mempin_pin_info) {
        self.init(
            id: info.id, start: info.start, end: info.end, pages: info.pages, hugePages: info.huge_pages,
            pid: info.pid, isWritable: info.flags & UInt32(MEMPIN_INFO_WRITABLE) != 0,
            isDetached: info.flags & UInt32(MEMPIN_INFO_DETACHED) != 0,
            requesterUID: info.requester_uid, requesterPID: info.requester_pid,
            pinnedAtNanoseconds: info.pinned_at_ns, pinDurationNanoseconds: info.pin_duration_ns,
            via: info.via == UInt32(MEMPIN_VIA_SEED) ? .ioctl : .tree, holderPID: info.holder_pid
        )
    }
}

extension PageRecord {
    init(_ info: mempin_page_info) {
        let zone: MemoryZone
        switch Int32(info.flags & UInt32(MEMPIN_ZONE_MASK)) {
        case MEMPIN_ZONE_DMA: zone = .dma
        case MEMPIN_ZONE_DMA32: zone = .dma32
        case MEMPIN_ZONE_NORMAL: zone = .normal
        case MEMPIN_ZONE_MOVABLE: zone = .movable
        case MEMPIN_ZONE_DEVICE: zone = .device
        default: zone = .other
        }
        self.init(
            virtualAddress: info.vaddr, frameNumber: info.pfn, node: info.nid, zone: zone,
            isHuge: info.flags & UInt32(MEMPIN_PAGE_HUGE) != 0
        )
    }
}
