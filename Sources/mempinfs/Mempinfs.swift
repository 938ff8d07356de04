import ArgumentParser
import CMalloc
import Logging
import MempinDevice
import MempinFS
import MempinTree
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

@main
struct Mempinfs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mempinfs",
        abstract: "Show the long-term memory pins of /dev/mempinfd as a file tree.",
        usage: """
            mempinfs [-f] [-o <options>] [--device <path>] [--log-level <level>] <mountpoint>
            mempinfs <source> <mountpoint> -o <options>    (as mount.fuse3 calls it)
            """,
        discussion: """
            Write a range to PID/pin to pin it, read PID/START-END for its pages, rm it to unpin. \
            The pins are the module's: stopping the server (unmount, SIGTERM, crash) leaves them \
            in place, and the next server shows them again. Under systemd (Type=notify, with -f) \
            the server says when the tree answers, pings the watchdog while it does, and logs to \
            the journal with priorities.
            """
    )

    @Flag(help: "Print the server's and the loaded module's versions, then exit.")
    var version = false

    @Flag(name: .short, help: "Stay in the foreground.")
    var foreground = false

    @Option(name: .short, help: ArgumentHelp("FUSE mount options, comma-separated (e.g. allow_other).", valueName: "options"))
    var options: [String] = []

    @Option(help: ArgumentHelp("The mempinfd device.", valueName: "path"))
    var device = "/dev/mempinfd"

    @Option(help: "Least severe log level to print (trace, debug, info, notice, warning, error, critical).")
    var logLevel: Logger.Level = .info

    @Argument(help: ArgumentHelp(
        "Where to mount the tree, e.g. /run/mempin; a source before it (mount(8) and fstab give one) names the mount.",
        valueName: "mountpoint"))
    var operands: [String] = []

    /// Where to mount: the last operand.
    var mountpoint: String { operands.last ?? "" }

    /// What /proc/mounts shows as the source: the first of two operands.
    var source: String { operands.count == 2 ? operands[0] : "mempinfs" }

    /// The malloc arenas the server's threads share: two, unless the
    /// environment says otherwise (`MALLOC_ARENA_MAX`, `GLIBC_TUNABLES`).
    /// glibc gives each thread that meets a busy lock an arena of its own,
    /// up to eight a CPU; the FUSE threads making pins then keep the pins'
    /// state in whichever arena they hold, each with its own free space,
    /// and the server's memory per pin varied by run (10,000 pins in a
    /// 6.12 guest: 158–400 B with glibc's default, 178–193 B with two
    /// arenas, the time per pin and `rm` the same).
    static func limitMallocArenas() {
        guard getenv("MALLOC_ARENA_MAX") == nil, getenv("GLIBC_TUNABLES") == nil else { return }
        _ = mallopt(M_ARENA_MAX, 2)
    }

    func validate() throws {
        if version { return }
        guard (1...2).contains(operands.count) else {
            throw ValidationError("expected a mount point, optionally after a source (mempinfs [SOURCE] MOUNTPOINT)")
        }
        guard !source.isEmpty, !source.contains(","), !mountpoint.isEmpty else {
            throw ValidationError("the source and the mount point must not be empty, and the source has no commas")
        }
    }

    func run() throws {
        if version {
            printVersions()
            return
        }
        Self.limitMallocArenas()
        // In the foreground, log to standard error (the journal's, with
        // priorities, under systemd); as a daemon, to syslog once forked
        // (failures before that still reach the terminal).
        let foreground = self.foreground
        let forJournal = ServiceManager.standardErrorIsJournal()
        LoggingSystem.bootstrap { label in
            foreground
                ? StandardErrorLogHandler(label: label, forJournal: forJournal) as any LogHandler
                : ServerLogHandler(label: label)
        }
        var logger = Logger(label: "mempinfs")
        logger.logLevel = logLevel

        // The pins are the module's ledger's: this file only asks for them,
        // and a second one reads the ledger's change records, from before
        // the first listing on, so that nothing is missed between the two
        // (non-blocking: a request reads its own records without a wait).
        let container: MempinDevice
        let changes: MempinDevice
        do {
            container = try MempinDevice(path: FilePath(device))
            changes = try MempinDevice(path: FilePath(device), nonBlocking: true)
            _ = try container.list(limit: 1)
        } catch {
            logger.critical("cannot use \(device): \(error) (is the mempinfd module loaded, and are we root?)")
            throw ExitCode(1)
        }
        // A module of interface version 5 or later gives in one call what
        // four files of /proc give of a process.
        let processes: any ProcessFacts = (try? container.version().version).map { $0 >= 5 } == true
            ? ModuleProcessFacts(module: container) : ProcFS()
        let fileSystem = FileSystem(tree: PinTree(backend: container, processes: processes), changes: changes,
                                    processes: processes, logger: logger)
        let mountOptions = ["fsname=\(source)"] + options.flatMap { $0.split(separator: ",").map(String.init) }
        let session: FuseSession
        do {
            session = try FuseSession(
                fileSystem: fileSystem, mountpoint: mountpoint, options: mountOptions, handlesSignals: true
            )
        } catch {
            logger.critical("cannot mount at \(mountpoint): \(error)")
            throw ExitCode(1)
        }
        guard session.daemonize(foreground: foreground) else { throw ExitCode(1) }
        if !foreground { ServerLogHandler.isDaemonized.store(true, ordering: .relaxed) }
        // In the foreground a hangup is the terminal's, not a request to stop.
        if foreground { signal(SIGHUP, SIG_IGN) }
        logger.info("mempinfs \(MempinRelease.version) serving \(device) at \(mountpoint): \(moduleSummary(of: container))")
        let result = session.run(heartbeat: heartbeat())
        ServiceManager.notifyStopping(status: "unmounting \(mountpoint)")
        session.unmount()
        logger.info("unmounted \(mountpoint); the pins stay in the module's ledger")
        // libfuse's loop reports the signal that stopped it: a clean stop.
        if result != 0 && ![SIGINT, SIGTERM, SIGHUP].contains(result) { throw ExitCode(1) }
    }
}

extension Mempinfs {
    /// The module's release (sysfs, readable by anyone) and, for root, its
    /// manager interface's version.
    func printVersions() {
        print("mempinfs \(MempinRelease.version)")
        guard let release = Self.loadedModuleRelease() else {
            print("mempinfd: not loaded")
            return
        }
        let interface: String
        do {
            interface = "manager interface \(try MempinDevice(path: FilePath(device)).version().version)"
        } catch .notPermitted {
            interface = "manager interface: ask as root"
        } catch {
            interface = "manager interface: \(error)"
        }
        print("mempinfd \(release) (\(interface))")
    }

    /// `/sys/module/mempinfd/version`, or nil when the module is not loaded.
    static func loadedModuleRelease() -> String? {
        guard let text = ProcFS.contents(of: "/sys/module/mempinfd/version") else { return nil }
        return String(decoding: text.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    }

    /// The module's release, interface version and limits, for the start-up
    /// log line.
    func moduleSummary(of device: MempinDevice) -> String {
        let release = Self.loadedModuleRelease() ?? "unknown"
        guard let facts = try? device.version() else { return "mempinfd \(release)" }
        let pages = { (count: UInt64) in "\(count) pages (\(count * facts.pageSize / 1_048_576) MiB)" }
        let limit = facts.maxPinnedPages == 0 ? "none" : pages(facts.maxPinnedPages)
        return "mempinfd \(release), manager interface \(facts.version), machine limit \(limit), "
            + "\(pages(facts.pinnedPages)) pinned now"
    }

    /// Under a service manager: ready once the tree answers, then the
    /// watchdog's pings while it does. Nil outside one.
    func heartbeat() -> FuseSession.Heartbeat? {
        guard ServiceManager.isListening else { return nil }
        let status = "serving \(device) at \(mountpoint)"
        guard let interval = ServiceManager.watchdogInterval() else {
            return FuseSession.Heartbeat(interval: .seconds(1)) { ServiceManager.notifyReady(status: status) }
        }
        return FuseSession.Heartbeat(
            interval: interval, ready: { ServiceManager.notifyReady(status: status) },
            alive: { ServiceManager.notifyAlive() })
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
