import MempinTree
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One log line written into memory its caller provides (a stack buffer
/// for the message and another for the line): the server logs a line for
/// every pin and every unpin, and a line made of interpolated strings and
/// a metadata dictionary cost 27,057 instructions, more than the tree's
/// own work for the pin and its `rm` (`mount-scripts/profile log`,
/// swift-log's own part included); written here, 3,915, and handed to the
/// handler as bytes (``BytesLogHandler``), 2,261. In a two-CPU TCG guest
/// the two lines of a one-page pin and its `rm` were a fifth of the
/// server's CPU time for them.
///
/// Nothing is written past the memory given: what does not fit is left
/// out, and callers size it for the whole line.
struct LogLine {
    private let base: UnsafeMutablePointer<UInt8>
    private let capacity: Int
    /// How many bytes are written.
    private(set) var count = 0

    init(into buffer: UnsafeMutableBufferPointer<UInt8>) {
        base = buffer.baseAddress!
        capacity = buffer.count
    }

    /// The bytes written.
    var written: UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: base, count: count)
    }

    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        let take = min(bytes.count, capacity - count)
        guard take > 0 else { return }
        (base + count).update(from: bytes.baseAddress!, count: take)
        count += take
    }

    mutating func append(_ text: String) {
        // A native string's bytes are contiguous: one copy.
        var text = text
        text.withUTF8 { append($0) }
    }

    mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { append($0) }
    }

    mutating func append(byte: UInt8) {
        guard count < capacity else { return }
        base[count] = byte
        count += 1
    }

    /// The decimal digits of `value`, with a minus sign if negative.
    mutating func append(decimal value: Int64) {
        if value < 0 { append(byte: UInt8(ascii: "-")) }
        append(decimal: value.magnitude, width: 1)
    }

    /// The decimal digits of `value`, zero-padded to `width` (at most 20).
    mutating func append(decimal value: UInt64, width: Int) {
        Formats.withDecimal(value, width: width) { append($0) }
    }

    /// The second last stamped and its text: the lines of one second share
    /// it (`gmtime_r` and twenty digits were a sixth of a line's cost).
    private static let lastStamp = Mutex<(second: Int, text: (UInt64, UInt64, UInt32))>((-1, (0, 0, 0)))

    /// The length of a timestamp.
    static let timestampLength = 20

    /// Now, UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
    mutating func appendTimestamp() {
        let now = time(nil)
        var text: (UInt64, UInt64, UInt32) = (0, 0, 0)
        let cached = Self.lastStamp.withLock { last in
            guard last.second == now else { return false }
            text = last.text
            return true
        }
        if !cached {
            withUnsafeMutableBytes(of: &text) { raw in
                var stamp = LogLine(into: raw.bindMemory(to: UInt8.self))
                stamp.appendTimestamp(of: now)
            }
            Self.lastStamp.withLock { $0 = (now, text) }
        }
        withUnsafeBytes(of: &text) { append($0.bindMemory(to: UInt8.self)) }
    }

    private mutating func appendTimestamp(of now: Int) {
        var now = now
        var parts = tm()
        gmtime_r(&now, &parts)
        append(decimal: UInt64(max(0, parts.tm_year + 1900)), width: 4)
        append(byte: UInt8(ascii: "-"))
        append(decimal: UInt64(parts.tm_mon + 1), width: 2)
        append(byte: UInt8(ascii: "-"))
        append(decimal: UInt64(parts.tm_mday), width: 2)
        append(byte: UInt8(ascii: "T"))
        append(decimal: UInt64(parts.tm_hour), width: 2)
        append(byte: UInt8(ascii: ":"))
        append(decimal: UInt64(parts.tm_min), width: 2)
        append(byte: UInt8(ascii: ":"))
        append(decimal: UInt64(parts.tm_sec), width: 2)
        append(byte: UInt8(ascii: "Z"))
    }
}
