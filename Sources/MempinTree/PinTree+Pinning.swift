import MempinDevice
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

// Writing to a process's `pin` control file: pinning, all or nothing.
extension PinTree {
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
            // The process the file was opened for, and no later one of its
            // pid: the module checks its start time where it can, in the
            // same step that finds the process (no pid reuse slips in).
            let startTime = backend.checksStartTimes ? file.identity : nil
            if startTime == nil, let identity = file.identity, processes.identity(of: file.pid) != identity {
                throw Errno.noSuchProcess
            }
            if !writer.isRoot { try authorize(writer, toChange: file.pid) }
            let opener = file.opener
            let requester = Requester(uid: opener.uid, gid: opener.gid, pid: opener.pid,
                                      isRoot: opener.isRoot && writer.isRoot)
            let made = try pin(complete, in: file.pid, for: requester, startTime: startTime)
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
        backend.takeBack(pins)
        withState { state in
            for pin in pins { state.remove(id: pin.id) }
        }
    }

    /// Pins every range written to `pid`'s control file, all or nothing.
    ///
    /// - Returns: the new pins.
    /// - Throws: the first error; no range of the write stays pinned.
    /// - Parameter startTime: when `pid` started (see
    ///   ``PinRequest/startTime``), for a backend that checks it.
    public func pin(_ text: some Collection<UInt8>, in pid: Int32, for requester: Requester,
                    startTime: UInt64? = nil) throws(Errno) -> [PinRecord] {
        try countingRefusals(of: "pin") { () throws(Errno) in
            try pinRanges(text, in: pid, for: requester, startTime: startTime)
        }
    }

    /// Runs `body`; an errno it throws is counted among the refusals of
    /// `operation` that the `metrics` file reports.
    func countingRefusals<T>(of operation: String, _ body: () throws(Errno) -> T) throws(Errno) -> T {
        do {
            return try body()
        } catch {
            withState { $0.refusals[MetricsSnapshot.Refusal(operation: operation, errno: error), default: 0] += 1 }
            throw error
        }
    }

    private func pinRanges(_ text: some Collection<UInt8>, in pid: Int32, for requester: Requester,
                           startTime: UInt64?) throws(Errno) -> [PinRecord] {
        // Root may pin any process: the module answers ESRCH for one that
        // has gone, which spares a /proc read on every pin.
        if !requester.isRoot {
            do {
                try authorize(requester, toChange: pid)
            } catch {
                noteRefusal(of: (try? RangeParser.parse(text))?.first, in: pid, by: requester, error)
                throw error
            }
        }
        let ranges = try RangeParser.parse(text)
        if !requester.isRoot {
            // A fault in a file of a FUSE server the user runs may never
            // end, and would hold one of our threads for as long.
            if let range = ranges.first(where: { processes.mapsFUSEFile(of: pid, from: $0.start, to: $0.start &+ $0.length) }) {
                noteRefusal(of: range, in: pid, by: requester, .badAddress)
                throw .badAddress
            }
        }
        do {
            try admitInFlight(requester)
        } catch {
            noteRefusal(of: ranges.first, in: pid, by: requester, error)
            throw error
        }
        defer { endInFlight(requester) }
        let made: [PinRecord]
        do {
            // One request for the lines of a write: the module resolves
            // the process and checks the requester once, and shows the
            // pins together or, on a refusal, none of them.
            if ranges.count == 1 {
                made = [try backend.pin(Self.request(for: ranges[0], in: pid, by: requester, startTime: startTime))]
            } else {
                made = try backend.pin(ranges.map {
                    Self.request(for: $0, in: pid, by: requester, startTime: startTime)
                })
            }
        } catch {
            // The module records the refusals it makes while pinning;
            // these it refuses before it starts.
            if error == .noSuchProcess || error == .permissionDenied {
                noteRefusal(of: ranges.first, in: pid, by: requester, error)
            }
            throw error
        }
        withState { state in
            for pin in made { state.insertUnlessEnded(pin) }
            state.pinsMade += UInt64(made.count)
        }
        return made
    }

    private static func request(for range: RequestedRange, in pid: Int32, by requester: Requester,
                                startTime: UInt64?) -> PinRequest {
        PinRequest(
            pid: pid, address: range.start, length: range.length, requesterUID: requester.uid,
            requesterGID: requester.gid, requesterPID: requester.pid, requesterIsRoot: requester.isRoot,
            startTime: startTime
        )
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

    /// A `refuse` line of `events` for a refusal the module never saw: the
    /// range asked for (as the module would widen it), or `-` when none
    /// could be read. At most ``NoticeLimit/burst`` of one user's in each
    /// window: a user cannot push root's lines out of the ring this way.
    func noteRefusal(of range: RequestedRange?, in pid: Int32, by requester: Requester, _ error: Errno) {
        guard serverRefusals.admit(uid: requester.uid, at: .now).admitted else { return }
        let page = Self.pageSize
        let start = (range?.start ?? 0) & ~(page - 1)
        let end = range.map { ($0.start &+ $0.length &+ page - 1) & ~(page - 1) } ?? 0
        var now = timespec()
        clock_gettime(CLOCK_REALTIME_COARSE, &now)  // shown in seconds
        let record = ChangeRecord(
            sequence: 0, kind: .refuse, id: 0, start: start, end: end, pages: (end &- start) / page, pid: pid,
            uid: requester.uid, error: error, timeNanoseconds: UInt64(now.tv_sec) * 1_000_000_000
        )
        let made = events.append(
            Formats.eventLine(record, name: range == nil ? "-" : Formats.pinFileName(start: start, end: end)),
            kind: ChangeKind.refuse.rawValue, audience: lineAudience(of: record)
        )
        if made { events.announce() } else { noteAudienceSkipped() }
    }
}
