import CFuse
import Logging
import MempinDevice
import MempinTree
import Synchronization
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
        case directory([DirectoryEntry])
    }

    private struct Handles {
        var open: [UInt64: Handle] = [:]
        var next: UInt64 = 1
    }

    private let handles = Mutex(Handles())
    private let threadGroups = Mutex<[Int32: (tgid: Int32, until: ContinuousClock.Instant)]>([:])

    public init(tree: PinTree, processes: any ProcessFacts = ProcFS(), logger: Logger) {
        self.tree = tree
        self.processes = processes
        self.logger = logger
    }

    func register(_ handle: Handle) -> UInt64 {
        handles.withLock { handles in
            let id = handles.next
            handles.next += 1
            handles.open[id] = handle
            return id
        }
    }

    func handle(_ id: UInt64) -> Handle? {
        handles.withLock { $0.open[id] }
    }

    func release(_ id: UInt64) {
        handles.withLock { _ = $0.open.removeValue(forKey: id) }
    }

    /// The number of open handles (for tests).
    public var openHandleCount: Int { handles.withLock { $0.open.count } }

    /// Who sent `req`: its uid, gid and, with `resolvingProcess`, the thread
    /// group of its thread (otherwise the thread id).
    func requester(of req: fuse_req_t, resolvingProcess: Bool = true) -> Requester {
        let context = fuse_req_ctx(req)!.pointee
        let tid = Int32(context.pid)
        let pid = resolvingProcess ? threadGroup(of: tid) : tid
        return Requester(uid: context.uid, gid: context.gid, pid: pid)
    }

    /// The thread group of `tid`, from /proc (the kernel renders all of
    /// /proc/TID/status for it) or from a cache of the last second's
    /// answers. Used to record and show who asked, never to decide.
    private func threadGroup(of tid: Int32) -> Int32 {
        let now = ContinuousClock.now
        if let cached = threadGroups.withLock({ $0[tid] }), cached.until > now { return cached.tgid }
        let tgid = processes.threadGroup(of: tid) ?? tid
        threadGroups.withLock { cache in
            if cache.count > 4096 { cache = cache.filter { $0.value.until > now } }
            cache[tid] = (tgid, now + .seconds(1))
        }
        return tgid
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
    func replying(_ req: fuse_req_t, _ operation: String, _ subject: @autoclosure () -> String,
                  quietly quietErrors: Set<Errno> = [], _ body: () throws(Errno) -> Void) {
        do {
            try body()
        } catch {
            if !quietErrors.contains(error) {
                let who = requester(of: req)
                logger.log(level: .notice, "refused \(operation) \(subject()): \(error) [errno \(error.rawValue)]",
                           metadata: ["uid": "\(who.uid)", "pid": "\(who.pid)"], source: Self.logSource)
            }
            fuse_reply_err(req, error.rawValue)
        }
    }
}
