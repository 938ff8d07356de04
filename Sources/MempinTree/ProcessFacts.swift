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
}

/// Process facts read from `/proc`, as the server sees them.
public struct ProcFS: ProcessFacts {
    public init() {}

    public func owner(of pid: Int32) throws(Errno) -> (uid: UInt32, gid: UInt32) {
        guard pid > 0, let status = Self.status(of: pid) else { throw .noSuchProcess }
        guard Self.field("Tgid", in: status).flatMap({ Int32($0) }) == pid,
              Self.field("State", in: status)?.first != "Z",
              let uid = Self.field("Uid", in: status).flatMap({ UInt32($0) }),
              let gid = Self.field("Gid", in: status).flatMap({ UInt32($0) })
        else { throw .noSuchProcess }
        return (uid, gid)
    }

    public func threadGroup(of tid: Int32) -> Int32? {
        guard tid > 0, let status = Self.status(of: tid) else { return nil }
        return Self.field("Tgid", in: status).flatMap { Int32($0) }
    }

    public func pinnedBytes(of pid: Int32) -> UInt64 {
        guard let status = Self.status(of: pid), let kb = Self.field("VmPin", in: status).flatMap({ UInt64($0) })
        else { return 0 }
        return kb * 1024
    }

    public func memlockLimit(of pid: Int32) -> UInt64? {
        // "Max locked memory         8388608              8388608              bytes"
        guard let limits = Self.contents(of: "/proc/\(pid)/limits") else { return nil }
        for line in limits.split(separator: "\n") where line.hasPrefix("Max locked memory") {
            let soft = line.dropFirst("Max locked memory".count).split(separator: " ").first
            return soft.flatMap { UInt64($0) }
        }
        return nil
    }

    /// `/proc/PID/status`, or nil.
    static func status(of pid: Int32) -> String? {
        contents(of: "/proc/\(pid)/status")
    }

    /// A whole small file, or nil.
    static func contents(of path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The first word after `name:` in a status text.
    static func field(_ name: String, in status: String) -> Substring? {
        for line in status.split(separator: "\n") where line.hasPrefix(name + ":") {
            return line.dropFirst(name.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first
        }
        return nil
    }
}
