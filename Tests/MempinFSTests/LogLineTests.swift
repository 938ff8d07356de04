import Foundation
import Logging
@testable import MempinFS
import Synchronization
import Testing

/// The log lines of pins and unpins, made in one buffer.
@Suite("log lines")
struct LogLineTests {
    /// What `body` writes into a line of `capacity` bytes.
    private func written(capacity: Int = 256, _ body: (inout LogLine) -> Void) -> String {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity + 8) { buffer in
            buffer.initialize(repeating: UInt8(ascii: "#"))
            var line = LogLine(into: UnsafeMutableBufferPointer(rebasing: buffer[..<capacity]))
            body(&line)
            // Nothing past the line's memory.
            #expect(buffer[capacity...].allSatisfy { $0 == UInt8(ascii: "#") })
            return String(decoding: line.written, as: UTF8.self)
        }
    }

    @Test("decimals: signs, zero-padding, the extremes")
    func decimals() {
        let text = written { line in
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
        }
        #expect(text == "0 -42 -9223372036854775808 18446744073709551615 07 123 \(String(repeating: "0", count: 19))5")
    }

    @Test("a line never grows past its memory: what does not fit is left out")
    func bounded() {
        #expect(written(capacity: 10) { line in
            line.append("pinned ")
            line.append(decimal: 123_456, width: 1)
            line.append(byte: UInt8(ascii: "/"))
        } == "pinned 123")
        #expect(written(capacity: 0) { $0.append("x") } == "")
    }

    @Test("a timestamp is the UTC second, as YYYY-MM-DDTHH:MM:SSZ, the same for the lines of one second")
    func timestamp() throws {
        let before = Date()
        let first = written { $0.appendTimestamp() }
        let second = written { $0.appendTimestamp() }
        let formatter = ISO8601DateFormatter()
        let stamp = try #require(formatter.date(from: first))
        let next = try #require(formatter.date(from: second))
        #expect(first.count == LogLine.timestampLength)
        #expect(abs(stamp.timeIntervalSince(before)) < 2)
        #expect(next.timeIntervalSince(stamp) >= 0 && next.timeIntervalSince(stamp) <= 1)
    }

    @Test("a pin's line says what the metadata said, in the same order")
    func pinLine() {
        let events = Recorded()
        var logger = Logger(label: "mempinfs") { _ in Recorder(events: events) }
        logger.logLevel = .info
        FileSystem.logPinChange(.init(logger), "pinned", pid: 4242, name: "7f1234567000-7f1234568000", pages: 1,
                                uid: 1000, by: 77)
        FileSystem.logPinChange(.init(logger), "unpinned", pid: 1, name: "1000-3000.9", pages: 2, uid: 0, by: 1)
        logger.logLevel = .notice
        FileSystem.logPinChange(.init(logger), "pinned", pid: 1, name: "1000-2000", pages: 1, uid: 0, by: 1)
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

    @Test("a handler that takes bytes gets the pin's line as bytes, and writes it as it writes the event")
    func bytesPath() {
        let recorded = Recorded()
        let logger = Logger(label: "mempinfs") { _ in BytesRecorder(events: recorded) }
        FileSystem.logPinChange(.init(logger), "unpinned", pid: 4242, name: "1000-2000", pages: 1, uid: 1000, by: 77)
        #expect(recorded.events.withLock { $0.map { "\($0.level) \($0.message)" } }
                == ["info unpinned 4242/1000-2000: 1 pages pid=77 uid=1000"])
        for forJournal in [false, true] {
            var handler = StandardErrorLogHandler(label: "mempinfs", forJournal: forJournal)
            let event = LogEvent(level: .info, message: "pinned 1/1000-2000: 1 pages pid=1 uid=0", metadata: nil,
                                 source: "MempinFS", file: #fileID, function: #function, line: #line)
            var same = handler.line(level: .info, message: "pinned 1/1000-2000: 1 pages pid=1 uid=0")
            // On a terminal, after the time (the two may straddle a second).
            let stamp = forJournal ? 0 : LogLine.timestampLength
            #expect(same.dropFirst(stamp) == handler.line(for: event).dropFirst(stamp))
            // The handler's own metadata, as log(event:) appends it.
            handler.metadata["unit"] = "a b"
            same = handler.line(level: .notice, message: "x")
            #expect(same.hasSuffix("x unit=a b\n"))
            #expect(same.hasPrefix(forJournal ? "<5>x" : "2"))
        }
    }
}

/// The events a ``Recorder`` or a ``BytesRecorder`` was given.
private final class Recorded: Sendable {
    let events = Mutex<[LogEvent]>([])
}

/// The metadata a test's handler keeps, as given.
private protocol KeepsMetadata: LogHandler {
    var metadata: Logger.Metadata { get set }
}

extension KeepsMetadata {
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}

/// Keeps the events it is given.
private struct Recorder: KeepsMetadata {
    let events: Recorded
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    func log(event: LogEvent) {
        events.events.withLock { $0.append(event) }
    }
}

/// Keeps the messages it is given as bytes, as events; fails on an event.
private struct BytesRecorder: BytesLogHandler, KeepsMetadata {
    let events: Recorded
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    func log(event: LogEvent) {
        Issue.record("an event, not bytes: \(event.message)")
    }

    func log(level: Logger.Level, message: UnsafeBufferPointer<UInt8>) {
        let text = String(decoding: message, as: UTF8.self)
        events.events.withLock {
            $0.append(LogEvent(level: level, message: "\(text)", metadata: nil, source: "MempinFS",
                               file: #fileID, function: #function, line: #line))
        }
    }
}
