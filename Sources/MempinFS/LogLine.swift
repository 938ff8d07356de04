#if canImport(Glibc)
import Glibc
#endif

/// The bytes of one log line, appended in place: the server logs a line for
/// every pin and every unpin, and a line made of interpolated strings and a
/// metadata dictionary cost 27,057 instructions, more than the tree's own
/// work for the pin and its `rm`; made here, 5,982 (`mount-scripts/profile
/// log`, swift-log's own part included). In a two-CPU TCG guest the two
/// lines of a one-page pin and its `rm` were a fifth of the server's CPU
/// time for them.
struct LogLine {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 160) {
        bytes.reserveCapacity(capacity)
    }

    mutating func append(_ text: String) {
        // A native string's bytes are contiguous: one copy, not a byte at a time.
        let copied: Void? = text.utf8.withContiguousStorageIfAvailable { bytes.append(contentsOf: $0) }
        if copied == nil { bytes.append(contentsOf: text.utf8) }
    }

    mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func append(byte: UInt8) {
        bytes.append(byte)
    }

    /// The decimal digits of `value`, with a minus sign if negative.
    mutating func append(decimal value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        append(decimal: value.magnitude, width: 1)
    }

    /// The decimal digits of `value`, zero-padded to `width` (at most 20).
    mutating func append(decimal value: UInt64, width: Int) {
        // The largest power of ten not above the first digit's place.
        var place: UInt64 = 1
        var count = 1
        while count < min(width, 20) || value / place >= 10 {
            place &*= 10
            count += 1
        }
        while count > 0 {
            bytes.append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value / place % 10))
            place /= 10
            count -= 1
        }
    }

    /// Now, UTC, as `YYYY-MM-DDTHH:MM:SSZ`.
    mutating func appendTimestamp() {
        var now = time(nil)
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

    var text: String { String(decoding: bytes, as: UTF8.self) }
}
