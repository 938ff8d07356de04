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
        withLine(for: event) { line in
            var written = 0
            while written < line.count {
                let n = write(2, line.baseAddress! + written, line.count - written)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { break }
                written += n
            }
        }
    }

    /// The line `event` is written as, its newline included.
    func line(for event: LogEvent) -> String {
        withLine(for: event) { String(decoding: $0, as: UTF8.self) }
    }

    /// Calls `body` with `event`'s line, made on the stack (see ``LogLine``).
    private func withLine<Result>(for event: LogEvent, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        let message = event.message.description
        let extra = event.metadata ?? [:]
        let merged = extra.isEmpty ? metadata : metadata.merging(extra) { $1 }
        let fields = merged.keys.sorted().map { ($0, merged[$0]!.description) }
        let capacity = 32 + LogLine.timestampLength + label.utf8.count + message.utf8.count
            + fields.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 2 }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            var line = LogLine(into: buffer)
            if forJournal {
                line.append(byte: UInt8(ascii: "<"))
                line.append(decimal: Int64(SyslogLogHandler.priority(of: event.level)))
                line.append(byte: UInt8(ascii: ">"))
            } else {
                line.appendTimestamp()
                line.append(byte: UInt8(ascii: " "))
                // rawValue: interpolating the enum itself goes through reflection.
                line.append(event.level.rawValue)
                line.append(byte: UInt8(ascii: " "))
                line.append(label)
                line.append(": ")
            }
            line.append(message)
            for (key, value) in fields {
                line.append(byte: UInt8(ascii: " "))
                line.append(key)
                line.append(byte: UInt8(ascii: "="))
                line.append(value)
            }
            line.append(byte: UInt8(ascii: "\n"))
            return body(line.written)
        }
    }
}
