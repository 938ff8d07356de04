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
    /// What it finds gone is also kept for ``takeRemovedNames()``, whoever
    /// called it, so the kernel's caches learn of every removal. A failed
    /// list leaves the change unseen: the next refresh tries again.
    @discardableResult
    public func refresh() -> RemovedNames {
        let changes = try? backend.changeCount()
        let known = withState { Set($0.pins.keys) }
        guard let current = try? backend.listAll(pid: 0) else { return RemovedNames() }
        let byID = Dictionary(current.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return withState { state in
            state.changesSeen = changes
            var removed = RemovedNames()
            defer {
                state.removedNames.pinFiles += removed.pinFiles
                state.removedNames.processes += removed.processes
            }
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

    /// The names every refresh since the last call found gone, for the
    /// kernel's caches (`fuse_lowlevel_notify_inval_entry`).
    public func takeRemovedNames() -> RemovedNames {
        withState { state in
            defer { state.removedNames = RemovedNames() }
            return state.removedNames
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
            do { try authorize(requester, toChange: pid) } catch .noSuchProcess { throw .noSuchFileOrDirectory }
            return .control(ControlFile(pid: pid, opener: requester, identity: processes.identity(of: pid)))
        case .pinFile(let pid, let id):
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

    /// A write to an open control file: pins every line it completes, all
    /// or nothing, as its opener, who must still be allowed, and so must the
    /// writer (a setuid program writing to a descriptor a user opened pins
    /// as that user). The unfinished last line waits for the next write.
    ///
    /// - Returns: the new pins (none when the write ended no line).
    /// - Throws: the first error, `ESRCH` when the process the file was
    ///   opened for has gone (even if its pid is in use again); no line of
    ///   the write stays pinned, and the unfinished line is dropped.
    public func write(_ bytes: some Collection<UInt8>, to file: ControlFile, by writer: Requester) throws(Errno) -> [PinRecord] {
        do throws(Errno) {
            let (complete, rest) = try file.lines(appending: bytes)
            guard !complete.isEmpty else {
                file.keep(rest)
                return []
            }
            if let identity = file.identity, processes.identity(of: file.pid) != identity { throw Errno.noSuchProcess }
            if !writer.isRoot { try authorize(writer, toChange: file.pid) }
            let opener = file.opener
            let requester = Requester(uid: opener.uid, gid: opener.gid, pid: opener.pid,
                                      isRoot: opener.isRoot && writer.isRoot)
            let made = try pin(complete, in: file.pid, for: requester)
            file.keep(rest)
            return made
        } catch {
            file.keep([])
            throw error
        }
    }

    /// The last close of an open control file: a line still unfinished is
    /// refused, and nothing of it was pinned.
    ///
    /// - Throws: `EINVAL` for an unfinished line.
    public func close(_ file: ControlFile) throws(Errno) {
        if file.takeUnfinished() { throw .invalidArgument }
    }

    /// Unpins pins made moments ago whose maker never learned of them (its
    /// write's reply failed: the writer was interrupted or killed).
    public func undo(_ pins: [PinRecord]) {
        for pin in pins.reversed() {
            try? backend.unpin(id: pin.id)
        }
        withState { state in
            for pin in pins { state.remove(id: pin.id) }
        }
    }

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
        if !requester.isRoot {
            // A fault in a file of a FUSE server the user runs may never
            // end, and would hold one of our threads for as long.
            if ranges.contains(where: { processes.mapsFUSEFile(of: pid, from: $0.start, to: $0.start &+ $0.length) }) {
                throw .badAddress
            }
        }
        try admitInFlight(requester)
        defer { endInFlight(requester) }
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

    /// Pins being made at once for one user other than root, at most: a
    /// user whose pins are slow (its own processes' page faults) keeps at
    /// most this many of the server's threads, and root's and other users'
    /// requests always find one.
    public static let pinsInFlightPerUser = 4

    private func admitInFlight(_ requester: Requester) throws(Errno) {
        guard !requester.isRoot else { return }
        let admitted = withState { state in
            let now = state.pinsInFlight[requester.uid, default: 0]
            guard now < Self.pinsInFlightPerUser else { return false }
            state.pinsInFlight[requester.uid] = now + 1
            return true
        }
        guard admitted else { throw .resourceTemporarilyUnavailable }
    }

    private func endInFlight(_ requester: Requester) {
        guard !requester.isRoot else { return }
        withState { state in
            let left = state.pinsInFlight[requester.uid, default: 1] - 1
            state.pinsInFlight[requester.uid] = left > 0 ? left : nil
        }
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
        // What cannot be read is left out, never shown as 0 or unlimited.
        var keys: [(key: String, value: String)] = [
            ("pins", String(totals.idsByName.count)),
            ("pages", String(totals.pages)),
            ("bytes", String(totals.bytes)),
            ("detached_pins", String(totals.detached)),
        ]
        if let bytes = processes.pinnedBytes(of: pid) { keys.append(("vm_pinned_bytes", String(bytes))) }
        switch processes.memlockLimit(of: pid) {
        case .bytes(let bytes): keys.append(("memlock_limit_bytes", String(bytes)))
        case .unlimited: keys.append(("memlock_limit_bytes", "unlimited"))
        case nil: break
        }
        return Formats.keyedLines(keys)
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
                memlockLimit: processes.memlockLimit(of: pid)
            )
        }
        if let module = try? backend.version() {
            snapshot.modulePinnedPages = module.pinnedPages
            snapshot.moduleMaxPinnedPages = module.maxPinnedPages
        }
        return PrometheusText.render(snapshot)
    }
}
