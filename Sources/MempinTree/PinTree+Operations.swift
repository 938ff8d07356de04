import MempinDevice
import SystemPackage

/// An open file of the tree.
public enum OpenFile: Sendable {
    /// A small generated file (`stats`, `status`), rendered once at open.
    case snapshot([UInt8])
    /// A pin file, streamed by offset.
    case pinFile(PinFileReader)
    /// A `pin` control file of this process.
    case control(pid: Int32)
}

/// What ``PinTree/refresh()`` found gone, for the kernel's caches.
public struct RemovedNames: Hashable, Sendable {
    /// Pin files gone: their process and name.
    public var pinFiles: [(pid: Int32, name: String)] = []
    /// Processes left without pins.
    public var processes: [Int32] = []

    public static func == (lhs: RemovedNames, rhs: RemovedNames) -> Bool {
        lhs.processes == rhs.processes && lhs.pinFiles.elementsEqual(rhs.pinFiles) { $0 == $1 }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(processes)
        for file in pinFiles {
            hasher.combine(file.pid)
            hasher.combine(file.name)
        }
    }
}

extension PinTree {
    // MARK: Freshness

    /// Reconciles the cache with the backend: drops pins whose process
    /// exited, updates detached state.
    ///
    /// Pins made while it runs are never dropped: only pins known before the
    /// backend was asked can be found missing.
    @discardableResult
    public func refresh() -> RemovedNames {
        let changes = try? backend.changeCount()
        let known = withState { state in
            state.changesSeen = changes
            return Set(state.pins.keys)
        }
        guard let current = try? backend.listAll(pid: 0) else { return RemovedNames() }
        let byID = Dictionary(current.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return withState { state in
            var removed = RemovedNames()
            for id in known {
                guard let old = state.pins[id] else { continue }
                if let fresh = byID[id] {
                    if fresh != old { state.update(old, to: fresh) }
                } else {
                    state.remove(id: id)
                    state.owners[old.pid] = nil
                    removed.pinFiles.append((old.pid, Formats.pinFileName(start: old.start, end: old.end)))
                    if state.processes[old.pid] == nil, !removed.processes.contains(old.pid) {
                        removed.processes.append(old.pid)
                    }
                }
            }
            return removed
        }
    }

    /// ``refresh()``, but only when the backend's change counter moved since
    /// the last one: pins made and removed here are known already.
    @discardableResult
    public func refreshIfChanged() -> RemovedNames {
        guard let changes = try? backend.changeCount(),
              withState({ $0.changesSeen }) != changes
        else { return RemovedNames() }
        return refresh()
    }

    // MARK: Permission

    /// Root, or the target's real uid, may pin and unpin its memory.
    ///
    /// - Throws: `ESRCH` when the process has gone, `EACCES` otherwise refused.
    public func authorize(_ requester: Requester, toChange pid: Int32) throws(Errno) {
        let owner: (uid: UInt32, gid: UInt32)
        do {
            owner = try processes.owner(of: pid)
        } catch {
            forgetOwner(of: pid)
            throw error
        }
        guard requester.isRoot || requester.uid == owner.uid else { throw .permissionDenied }
    }

    // MARK: Open and read

    /// Opens a file for reading or writing.
    public func open(_ node: Node, for requester: Requester, writing: Bool) throws(Errno) -> OpenFile {
        switch node {
        case .root, .processDirectory:
            throw .isDirectory
        case .selfLink:
            throw .tooManySymbolicLinkLevels
        case .stats:
            guard !writing else { throw .permissionDenied }
            return .snapshot(Array(renderStats().utf8))
        case .metrics:
            guard !writing else { throw .permissionDenied }
            return .snapshot(Array(renderMetrics().utf8))
        case .processStatus(let pid):
            guard !writing else { throw .permissionDenied }
            return .snapshot(Array(try renderStatus(of: pid).utf8))
        case .pinControl(let pid):
            guard writing else { throw .permissionDenied }
            do { _ = try displayedOwner(of: pid) } catch { throw .noSuchFileOrDirectory }
            return .control(pid: pid)
        case .pinFile(_, let id):
            guard !writing else { throw .permissionDenied }
            let fresh: PinRecord?
            do { fresh = try backend.pin(id: id) } catch { throw error == .noSuchFileOrDirectory ? error : .ioError }
            guard let fresh else {
                withState { $0.remove(id: id) }
                throw .noSuchFileOrDirectory
            }
            withState { state in
                if let old = state.pins[id] { state.update(old, to: fresh) }
            }
            return .pinFile(PinFileReader(pin: fresh, showsFrames: requester.isRoot, backend: backend))
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

    // MARK: Pin and unpin

    /// Pins every range written to `pid`'s control file, all or nothing.
    ///
    /// - Returns: the new pins.
    /// - Throws: the first error; no range of the write stays pinned.
    public func pin(_ text: some Collection<UInt8>, in pid: Int32, for requester: Requester) throws(Errno) -> [PinRecord] {
        try countingRefusals(of: "pin") { () throws(Errno) in try pinRanges(text, in: pid, for: requester) }
    }

    /// Runs `body`; an errno it throws is counted among the refusals of
    /// `operation` that the `metrics` file reports.
    private func countingRefusals<T>(of operation: String, _ body: () throws(Errno) -> T) throws(Errno) -> T {
        do {
            return try body()
        } catch {
            withState { $0.refusals[MetricsSnapshot.Refusal(operation: operation, errno: error), default: 0] += 1 }
            throw error
        }
    }

    private func pinRanges(_ text: some Collection<UInt8>, in pid: Int32, for requester: Requester) throws(Errno) -> [PinRecord] {
        // Root may pin any process: the module answers ESRCH for one that
        // has gone, which spares a /proc read on every pin.
        if !requester.isRoot {
            try authorize(requester, toChange: pid)
        }
        let ranges = try RangeParser.parse(text)
        var made: [PinRecord] = []
        for range in ranges {
            let request = PinRequest(
                pid: pid, address: range.start, length: range.length, requesterUID: requester.uid,
                requesterGID: requester.gid, requesterPID: requester.pid, requesterIsRoot: requester.isRoot
            )
            do {
                made.append(try backend.pin(request))
            } catch {
                for pin in made.reversed() {
                    try? backend.unpin(id: pin.id)
                }
                throw error
            }
        }
        withState { state in
            for pin in made { state.insert(pin) }
            state.pinsMade += UInt64(made.count)
        }
        return made
    }

    /// Unpins the pin file `name` of `pid`; the pages are unpinned when it
    /// returns.
    public func unlink(_ name: String, in pid: Int32, for requester: Requester) throws(Errno) -> PinRecord {
        try countingRefusals(of: "unpin") { () throws(Errno) in try unpin(name, in: pid, for: requester) }
    }

    private func unpin(_ name: String, in pid: Int32, for requester: Requester) throws(Errno) -> PinRecord {
        let pin: PinRecord? = withState { state in state.processes[pid]?.idsByName[name].flatMap { state.pins[$0] } }
        guard let pin else {
            if name == "pin" || name == "status" { throw .notPermitted }
            throw .noSuchFileOrDirectory
        }
        if !requester.isRoot {
            try authorize(requester, toChange: pid)
        }
        do {
            try backend.unpin(id: pin.id)
        } catch .noSuchFileOrDirectory {
            // Released already (the target exited): the file goes all the same.
        }
        withState { state in
            state.remove(id: pin.id)
            state.pinsRemoved += 1
        }
        return pin
    }

    // MARK: status and stats

    /// `PID/status`: this process's pin totals and limits.
    public func renderStatus(of pid: Int32) throws(Errno) -> String {
        do { _ = try displayedOwner(of: pid) } catch { throw .noSuchFileOrDirectory }
        let totals = withState { $0.processes[pid] } ?? ProcessPins()
        return Formats.keyedLines([
            "pins": String(totals.idsByName.count),
            "pages": String(totals.pages),
            "bytes": String(totals.bytes),
            "detached_pins": String(totals.detached),
            "vm_pinned_bytes": String(processes.pinnedBytes(of: pid)),
            "memlock_limit_bytes": processes.memlockLimit(of: pid).map { String($0) } ?? "unlimited",
        ])
    }

    /// `stats`: totals over all pins.
    public func renderStats() -> String {
        refreshIfChanged()
        let (pins, processes) = withState { ($0.pins.count, Array($0.processes.values)) }
        return Formats.keyedLines([
            "pins": String(pins),
            "pages": String(processes.reduce(0) { $0 + $1.pages }),
            "bytes": String(processes.reduce(0) { $0 + $1.bytes }),
            "processes": String(processes.count),
            "detached_pins": String(processes.reduce(0) { $0 + $1.detached }),
        ])
    }

    /// `metrics`: totals, per-process figures and counters in Prometheus's
    /// text format.
    public func renderMetrics() -> String {
        refreshIfChanged()
        var snapshot = MetricsSnapshot()
        let totals = withState { state in
            snapshot.pinsMade = state.pinsMade
            snapshot.pinsRemoved = state.pinsRemoved
            snapshot.refusals = state.refusals
            return state.processes.map { ($0.key, $0.value.idsByName.count, $0.value.detached, $0.value.pages, $0.value.bytes) }
        }
        snapshot.processes = totals.map { pid, pins, detached, pages, bytes in
            MetricsSnapshot.Process(
                pid: pid, command: processes.command(of: pid) ?? "", pins: pins, detachedPins: detached,
                pages: pages, bytes: bytes, vmPinnedBytes: processes.pinnedBytes(of: pid),
                memlockLimitBytes: processes.memlockLimit(of: pid)
            )
        }
        if let module = try? backend.version() {
            snapshot.modulePinnedPages = module.pinnedPages
            snapshot.moduleMaxPinnedPages = module.maxPinnedPages
        }
        return PrometheusText.render(snapshot)
    }
}
