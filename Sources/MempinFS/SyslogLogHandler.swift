import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler writing to syslog(3), for the server once it has
/// daemonized and its standard error is gone (the journal collects it).
public struct SyslogLogHandler: BytesLogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    private let label: String

    /// Opens the log as `identifier` (the daemon facility, with the pid).
    public init(label: String) {
        self.label = label
        openlog("mempinfs", LOG_PID, LOG_DAEMON)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        let context = merged.isEmpty ? "" : " " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let text = "\(event.message)\(context)"
        // syslog(3) is variadic: go through vsyslog with a "%s" format.
        text.withCString { cText in
            withVaList([cText]) { vsyslog(Self.priority(of: event.level), "%s", $0) }
        }
    }

    package func log(level: Logger.Level, message: UnsafeBufferPointer<UInt8>) {
        guard metadata.isEmpty else {
            log(event: LogEvent(level: level, message: "\(String(decoding: message, as: UTF8.self))", metadata: nil,
                                source: "MempinFS", file: #fileID, function: #function, line: #line))
            return
        }
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: message.count + 1) { text in
            message.withMemoryRebound(to: CChar.self) { _ = text.initialize(fromContentsOf: $0) }
            text[message.count] = 0
            withVaList([text.baseAddress!]) { vsyslog(Self.priority(of: level), "%s", $0) }
        }
    }

    static func priority(of level: Logger.Level) -> Int32 {
        switch level {
        case .trace, .debug: LOG_DEBUG
        case .info: LOG_INFO
        case .notice: LOG_NOTICE
        case .warning: LOG_WARNING
        case .error: LOG_ERR
        case .critical: LOG_CRIT
        }
    }
}
