import SystemPackage

/// A range of a process's memory as written to a `pin` control file.
///
/// The module widens it to page boundaries; `start + length` never passes
/// 2^64 - 1.
public struct RequestedRange: Hashable, Sendable {
    /// The first byte.
    public var start: UInt64
    /// The number of bytes, never zero.
    public var length: UInt64

    public init(start: UInt64, length: UInt64) {
        self.start = start
        self.length = length
    }
}

/// Parses what is written to a `pin` control file.
///
/// One range per line, in any of three forms:
/// - `START-END`: hex, half-open, as in `/proc/PID/maps`;
/// - `START+LENGTH`: START hex; LENGTH decimal or `0x` hex, with an
///   optional `K`, `M` or `G` suffix (powers of 1024);
/// - `START LENGTH`: the same as `+`.
///
/// Addresses are always hex, with or without `0x`. Blank lines are skipped;
/// a write with no range at all is refused.
public enum RangeParser {
    /// Parses a whole write.
    ///
    /// - Parameter text: the bytes written.
    /// - Returns: the ranges, in order.
    /// - Throws: `Errno.invalidArgument` for bad syntax, an unknown suffix,
    ///   END not above START, zero length, overflow past 2^64, or no range.
    public static func parse<Bytes: Collection<UInt8>>(_ text: Bytes) throws(Errno) -> [RequestedRange] {
        // One copy of the write, its lines slices of it: every pin takes
        // this path.
        let bytes = Array(text)
        var ranges: [RequestedRange] = []
        var lineStart = bytes.startIndex
        while lineStart < bytes.endIndex {
            let lineEnd = bytes[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
            let line = bytes[lineStart..<lineEnd]
            if !line.allSatisfy(isBlank) { ranges.append(try parseLine(slice: line)) }
            lineStart = lineEnd + 1
        }
        if ranges.isEmpty { throw .invalidArgument }
        return ranges
    }

    /// Parses one line, without its newline.
    public static func parseLine<Bytes: Collection<UInt8>>(_ line: Bytes) throws(Errno) -> RequestedRange {
        try parseLine(slice: Array(line)[...])
    }

    private static func parseLine(slice line: ArraySlice<UInt8>) throws(Errno) -> RequestedRange {
        let bytes = trimmed(line)
        if let dash = bytes.firstIndex(of: UInt8(ascii: "-")) {
            let start = try hexNumber(bytes[..<dash])
            let end = try hexNumber(bytes[(dash + 1)...])
            guard end > start else { throw .invalidArgument }
            return RequestedRange(start: start, length: end - start)
        }
        let separator = bytes.firstIndex(of: UInt8(ascii: "+")) ?? bytes.firstIndex(where: isBlank)
        guard let separator else { throw .invalidArgument }
        let start = try hexNumber(bytes[..<separator])
        var rest = bytes[(separator + 1)...]
        if bytes[separator] != UInt8(ascii: "+") {
            rest = rest.drop(while: isBlank)
        }
        let length = try size(rest)
        guard length > 0 else { throw .invalidArgument }
        guard start.addingReportingOverflow(length).overflow == false else { throw .invalidArgument }
        return RequestedRange(start: start, length: length)
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        guard let first = bytes.firstIndex(where: { !isBlank($0) }),
              let last = bytes.lastIndex(where: { !isBlank($0) }) else { return [] }
        return bytes[first...last]
    }

    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }

    /// Hex digits with an optional `0x`/`0X`.
    private static func hexNumber(_ text: ArraySlice<UInt8>) throws(Errno) -> UInt64 {
        var digits = text
        if digits.count > 2, digits.first == UInt8(ascii: "0"),
           digits.dropFirst().first == UInt8(ascii: "x") || digits.dropFirst().first == UInt8(ascii: "X") {
            digits = digits.dropFirst(2)
        }
        return try number(digits, radix: 16)
    }

    /// A length: decimal or `0x` hex, then an optional K, M or G.
    private static func size(_ text: ArraySlice<UInt8>) throws(Errno) -> UInt64 {
        var digits = text
        var shift: UInt64 = 0
        switch digits.last {
        case UInt8(ascii: "K"), UInt8(ascii: "k"): shift = 10
        case UInt8(ascii: "M"), UInt8(ascii: "m"): shift = 20
        case UInt8(ascii: "G"), UInt8(ascii: "g"): shift = 30
        default: break
        }
        if shift > 0 { digits = digits.dropLast() }
        let value: UInt64
        if digits.count > 2, digits.first == UInt8(ascii: "0"),
           digits.dropFirst().first == UInt8(ascii: "x") || digits.dropFirst().first == UInt8(ascii: "X") {
            value = try number(digits.dropFirst(2), radix: 16)
        } else {
            value = try number(digits, radix: 10)
        }
        let (scaled, overflow) = value.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow else { throw .invalidArgument }
        return scaled
    }

    private static func number(_ digits: ArraySlice<UInt8>, radix: UInt64) throws(Errno) -> UInt64 {
        guard !digits.isEmpty else { throw .invalidArgument }
        var value: UInt64 = 0
        for byte in digits {
            let digit: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: digit = UInt64(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: digit = UInt64(byte - UInt8(ascii: "A") + 10)
            default: throw .invalidArgument
            }
            let (shifted, o1) = value.multipliedReportingOverflow(by: radix)
            let (sum, o2) = shifted.addingReportingOverflow(digit)
            guard !o1, !o2 else { throw .invalidArgument }
            value = sum
        }
        return value
    }
}
