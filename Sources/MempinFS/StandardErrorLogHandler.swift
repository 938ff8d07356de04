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
        lineBytes(for: event).withUnsafeBytes { buffer in
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
        String(decoding: lineBytes(for: event), as: UTF8.self)
    }

    /// The bytes of `event`'s line, appended in place (see ``LogLine``).
    private func lineBytes(for event: LogEvent) -> [UInt8] {
        var line = LogLine()
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
        line.append(event.message.description)
        let extra = event.metadata ?? [:]
        if !extra.isEmpty || !metadata.isEmpty {
            let merged = extra.isEmpty ? metadata : metadata.merging(extra) { $1 }
            for key in merged.keys.sorted() {
                line.append(byte: UInt8(ascii: " "))
                line.append(key)
                line.append(byte: UInt8(ascii: "="))
                line.append(merged[key]!.description)
            }
        }
        line.append(byte: UInt8(ascii: "\n"))
        return line.bytes
    }
}
