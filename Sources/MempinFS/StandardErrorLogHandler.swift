import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler for the server in the foreground: one line per
/// event on standard error, written with a single write(2).
///
/// The server logs every pin and unpin; swift-log's `StreamLogHandler`
/// cost about 3 ms per line under the test VM's emulation (more than the
/// pin itself), so lines are built from bytes here: a UTC timestamp, the
/// level, the message, then `key=value` metadata in key order.
///
/// When standard error is the journal's (the server under systemd), a line
/// is the message and metadata after the syslog priority in sd-daemon(3)'s
/// `<N>` prefix: the journal adds the time and the process itself, and
/// keeps the priority.
public struct StandardErrorLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String
    private let forJournal: Bool

    /// - Parameter forJournal: write priority prefixes instead of times
    ///   and the label (``ServiceManager/standardErrorIsJournal()``).
    public init(label: String, forJournal: Bool = false) {
        self.label = label
        self.forJournal = forJournal
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var bytes = Array(line(for: event).utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var written = 0
            while written < buffer.count {
                let n = write(2, buffer.baseAddress! + written, buffer.count - written)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                written += n
            }
        }
    }

    /// The line `event` is written as, its newline included.
    func line(for event: LogEvent) -> String {
        var line: String
        if forJournal {
            line = "<\(SyslogLogHandler.priority(of: event.level))>" + event.message.description
        } else {
            // rawValue: interpolating the enum itself goes through reflection.
            line = Self.timestamp() + " " + event.level.rawValue + " " + label + ": " + event.message.description
        }
        let extra = event.metadata ?? [:]
        let merged = extra.isEmpty ? metadata : metadata.merging(extra) { $1 }
        for key in merged.keys.sorted() {
            line += " " + key + "=" + merged[key]!.description
        }
        return line + "\n"
    }

    /// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T"
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
