import CFuse
import Logging
import MempinDevice
import MempinLocking
import MempinTree
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The mempin tree served over libfuse's low-level API.
///
/// libfuse calls the handlers in `FileSystem+Handlers.swift` from its worker
/// threads; each handler makes exactly one reply. State shared between them
/// is the tree's (behind its own lock) and the open handles here (behind
/// `handles`).
public final class FileSystem: Sendable {
    /// The tree the handlers serve.
    public let tree: PinTree
    let processes: any ProcessFacts
    let logger: Logger
    /// The logger, for the lines of pins and unpins.
    let pinLog: PinLog
    /// Renders page-list chunks ahead while the request threads reply.
    let readAhead = ReadAheadWorker()

    /// The log source of every line: given, because swift-log otherwise
    /// derives it from #fileID on each call.
    static let logSource = "MempinFS"

    /// How long the kernel may cache names and attributes, in seconds. A
    /// pid directory leaves listings at once (readdir is never cached) and
    /// its cached name within this time, or sooner by invalidation.
    let cacheTimeout: Double = 1.0

    /// How long the kernel may cache `attributes`. The control file would
    /// keep the size the kernel gave it after a write: its attributes are
    /// never cached. Everything else's are, like names (`ls -l` of 10,000
    /// pins then costs one round trip per file, not two).
    func attributeTimeout(of attributes: Attributes) -> Double {
        if case .pinControl = Node.decode(attributes.inode) { return 0 }
        return cacheTimeout
    }

    /// An open file or directory of one `open`/`opendir`.
    enum Handle: Sendable {
        case file(OpenFile)
        case directory(Listing)
    }

    /// An open directory: the listing `opendir` made, for the reads that
    /// follow, and made anew by a read from the start after that
    /// (`rewinddir`), so a monitor that keeps the directory open sees new
    /// pins. Listed with the opener's credentials.
    final class Listing: Sendable {
        let node: Node
        let requester: Requester
        private struct State {
            var entries: Entries
            var readFromStart = false
        }
        private let state: Locked<State>

        /// A directory's entries, `.` and `..` first: the tree's own list
        /// of the rest, not a copy of it.
        struct Entries {
            let node: Node
            let rest: [DirectoryEntry]

            var count: Int { rest.count + 2 }

            subscript(index: Int) -> DirectoryEntry {
                switch index {
                case 0: DirectoryEntry(name: ".", node: node, kind: .directory)
                case 1: DirectoryEntry(name: "..", node: .root, kind: .directory)
                default: rest[index - 2]
                }
            }
        }

        init(node: Node, requester: Requester, tree: PinTree) throws(Errno) {
            self.node = node
            self.requester = requester
            state = Locked(State(entries: Entries(node: node, rest: try tree.entries(of: node, for: requester))))
        }

        /// The entries a read at `offset` continues.
        func entries(from offset: off_t, tree: PinTree) throws(Errno) -> Entries {
            let rewound = offset == 0 && state.withLock { state in
                defer { state.readFromStart = true }
                return state.readFromStart
            }
            guard rewound else { return state.withLock { $0.entries } }
            let fresh = Entries(node: node, rest: try tree.entries(of: node, for: requester))
            state.withLock { $0.entries = fresh }
            return fresh
        }
    }

    /// Logs a pin or an unpin made through the tree (info): `VERB
    /// PID/NAME: N pages pid=P uid=U`, P and U who asked. Its fields are
    /// in the message, as the handlers would append them from metadata,
    /// made in one buffer on the stack (see ``LogLine``) and handed to the
    /// server's handlers as bytes (see ``BytesLogHandler``).
    package static func logPinChange(_ log: PinLog, _ verb: StaticString, pid: Int32, name: String, pages: UInt64,
                                     uid: UInt32, by requester: Int32) {
        guard log.logger.logLevel <= .info else { return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 96 + name.utf8.count) { buffer in
            var message = LogLine(into: buffer)
            message.append(verb)
            message.append(byte: UInt8(ascii: " "))
            message.append(decimal: Int64(pid))
            message.append(byte: UInt8(ascii: "/"))
            message.append(name)
            message.append(": ")
            message.append(decimal: pages, width: 1)
            message.append(" pages pid=")
            message.append(decimal: Int64(requester))
            message.append(" uid=")
            message.append(decimal: UInt64(uid), width: 1)
            if let handler = log.handler {
                handler.log(level: .info, message: message.written)
            } else {
                let text = String(decoding: message.written, as: UTF8.self)
                log.logger.log(level: .info, Logger.Message(stringLiteral: text), source: logSource)
            }
        }
    }

    /// Where the lines of pins and unpins go: a logger, and its handler if
    /// it takes messages as bytes, found once (a cast per line cost more
    /// than it saved).
    package struct PinLog: Sendable {
        let logger: Logger
        let handler: (any BytesLogHandler)?

        package init(_ logger: Logger) {
            self.logger = logger
            handler = logger.handler as? any BytesLogHandler
        }
    }

    /// The first line of a write, at most 80 bytes, quoted: what a refusal
    /// logs of it (never the whole write of a hostile user).
    static func firstLine(of bytes: UnsafeRawBufferPointer) -> String {
        let line = bytes.prefix { $0 != UInt8(ascii: "\n") }.prefix(80)
        return String(decoding: line, as: UTF8.self).debugDescription
    }

    private struct Handles {
        var open: [UInt64: (handle: Handle, owner: UInt32?)] = [:]
        var next: UInt64 = 1
        /// Open handles by user, root's not counted.
        var perUser: [UInt32: Int] = [:]
    }

    private let handles = Locked(Handles())

    /// Files and directories one user other than root may hold open in the
    /// tree at once; past it, `open` and `opendir` are EMFILE, as inotify's
    /// per-user instances are. Each open handle keeps a little state (a
    /// listing, a batch of pages), so one user's thousands of opens stay
    /// bounded, and root's opens never count.
    public static let openFilesPerUser = 1024

    /// Reads the module's change records, which the tree follows; nil for
    /// a backend without (the tree then polls its change counter).
    let changeFollower: ChangeFollower?

    public init(tree: PinTree, changes: (any ChangeSource)? = nil, processes: any ProcessFacts = ProcFS(),
                logger: Logger) {
        self.tree = tree
        changeFollower = changes.map(ChangeFollower.init(source:))
        self.processes = processes
        self.logger = logger
        pinLog = PinLog(logger)
        // A line the server makes (a refusal) wakes the readers at once.
        tree.events.onAnnounce { [eventWaiters] events in eventWaiters.deliver(from: events) }
    }

    /// Keeps `handle` open for `requester`.
    ///
    /// - Throws: `EMFILE` when a user other than root already holds
    ///   ``openFilesPerUser`` handles.
    func register(_ handle: Handle, for requester: Requester) throws(Errno) -> UInt64 {
        let owner = requester.isRoot ? nil : requester.uid
        return try handles.withLock { (handles) throws(Errno) -> UInt64 in
            if let owner {
                let held = handles.perUser[owner, default: 0]
                guard held < Self.openFilesPerUser else { throw .tooManyOpenFiles }
                handles.perUser[owner] = held + 1
            }
            let id = handles.next
            handles.next += 1
            handles.open[id] = (handle, owner)
            return id
        }
    }

    func handle(_ id: UInt64) -> Handle? {
        handles.withLock { $0.open[id]?.handle }
    }

    func release(_ id: UInt64) {
        handles.withLock { handles in
            guard let owner = handles.open.removeValue(forKey: id)?.owner else { return }
            let left = handles.perUser[owner, default: 1] - 1
            handles.perUser[owner] = left > 0 ? left : nil
        }
    }

    /// The number of open handles (for tests).
    public var openHandleCount: Int { handles.withLock { $0.open.count } }

    /// Who sent `req`: its uid and gid, whether it is root (CAP_SYS_ADMIN,
    /// read afresh from /proc: every permission decision uses it), and the
    /// thread group of its thread.
    ///
    /// - Parameter processNeeded: false for a decision made by uid, gid
    ///   and root-ness alone (the ptrace rule of a lookup or an
    ///   opendir, a writer's right to write): `pid` is then the sending
    ///   thread's own id, and the system call that finds its thread
    ///   group is spared.
    func requester(of req: fuse_req_t, processNeeded: Bool = true) -> Requester {
        let context = fuse_req_ctx(req)!.pointee
        let tid = Int32(context.pid)
        guard processNeeded else {
            return Requester(uid: context.uid, gid: context.gid, pid: tid, isRoot: processes.isAdministrator(tid))
        }
        let sender = processes.sender(tid)
        return Requester(uid: context.uid, gid: context.gid, pid: sender?.threadGroup ?? tid,
                         isRoot: sender?.isAdministrator ?? false)
    }

    /// A `stat` for the kernel.
    func stat(of attributes: Attributes) -> stat {
        var st = Glibc.stat()
        st.st_ino = UInt(attributes.inode)
        let type: mode_t = switch attributes.kind {
        case .directory: S_IFDIR
        case .regularFile: S_IFREG
        case .symbolicLink: S_IFLNK
        }
        st.st_mode = type | mode_t(attributes.permissions)
        st.st_nlink = UInt(attributes.linkCount)
        st.st_uid = attributes.uid
        st.st_gid = attributes.gid
        st.st_size = Int(attributes.size)
        st.st_blksize = 4096
        let time = timespec(tv_sec: Int(attributes.modificationTime), tv_nsec: 0)
        st.st_mtim = time
        st.st_ctim = time
        st.st_atim = time
        return st
    }

    /// Runs a handler body and replies with the errno it throws; the body
    /// makes the success reply itself. Every refusal is logged once, with
    /// who asked and why.
    ///
    /// - Returns: what the body returned, or nil if it threw.
    @discardableResult
    func replying<Result>(_ req: fuse_req_t, _ operation: String, _ subject: @autoclosure () -> String,
                          quietly quietErrors: [Errno] = [], _ body: () throws(Errno) -> Result) -> Result? {
        do {
            return try body()
        } catch {
            if !quietErrors.contains(error) {
                let who = requester(of: req)
                noteRefusal(uid: who.uid, pid: who.pid,
                            "refused \(operation) \(subject()): \(error) [errno \(error.rawValue)]")
            }
            fuse_reply_err(req, error.rawValue)
            return nil
        }
    }

    /// Brings the tree up to the module's change records and hands their
    /// lines to the readers of `events`; the names they removed wait for
    /// the follower thread to tell the kernel.
    func follow(_ records: [ChangeRecord]) {
        tree.keepRemovedNames(tree.apply(records))
        noteRefusals(in: records)
        eventWaiters.deliver(from: tree.events)
    }

    /// A request is about to pin or unpin: see ``catchUpOnChanges()``.
    func expectChange() {
        changeFollower?.expectChange()
    }

    /// After the reply of a request that pinned or unpinned: follows the
    /// records of its change, so that its `events` line goes out now and
    /// no thread is woken for it, unless another thread is following
    /// records (then the follower thread's next tick finds them). A failed
    /// read is the follower thread's to tell.
    func catchUpOnChanges() {
        try? changeFollower?.catchUpUnlessFollowing(follow)
    }

    /// The refusals the module recorded, each in the log with the limit
    /// that made it: the writer's own line cannot know which, and a seed
    /// pin's refusal has no line of ours at all.
    func noteRefusals(in records: [ChangeRecord]) {
        for record in records where record.kind == .refuse {
            let name = Formats.pinFileName(start: record.start, end: record.end)
            let errno = record.error.map(Formats.errnoName) ?? "?"
            let reason = record.reason.map { " reason=\($0.rawValue)" } ?? ""
            noteRefusal(uid: record.uid, pid: nil,
                        "the module refused a pin of \(record.pid)/\(name): \(errno)\(reason), \(record.pages) pages via \(record.via.rawValue)")
        }
    }

    /// One refusal notice, at most ``NoticeLimit/burst`` of a user's in
    /// each window.
    private func noteRefusal(uid: UInt32, pid: Int32?, _ message: @autoclosure () -> String) {
        let (admitted, suppressed) = refusalNotices.admit(uid: uid, at: .now)
        if suppressed > 0 {
            logger.log(level: .notice, "suppressed \(suppressed) refusal notices of uid \(uid)",
                       metadata: ["uid": "\(uid)"], source: Self.logSource)
        }
        guard admitted else { return }
        var metadata: Logger.Metadata = ["uid": "\(uid)"]
        if let pid { metadata["pid"] = "\(pid)" }
        logger.log(level: .notice, "\(message())", metadata: metadata, source: Self.logSource)
    }

    let refusalNotices = NoticeLimit()

    /// The `events` file's readers that wait.
    let eventWaiters = EventWaiters()
}
