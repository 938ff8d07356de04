import ArgumentParser
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
            Stopping the server (unmount, SIGTERM, crash) releases its pins.
            """
    )

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

    func validate() throws {
        guard (1...2).contains(operands.count) else {
            throw ValidationError("expected a mount point, optionally after a source (mempinfs [SOURCE] MOUNTPOINT)")
        }
        guard !source.isEmpty, !source.contains(","), !mountpoint.isEmpty else {
            throw ValidationError("the source and the mount point must not be empty, and the source has no commas")
        }
    }

    func run() throws {
        // In the foreground, log to standard error; as a daemon, to syslog
        // once forked (failures before that still reach the terminal).
        let foreground = self.foreground
        LoggingSystem.bootstrap { label in
            foreground ? StandardErrorLogHandler(label: label) as any LogHandler : ServerLogHandler(label: label)
        }
        var logger = Logger(label: "mempinfs")
        logger.logLevel = logLevel

        // The pins are the module's ledger's: this file only asks for them,
        // and a second one reads the ledger's change records, from before
        // the first listing on, so that nothing is missed between the two.
        let container: MempinDevice
        let changes: MempinDevice
        do {
            container = try MempinDevice(path: FilePath(device))
            changes = try MempinDevice(path: FilePath(device))
            _ = try container.list(limit: 1)
        } catch {
            logger.critical("cannot use \(device): \(error) (is the mempinfd module loaded, and are we root?)")
            throw ExitCode(1)
        }
        let fileSystem = FileSystem(tree: PinTree(backend: container), changes: changes, logger: logger)
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
        logger.info("serving \(device) at \(mountpoint)")
        let result = session.run()
        session.unmount()
        logger.info("unmounted \(mountpoint); the pins stay in the module's ledger")
        // libfuse's loop reports the signal that stopped it: a clean stop.
        if result != 0 && ![SIGINT, SIGTERM, SIGHUP].contains(result) { throw ExitCode(1) }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
