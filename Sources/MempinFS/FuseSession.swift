import CFuse
import Logging
import MempinTree
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A mounted FUSE session serving a ``FileSystem``.
///
/// Create it (which mounts), call ``run(threads:)`` (which serves until the
/// mount goes away or a signal asks us to stop), then let it go (which
/// unmounts). A refresher thread reconciles the tree with the kernel twice a
/// second and drops the kernel's cached names of pins and processes that
/// went away (`fuse_lowlevel_notify_inval_entry`, outside any handler).
public final class FuseSession: @unchecked Sendable {
    // @unchecked: `session` is libfuse's, used by libfuse's own threads and
    // by the refresher only through calls libfuse documents as thread-safe.
    private let session: OpaquePointer
    private let fileSystem: FileSystem
    private let retained: Unmanaged<FileSystem>
    private var signalHandlersInstalled = false
    private let stopping = Atomic<Bool>(false)

    /// The mount point.
    public let mountpoint: String

    /// Mounts `fileSystem` at `mountpoint`.
    ///
    /// - Parameters:
    ///   - options: FUSE mount options (`allow_other`, ...); the tree always
    ///     adds `default_permissions` and `subtype=mempinfs`, and names
    ///     itself `mempinfs` unless the options give an `fsname`.
    ///   - handlesSignals: stop on SIGINT, SIGTERM and SIGHUP (the server);
    ///     tests stop by unmounting.
    public init(fileSystem: FileSystem, mountpoint: String, options: [String], handlesSignals: Bool) throws(Errno) {
        self.fileSystem = fileSystem
        self.mountpoint = mountpoint
        let named = options.contains { $0.hasPrefix("fsname=") }
        let allOptions = ((named ? [] : ["fsname=mempinfs"]) + ["subtype=mempinfs", "default_permissions"] + options)
            .joined(separator: ",")
        let arguments = ["mempinfs", "-o", allOptions]
        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        var operations = FileSystem.operations()
        let userdata = Unmanaged.passRetained(fileSystem)
        retained = userdata
        let made = cArguments.withUnsafeMutableBufferPointer { argv -> OpaquePointer? in
            var args = fuse_args(argc: Int32(arguments.count), argv: argv.baseAddress, allocated: 0)
            defer { fuse_opt_free_args(&args) }
            return fuse_session_new(&args, &operations, MemoryLayout<fuse_lowlevel_ops>.size, userdata.toOpaque())
        }
        guard let made else {
            retained.release()
            throw .invalidArgument
        }
        session = made
        if handlesSignals {
            guard fuse_set_signal_handlers(session) == 0 else {
                fuse_session_destroy(session)
                retained.release()
                throw .ioError
            }
            signalHandlersInstalled = true
        }
        errno = 0
        guard fuse_session_mount(session, mountpoint) == 0 else {
            // libfuse has said why on stderr; errno says what to exit with.
            let reason = errno != 0 ? Errno(rawValue: errno) : Errno.noSuchFileOrDirectory
            if signalHandlersInstalled { fuse_remove_signal_handlers(session) }
            fuse_session_destroy(session)
            retained.release()
            throw reason
        }
    }

    /// Unmounts now (``run(threads:)`` has returned); letting the session
    /// go does it too.
    public func unmount() {
        fuse_session_unmount(session)
    }

    deinit {
        fuse_session_unmount(session)
        if signalHandlersInstalled { fuse_remove_signal_handlers(session) }
        fuse_session_destroy(session)
        retained.release()
    }

    /// What the session tells whoever watches it, from a thread of its own
    /// that asks the mount itself: an open of one of its files goes through
    /// the kernel to the request loop, so an answer means the loop serves.
    public struct Heartbeat: Sendable {
        /// Called once, after the mount first answered.
        public var ready: @Sendable () -> Void
        /// Called after each later answer, every `interval`; nil asks for
        /// none (the thread ends after `ready`).
        public var alive: (@Sendable () -> Void)?
        /// How often to ask.
        public var interval: Duration

        public init(interval: Duration, ready: @escaping @Sendable () -> Void,
                    alive: (@Sendable () -> Void)? = nil) {
            self.ready = ready
            self.alive = alive
            self.interval = interval
        }
    }

    /// Serves requests on up to `threads` threads until the mount goes away
    /// or a signal stops it.
    ///
    /// - Parameter heartbeat: what to tell once the mount answers, and
    ///   while it does (the service manager's readiness and watchdog).
    /// - Returns: 0, or the libfuse loop's error.
    @discardableResult
    public func run(threads: UInt32 = 16, heartbeat: Heartbeat? = nil) -> Int32 {
        stopping.store(false, ordering: .relaxed)
        // The pins live in the module's ledger, not in this process: a
        // restarted server shows the tree its predecessor showed.
        let clock = ContinuousClock()
        let adoption = clock.measure { fileSystem.tree.refresh() }
        let (seconds, attoseconds) = adoption.components
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        fileSystem.logger.info("the ledger's \(fileSystem.tree.pinCount) pins adopted in \(milliseconds) ms",
                               source: FileSystem.logSource)
        let refresher = startThread { $0.refreshUntilStopped() }
        let prober = heartbeat.flatMap { heartbeat in startThread { $0.beat(heartbeat) } }
        let result = CFuse_session_loop_mt(session, threads)
        stopping.store(true, ordering: .relaxed)
        fileSystem.readAhead.stop()
        var joined: UnsafeMutableRawPointer?
        if let refresher { pthread_join(refresher, &joined) }
        // A prober stuck in its open of the mount is let go by the unmount
        // that follows; it holds its own reference to the session.
        if let prober { pthread_detach(prober) }
        return result
    }

    /// Daemonizes unless `foreground`: forks, detaches, and returns in the
    /// child. Call after mounting, before ``run(threads:)``.
    public func daemonize(foreground: Bool) -> Bool {
        fuse_daemonize(foreground ? 1 : 0) == 0
    }

    // MARK: Freshness

    /// A thread running `body` with the session, which it keeps alive.
    private func startThread(_ body: @escaping @Sendable (FuseSession) -> Void) -> pthread_t? {
        startServerThread { body(self) }
    }

    // MARK: Heartbeat

    /// Asks the mount, says `ready` at its first answer and `alive` at
    /// each later one, until the session stops.
    private func beat(_ heartbeat: Heartbeat) {
        var answered = false
        while !stopping.load(ordering: .relaxed) && fuse_session_exited(session) == 0 {
            if mountAnswers() {
                if !answered {
                    heartbeat.ready()
                    answered = true
                    if heartbeat.alive == nil { return }
                } else {
                    heartbeat.alive?()
                }
            }
            pause(answered ? heartbeat.interval : .milliseconds(20))
        }
    }

    /// Whether an open of the mount's `stats` is answered: the kernel sends
    /// every open to the request loop (FUSE_OPEN) whatever it has cached,
    /// and `stats` is the root's cheapest file (the root's own listing
    /// would read every process's status).
    private func mountAnswers() -> Bool {
        let descriptor = open(mountpoint + "/stats", O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        close(descriptor)
        return true
    }

    /// Sleeps for `duration` in steps of at most a quarter of a second,
    /// ending early when the session stops.
    private func pause(_ duration: Duration) {
        var left = duration
        let step = Duration.milliseconds(250)
        while left > .zero && !stopping.load(ordering: .relaxed) {
            let now = min(left, step)
            let (seconds, attoseconds) = now.components
            var time = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
            nanosleep(&time, nil)
            left -= now
        }
    }

    /// Follows the module's change records as they come, or at the next
    /// tick while the server's own requests make changes and read their own
    /// (``ChangeFollower``); for a backend without records, polls its change
    /// counter four times a second. Tells the kernel which names went, and
    /// gives the heap back after many pins went (``HeapTrimming``).
    private func refreshUntilStopped() {
        Self.yieldToRequests()
        var failing = false
        var pace = ChangeFollower.Pace()
        var heap = HeapTrimming()
        while !stopping.load(ordering: .relaxed) && fuse_session_exited(session) == 0 {
            if let follower = fileSystem.changeFollower {
                do throws(Errno) {
                    try follower.step(&pace, following: fileSystem.follow)
                    failing = false
                } catch {
                    if !failing {
                        fileSystem.logger.error("cannot read the ledger's changes: \(error); polling instead",
                                                source: FileSystem.logSource)
                    }
                    failing = true
                    pollOnce()
                }
            } else {
                pollOnce()
            }
            // What the records removed, and what refreshes made by requests
            // (stats, ls) found.
            invalidate(fileSystem.tree.takeRemovedNames())
            if let released = heap.trimIfQuiet(pinCount: fileSystem.tree.pinCount) {
                fileSystem.logger.debug("\(released) pins fewer than at the peak: the free heap given back",
                                        source: FileSystem.logSource)
            }
            fileSystem.changeFollower?.linger(&pace)
        }
    }

    /// How much nicer than the requests' threads the follower runs.
    static let followerNiceness: Int32 = 10

    /// Lowers the calling thread's priority by ``followerNiceness`` (on
    /// Linux a nice value is a thread's): the follower is bookkeeping, and
    /// the request that caused a record must not wait for it. A pin's own
    /// record wakes the follower while the request that made it is
    /// replying; the woken caller then waited for the follower's CPU. In
    /// two-CPU TCG guests a one-page pin through the tree took 367–567 µs
    /// with the follower at the requests' priority and 272–330 µs ten
    /// nicer, its `events` line reaching a waiting reader 0.35–0.47 ms
    /// after the write returned instead of before (2026-12-06, 6.1 and
    /// 6.12). Ten, not 19: under a busy CPU the follower still gets about
    /// a tenth of a nice-0 thread's share, so other pinners' pins and
    /// `events` lines are late by a scheduling period, not starved.
    private static func yieldToRequests() {
        errno = 0
        let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        guard errno == 0 else { return }
        // Raising one's own nice value needs no privilege; a failure
        // leaves the follower at the requests' priority, which works.
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, min(current + followerNiceness, 19))
    }

    /// A quarter of a second, then a refresh if the backend's change
    /// counter moved.
    private func pollOnce() {
        var pause = timespec(tv_sec: 0, tv_nsec: 250_000_000)
        nanosleep(&pause, nil)
        fileSystem.tree.refreshIfChanged()
    }

    private func invalidate(_ removed: RemovedNames) {
        for (pid, name) in removed.pinFiles {
            invalidate(parent: Node.processDirectory(pid: pid).inode, name: name)
        }
        for pid in removed.processes {
            invalidate(parent: Node.root.inode, name: String(pid))
        }
    }

    private func invalidate(parent: UInt64, name: String) {
        _ = name.withCString { fuse_lowlevel_notify_inval_entry(session, fuse_ino_t(parent), $0, strlen($0)) }
    }
}
