import MempinDevice
import MempinLocking
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The mempin file tree, independent of FUSE: names, attributes, contents
/// and the pin/unpin operations, with the permission rules of the contract.
///
/// Every pin goes through this tree, so it keeps a cache of them (by id and
/// by name); ``refresh()`` reconciles it with the backend, which alone knows
/// when a target exited or a range was detached.
public final class PinTree: Sendable {
    let backend: any PinBackend
    let processes: any ProcessFacts
    let memoryBlocks: any MemoryBlockFacts
    /// The page size ranges and page counts are in.
    static let pageSize = UInt64(sysconf(Int32(_SC_PAGESIZE)))
    /// The lines of the `events` file.
    public let events = EventLog()
    /// Bounds the `refuse` lines the server makes itself, per user.
    let serverRefusals = NoticeLimit()

    /// The pins of one process, with running totals.
    ///
    /// Names follow the contract: `START-END`, or `START-END.ID` for a pin
    /// whose range already names another pin of the process; a name never
    /// changes while its pin lives, so which pins got the suffix is kept.
    struct ProcessPins {
        /// A pin file's name, kept as numbers (a pin costs no string until
        /// a listing shows it): `START-END`, with `.ID` when `suffix` is
        /// not 0.
        struct Name: Hashable {
            var start: UInt64
            var end: UInt64
            var suffix: UInt64 = 0

            var text: String {
                let plain = Formats.pinFileName(start: start, end: end)
                return suffix == 0 ? plain : plain + "." + String(suffix)
            }

            /// The name `text` spells, only as ``text`` would spell it:
            /// lowercase hex of eight digits, or more without a leading
            /// zero, and a decimal suffix without one. Read in one pass,
            /// with no string made (every `rm` and lookup of a pin file
            /// comes here).
            init?(_ text: String) {
                let parsed = text.utf8.withContiguousStorageIfAvailable(Self.parse) ?? Self.parse(Array(text.utf8))
                guard let parsed else { return nil }
                self.init(start: parsed.start, end: parsed.end, suffix: parsed.suffix)
            }

            private static func parse(_ text: some Collection<UInt8>) -> (start: UInt64, end: UInt64, suffix: UInt64)? {
                var values: (start: UInt64, end: UInt64, suffix: UInt64) = (0, 0, 0)
                var part = 0  // 0: START, 1: END, 2: the suffix
                var digits = 0
                var leading: UInt8 = 0
                for byte in text {
                    let value: UInt64
                    switch byte {
                    case UInt8(ascii: "-") where part == 0, UInt8(ascii: ".") where part == 1:
                        guard Self.isCanonical(digits: digits, leading: leading, decimal: false) else { return nil }
                        part += 1
                        digits = 0
                        continue
                    case UInt8(ascii: "0")...UInt8(ascii: "9"):
                        value = UInt64(byte &- UInt8(ascii: "0"))
                    case UInt8(ascii: "a")...UInt8(ascii: "f") where part < 2:
                        value = UInt64(byte &- UInt8(ascii: "a") &+ 10)
                    default:
                        return nil
                    }
                    if digits == 0 { leading = byte }
                    digits += 1
                    switch part {
                    case 0:
                        guard digits <= 16 else { return nil }
                        values.start = values.start << 4 | value
                    case 1:
                        guard digits <= 16 else { return nil }
                        values.end = values.end << 4 | value
                    default:
                        let (shifted, o1) = values.suffix.multipliedReportingOverflow(by: 10)
                        let (sum, o2) = shifted.addingReportingOverflow(value)
                        guard !o1, !o2 else { return nil }
                        values.suffix = sum
                    }
                }
                guard part >= 1, Self.isCanonical(digits: digits, leading: leading, decimal: part == 2) else { return nil }
                return values
            }

            /// Whether a part of `digits` digits, the first `leading`, is
            /// spelled as ``text`` spells it.
            private static func isCanonical(digits: Int, leading: UInt8, decimal: Bool) -> Bool {
                if decimal { return digits >= 1 && leading != UInt8(ascii: "0") }
                return digits == 8 || (digits > 8 && leading != UInt8(ascii: "0"))
            }

            init(start: UInt64, end: UInt64, suffix: UInt64 = 0) {
                self.start = start
                self.end = end
                self.suffix = suffix
            }

            /// One word for the hasher, not three: a server's start hashes
            /// every name of the ledger (equal names still hash alike).
            func hash(into hasher: inout Hasher) {
                hasher.combine(start ^ (end &<< 1) ^ (suffix &* 0x9E37_79B9_7F4A_7C15))
            }
        }

        /// Pin ids by file name.
        private(set) var ids: [Name: UInt64] = [:]
        /// The pins whose name has their id as suffix (rare: a range that
        /// already named a pin of the process).
        private var suffixed: Set<UInt64> = []
        var pages: UInt64 = 0
        var bytes: UInt64 = 0
        var detached = 0
        /// The directory's entries, its pins in address order; rebuilt on
        /// demand after a change, so that an `opendir` costs no more with
        /// 10,000 pins than with one.
        var listing: [DirectoryEntry]?

        var count: Int { ids.count }

        /// The pin named `text`, if any.
        func id(named text: String) -> UInt64? {
            Name(text).flatMap { ids[$0] }
        }

        /// The name of `pin`, one of this process's.
        func name(of pin: PinRecord) -> Name {
            Name(start: pin.start, end: pin.end, suffix: suffixed.contains(pin.id) ? pin.id : 0)
        }

        /// Makes room for `count` more pins without growing the table
        /// step by step (a server's start adopts the whole ledger).
        mutating func reserve(_ count: Int) {
            ids.reserveCapacity(ids.count + count)
        }

        /// The name a new pin `id` of [`start`, `end`) takes: its range,
        /// with its id as suffix when the range names a pin already (as
        /// ``add(_:)`` names it).
        func newName(start: UInt64, end: UInt64, id: UInt64) -> Name {
            let plain = Name(start: start, end: end)
            return ids[plain] == nil ? plain : Name(start: start, end: end, suffix: id)
        }

        mutating func add(_ pin: PinRecord) {
            // One hash of the name for a new range, the common case.
            let name = Name(start: pin.start, end: pin.end)
            if let holder = ids.updateValue(pin.id, forKey: name) {
                ids[name] = holder
                ids[Name(start: pin.start, end: pin.end, suffix: pin.id)] = pin.id
                suffixed.insert(pin.id)
            }
            pages += pin.pages
            bytes += pin.bytes
            detached += pin.isDetached ? 1 : 0
            listing = nil
        }

        mutating func remove(_ pin: PinRecord) {
            let name = name(of: pin)
            guard let index = ids.index(forKey: name), ids.values[index] == pin.id else { return }
            ids.remove(at: index)
            ids.shrinkIfSparse()
            if !suffixed.isEmpty { suffixed.remove(pin.id) }
            pages -= pin.pages
            bytes -= pin.bytes
            detached -= pin.isDetached ? 1 : 0
            listing = nil
        }
    }

    struct State {
        /// Lookup counts of the inodes the kernel knows, with their nodes.
        var lookups: [UInt64: (node: Node, count: UInt64)] = [:]
        /// The process each pid directory the kernel knows was looked up
        /// for (its start time): the directory, and what is found in it,
        /// stay that process's, never a later one's of the same pid.
        var instances: [Int32: UInt64] = [:]
        /// The pins, by id.
        var pins: [UInt64: PinRecord] = [:]
        /// The pins by process.
        var processes: [Int32: ProcessPins] = [:]
        /// The backend's change counter at the last refresh.
        var changesSeen: UInt64?
        /// Pins being made now, per non-root uid.
        var pinsInFlight: [UInt32: Int] = [:]
        /// What refreshes found gone, not yet taken by the refresher.
        var removedNames = RemovedNames()
        /// Pins this server took out of the tree, ever: a refresh adopts
        /// pins it did not know only when none went while it listed.
        var removals: UInt64 = 0
        /// Pins that ended lately, with their names when the tree had them
        /// (for the change records that follow a removal): a pin this
        /// server made, whose process exited while the ioctl returned, is
        /// not entered after its end. At most ``recentNameLimit``, the
        /// oldest dropped first; ids only grow, so a pin being made is
        /// among the newest.
        private var endedPins: [UInt64: ProcessPins.Name?] = [:]
        private var endedOrder: [UInt64] = []
        /// The last change record applied.
        var lastChange: UInt64?
        /// Who may see events of a process, as last seen (see
        /// ``EventLog/Audience``); `.some(nil)` for root only.
        var audiences: [Int32: EventLog.Audience?] = [:]
        /// Whether lines were made without their audience (only root read
        /// `events` then), so that `audiences` may be stale.
        var audiencesSkipped = false
        /// What the `metrics` file counts since the server started.
        var pinsMade: UInt64 = 0
        var pinsRemoved: UInt64 = 0
        var refusals: [MetricsSnapshot.Refusal: UInt64] = [:]
        /// Recently read owners of processes, for display (see ``PinTree/displayedOwner(of:)``).
        var owners: [Int32: (uid: UInt32, gid: UInt32, until: TickTime)] = [:]
        /// The size at which ``owners`` is next pruned: twice what a prune
        /// left, so that pruning stays linear in the inserts.
        var ownersPruneAt = 4096
        /// The processes that the last scan of every `VmPin` found pinned by
        /// others (see ``PinTree/processesPinnedByOthers()``), and until when
        /// it holds.
        var pinnedScan: (pids: [Int32: UInt64], until: TickTime)?
        /// The page frames of pins whose frames a memory block asked for,
        /// as runs (see ``PinTree/frameRuns(ofPin:pages:)``).
        var frameRuns: [UInt64: [FrameRun]] = [:]

        mutating func insert(_ pin: PinRecord) {
            if let old = pins.updateValue(pin, forKey: pin.id) {
                pins[pin.id] = old
                update(old, to: pin)
                return
            }
            // Mutated in place: a copy of the process's table would cost
            // as much as the table (10,000 pins).
            processes[pin.pid, default: ProcessPins()].add(pin)
        }

        /// A fresh record of a known pin (its state may have changed).
        mutating func update(_ old: PinRecord, to fresh: PinRecord) {
            pins[fresh.id] = fresh
            if old.isDetached != fresh.isDetached {
                processes[fresh.pid]?.detached += fresh.isDetached ? 1 : -1
            }
        }

        /// The file name of the pin `id`, if the tree has it.
        func name(of id: UInt64) -> String? {
            guard let pin = pins[id] else { return nil }
            return processes[pin.pid]?.name(of: pin).text
        }

        static let recentNameLimit = 8192

        /// Takes the pin `id` out, for good: it has ended (unpinned here,
        /// its end's record read, or gone from the module's listing), and
        /// no fetch or listing made before may enter it again.
        mutating func remove(id: UInt64) {
            guard let pin = pins.removeValue(forKey: id) else { return noteEnded(id) }
            pins.shrinkIfSparse()
            if !frameRuns.isEmpty { frameRuns[id] = nil }
            removals &+= 1
            // One lookup of the process, its table changed in place.
            guard let index = processes.index(forKey: pin.pid) else { return noteEnded(id) }
            noteEnded(id, name: processes.values[index].name(of: pin))
            processes.values[index].remove(pin)
            if processes.values[index].count == 0 { processes.remove(at: index) }
        }

        /// Remembers that the pin `id` has ended, in the tree or not yet,
        /// and its `name` if the tree had it: one table for both, so an
        /// unpin hashes its id once here.
        mutating func noteEnded(_ id: UInt64, name: ProcessPins.Name? = nil) {
            if let known = endedPins.updateValue(name, forKey: id) {
                // Told again (its record after this server's unpin): the
                // name stays, the order too.
                if name == nil, let known { endedPins[id] = known }
                return
            }
            endedOrder.append(id)
            if endedOrder.count > Self.recentNameLimit {
                let dropped = endedOrder.prefix(Self.recentNameLimit / 2)
                for old in dropped { endedPins[old] = nil }
                endedOrder.removeFirst(dropped.count)
            }
        }

        /// The name of the pin `id`, removed lately (see ``noteEnded(_:name:)``).
        func endedName(of id: UInt64) -> ProcessPins.Name? {
            endedPins[id] ?? nil
        }

        /// Whether the pin `id` has ended (see ``noteEnded(_:name:)``).
        func hasEnded(_ id: UInt64) -> Bool {
            !endedPins.isEmpty && endedPins[id] != nil
        }

        /// Enters a pin this server made or listed, unless its end's record
        /// came first.
        mutating func insertUnlessEnded(_ pin: PinRecord) {
            guard !hasEnded(pin.id) else { return }
            insert(pin)
        }

        /// Enters the pins of a listing that the tree did not know, in id
        /// order (the older of two pins of one range keeps the plain
        /// name, as when they were made), except those it has by now
        /// (made while the module listed) and those whose end was told.
        ///
        /// A server's start adopts the whole ledger: room is made first,
        /// and a process's table is found once for each run of its pins
        /// (a process makes its pins in bursts), not hashed for each.
        mutating func adopt(_ listed: [PinRecord]) {
            var perProcess: [Int32: Int] = [:]
            if listed.count > 64 {
                pins.reserveCapacity(pins.count + listed.count)
                var run = (pid: Int32(0), count: 0)
                for pin in listed {
                    if pin.pid == run.pid { run.count += 1; continue }
                    if run.count > 0 { perProcess[run.pid, default: 0] += run.count }
                    run = (pin.pid, 1)
                }
                if run.count > 0 { perProcess[run.pid, default: 0] += run.count }
                for (pid, count) in perProcess { processes[pid, default: ProcessPins()].reserve(count) }
            }
            var table: (pid: Int32, index: Dictionary<Int32, ProcessPins>.Index)?
            for pin in listed {
                guard !hasEnded(pin.id) else { continue }
                if let known = pins.updateValue(pin, forKey: pin.id) {
                    pins[pin.id] = known
                    continue
                }
                if table?.pid != pin.pid {
                    // Inserting a process moves the others' indices: only
                    // the one just found is kept.
                    if processes.index(forKey: pin.pid) == nil { processes[pin.pid] = ProcessPins() }
                    table = (pin.pid, processes.index(forKey: pin.pid)!)
                }
                processes.values[table!.index].add(pin)
            }
            // A table made room in but left empty is no process of the tree.
            for pid in perProcess.keys where processes[pid]?.count == 0 { processes[pid] = nil }
        }

        /// The entries of the directory of `pid`, without `.` and `..`: its
        /// three files, then its pin files in address order.
        mutating func listing(of pid: Int32) -> [DirectoryEntry] {
            if let listing = processes[pid]?.listing { return listing }
            var listing = [
                DirectoryEntry(name: "pin", node: .pinControl(pid: pid), kind: .regularFile),
                DirectoryEntry(name: "status", node: .processStatus(pid: pid), kind: .regularFile),
                DirectoryEntry(name: "other_pins", node: .otherPins(pid: pid), kind: .regularFile),
            ]
            guard let ids = processes[pid]?.ids else { return listing }
            listing.reserveCapacity(ids.count + 3)
            for (name, id) in ids.sorted(by: { ($0.key.start, $0.key.end, $0.key.suffix) < ($1.key.start, $1.key.end, $1.key.suffix) }) {
                listing.append(DirectoryEntry(name: name.text, node: .pinFile(pid: pid, id: id), kind: .regularFile))
            }
            processes[pid]?.listing = listing
            return listing
        }
    }

    private let state = Locked(State())

    /// Runs `body` with the tree's state locked. Never call the backend in it.
    func withState<R>(_ body: (inout State) -> R) -> R {
        state.withLock { body(&$0) }
    }

    /// The room pin files' readers share for chunks rendered ahead.
    public let readAhead = ReadAheadBudget(limit: 8 << 20)

    public init(backend: any PinBackend, processes: any ProcessFacts = ProcFS(),
                memoryBlocks: any MemoryBlockFacts = SysfsMemoryBlocks()) {
        self.backend = backend
        self.processes = processes
        self.memoryBlocks = memoryBlocks
    }

    // MARK: Lookup counting

    /// What the lookups of one listing's entries (readdirplus) saw of the
    /// processes they are in: each is looked at once, not once an entry.
    public struct ProcessesSeen {
        fileprivate var identities: [Int32: UInt64?] = [:]
        /// The owner of the last process whose pin file was looked up.
        fileprivate var owner: (pid: Int32, uid: UInt32, gid: UInt32)?

        public init() {}
    }

    /// Finds `name` in the directory `parent` and counts one lookup of it.
    public func lookup(parent: UInt64, name: String) throws(Errno) -> Attributes {
        var seen = ProcessesSeen()
        return try lookup(parent: parent, name: name, seen: &seen)
    }

    /// The same, for one of several entries of a listing: a process that
    /// `seen` has is not looked at again.
    public func lookup(parent: UInt64, name: String, seen: inout ProcessesSeen) throws(Errno) -> Attributes {
        let child = try childNode(of: try node(forInode: parent), named: name)
        var instance: UInt64?
        if case .processDirectory(let pid) = child {
            // Looked up afresh from the root: this process's directory now.
            instance = processes.identity(of: pid)
            state.withLock { $0.instances[pid] = instance }
        }
        var attributes = try self.attributes(of: child)
        switch child {
        case .processDirectory(let pid), .pinControl(let pid), .processStatus(let pid), .otherPins(let pid):
            if instance == nil {
                let identity: UInt64?
                if let known = seen.identities[pid] {
                    identity = known
                } else {
                    identity = processes.identity(of: pid)
                    seen.identities[pid] = identity
                }
                instance = try currentInstance(of: pid, now: identity)
            }
            attributes.generation = instance ?? 1
        default:
            break
        }
        state.withLock { state in
            state.lookups[child.inode, default: (child, 0)].count += 1
        }
        return attributes
    }

    /// The same for an entry of a listing of `parent` made by
    /// ``entries(of:for:)``: a pin file is found by the pin it was listed
    /// for, not by its name (`readdirplus` of 10,000 pins: 3,371 → 1,116
    /// instructions an entry, `mount-scripts/profile plus`). ENOENT if that
    /// pin went since the listing was made.
    public func lookup(listed entry: DirectoryEntry, in parent: UInt64, seen: inout ProcessesSeen) throws(Errno) -> Attributes {
        guard case .pinFile(let pid, let id) = entry.node else {
            return try lookup(parent: parent, name: entry.name, seen: &seen)
        }
        let owner: (uid: UInt32, gid: UInt32)
        if let known = seen.owner, known.pid == pid {
            owner = (known.uid, known.gid)
        } else {
            owner = (try? displayedOwner(of: pid)) ?? (uid: 0, gid: 0)
            seen.owner = (pid, owner.uid, owner.gid)
        }
        let node = entry.node
        let pinnedAt: UInt64? = state.withLock { state in
            guard let pin = state.pins[id], pin.pid == pid else { return nil }
            state.lookups[node.inode, default: (node, 0)].count += 1
            return pin.pinnedAtNanoseconds
        }
        guard let pinnedAt else { throw .noSuchFileOrDirectory }
        return Self.pinFileAttributes(of: node, owner: owner, pinnedAtNanoseconds: pinnedAt)
    }

    /// The start time of the process a pid directory was looked up for;
    /// ENOENT once `pid` names another process. (The kernel keeps a shell's
    /// working directory, and the `pin` it found there, after the process
    /// exited: a later process of that pid must not be pinned through it.)
    func currentInstance(of pid: Int32) throws(Errno) -> UInt64? {
        try currentInstance(of: pid, now: processes.identity(of: pid))
    }

    /// The same, with the process's identity read already.
    func currentInstance(of pid: Int32, now current: UInt64?) throws(Errno) -> UInt64? {
        guard let remembered = withState({ $0.instances[pid] }) else { return current }
        guard current == remembered else { throw .noSuchFileOrDirectory }
        return remembered
    }

    /// The kernel forgot `count` lookups of `inode`.
    public func forget(inode: UInt64, count: UInt64) {
        state.withLock { state in
            guard let entry = state.lookups[inode] else { return }
            if entry.count <= count {
                state.lookups[inode] = nil
                state.lookups.shrinkIfSparse()
                if case .processDirectory(let pid) = entry.node { state.instances[pid] = nil }
            } else {
                state.lookups[inode]?.count = entry.count - count
            }
        }
    }

    /// The lookup count of `inode` (for tests and diagnostics).
    public func lookupCount(of inode: UInt64) -> UInt64 {
        state.withLock { $0.lookups[inode]?.count ?? 0 }
    }

    /// The node an inode number stands for.
    public func node(forInode inode: UInt64) throws(Errno) -> Node {
        if let node = Node.decode(inode) { return node }
        let known: Node? = state.withLock { state in
            if let node = state.lookups[inode]?.node { return node }
            if let id = Node.pinID(ofInode: inode), let pin = state.pins[id] { return .pinFile(pid: pin.pid, id: id) }
            return nil
        }
        guard let known else { throw .noSuchFileOrDirectory }
        return known
    }

    // MARK: Names, listings and attributes, routed by area

    /// The node called `name` in `directory`.
    public func childNode(of directory: Node, named name: String) throws(Errno) -> Node {
        switch directory {
        case .root: try rootChild(named: name)
        case .processDirectory(let pid): try processChild(of: pid, named: name)
        case .memoryDirectory: try memoryChild(named: name)
        case .selfLink, .stats, .metrics, .events, .memoryBlock, .pinControl, .processStatus, .otherPins, .pinFile:
            throw .notDirectory
        }
    }

    /// A decimal pid as a directory name: no sign, no leading zero.
    static func pid(fromName name: String) -> Int32? {
        guard let first = name.utf8.first, first != UInt8(ascii: "0"),
              name.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let pid = Int32(name), pid > 0
        else { return nil }
        return pid
    }

    /// The entries of a directory, without `.` and `..`.
    public func entries(of directory: Node, for requester: Requester) throws(Errno) -> [DirectoryEntry] {
        switch directory {
        case .root: rootEntries()
        case .processDirectory(let pid): try processEntries(of: pid, for: requester)
        case .memoryDirectory: memoryEntries()
        default: throw .notDirectory
        }
    }

    /// What `stat` shows of `node`.
    public func attributes(of node: Node) throws(Errno) -> Attributes {
        let now = UInt64(max(0, time(nil)))
        switch node {
        case .root, .selfLink, .stats, .metrics, .events:
            return rootAttributes(of: node, now: now)
        case .memoryDirectory, .memoryBlock:
            return try memoryAttributes(of: node, now: now)
        case .processDirectory(let pid), .pinControl(let pid), .processStatus(let pid), .otherPins(let pid):
            return try processAttributes(of: node, pid: pid, now: now)
        case .pinFile(let pid, let id):
            return try pinFileAttributes(of: node, pid: pid, id: id)
        }
    }

    /// How long an owner read for display is reused: the kernel caches
    /// attributes as long.
    static let ownerCacheTime: Duration = .seconds(1)

    /// The owner of a live process, for names and attributes: reused for up
    /// to a second, like the kernel's own attribute cache. Permission
    /// decisions never use it (``authorize(_:toChange:)`` reads afresh).
    func displayedOwner(of pid: Int32) throws(Errno) -> (uid: UInt32, gid: UInt32) {
        let now = TickTime.now
        if let cached = state.withLock({ $0.owners[pid] }), cached.until > now {
            return (cached.uid, cached.gid)
        }
        let owner = try processes.owner(of: pid)
        state.withLock { state in
            if state.owners.count >= state.ownersPruneAt {
                state.owners = state.owners.filter { $0.value.until > now }
                state.ownersPruneAt = max(4096, 2 * state.owners.count)
            }
            state.owners[pid] = (owner.uid, owner.gid, now + Self.ownerCacheTime)
        }
        return owner
    }

    /// Forgets the cached owner of `pid` (it exited, or was found gone).
    func forgetOwner(of pid: Int32) {
        state.withLock { _ = $0.owners.removeValue(forKey: pid) }
    }
}
