import MempinDevice
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Where the module's figures of a process come from (`MEMPIN_PROCESS`).
public protocol ProcessFigureSource: Sendable {
    /// What `/proc` shows of the task `pid`'s pinning; `ESRCH` when it has
    /// no address space.
    func figures(of pid: Int32, withCgroup: Bool) throws(Errno) -> ProcessFigures
}

extension MempinDevice: ProcessFigureSource {}

/// Process facts that take from the module, in one `ioctl`, what `/proc`
/// gives in a file or system call each: who sent a request and whether it
/// is root, a process's credentials for ptrace's read rule, a pid
/// directory's owner and start time, and `status`'s `VmPin`,
/// RLIMIT_MEMLOCK and cgroup (four files, twelve system calls and the text
/// of `/proc/PID/status` for `status` before; `capget`, `pidfd_open`,
/// `close` and a namespace link for a root sender). The rest, and a task
/// the module does not answer for (a kernel thread, a zombie), comes from
/// `/proc` as before.
public struct ModuleProcessFacts: ProcessFacts {
    let module: any ProcessFigureSource
    let proc = ProcFS()

    /// - Parameter module: the module, when its interface has
    ///   `MEMPIN_PROCESS` (version 5).
    public init(module: any ProcessFigureSource) {
        self.module = module
    }

    /// The module's figures of `pid`, or nil where `/proc` must answer.
    func figures(of pid: Int32, withCgroup: Bool = false) -> ProcessFigures? {
        guard pid > 0 else { return nil }
        return try? module.figures(of: pid, withCgroup: withCgroup)
    }

    /// Nanoseconds in a clock tick of `/proc/PID/stat`'s start time, so
    /// that a start time reads the same from either source.
    static let nanosecondsPerTick = 1_000_000_000 / UInt64(max(1, sysconf(Int32(_SC_CLK_TCK))))

    public func owner(of pid: Int32) throws(Errno) -> (uid: UInt32, gid: UInt32) {
        guard let figures = figures(of: pid) else { return try proc.owner(of: pid) }
        guard figures.threadGroup == pid else { throw .noSuchProcess }
        return figures.owner
    }

    public func credentials(of tid: Int32) -> ProcessCredentials? {
        guard let figures = figures(of: tid) else { return proc.credentials(of: tid) }
        return ProcessCredentials(threadGroup: figures.threadGroup, uids: figures.uids, gids: figures.gids,
                                  isAdministrator: figures.isAdministrator, isDumpable: figures.isDumpable)
    }

    /// One `ioctl`, where `/proc` takes `capget`, `pidfd_open` and `close`,
    /// and a root sender's namespace link.
    public func sender(_ tid: Int32) -> (threadGroup: Int32, isAdministrator: Bool)? {
        guard let figures = figures(of: tid) else { return proc.sender(tid) }
        return (figures.threadGroup, figures.isAdministrator)
    }

    public func isAdministrator(_ tid: Int32) -> Bool {
        figures(of: tid)?.isAdministrator ?? proc.isAdministrator(tid)
    }

    public func identity(of pid: Int32) -> UInt64? {
        guard let figures = figures(of: pid) else { return proc.identity(of: pid) }
        return figures.startTimeNanoseconds / Self.nanosecondsPerTick
    }

    public func pinnedBytes(of pid: Int32) -> UInt64? {
        figures(of: pid)?.pinnedBytes ?? proc.pinnedBytes(of: pid)
    }

    public func memlockLimit(of pid: Int32) -> MemlockLimit? {
        guard let figures = figures(of: pid) else { return proc.memlockLimit(of: pid) }
        return figures.memlockLimitBytes.map { .bytes($0) } ?? .unlimited
    }

    public func cgroup(of pid: Int32) -> String? {
        figures(of: pid, withCgroup: true)?.cgroup ?? proc.cgroup(of: pid)
    }

    public func statusFigures(of pid: Int32) -> StatusFigures {
        guard let figures = figures(of: pid, withCgroup: true) else { return proc.statusFigures(of: pid) }
        return StatusFigures(
            pinnedBytes: figures.pinnedBytes, memlockLimit: figures.memlockLimitBytes.map { .bytes($0) } ?? .unlimited,
            cgroup: figures.cgroup ?? proc.cgroup(of: pid), identity: figures.startTimeNanoseconds / Self.nanosecondsPerTick
        )
    }

    public func processesWithPinnedMemory() -> [Int32: UInt64] {
        // A kernel thread has no VmPin: no need to ask /proc of it.
        ProcFS.processesWithPinnedMemory { pid in figures(of: pid)?.pinnedBytes }
    }

    // What only /proc tells.

    public func command(of pid: Int32) -> String? { proc.command(of: pid) }
    public func mapsFUSEFile(of pid: Int32, from start: UInt64, to end: UInt64) -> Bool {
        proc.mapsFUSEFile(of: pid, from: start, to: end)
    }
    public func mappedRanges(of pid: Int32) -> [Range<UInt64>]? { proc.mappedRanges(of: pid) }
    public func frames(of pid: Int32, from start: UInt64, count: Int) -> [UInt64]? {
        proc.frames(of: pid, from: start, count: count)
    }
    public func pinHolders(of pid: Int32) -> PinHolders { proc.pinHolders(of: pid) }
}
