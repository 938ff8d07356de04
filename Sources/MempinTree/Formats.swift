import MempinDevice

/// The text formats of the tree's files.
public enum Formats {
    /// Lowercase hex, no `0x`, at least `width` digits (zero-padded).
    public static func hex(_ value: UInt64, width: Int = 0) -> String {
        let digits = String(value, radix: 16)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// A pin file's name: `%08lx-%08lx`, as the first field of `/proc/PID/maps`.
    public static func pinFileName(start: UInt64, end: UInt64) -> String {
        hex(start, width: 8) + "-" + hex(end, width: 8)
    }

    /// The (start, end) a pin file's name stands for, or nil if `name` is not
    /// exactly such a name.
    public static func parsePinFileName(_ name: String) -> (start: UInt64, end: UInt64)? {
        let parts = name.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2,
              let start = UInt64(parts[0], radix: 16), let end = UInt64(parts[1], radix: 16),
              pinFileName(start: start, end: end) == name
        else { return nil }
        return (start, end)
    }

    /// Flat `key value` lines, like cgroup v2's `memory.stat`.
    public static func keyedLines(_ pairs: KeyValuePairs<String, String>) -> String {
        var text = ""
        for (key, value) in pairs {
            text += key + " " + value + "\n"
        }
        return text
    }

    /// The key block of a pin file, with the blank line that ends it.
    public static func pinHeader(_ pin: PinRecord) -> String {
        keyedLines([
            "start": hex(pin.start),
            "end": hex(pin.end),
            "pages": String(pin.pages),
            "bytes": String(pin.bytes),
            "writable": pin.isWritable ? "1" : "0",
            "state": pin.isDetached ? "detached" : "pinned",
            "pid": String(pin.pid),
            "huge_pages": String(pin.hugePages),
            "pinned_by_uid": String(pin.requesterUID),
            "pinned_by_pid": String(pin.requesterPID),
            "pinned_at": String(pin.pinnedAtNanoseconds / 1_000_000_000),
            "pin_duration_ns": String(pin.pinDurationNanoseconds),
            "id": String(pin.id),
        ]) + "\n"
    }

    /// One page line: vaddr, PFN (hex), NUMA node, zone, huge (0 or 1).
    ///
    /// - Parameter showsFrame: false for a reader that is not root, who
    ///   sees PFN 0 as in `/proc/PID/pagemap`.
    public static func appendPageLine(_ page: PageRecord, showsFrame: Bool, to buffer: inout [UInt8]) {
        appendHex(page.virtualAddress, width: 8, to: &buffer)
        buffer.append(UInt8(ascii: " "))
        appendHex(showsFrame ? page.frameNumber : 0, width: 1, to: &buffer)
        buffer.append(UInt8(ascii: " "))
        buffer.append(contentsOf: String(page.node).utf8)
        buffer.append(UInt8(ascii: " "))
        buffer.append(contentsOf: page.zone.rawValue.utf8)
        buffer.append(UInt8(ascii: " "))
        buffer.append(page.isHuge ? UInt8(ascii: "1") : UInt8(ascii: "0"))
        buffer.append(UInt8(ascii: "\n"))
    }

    /// Hex digits straight into a byte buffer (the page list's hot path).
    static func appendHex(_ value: UInt64, width: Int, to buffer: inout [UInt8]) {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var count = 1
        var rest = value >> 4
        while rest != 0 { count += 1; rest >>= 4 }
        for _ in count..<max(count, width) { buffer.append(UInt8(ascii: "0")) }
        var shift = (count - 1) * 4
        while shift >= 0 {
            buffer.append(digits[Int((value >> UInt64(shift)) & 0xf)])
            shift -= 4
        }
    }
}
