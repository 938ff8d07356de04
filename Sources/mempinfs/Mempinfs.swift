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

    @Argument(help: "Where to mount the tree, e.g. /run/mempin.")
    var mountpoint: String

    func run() throws {
        // In the foreground, log to standard error; as a daemon, to syslog.
        let foreground = self.foreground
        LoggingSystem.bootstrap { label in
            foreground ? StandardErrorLogHandler(label: label) as any LogHandler : SyslogLogHandler(label: label)
        }
        var logger = Logger(label: "mempinfs")
        logger.logLevel = logLevel

        let container: MempinDevice
        do {
            container = try MempinDevice(path: FilePath(device))
            _ = try container.list(limit: 1)
        } catch {
            logger.critical("cannot use \(device): \(error) (is the mempinfd module loaded, and are we root?)")
            throw ExitCode(1)
        }
        let fileSystem = FileSystem(tree: PinTree(backend: container), logger: logger)
        let mountOptions = options.flatMap { $0.split(separator: ",").map(String.init) }
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
        logger.info("serving \(device) at \(mountpoint)")
        let result = session.run()
        logger.info("unmounted \(mountpoint); closing the container releases its pins")
        // libfuse's loop reports the signal that stopped it: a clean stop.
        if result != 0 && ![SIGINT, SIGTERM, SIGHUP].contains(result) { throw ExitCode(1) }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
