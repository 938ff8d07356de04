import Logging
import Synchronization

/// The server's log handler: standard error until the server daemonizes,
/// syslog(3) after (when mount(8) or systemd started it, that is where the
/// journal looks).
///
/// A mount that fails before the fork (no module, a bad option) is
/// reported on the terminal of whoever ran `mount`, not only in syslog.
public struct ServerLogHandler: BytesLogHandler {
    /// Set once the server has forked away from its terminal.
    public static let isDaemonized = Atomic<Bool>(false)

    private var standardError: StandardErrorLogHandler
    private var syslog: SyslogLogHandler

    public init(label: String) {
        standardError = StandardErrorLogHandler(label: label)
        syslog = SyslogLogHandler(label: label)
    }

    public var logLevel: Logger.Level {
        get { standardError.logLevel }
        set {
            standardError.logLevel = newValue
            syslog.logLevel = newValue
        }
    }

    public var metadata: Logger.Metadata {
        get { standardError.metadata }
        set {
            standardError.metadata = newValue
            syslog.metadata = newValue
        }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { standardError[metadataKey: key] }
        set {
            standardError[metadataKey: key] = newValue
            syslog[metadataKey: key] = newValue
        }
    }

    public func log(event: LogEvent) {
        if Self.isDaemonized.load(ordering: .relaxed) {
            syslog.log(event: event)
        } else {
            standardError.log(event: event)
        }
    }

    package func log(level: Logger.Level, message: UnsafeBufferPointer<UInt8>) {
        if Self.isDaemonized.load(ordering: .relaxed) {
            syslog.log(level: level, message: message)
        } else {
            standardError.log(level: level, message: message)
        }
    }
}
