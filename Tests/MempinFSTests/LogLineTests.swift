import Foundation
import Logging
@testable import MempinFS
import Synchronization
import Testing

/// The log lines of pins and unpins, made in one buffer.
@Suite("log lines")
struct LogLineTests {
    @Test("decimals: signs, zero-padding, the extremes")
    func decimals() {
        var line = LogLine()
        line.append(decimal: 0)
        line.append(byte: UInt8(ascii: " "))
        line.append(decimal: -42)
        line.append(byte: UInt8(ascii: " "))
        line.append(decimal: Int64.min)
        line.append(byte: UInt8(ascii: " "))
        line.append(decimal: UInt64.max, width: 1)
        line.append(byte: UInt8(ascii: " "))
        line.append(decimal: 7, width: 2)
        line.append(byte: UInt8(ascii: " "))
        line.append(decimal: 123, width: 2)
        line.append(byte: UInt8(ascii: " "))
        line.append(decimal: 5, width: 40)
        #expect(line.text == "0 -42 -9223372036854775808 18446744073709551615 07 123 \(String(repeating: "0", count: 19))5")
    }

    @Test("a timestamp is the UTC second, as YYYY-MM-DDTHH:MM:SSZ")
    func timestamp() throws {
        let before = Date()
        var line = LogLine()
        line.appendTimestamp()
        let formatter = ISO8601DateFormatter()
        let stamp = try #require(formatter.date(from: line.text))
        #expect(line.text.count == 20)
        #expect(abs(stamp.timeIntervalSince(before)) < 2)
    }

    @Test("a pin's line says what the metadata said, in the same order")
    func pinLine() {
        let events = Recorded()
        var logger = Logger(label: "mempinfs") { _ in Recorder(events: events) }
        logger.logLevel = .info
        FileSystem.logPinChange(logger, "pinned", pid: 4242, name: "7f1234567000-7f1234568000", pages: 1,
                                uid: 1000, by: 77)
        FileSystem.logPinChange(logger, "unpinned", pid: 1, name: "1000-3000.9", pages: 2, uid: 0, by: 1)
        logger.logLevel = .notice
        FileSystem.logPinChange(logger, "pinned", pid: 1, name: "1000-2000", pages: 1, uid: 0, by: 1)
        let lines = events.events.withLock { $0.map { "\($0.level) \($0.message)" } }
        #expect(lines == [
            "info pinned 4242/7f1234567000-7f1234568000: 1 pages pid=77 uid=1000",
            "info unpinned 1/1000-3000.9: 2 pages pid=1 uid=0",
        ])
        let terminal = StandardErrorLogHandler(label: "mempinfs")
        let event = LogEvent(level: .info, message: "pinned 1/1000-2000: 1 pages pid=1 uid=0", metadata: nil,
                             source: "MempinFS", file: #fileID, function: #function, line: #line)
        #expect(terminal.line(for: event).hasSuffix("Z info mempinfs: pinned 1/1000-2000: 1 pages pid=1 uid=0\n"))
    }
}

/// The events a ``Recorder`` was given.
private final class Recorded: Sendable {
    let events = Mutex<[LogEvent]>([])
}

/// Keeps the events it is given.
private struct Recorder: LogHandler {
    let events: Recorded
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        events.events.withLock { $0.append(event) }
    }
}
