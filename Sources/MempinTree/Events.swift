import MempinDevice
import MempinLocking

/// The lines of the `events` file: what the module's ledger recorded, in
/// order, one line per event, each kept with whom it may be shown to.
///
/// A reader starts at the moment it opened the file. The log keeps the last
/// ``capacity`` lines; a reader further behind is told `lost N` once and
/// goes on from the oldest line kept.
public final class EventLog: Sendable {
    /// Lines kept for readers.
    public static let capacity = 4096

    /// Who besides root may see an event: the uid and gid that pass
    /// ptrace's read rule on its process (its real, effective and saved ids,
    /// the process dumpable), as last seen; nil for root only.
    public struct Audience: Hashable, Sendable {
        public var uid: UInt32
        public var gid: UInt32

        public init(uid: UInt32, gid: UInt32) {
            self.uid = uid
            self.gid = gid
        }
    }

    struct Entry {
        var line: [UInt8]
        var audience: Audience?
        var everyone = false
    }

    private struct State {
        /// A ring of at most `capacity` entries; `first` is the oldest's
        /// sequence number.
        var entries: [Entry] = []
        var head = 0
        var first: UInt64 = 1
        var next: UInt64 { first + UInt64(entries.count) }
        /// Lines appended, by event kind, for `metrics`.
        var counts: [String: UInt64] = [:]

        func entry(_ sequence: UInt64) -> Entry {
            entries[(head + Int(sequence - first)) % EventLog.capacity]
        }

        /// The first line from `sequence` on that `reader` may see.
        func firstVisible(from sequence: UInt64, to reader: EventReader) -> UInt64? {
            var sequence = max(sequence, first)
            while sequence < next {
                if reader.may(see: entry(sequence)) { return sequence }
                sequence += 1
            }
            return nil
        }

        mutating func append(_ entry: Entry) {
            if entries.count < EventLog.capacity {
                entries.append(entry)
            } else {
                entries[head] = entry
                head = (head + 1) % EventLog.capacity
                first += 1
            }
        }
    }

    private let state = Locked(State())
    /// How many readers have the file open: with none, a line is counted
    /// for `metrics` but neither made nor kept (a reader sees only what
    /// happens after its open).
    private let readers = ReaderCount()
    /// How many readers other than root have the file open: only their
    /// lines need an audience, root sees every line.
    private let unprivilegedReaders = ReaderCount()
    /// Told of lines appended outside the follower's batches (see
    /// ``announce()``): the server's waiting readers.
    private let listener = Locked<(@Sendable (EventLog) -> Void)?>(nil)

    public init() {}

    /// Sets what ``announce()`` calls, with this log (so that the listener
    /// need not hold it: a log that held a closure holding the log would
    /// never be freed).
    public func onAnnounce(_ body: @escaping @Sendable (EventLog) -> Void) {
        listener.withLock { $0 = body }
    }

    /// Tells the listener that lines were appended: for a line the server
    /// makes itself, which no module record will follow.
    public func announce() {
        listener.withLock { $0 }?(self)
    }

    /// Adds one event's line (without its newline) of the kind `kind`,
    /// for root, its audience, or `everyone`. The line and its audience are
    /// made only while a reader has the file open.
    ///
    /// - Returns: whether it was made (false: no reader had the file open).
    @discardableResult
    public func append(_ line: @autoclosure () -> String, kind: String, audience: @autoclosure () -> Audience?,
                       everyone: Bool = false) -> Bool {
        guard readers.count.withLock({ $0 > 0 }) else {
            state.withLock { $0.counts[kind, default: 0] += 1 }
            return false
        }
        let entry = Entry(line: Array((line() + "\n").utf8), audience: audience(), everyone: everyone)
        state.withLock { state in
            state.append(entry)
            state.counts[kind, default: 0] += 1
        }
        return true
    }

    /// Events appended so far, by kind.
    public var counts: [String: UInt64] { state.withLock { $0.counts } }

    /// A new reader, from now on.
    public func reader(for requester: Requester) -> EventReader {
        // Counted before its first line is fixed, so that lines from then
        // on get their audience.
        let counted = requester.isRoot ? [readers] : [readers, unprivilegedReaders]
        for count in counted { count.count.withLock { $0 += 1 } }
        return EventReader(requester: requester, from: state.withLock { $0.next }, counted: counted)
    }

    /// Whether a reader other than root has the file open, so that a new
    /// line needs its audience (which costs a read of its process's
    /// credentials).
    public var hasUnprivilegedReaders: Bool { unprivilegedReaders.count.withLock { $0 > 0 } }

    /// Up to `size` bytes of whole lines for `reader` (a line longer than
    /// `size` is cut, the rest read next), moving it on; nil when it has
    /// nothing to read now.
    public func read(_ reader: EventReader, size: Int) -> [UInt8]? {
        guard size > 0 else { return [] }
        return reader.withCursor { cursor in
            state.withLock { state in
                var out = cursor.rest
                cursor.rest = []
                if cursor.next < state.first {
                    out += Array("lost \(state.first - cursor.next)\n".utf8)
                    cursor.next = state.first
                }
                while true {
                    guard let sequence = state.firstVisible(from: cursor.next, to: reader) else {
                        // What is left it may not see: never walked again.
                        cursor.next = state.next
                        break
                    }
                    let entry = state.entry(sequence)
                    cursor.next = sequence
                    if out.count + entry.line.count > size {
                        if out.isEmpty {
                            out = Array(entry.line.prefix(size))
                            cursor.rest = Array(entry.line.dropFirst(size))
                            cursor.next += 1
                        }
                        break
                    }
                    out += entry.line
                    cursor.next += 1
                }
                if out.count > size {
                    cursor.rest = Array(out.dropFirst(size))
                    out = Array(out.prefix(size))
                }
                return out.isEmpty ? nil : out
            }
        }
    }

    /// Whether a read by `reader` would return something now.
    public func hasLines(for reader: EventReader) -> Bool {
        reader.withCursor { cursor in
            state.withLock { state in
                !cursor.rest.isEmpty || cursor.next < state.first
                    || state.firstVisible(from: cursor.next, to: reader) != nil
            }
        }
    }
}

/// One open `events` file: where its reader is in the log.
public final class EventReader: Sendable {
    /// Who opened it: what it may see.
    public let requester: Requester

    struct Cursor {
        /// The next line's sequence number.
        var next: UInt64
        /// What a read cut short of a line, for the next read.
        var rest: [UInt8] = []
    }

    private let cursor: Locked<Cursor>
    /// The counts of readers it is one of.
    private let counted: [ReaderCount]

    init(requester: Requester, from next: UInt64, counted: [ReaderCount]) {
        self.requester = requester
        self.counted = counted
        cursor = Locked(Cursor(next: next))
    }

    deinit {
        for count in counted { count.count.withLock { $0 -= 1 } }
    }

    func withCursor<R>(_ body: (inout Cursor) -> R) -> R {
        cursor.withLock { body(&$0) }
    }

    func may(see entry: EventLog.Entry) -> Bool {
        if requester.isRoot || entry.everyone { return true }
        guard let audience = entry.audience else { return false }
        return audience.uid == requester.uid && audience.gid == requester.gid
    }
}

/// How many readers of a kind have `events` open; each reader counts
/// itself out when it goes.
final class ReaderCount: Sendable {
    let count = Locked(0)
}
