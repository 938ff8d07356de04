import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// What the tree needs to know about processes.
public protocol ProcessFacts: Sendable {
    /// The real uid and gid of the live process `pid` (a thread-group id).
    ///
    /// - Throws: `ESRCH` when there is no such live process.
    func owner(of pid: Int32) throws(Errno) -> (uid: UInt32, gid: UInt32)
    /// The thread-group id of the thread `tid`, or nil if it has gone.
    func threadGroup(of tid: Int32) -> Int32?
    /// The kernel's `VmPin` of `pid`, in bytes.
    func pinnedBytes(of pid: Int32) -> UInt64
    /// The soft RLIMIT_MEMLOCK of `pid` in bytes; nil for unlimited.
    func memlockLimit(of pid: Int32) -> UInt64?
    /// The command name of `pid` (`/proc/PID/comm`), or nil if it has gone.
    func command(of pid: Int32) -> String?
}

/// Process facts read from `/proc`, as the server sees them.
///
/// Every request asks these, so they are parsed straight from the bytes of
/// `/proc/PID/status` (String splitting cost 45 times the read itself).
public struct ProcFS: ProcessFacts {
    public init() {}

    public func owner(of pid: Int32) throws(Errno) -> (uid: UInt32, gid: UInt32) {
        guard pid > 0, let status = Self.contents(of: "/proc/\(pid)/status") else { throw .noSuchProcess }
        guard Self.number("Tgid", in: status) == UInt64(pid),
              Self.field("State", in: status)?.first != UInt8(ascii: "Z"),
              let uid = Self.number("Uid", in: status), let gid = Self.number("Gid", in: status)
        else { throw .noSuchProcess }
        return (UInt32(truncatingIfNeeded: uid), UInt32(truncatingIfNeeded: gid))
    }

    public func threadGroup(of tid: Int32) -> Int32? {
        guard tid > 0, let status = Self.contents(of: "/proc/\(tid)/status"),
              let tgid = Self.number("Tgid", in: status)
        else { return nil }
        return Int32(truncatingIfNeeded: tgid)
    }

    public func pinnedBytes(of pid: Int32) -> UInt64 {
        guard let status = Self.contents(of: "/proc/\(pid)/status"), let kb = Self.number("VmPin", in: status)
        else { return 0 }
        return kb * 1024
    }

    public func memlockLimit(of pid: Int32) -> UInt64? {
        // "Max locked memory         8388608              8388608              bytes"
        guard let limits = Self.contents(of: "/proc/\(pid)/limits"),
              let soft = Self.field("Max locked memory", in: limits, separator: UInt8(ascii: " "))
        else { return nil }
        return Self.decimal(soft)
    }

    public func command(of pid: Int32) -> String? {
        guard pid > 0, var comm = Self.contents(of: "/proc/\(pid)/comm") else { return nil }
        if comm.last == UInt8(ascii: "\n") { comm.removeLast() }
        return String(decoding: comm, as: UTF8.self)
    }

    /// A whole small file, or nil.
    static func contents(of path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        var count = 0
        while true {
            if count == bytes.count { bytes.append(contentsOf: repeatElement(0, count: bytes.count)) }
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + count, $0.count - count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            count += n
        }
        bytes.removeSubrange(count...)
        return bytes
    }

    /// The first word after `name` and `separator` at the start of a line.
    static func field(_ name: String, in text: [UInt8], separator: UInt8 = UInt8(ascii: ":")) -> ArraySlice<UInt8>? {
        let key = Array(name.utf8) + [separator]
        var lineStart = 0
        while lineStart < text.count {
            let lineEnd = text[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? text.count
            if lineEnd - lineStart > key.count && text[lineStart..<(lineStart + key.count)].elementsEqual(key) {
                let rest = text[(lineStart + key.count)..<lineEnd]
                let word = rest.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                return word.prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
            }
            lineStart = lineEnd + 1
        }
        return nil
    }

    static func number(_ name: String, in text: [UInt8]) -> UInt64? {
        field(name, in: text).flatMap(decimal)
    }

    static func decimal(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            let (shifted, o1) = value.multipliedReportingOverflow(by: 10)
            let (sum, o2) = shifted.addingReportingOverflow(UInt64(digit - UInt8(ascii: "0")))
            guard !o1, !o2 else { return nil }
            value = sum
        }
        return value
    }
}
