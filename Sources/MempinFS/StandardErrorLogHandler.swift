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
public struct StandardErrorLogHandler: BytesLogHandler {
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
        withLine(for: event) { Self.write($0) }
    }

    package func log(level: Logger.Level, message: UnsafeBufferPointer<UInt8>) {
        withLine(level: level, message: message, metadata: nil) { Self.write($0) }
    }

    /// The line `event` is written as, its newline included.
    func line(for event: LogEvent) -> String {
        withLine(for: event) { String(decoding: $0, as: UTF8.self) }
    }

    /// The line `message` at `level` is written as through
    /// ``log(level:message:)``, its newline included.
    func line(level: Logger.Level, message: String) -> String {
        var message = message
        return message.withUTF8 { message in
            withLine(level: level, message: message, metadata: nil) { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// `line` on standard error in one write(2), if it takes it.
    private static func write(_ line: UnsafeBufferPointer<UInt8>) {
        var written = 0
        while written < line.count {
            let n = Glibc.write(2, line.baseAddress! + written, line.count - written)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            written += n
        }
    }

    /// Calls `body` with `event`'s line.
    private func withLine<Result>(for event: LogEvent, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        var message = event.message.description
        return message.withUTF8 { withLine(level: event.level, message: $0, metadata: event.metadata, body) }
    }

    /// Calls `body` with the line of `message` at `level`, made on the
    /// stack (see ``LogLine``), with the handler's metadata and `extra`.
    private func withLine<Result>(level: Logger.Level, message: UnsafeBufferPointer<UInt8>, metadata extra: Logger.Metadata?,
                                  _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        let fields: [(String, String)]
        if metadata.isEmpty && (extra?.isEmpty ?? true) {
            fields = []
        } else {
            let merged = metadata.merging(extra ?? [:]) { $1 }
            fields = merged.keys.sorted().map { ($0, merged[$0]!.description) }
        }
        let capacity = 32 + LogLine.timestampLength + label.utf8.count + message.count
            + fields.reduce(0) { $0 + $1.0.utf8.count + $1.1.utf8.count + 2 }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
            var line = LogLine(into: buffer)
            if forJournal {
                line.append(byte: UInt8(ascii: "<"))
                line.append(decimal: Int64(SyslogLogHandler.priority(of: level)))
                line.append(byte: UInt8(ascii: ">"))
            } else {
                line.appendTimestamp()
                line.append(byte: UInt8(ascii: " "))
                // rawValue: interpolating the enum itself goes through reflection.
                line.append(level.rawValue)
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
