// libFuzzer entry point for the control-file parser (mount-scripts/fuzz-parser
// builds it with -sanitize=fuzzer,address over MempinTree's sources).
//
// The invariant: a write either parses to ranges that round-trip through
// the pin file naming (name, parse the name back, parse the name as a write)
// or fails with exactly EINVAL. Never a crash, a trap or a hang.
import MempinTree
import SystemPackage

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let ranges: [RequestedRange]
    do {
        ranges = try RangeParser.parse(bytes)
    } catch {
        precondition(error == .invalidArgument, "a parse failed with \(error), not EINVAL")
        return 0
    }
    precondition(!ranges.isEmpty, "parsed nothing without failing")
    for range in ranges {
        precondition(range.length > 0, "zero length accepted")
        let (end, overflow) = range.start.addingReportingOverflow(range.length)
        precondition(!overflow, "a range past 2^64 accepted")
        // Widened to pages, as the module does; an end that rounds past
        // 2^64 is the module's EINVAL.
        let page: UInt64 = 4096
        let first = range.start & ~(page - 1)
        let (last, wraps) = end.addingReportingOverflow(page - 1)
        if wraps { continue }
        let widenedEnd = last & ~(page - 1)
        let name = Formats.pinFileName(start: first, end: widenedEnd)
        guard let back = Formats.parsePinFileName(name) else {
            preconditionFailure("the name \(name) does not parse back")
        }
        precondition(back.start == first && back.end == widenedEnd, "\(name) parses back to \(back)")
        let again = try? RangeParser.parse(Array(name.utf8))
        precondition(again == [RequestedRange(start: first, length: widenedEnd - first)],
                     "the name \(name) written back parses to \(String(describing: again))")
    }
    return 0
}
