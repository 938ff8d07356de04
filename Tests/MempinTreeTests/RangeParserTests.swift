import MempinTree
import SystemPackage
import Testing

@Suite("Range parser")
struct RangeParserTests {
    @Test("accepts every documented form", arguments: [
        ("7f3a1c000000-7f3a1c100000", 0x7f3a_1c00_0000, 0x10_0000),
        ("0x7f3a1c000000-0x7f3a1c100000", 0x7f3a_1c00_0000, 0x10_0000),
        ("0x7f3a1c000000+1M", 0x7f3a_1c00_0000, 0x10_0000),
        ("7f3a1c000000+1m", 0x7f3a_1c00_0000, 0x10_0000),
        ("0x7f3a1c000000 1048576", 0x7f3a_1c00_0000, 0x10_0000),
        ("0x7f3a1c000000\t \t1048576", 0x7f3a_1c00_0000, 0x10_0000),
        ("1000+4K", 0x1000, 4096),
        ("1000+4k", 0x1000, 4096),
        ("1000+2G", 0x1000, 2 << 30),
        ("1000+0x2000", 0x1000, 0x2000),
        ("1000+0X2000", 0x1000, 0x2000),
        ("1000+0x2K", 0x1000, 0x800),
        ("ABCDEF000-ABCDEF001", 0xabcd_ef000, 1),
        ("  1000+1  ", 0x1000, 1),
        ("1000+1\r", 0x1000, 1),
        ("0-1", 0, 1),
        ("ffffffffffff0000+0xffff", 0xffff_ffff_ffff_0000, 0xffff),
    ] as [(String, UInt64, UInt64)])
    func acceptsForm(text: String, start: UInt64, length: UInt64) throws {
        #expect(try RangeParser.parse(Array(text.utf8)) == [RequestedRange(start: start, length: length)])
    }

    @Test("refuses bad input with EINVAL", arguments: [
        "", "\n", "   \n\t\n", "hello", "1000", "1000-", "-2000", "2000-1000", "1000-1000",
        "1000+0", "1000+", "+10", "1000+1T", "1000+1KB", "1000+1.5M", "1000+-1", "1000 + 1",
        "0x-10", "1000-0x", "g000-h000", "10000000000000000-10000000000000001",
        "ffffffffffffffff+2", "ffffffffffff0000+0x10000", "1000+99999999999999999999",
        "1000+17179869184G", "0x1000 0x", "1000-2000-3000", "1000+1+1", "1000 1 1",
        "0x+1", "1000\u{0}-2000",
    ])
    func refusesBadInput(text: String) {
        #expect(throws: Errno.invalidArgument) { try RangeParser.parse(Array(text.utf8)) }
    }

    @Test("reads several lines, skipping blank ones")
    func severalLines() throws {
        let text = "1000-2000\n\n3000+4K\n  \n5000 8192\n"
        #expect(try RangeParser.parse(Array(text.utf8)) == [
            RequestedRange(start: 0x1000, length: 0x1000),
            RequestedRange(start: 0x3000, length: 4096),
            RequestedRange(start: 0x5000, length: 8192),
        ])
    }

    @Test("one bad line fails the whole write")
    func oneBadLine() {
        #expect(throws: Errno.invalidArgument) {
            try RangeParser.parse(Array("1000-2000\nnonsense\n3000-4000\n".utf8))
        }
    }
}
