import MempinDevice
import SystemPackage

/// What ``PinTree/refresh()`` found gone, for the kernel's caches.
public struct RemovedNames: Hashable, Sendable {
    /// Pin files gone: their process and name.
    public var pinFiles: [(pid: Int32, name: String)] = []
    /// Processes left without pins.
    public var processes: [Int32] = []

    /// Whether nothing was found gone.
    public var isEmpty: Bool { pinFiles.isEmpty && processes.isEmpty }

    /// Adds what another look found gone.
    public mutating func append(_ other: RemovedNames) {
        pinFiles += other.pinFiles
        processes += other.processes
    }

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

// Following the module's ledger: a full listing (at start, and when
// change records were lost) and the change records as they come.
extension PinTree {
    // MARK: Freshness

    /// Reconciles the cache with the module's ledger: adopts pins it did not
    /// know (made through the seed interface, or by an earlier server),
    /// drops pins whose process exited or that were unpinned elsewhere,
    /// updates detached state. The server's start is one such refresh.
    ///
    /// Pins made while it runs are never dropped: only pins known before the
    /// backend was asked can be found missing; and a pin the tree removed
    /// while it ran is not adopted again from the older listing.
    /// What it finds gone is also kept for ``takeRemovedNames()``, whoever
    /// called it, so the kernel's caches learn of every removal. A failed
    /// list leaves the change unseen: the next refresh tries again.
    @discardableResult
    public func refresh() -> RemovedNames {
        let changes = try? backend.changeCount()
        let (known, removals) = withState { (Set($0.pins.keys), $0.removals) }
        guard let current = try? backend.listAll(pid: 0) else { return RemovedNames() }
        // Only the pins known before need finding by id (none at start).
        let byID = known.isEmpty ? [:] : Dictionary(current.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        return withState { state in
            state.changesSeen = changes
            var removed = RemovedNames()
            if state.removals == removals {
                state.adopt(known.isEmpty ? current : current.filter { !known.contains($0.id) })
            }
            defer { state.removedNames.append(removed) }
            for id in known {
                guard let old = state.pins[id] else { continue }
                if let fresh = byID[id] {
                    if fresh != old { state.update(old, to: fresh) }
                } else {
                    let name = state.name(of: id) ?? Formats.pinFileName(start: old.start, end: old.end)
                    state.remove(id: id)
                    state.owners[old.pid] = nil
                    removed.pinFiles.append((old.pid, name))
                    if state.processes[old.pid] == nil, !removed.processes.contains(old.pid) {
                        removed.processes.append(old.pid)
                    }
                }
            }
            return removed
        }
    }

    /// Keeps names found gone for ``takeRemovedNames()``: a thread that
    /// must not tell the kernel itself (a request's, which may hold what the
    /// kernel's invalidation waits for) leaves it to the one that does.
    public func keepRemovedNames(_ removed: RemovedNames) {
        guard !removed.isEmpty else { return }
        withState { $0.removedNames.append(removed) }
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
              withState({ $0.changesSeen != changes && $0.lastChange != changes })
        else { return RemovedNames() }
        return refresh()
    }

    // MARK: Change records

    /// Applies the module's change records, in order: the tree follows the
    /// ledger (pins made elsewhere appear, pins gone leave, detached pins
    /// say so) and each record becomes a line of `events`. A gap in the
    /// records' numbers (the module's ring overran) is made good with a
    /// full ``refresh()``.
    ///
    /// - Returns: the names gone, for the kernel's caches.
    @discardableResult
    public func apply(_ records: [ChangeRecord]) -> RemovedNames {
        var removed = RemovedNames()
        var lost = false
        // The pins whose end is in this batch too: gone already, so not
        // fetched (a program that pins and unpins through the seed
        // interface in a loop would have the server fetch each).
        let ending: Set<UInt64> = records.count < 2 ? [] : Set(records.lazy.filter(\.kind.endsPin).map(\.id))
        for record in records {
            let gap = withState { state in
                defer { state.lastChange = record.sequence }
                return state.lastChange.map { record.sequence > $0 + 1 ? record.sequence - $0 - 1 : 0 } ?? 0
            }
            if gap > 0 {
                // The module's ring overran before we read it: every reader
                // learns it, and the tree is listed afresh below.
                events.append("lost \(gap)", kind: "lost", audience: nil, everyone: true)
                lost = true
            }
            let name = follow(record, endsInBatch: record.kind == .pin && !ending.isEmpty && ending.contains(record.id), removed: &removed)
            let made = events.append(Formats.eventLine(record, name: name?.text ?? lineName(of: record)),
                                     kind: record.kind.rawValue, audience: lineAudience(of: record))
            if !made { noteAudienceSkipped() }
        }
        if lost {
            let found = refresh()
            removed.append(found)
        }
        return removed
    }

    /// Brings the tree up to `record`; returns the name of the pin file it
    /// removed, or that was removed just before (an `rm` here), if so (see
    /// ``lineName(of:)`` for the others). A name, not its text: the text is
    /// made only for a line a reader will read.
    private func follow(_ record: ChangeRecord, endsInBatch: Bool, removed: inout RemovedNames) -> ProcessPins.Name? {
        switch record.kind {
        case .pin where endsInBatch:
            // Ended: named as its file would have been, for its lines.
            withState { state in
                guard state.pins[record.id] == nil else { return }
                let name = state.processes[record.pid]?.newName(start: record.start, end: record.end, id: record.id)
                state.noteEnded(record.id, name: name ?? ProcessPins.Name(start: record.start, end: record.end))
            }
            return nil
        case .pin:
            if withState({ $0.pins[record.id] }) == nil, let fresh = try? backend.pin(id: record.id) {
                // Unless it ended while fetched (rm here, or a listing found it gone).
                withState { if $0.pins[fresh.id] == nil { $0.insertUnlessEnded(fresh) } }
            }
            return nil
        case .detach:
            withState { state in
                if var pin = state.pins[record.id], !pin.isDetached {
                    let old = pin
                    pin.isDetached = true
                    state.update(old, to: pin)
                }
            }
            return nil
        case .unpin, .revoke, .exit, .close:
            return withState { state in
                // Its maker may not have entered it yet, or may enter it
                // again after this record took it out: it must not.
                state.noteEnded(record.id)
                guard let pin = state.pins[record.id], let name = state.processes[pin.pid]?.name(of: pin) else {
                    return state.endedName(of: record.id)
                }
                state.remove(id: record.id)
                state.owners[pin.pid] = nil
                removed.pinFiles.append((pin.pid, name.text))
                if state.processes[pin.pid] == nil, !removed.processes.contains(pin.pid) {
                    removed.processes.append(pin.pid)
                }
                return name
            }
        case .refuse:
            return nil
        }
    }

    /// The NAME of `record`'s line: its pin file's name as the tree knows
    /// it, else its range (for a refusal, the range asked for). Made only
    /// for a line a reader may read.
    private func lineName(of record: ChangeRecord) -> String {
        if record.kind != .refuse, let name = withState({ $0.name(of: record.id) ?? $0.endedName(of: record.id)?.text }) {
            return name
        }
        return Formats.pinFileName(start: record.start, end: record.end)
    }

    /// The audience of `record`'s line, the module's or the server's own.
    /// None is needed while only root reads `events`, and finding it costs
    /// a read of the process's credentials for each pin: the tree then
    /// notes that it skipped some, for the next reader other than root
    /// (``refreshSkippedAudiences()``).
    func lineAudience(of record: ChangeRecord) -> EventLog.Audience? {
        guard events.hasUnprivilegedReaders else {
            noteAudienceSkipped()
            return nil
        }
        return audience(of: record.pid, refresh: record.kind == .pin)
    }

    /// A line was made without its audience, or not made at all (no reader
    /// had `events` open): ``refreshSkippedAudiences()`` has work to do
    /// for the next reader other than root.
    func noteAudienceSkipped() {
        withState { $0.audiencesSkipped = true }
    }

    /// Reads afresh the audience of each process with pins here if lines
    /// were made without one since the last time: for a reader other than
    /// root that has just opened `events`, whose later lines of those
    /// processes need it (an `exit`, when /proc no longer has the process).
    /// At most one read of credentials per process with pins.
    func refreshSkippedAudiences() {
        let pids: [Int32] = withState { state in
            guard state.audiencesSkipped else { return [] }
            state.audiencesSkipped = false
            return Array(state.processes.keys)
        }
        for pid in pids { _ = audience(of: pid, refresh: true) }
    }

    /// Who besides root may see events of `pid`: read afresh when it makes
    /// a pin, else as last seen (an exited process is gone from /proc).
    func audience(of pid: Int32, refresh: Bool) -> EventLog.Audience? {
        if !refresh, let known = withState({ $0.audiences[pid] }) { return known }
        var audience: EventLog.Audience?
        if let credentials = processes.credentials(of: pid), credentials.isDumpable,
           let uid = credentials.uids.first, credentials.uids.allSatisfy({ $0 == uid }),
           let gid = credentials.gids.first, credentials.gids.allSatisfy({ $0 == gid }) {
            audience = EventLog.Audience(uid: uid, gid: gid)
        } else if !refresh {
            return nil
        }
        withState { state in
            if state.audiences.count >= 4096 {
                state.audiences = state.audiences.filter { state.processes[$0.key] != nil }
            }
            state.audiences[pid] = audience
        }
        return audience
    }
}

private extension ChangeKind {
    /// Whether a record of this kind ends its pin.
    var endsPin: Bool {
        switch self {
        case .unpin, .revoke, .exit, .close: true
        case .pin, .detach, .refuse: false
        }
    }
}
