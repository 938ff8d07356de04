import MempinDevice
import MempinTree
import Testing

@Suite("File formats")
struct FormatsTests {
    @Test("pin file names are %08lx-%08lx and parse back")
    func pinFileNames() {
        #expect(Formats.pinFileName(start: 0x7f3a_1c00_0000, end: 0x7f3a_1c10_0000) == "7f3a1c000000-7f3a1c100000")
        #expect(Formats.pinFileName(start: 0x1000, end: 0x2000) == "00001000-00002000")
        #expect(Formats.parsePinFileName("00001000-00002000")! == (0x1000, 0x2000))
        #expect(Formats.parsePinFileName("7f3a1c000000-7f3a1c100000")! == (0x7f3a_1c00_0000, 0x7f3a_1c10_0000))
        for bad in ["1000-2000", "00001000-00002000 ", "0x00001000-00002000", "0000100G-00002000", "pin", "",
                    "00001000", "00001000-00002000-00003000", "00001000-0000200A"] {
            #expect(Formats.parsePinFileName(bad) == nil, "\(bad)")
        }
    }

    @Test("keyed lines made as bytes: decimal numbers from 0 to UInt64.max, words as given, values escaped")
    func keyedLineBytes() {
        var lines = Formats.KeyedLines()
        lines.append("pins", 0)
        lines.append("bytes", 1_048_576)
        lines.append("most", UInt64.max)
        lines.append("memlock_limit_bytes", word: "unlimited")
        lines.append("cgroup", escaping: "/a b\\c\n")
        #expect(String(decoding: lines.bytes, as: UTF8.self)
            == "pins 0\nbytes 1048576\nmost 18446744073709551615\nmemlock_limit_bytes unlimited\n"
            + "cgroup /a\\040b\\134c\\012\n")
        #expect(Formats.word("/a b\\c\n") == "/a\\040b\\134c\\012")
        // Escapes first, last and side by side; other bytes, UTF-8 ones too, as they are.
        #expect(Formats.word("\t\u{7f}é/x y  ") == "\\011\\177é/x\\040y\\040\\040")
        #expect(Formats.word("") == "")
        #expect(Formats.word("/user.slice/user-1000.slice") == "/user.slice/user-1000.slice")
    }

    @Test("decimals match String(_:), zero-padded to a width, at every digit count")
    func decimals() {
        var values: [UInt64] = Array(0...1_000) + [UInt64.max, UInt64.max - 1]
        var power: UInt64 = 10
        for _ in 0..<19 {
            values += [power - 1, power, power + 1, power &* 7 / 3]
            power = power &* 10
        }
        for value in values {
            for width in [1, 3, 8, 20, 25] {
                let digits = Formats.withDecimal(value, width: width) { String(decoding: $0, as: UTF8.self) }
                let plain = String(value)
                let expected = String(repeating: "0", count: max(0, min(width, 20) - plain.count)) + plain
                #expect(digits == expected, "\(value) width \(width)")
            }
        }
    }

    @Test("the header has the required keys in key value form, then a blank line")
    func header() {
        let pin = PinRecord(id: 7, start: 0x7f3a_1c00_0000, end: 0x7f3a_1c10_0000, pages: 256, pid: 4242)
        let text = Formats.pinHeader(pin)
        #expect(text.hasPrefix("start 7f3a1c000000\nend 7f3a1c100000\npages 256\nbytes 1048576\nwritable 1\nstate pinned\n"))
        #expect(text.hasSuffix("\n\n"))
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            #expect(fields.count == 2)
            #expect(fields[0].allSatisfy { $0.isLowercase || $0 == "_" })
        }
        var detached = pin
        detached.isDetached = true
        #expect(Formats.pinHeader(detached).contains("\nstate detached\n"))
    }

    /// `content` padded with spaces to `width` bytes, the newline included.
    func padded(_ content: String, _ width: Int) -> String {
        content + String(repeating: " ", count: width - 1 - content.utf8.count) + "\n"
    }

    @Test("page lines: vaddr and PFN in lowercase hex, PFN 0 when hidden, one width per file")
    func pageLines() {
        let page = PageRecord(virtualAddress: 0x7f3a_1c00_1000, frameNumber: 0x12_34a6, node: 1, zone: .dma32, isHuge: true)
        let root = Formats.pageLineWidth(end: 0x7f3a_1c10_0000, showsFrame: true)
        let other = Formats.pageLineWidth(end: 0x7f3a_1c10_0000, showsFrame: false)
        #expect(root == 42)
        #expect(other == 30)
        var buffer: [UInt8] = []
        Formats.appendPageLine(page, showsFrame: true, width: root, to: &buffer)
        Formats.appendPageLine(page, showsFrame: false, width: other, to: &buffer)
        #expect(String(decoding: buffer, as: UTF8.self)
            == padded("7f3a1c001000 1234a6 1 dma32 1", root) + padded("7f3a1c001000 0 1 dma32 1", other))
        var low: [UInt8] = []
        Formats.appendPageLine(PageRecord(virtualAddress: 0x1000, frameNumber: 0), showsFrame: true,
                               width: Formats.pageLineWidth(end: 0x2000, showsFrame: true), to: &low)
        #expect(String(decoding: low, as: UTF8.self) == padded("00001000 0 0 normal 0", 38))
    }

    @Test("the NUMA node column is decimal; what no node can be is -1", arguments: [0, 7, 10, 99, 1023, 9999, -1, 10000, Int32.max, -5])
    func nodes(node: Int32) {
        var buffer: [UInt8] = []
        let width = Formats.pageLineWidth(end: 0x2000, showsFrame: true)
        Formats.appendPageLine(PageRecord(virtualAddress: 0x1000, frameNumber: 1, node: node), showsFrame: true,
                               width: width, to: &buffer)
        let shown = (-1...9999).contains(node) ? node : -1
        #expect(String(decoding: buffer, as: UTF8.self) == padded("00001000 1 \(shown) normal 0", width))
    }

    @Test("10,000 random page lines match a line built with String(radix:)")
    func randomPageLines() {
        var random = XorShift64(state: 0x9E37_79B9_7F4A_7C15)  // the same lines every run
        func next() -> UInt64 { random.next() }
        let zones: [(MemoryZone, String)] = [
            (.dma, "dma"), (.dma32, "dma32"), (.normal, "normal"), (.movable, "movable"), (.device, "device"), (.other, "other"),
        ]
        var buffer: [UInt8] = []
        var expected = ""
        for _ in 0..<10_000 {
            let vaddr = next() >> (next() % 64)
            let pfn = next() >> (12 + next() % 52)
            let node = Int32(truncatingIfNeeded: next() % 12)
            let (zone, word) = zones[Int(next() % 6)]
            let huge = next() % 2 == 0
            let shows = next() % 3 != 0
            let width = Formats.pageLineWidth(end: vaddr &+ 4096, showsFrame: shows)
            Formats.appendPageLine(PageRecord(virtualAddress: vaddr, frameNumber: pfn, node: node, zone: zone, isHuge: huge),
                                   showsFrame: shows, width: width, to: &buffer)
            expected += padded("\(Formats.hex(vaddr, width: 8)) \(String(shows ? pfn : 0, radix: 16)) \(node) \(word) \(huge ? 1 : 0)",
                               width)
        }
        #expect(String(decoding: buffer, as: UTF8.self) == expected)
    }

    @Test("a page line patched from the one before is the line written whole, across carries and changes")
    func patchedPageLines() {
        var random = XorShift64(state: 0x2545_f491_4f6c_dd1d)  // the same runs every time
        func next() -> UInt64 { random.next() }
        // Starts where a number's digits carry or lengthen.
        let addresses: [UInt64] = [0x1000, 0xffff_d000, 0xfff_e000, 0x7f3a_1bff_e000, 0x7fff_ffff_d000, 0xffff_ffff_ffff_c000]
        let frames: [UInt64] = [0, 0xe, 0xffe, 0x1_0fff_fffe, 0xf_ffff_ffff_fffd, 0xff_ffff_ffff_fffe, 0x1234]
        var followers = 0
        for run in 0..<600 {
            let shows = run % 3 != 0
            var page = PageRecord(virtualAddress: addresses[run % addresses.count] &- (next() % 3) * 0x1000,
                                  frameNumber: frames[(run / addresses.count) % frames.count] &+ next() % 3)
            let count = 40
            let width = Formats.pageLineWidth(end: page.virtualAddress &+ UInt64(count) * 0x1000, showsFrame: shows)
            var whole: [UInt8] = []
            var pages: [PageRecord] = []
            for _ in 0..<count {
                Formats.appendPageLine(page, showsFrame: shows, width: width, to: &whole)
                pages.append(page)
                // Mostly the next page and frame; now and then a jump or a change.
                page.virtualAddress &+= next() % 16 == 0 ? 0x3000 : 0x1000
                switch next() % 16 {
                case 0: page.frameNumber = next() >> (12 + next() % 52)
                case 1: page.node = Int32(next() % 3)
                case 2: page.zone = [.dma32, .normal, .movable][Int(next() % 3)]
                case 3: page.isHuge.toggle()
                case 4: break
                case 5: page.frameNumber &+= 2
                default: page.frameNumber &+= 1
                }
            }
            let out = UnsafeMutablePointer<UInt8>.allocate(capacity: count * Formats.maximumPageLineLength + 64)
            defer { out.deallocate() }
            // As the page list reads: runs of pages, each in pieces of a few
            // lines where the room of a read ends.
            var filled = 0
            var runs = PageRun.runs(of: pages)[...]
            #expect(runs.reduce(0) { $0 + $1.count } == count)
            while let run = runs.first {
                let room = (1 + Int(next() % 24)) * width + Int(next() % UInt64(width))
                let (lines, bytes) = Formats.writePageLines(run, showsFrame: shows, width: width, room: room, into: out + filled)
                #expect(lines >= 1 && lines <= run.count && bytes >= lines * width && bytes <= room + Formats.maximumPageLineLength)
                followers += lines - 1
                filled += bytes
                if lines == run.count {
                    runs.removeFirst()
                } else {
                    runs[runs.startIndex] = run.dropping(lines)
                }
            }
            #expect(String(decoding: UnsafeBufferPointer(start: out, count: filled), as: UTF8.self)
                    == String(decoding: whole, as: UTF8.self), "run \(run)")
        }
        #expect(followers > 10_000)
    }

    @Test("hex matches String(radix:) with padding", arguments: [0, 1, 0xf, 0x10, 0xdead_beef, UInt64.max])
    func hex(value: UInt64) {
        var buffer: [UInt8] = []
        Formats.appendPageLine(PageRecord(virtualAddress: value, frameNumber: value), showsFrame: true,
                               width: Formats.pageLineWidth(end: value, showsFrame: true), to: &buffer)
        let fields = String(decoding: buffer, as: UTF8.self).split(separator: " ")
        #expect(fields[0] == Formats.hex(value, width: 8))
        #expect(fields[1] == String(value & (1 << 52 - 1), radix: 16))
        let digits = String(value, radix: 16)
        for width in [0, 1, 8, 16, 20] {
            #expect(Formats.hex(value, width: width) == String(repeating: "0", count: max(0, width - digits.count)) + digits)
        }
    }
}

/// xorshift64: a fixed sequence from a seed, for tests that are the same
/// every run.
private struct XorShift64 {
    var state: UInt64

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
