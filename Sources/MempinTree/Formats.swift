import MempinDevice
import SystemPackage

/// The text formats of the tree's files.
public enum Formats {
    /// Lowercase hex, no `0x`, at least `width` digits (zero-padded).
    public static func hex(_ value: UInt64, width: Int = 0) -> String {
        guard width <= 16 else {
            let digits = String(value, radix: 16)
            return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
        }
        return String(unsafeUninitializedCapacity: 16) { writeHex(value, width: width, into: $0.baseAddress!) }
    }

    /// A pin file's name: `%08lx-%08lx`, as the first field of `/proc/PID/maps`.
    public static func pinFileName(start: UInt64, end: UInt64) -> String {
        // Every pin and unpin names its file: no String(radix:) here.
        String(unsafeUninitializedCapacity: 33) { buffer in
            let name = buffer.baseAddress!
            var at = writeHex(start, width: 8, into: name)
            name[at] = UInt8(ascii: "-")
            at += 1
            return at + writeHex(end, width: 8, into: name + at)
        }
    }

    /// The (start, end) a pin file's name stands for, or nil if `name` is not
    /// exactly such a name.
    public static func parsePinFileName(_ name: String) -> (start: UInt64, end: UInt64)? {
        // The tree's own reading of its names, without the `.ID` suffix.
        guard let parsed = PinTree.ProcessPins.Name(name), parsed.suffix == 0 else { return nil }
        return (parsed.start, parsed.end)
    }

    /// Flat `key value` lines, like cgroup v2's `memory.stat`.
    public static func keyedLines(_ pairs: KeyValuePairs<String, String>) -> String {
        keyedLines(pairs.map { ($0.key, $0.value) })
    }

    /// The same, from pairs built up at run time.
    public static func keyedLines(_ pairs: [(key: String, value: String)]) -> String {
        var text = ""
        for (key, value) in pairs {
            text += key + " " + value + "\n"
        }
        return text
    }

    /// Flat `key value` lines built as bytes, for a file every reader
    /// opens often (`status`): no string is made for a key or a number.
    public struct KeyedLines {
        public private(set) var bytes: [UInt8] = []

        public init(capacity: Int = 256) {
            bytes.reserveCapacity(capacity)
        }

        /// `key value`, the value in decimal.
        public mutating func append(_ key: StaticString, _ value: UInt64) {
            appendLine(key, valueRoom: 20) { Formats.writeDecimal(value, into: $0) }
        }

        /// `key value`, the value as it is (a word of the format's own).
        public mutating func append(_ key: StaticString, word: StaticString) {
            word.withUTF8Buffer { word in
                appendLine(key, valueRoom: word.count) { text in
                    text.initialize(from: word.baseAddress!, count: word.count)
                    return word.count
                }
            }
        }

        /// `key value` with the value `writeValue` writes (at most
        /// `valueRoom` bytes; it returns how many), the line made on the
        /// stack and appended with one copy: four appends a line were a
        /// fifth of an open and read of `status`.
        private mutating func appendLine(_ key: StaticString, valueRoom: Int,
                                         _ writeValue: (UnsafeMutablePointer<UInt8>) -> Int) {
            key.withUTF8Buffer { key in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: key.count + valueRoom + 2) { line in
                    let text = line.baseAddress!
                    text.initialize(from: key.baseAddress!, count: key.count)
                    text[key.count] = UInt8(ascii: " ")
                    let used = key.count + 1 + writeValue(text + key.count + 1)
                    text[used] = UInt8(ascii: "\n")
                    bytes.append(contentsOf: UnsafeBufferPointer(start: text, count: used + 1))
                }
            }
        }

        /// `key value`, the value escaped as ``Formats/word(_:)`` does.
        public mutating func append(_ key: StaticString, escaping value: String) {
            appendKey(key)
            Formats.appendWord(value, to: &bytes)
            bytes.append(UInt8(ascii: "\n"))
        }

        private mutating func appendKey(_ key: StaticString) {
            key.withUTF8Buffer { bytes.append(contentsOf: $0) }
            bytes.append(UInt8(ascii: " "))
        }
    }

    /// `value` as one word of a keyed line: blanks, control characters
    /// and backslashes as `\ooo` (octal), as `/proc/PID/mountinfo` writes
    /// paths, so that no value (a cgroup's name) can start a line of its
    /// own.
    public static func word(_ value: String) -> String {
        var escaped: [UInt8] = []
        appendWord(value, to: &escaped)
        return String(decoding: escaped, as: UTF8.self)
    }

    /// ``word(_:)``, appended to `bytes`.
    /// The bytes between two escaped ones go in with one copy each: a
    /// cgroup's name has none to escape, and appending it byte by byte was
    /// a third of the instructions of an open and read of `status`.
    static func appendWord(_ value: String, to bytes: inout [UInt8]) {
        var value = value
        value.withUTF8 { utf8 in
            var plain = 0
            for index in utf8.indices {
                let byte = utf8[index]
                guard byte <= 0x20 || byte == 0x7f || byte == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[plain..<index]))
                bytes.append(UInt8(ascii: "\\"))
                bytes.append(0x30 + byte >> 6)
                bytes.append(0x30 + (byte >> 3) & 7)
                bytes.append(0x30 + byte & 7)
                plain = index + 1
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[plain...]))
        }
    }

    /// One line of `events`, without its newline: `EVENT PID NAME` and
    /// `key=value` words.
    public static func eventLine(_ record: ChangeRecord, name: String) -> String {
        var line = "\(record.kind.rawValue) \(record.pid) \(name)"
        if let error = record.error { line += " errno=" + errnoName(error) }
        if let reason = record.reason { line += " reason=" + reason.rawValue }
        line += " pages=\(record.pages) via=\(record.via.rawValue) uid=\(record.uid)"
        if record.via == .ioctl { line += " holder_pid=\(record.holderPID)" }
        if record.id != 0 { line += " id=\(record.id)" }
        line += " time=\(record.timeNanoseconds / 1_000_000_000)"
        return line
    }

    /// The symbolic name of an errno the tree or the module answers with
    /// (`ENOMEM`), else `E` and its number: for `events` and the labels of
    /// `metrics`.
    public static func errnoName(_ error: Errno) -> String {
        switch error {
        case .notPermitted: "EPERM"
        case .noSuchFileOrDirectory: "ENOENT"
        case .noSuchProcess: "ESRCH"
        case .interrupted: "EINTR"
        case .ioError: "EIO"
        case .badFileDescriptor: "EBADF"
        case .resourceTemporarilyUnavailable: "EAGAIN"
        case .noMemory: "ENOMEM"
        case .permissionDenied: "EACCES"
        case .badAddress: "EFAULT"
        case .resourceBusy: "EBUSY"
        case .fileExists: "EEXIST"
        case .invalidArgument: "EINVAL"
        case .tooManyOpenFiles: "EMFILE"
        case .noSpace: "ENOSPC"
        default: "E\(error.rawValue)"
        }
    }

    /// The key block of a pin file, with the blank line that ends it.
    public static func pinHeader(_ pin: PinRecord) -> String {
        var keys: [(key: String, value: String)] = [
            ("start", hex(pin.start)),
            ("end", hex(pin.end)),
            ("pages", String(pin.pages)),
            ("bytes", String(pin.bytes)),
            ("writable", pin.isWritable ? "1" : "0"),
            ("state", pin.isDetached ? "detached" : "pinned"),
            ("via", pin.via.rawValue),
        ]
        if pin.via == .ioctl { keys.append(("holder_pid", String(pin.holderPID))) }
        return keyedLines(keys) + keyedLines([
            "pid": String(pin.pid),
            "huge_pages": String(pin.hugePages),
            "pinned_by_uid": String(pin.requesterUID),
            "pinned_by_pid": String(pin.requesterPID),
            "pinned_at": String(pin.pinnedAtNanoseconds / 1_000_000_000),
            "pin_duration_ns": String(pin.pinDurationNanoseconds),
            "id": String(pin.id),
        ]) + "\n"
    }

    /// The room ``writePageLine(_:showsFrame:width:into:)`` needs: a line
    /// is at most 46 bytes, and it stores whole words that may reach 8
    /// bytes past it.
    public static let maximumPageLineLength = 64

    /// Hex digits of a PFN shown to root: every 64-bit architecture's
    /// physical addresses fit 52 bits, its PFNs (4 KiB pages) 40 to 52.
    static let frameDigits = 13
    /// The bits of a PFN that page lines show: its ``frameDigits`` digits.
    static let shownFrameMask: UInt64 = 1 << (4 * frameDigits) - 1
    /// Room for the NUMA node: -1 (`NUMA_NO_NODE`) to 9999.
    static let nodeDigits = 4
    /// The longest zone word, `movable`.
    static let zoneLetters = 7

    /// The width, newline included, of every page line of a pin that ends
    /// at `end`: fixed for each file, so that a read at any offset finds its
    /// page by arithmetic. A line narrower than that is padded with spaces
    /// before its newline, as `/proc/PID/maps` pads its columns.
    public static func pageLineWidth(end: UInt64, showsFrame: Bool) -> Int {
        let addressDigits = max(8, significantHexDigits(end &- 1))
        return addressDigits + 1 + (showsFrame ? frameDigits : 1) + 1 + nodeDigits + 1 + zoneLetters + 1 + 1 + 1
    }

    /// One page line: vaddr, PFN (hex), NUMA node, zone, huge (0 or 1),
    /// padded to `width` (see ``pageLineWidth(end:showsFrame:)``).
    ///
    /// - Parameter showsFrame: false for a reader that is not root, who
    ///   sees PFN 0 as in `/proc/PID/pagemap`.
    public static func appendPageLine(_ page: PageRecord, showsFrame: Bool, width: Int, to buffer: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maximumPageLineLength) { line in
            let count = writePageLine(page, showsFrame: showsFrame, width: width, into: line.baseAddress!)
            buffer.append(contentsOf: UnsafeBufferPointer(start: line.baseAddress, count: count))
        }
    }

    /// Writes one page line of `width` bytes at `line`, which has room for
    /// ``maximumPageLineLength`` bytes; returns `width`. A page outside the
    /// pin the width was made for makes a longer line.
    ///
    /// The page list's hot path (262,144 lines for 1 GiB): plain stores,
    /// no allocation.
    @inline(__always)
    public static func writePageLine(_ page: PageRecord, showsFrame: Bool, width: Int,
                                     into line: UnsafeMutablePointer<UInt8>) -> Int {
        var at = writeHex(page.virtualAddress, width: 8, into: line)
        line[at] = UInt8(ascii: " ")
        at += 1
        at += writeHex(showsFrame ? page.frameNumber & shownFrameMask : 0, width: 1, into: line + at)
        line[at] = UInt8(ascii: " ")
        at += 1
        at += writeDecimal((-1...9999).contains(page.node) ? page.node : -1, into: line + at)
        line[at] = UInt8(ascii: " ")
        at += 1
        at += writeZone(page.zone, into: line + at)
        line[at] = UInt8(ascii: " ")
        line[at + 1] = page.isHuge ? UInt8(ascii: "1") : UInt8(ascii: "0")
        at += 2
        let end = width &- 1
        if at < end {
            // Blanks eight at a time, then four, two and one, no call per
            // line and no store past the line: the page list writes whole
            // lines straight into the reply while a line's width fits. (A
            // loop of single blanks for the rest was turned into a memset
            // call per line by the compiler.)
            let raw = UnsafeMutableRawPointer(line)
            var blank = at
            while blank &+ 8 <= end {
                raw.storeBytes(of: 0x2020_2020_2020_2020 as UInt64, toByteOffset: blank, as: UInt64.self)
                blank &+= 8
            }
            if end &- blank >= 4 {
                raw.storeBytes(of: 0x2020_2020 as UInt32, toByteOffset: blank, as: UInt32.self)
                blank &+= 4
            }
            if end &- blank >= 2 {
                raw.storeBytes(of: 0x2020 as UInt16, toByteOffset: blank, as: UInt16.self)
                blank &+= 2
            }
            if blank < end { line[blank] = UInt8(ascii: " ") }
            at = end
        }
        line[at] = UInt8(ascii: "\n")
        return at &+ 1
    }

    /// Writes the lines of `run`'s pages at `out` while `room` holds another
    /// of `width` bytes; returns how many lines and their bytes.
    ///
    /// The first line is written whole, each next one is the line before
    /// with the address's and the frame's last digits incremented: a run of
    /// a THP's 512 pages costs a fraction of 512 times
    /// ``writePageLine(_:showsFrame:width:into:)``. A carry that lengthens
    /// a number ends the lines written; the caller writes the next whole.
    public static func writePageLines(_ run: PageRun, showsFrame: Bool, width: Int, room: Int,
                                      into out: UnsafeMutablePointer<UInt8>) -> (lines: Int, bytes: Int) {
        guard run.count > 0, room >= width else { return (0, 0) }
        let written = writePageLine(run.first, showsFrame: showsFrame, width: width, into: out)
        // Only a line of the file's width is patched from (a page past the
        // end the width was made for makes a longer one).
        guard written == width else { return (1, written) }
        // Where the digits that change are: the address's 0x1000 digit (its
        // last three are 000) and the frame's last.
        let addressDigits = max(8, significantHexDigits(run.first.virtualAddress))
        let addressDigit = addressDigits &- 4
        let frameDigit = addressDigits &+ max(1, significantHexDigits(run.first.frameNumber & shownFrameMask))
        // The lines that fit, and the line before copied sixteen bytes at a
        // time, the last sixteen ending at its end (a line is wider than
        // sixteen): nothing past it. A line of at most 48 bytes (every
        // address of a 48-bit space) is three straight copies, one loop
        // outside; a loop of copies per line was half a line's cost.
        let fitting = min(run.count, room / width)
        let last = width &- 16
        var lines = 1
        var line = out + width
        if showsFrame && width > 32 && width <= 48 {
            // Root's lines of a 48-bit space, nearly every line: three
            // straight copies, the loop below with its choices made (a loop
            // of copies per line was half a line's cost).
            let frameFirst = addressDigits &+ 1
            while lines < fitting {
                let from = UnsafeRawPointer(line - width), to = UnsafeMutableRawPointer(line)
                to.storeBytes(of: from.loadUnaligned(as: SIMD16<UInt8>.self), as: SIMD16<UInt8>.self)
                to.storeBytes(of: from.loadUnaligned(fromByteOffset: 16, as: SIMD16<UInt8>.self),
                              toByteOffset: 16, as: SIMD16<UInt8>.self)
                to.storeBytes(of: from.loadUnaligned(fromByteOffset: last, as: SIMD16<UInt8>.self),
                              toByteOffset: last, as: SIMD16<UInt8>.self)
                guard incrementHexDigit(line, at: addressDigit, first: 0),
                      incrementHexDigit(line, at: frameDigit, first: frameFirst) else { break }
                lines &+= 1
                line += width
            }
            return (lines, lines &* width)
        }
        while lines < fitting {
            // The line before, sixteen bytes at a time, the last sixteen
            // ending at its end (a line is wider than sixteen): nothing
            // past it.
            let from = UnsafeRawPointer(line - width), to = UnsafeMutableRawPointer(line)
            var byte = 0
            while byte &+ 16 < width {
                to.storeBytes(of: from.loadUnaligned(fromByteOffset: byte, as: SIMD16<UInt8>.self),
                              toByteOffset: byte, as: SIMD16<UInt8>.self)
                byte &+= 16
            }
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: last, as: SIMD16<UInt8>.self),
                          toByteOffset: last, as: SIMD16<UInt8>.self)
            guard incrementHexDigit(line, at: addressDigit, first: 0) else { break }
            if showsFrame {
                guard incrementHexDigit(line, at: frameDigit, first: addressDigits &+ 1) else { break }
            }
            lines &+= 1
            line += width
        }
        return (lines, lines &* width)
    }

    /// How many hex digits `value` has without leading zeros (none for 0).
    @inline(__always)
    static func significantHexDigits(_ value: UInt64) -> Int {
        (64 - value.leadingZeroBitCount + 3) / 4
    }

    /// Adds one to the lowercase hex number in `line[first...last]`, in
    /// place; false if it needs another digit. Most often only its last
    /// digit changes.
    @inline(__always)
    static func incrementHexDigit(_ line: UnsafeMutablePointer<UInt8>, at last: Int, first: Int) -> Bool {
        let digit = line[last]
        if digit != UInt8(ascii: "f") {
            line[last] = digit == UInt8(ascii: "9") ? UInt8(ascii: "a") : digit &+ 1
            return true
        }
        return incrementHex(line, first: first, last: last)
    }

    /// ``incrementHexDigit(_:at:first:)`` past a carry.
    static func incrementHex(_ line: UnsafeMutablePointer<UInt8>, first: Int, last: Int) -> Bool {
        var at = last
        while at >= first {
            let digit = line[at]
            if digit != UInt8(ascii: "f") {
                line[at] = digit == UInt8(ascii: "9") ? UInt8(ascii: "a") : digit &+ 1
                return true
            }
            line[at] = UInt8(ascii: "0")
            at &-= 1
        }
        return false
    }

    /// Lowercase hex digits of `value`, zero-padded to `width` (at most 16);
    /// returns how many. Stores 16 bytes at `line` whatever the count: the
    /// caller has room past the digits (see ``maximumPageLineLength``) and
    /// writes over the rest.
    @inline(__always)
    static func writeHex(_ value: UInt64, width: Int, into line: UnsafeMutablePointer<UInt8>) -> Int {
        let count = max(min(width, 16), max(1, significantHexDigits(value)))
        // All 16 digits as one 128-bit number, first digit in its top byte,
        // shifted left past the 16 - count digits not wanted.
        // A PFN of a machine under 16 TiB has no high half: skip its digits.
        var high = value >> 32 == 0 ? 0x3030_3030_3030_3030 : hexDigits(UInt32(truncatingIfNeeded: value >> 32))
        var low = hexDigits(UInt32(truncatingIfNeeded: value))
        let shift = (16 - count) &* 8
        if shift >= 64 {
            high = low &<< (shift &- 64)
            low = 0
        } else if shift > 0 {
            high = high &<< shift | low &>> (64 &- shift)
            low = low &<< shift
        }
        let raw = UnsafeMutableRawPointer(line)
        raw.storeBytes(of: high.bigEndian, as: UInt64.self)
        raw.storeBytes(of: low.bigEndian, toByteOffset: 8, as: UInt64.self)
        return count
    }

    /// The eight hex digits of `value` as ASCII bytes, the first digit in
    /// the most significant byte: nibbles spread to bytes, then '0' or
    /// 'a'-10 added to each, without a branch.
    @inline(__always)
    static func hexDigits(_ value: UInt32) -> UInt64 {
        var x = UInt64(value)
        x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF
        x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF
        x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F
        let letters = ((x &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101
        return x &+ 0x3030_3030_3030_3030 &+ letters &* 0x27
    }

    /// The decimal digits of `value`, with a minus sign if negative;
    /// returns how many bytes.
    @inline(__always)
    static func writeDecimal(_ value: Int32, into line: UnsafeMutablePointer<UInt8>) -> Int {
        if value >= 0 && value < 10 {
            // NUMA node 0 to 9: nearly every machine.
            line[0] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value)
            return 1
        }
        guard value < 0 else { return writeDecimal(UInt64(value), into: line) }
        line[0] = UInt8(ascii: "-")
        return 1 + writeDecimal(UInt64(value.magnitude), into: line + 1)
    }

    /// Writes the decimal digits of `value` at `text`, zero-padded to
    /// `width` digits (at most 20, the digits of `UInt64.max`); returns
    /// how many it wrote. Every number the server writes (a page line's
    /// node, a `status` figure, a log line's) is written here.
    @inlinable
    package static func writeDecimal(_ value: UInt64, width: Int = 1, into text: UnsafeMutablePointer<UInt8>) -> Int {
        // Two digits a division, from a table of the pairs 00 to 99.
        var count = 1
        var probe = value
        while probe >= 100 {
            count += 2
            probe /= 100
        }
        if probe >= 10 { count += 1 }
        count = max(count, min(width, 20))
        let pairs = digitPairs.utf8Start
        var rest = value
        var index = count
        while rest >= 100 {
            let pair = Int(truncatingIfNeeded: rest % 100) &* 2
            rest /= 100
            index -= 2
            text[index] = pairs[pair]
            text[index + 1] = pairs[pair + 1]
        }
        if rest >= 10 {
            let pair = Int(truncatingIfNeeded: rest) &* 2
            index -= 2
            text[index] = pairs[pair]
            text[index + 1] = pairs[pair + 1]
        } else {
            index -= 1
            text[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest)
        }
        while index > 0 {
            index -= 1
            text[index] = UInt8(ascii: "0")
        }
        return count
    }

    /// The decimal pairs `00` to `99`, for ``writeDecimal(_:width:into:)``.
    @usableFromInline
    static let digitPairs: StaticString = """
        00010203040506070809101112131415161718192021222324252627282930313233343536373839\
        40414243444546474849505152535455565758596061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899
        """

    /// Calls `body` with the decimal digits of `value`, zero-padded to
    /// `width` (at most 20), from room on the stack: for a writer that
    /// appends them (``KeyedLines``, the server's log lines).
    @inlinable
    package static func withDecimal<Result>(_ value: UInt64, width: Int = 1,
                                            _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        return withUnsafeMutableBytes(of: &digits) { room in
            let text = room.bindMemory(to: UInt8.self)
            return body(UnsafeBufferPointer(rebasing: text.prefix(writeDecimal(value, width: width, into: text.baseAddress!))))
        }
    }

    /// The zone's word; returns its length. Stores 8 bytes at `line` (the
    /// word, blank-padded): the caller has room and writes over the rest.
    @inline(__always)
    static func writeZone(_ zone: MemoryZone, into line: UnsafeMutablePointer<UInt8>) -> Int {
        // The words' ASCII bytes, first in the least significant byte.
        let (word, length): (UInt64, Int) = switch zone {
        case .dma: (0x2020_2020_2061_6D64, 3)
        case .dma32: (0x2020_2032_3361_6D64, 5)
        case .normal: (0x2020_6C61_6D72_6F6E, 6)
        case .movable: (0x2065_6C62_6176_6F6D, 7)
        case .device: (0x2020_6563_6976_6564, 6)
        case .other: (0x2020_2072_6568_746F, 5)
        }
        UnsafeMutableRawPointer(line).storeBytes(of: word.littleEndian, as: UInt64.self)
        return length
    }
}
