import CProcess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// A soft RLIMIT_MEMLOCK.
public enum MemlockLimit: Hashable, Sendable {
    case bytes(UInt64)
    case unlimited
}

/// Who a process is, as ptrace's read rule (the one `/proc/PID/maps`
/// follows) needs it.
public struct ProcessCredentials: Hashable, Sendable {
    /// Its thread group.
    public var threadGroup: Int32
    /// Real, effective and saved uid.
    public var uids: [UInt32]
    /// Real, effective and saved gid.
    public var gids: [UInt32]
    /// CAP_SYS_ADMIN in its effective set, in the server's user namespace:
    /// what this tree calls root (uid 0 alone is not).
    public var isAdministrator: Bool
    /// Its memory may be inspected by its own user (`get_dumpable() ==
    /// SUID_DUMP_USER`): false for setuid programs and processes that
    /// cleared it (ssh-agent).
    public var isDumpable: Bool

    public init(threadGroup: Int32, uids: [UInt32], gids: [UInt32], isAdministrator: Bool, isDumpable: Bool) {
        self.threadGroup = threadGroup
        self.uids = uids
        self.gids = gids
        self.isAdministrator = isAdministrator
        self.isDumpable = isDumpable
    }
}

/// What the tree needs to know about processes.
public protocol ProcessFacts: Sendable {
    /// The real uid and gid of the live process `pid` (a thread-group id).
    ///
    /// - Throws: `ESRCH` when there is no such live process.
    func owner(of pid: Int32) throws(Errno) -> (uid: UInt32, gid: UInt32)
    /// The credentials of the thread or process `tid`, or nil if it has gone.
    func credentials(of tid: Int32) -> ProcessCredentials?
    /// What every request asks of its sender, the thread `tid`: its thread
    /// group and whether it is root (see
    /// ``ProcessCredentials/isAdministrator``); nil if it has gone.
    func sender(_ tid: Int32) -> (threadGroup: Int32, isAdministrator: Bool)?
    /// Whether the thread `tid` is root (see
    /// ``ProcessCredentials/isAdministrator``), for a request whose answer
    /// needs no thread group; false if it has gone.
    func isAdministrator(_ tid: Int32) -> Bool
    /// What tells this process from a later one with the same pid (its
    /// start time), or nil if it has gone.
    func identity(of pid: Int32) -> UInt64?
    /// The kernel's `VmPin` of `pid`, in bytes, or nil when it cannot be read.
    func pinnedBytes(of pid: Int32) -> UInt64?
    /// The soft RLIMIT_MEMLOCK of `pid`, or nil when it cannot be read.
    func memlockLimit(of pid: Int32) -> MemlockLimit?
    /// The command name of `pid` (`/proc/PID/comm`), or nil if it has gone.
    func command(of pid: Int32) -> String?
    /// Whether a mapping of `pid` in [`start`, `end`) is a file on a FUSE
    /// file system, whose server (any user may run one) decides whether a
    /// fault there ever ends.
    func mapsFUSEFile(of pid: Int32, from start: UInt64, to end: UInt64) -> Bool
    /// The cgroup v2 path of `pid`, or nil when it cannot be read.
    func cgroup(of pid: Int32) -> String?
    /// Every live process whose `VmPin` is above zero, with it in bytes.
    func processesWithPinnedMemory() -> [Int32: UInt64]
    /// The ranges `pid` maps that may hold pages (all but `PROT_NONE`
    /// reservations), in address order, or nil when it has gone.
    func mappedRanges(of pid: Int32) -> [Range<UInt64>]?
    /// The page frame of each of `count` pages of `pid` from `start`
    /// (`/proc/PID/pagemap`, as root), 0 where no page is present, or nil
    /// when they cannot be read.
    func frames(of pid: Int32, from start: UInt64, count: Int) -> [UInt64]?
    /// Who else the process's open files say pins its memory.
    func pinHolders(of pid: Int32) -> PinHolders
    /// What `status` shows of `pid` beside the module's own figures.
    func statusFigures(of pid: Int32) -> StatusFigures
}

/// What `status` shows of a process beside the module's own figures; each
/// is nil where it cannot be read (and is then left out, never shown as 0).
public struct StatusFigures: Hashable, Sendable {
    /// Its `VmPin`, in bytes.
    public var pinnedBytes: UInt64?
    /// Its soft RLIMIT_MEMLOCK.
    public var memlockLimit: MemlockLimit?
    /// Its cgroup v2 path.
    public var cgroup: String?
    /// What tells it from a later process of its pid (see
    /// ``ProcessFacts/identity(of:)``).
    public var identity: UInt64?

    public init(pinnedBytes: UInt64?, memlockLimit: MemlockLimit?, cgroup: String?, identity: UInt64? = nil) {
        self.pinnedBytes = pinnedBytes
        self.memlockLimit = memlockLimit
        self.cgroup = cgroup
        self.identity = identity
    }
}

extension ProcessFacts {
    public func sender(_ tid: Int32) -> (threadGroup: Int32, isAdministrator: Bool)? {
        credentials(of: tid).map { ($0.threadGroup, $0.isAdministrator) }
    }

    public func isAdministrator(_ tid: Int32) -> Bool {
        sender(tid)?.isAdministrator ?? false
    }

    public func statusFigures(of pid: Int32) -> StatusFigures {
        StatusFigures(pinnedBytes: pinnedBytes(of: pid), memlockLimit: memlockLimit(of: pid), cgroup: cgroup(of: pid),
                      identity: identity(of: pid))
    }
}

/// Process facts read from `/proc`, as the server sees them.
///
/// Every request asks these, so they are parsed straight from the bytes of
/// `/proc/PID/status` (String splitting cost 45 times the read itself).
public struct ProcFS: ProcessFacts {
    public init() {}

    public func owner(of pid: Int32) throws(Errno) -> (uid: UInt32, gid: UInt32) {
        guard pid > 0, let status = Self.contents(of: "/proc/\(pid)/status", inOneRead: true) else { throw .noSuchProcess }
        guard Self.number("Tgid", in: status) == UInt64(pid),
              Self.field("State", in: status)?.first != UInt8(ascii: "Z"),
              let uid = Self.number("Uid", in: status), let gid = Self.number("Gid", in: status)
        else { throw .noSuchProcess }
        return (UInt32(truncatingIfNeeded: uid), UInt32(truncatingIfNeeded: gid))
    }

    public func credentials(of tid: Int32) -> ProcessCredentials? {
        guard tid > 0, let status = Self.contents(of: "/proc/\(tid)/status", inOneRead: true),
              let tgid = Self.number("Tgid", in: status),
              let uids = Self.numbers("Uid", in: status), uids.count >= 3,
              let gids = Self.numbers("Gid", in: status), gids.count >= 3,
              let capabilities = Self.field("CapEff", in: status).flatMap(Self.hexadecimal)
        else { return nil }
        let administrator = Self.isAdministrator(tid, capabilities: capabilities)
        // The kernel shows a process's files as root's when it is not
        // dumpable (task_dump_owner()); its directory always as its euid.
        var st = stat()
        let dumpable = uids[1] == 0 || (lstat("/proc/\(tid)/maps", &st) == 0 && st.st_uid == uids[1])
        return ProcessCredentials(
            threadGroup: Int32(truncatingIfNeeded: tgid), uids: uids.prefix(3).map { UInt32(truncatingIfNeeded: $0) },
            gids: gids.prefix(3).map { UInt32(truncatingIfNeeded: $0) }, isAdministrator: administrator,
            isDumpable: dumpable
        )
    }

    /// Two system calls (`capget` and `pidfd_open`), and for a sender
    /// with CAP_SYS_ADMIN a read of its namespace link: every request asks
    /// this, and the text of `/proc/TID/status` costs the kernel more than
    /// the rest of a small request. Only a thread that does not lead its
    /// process has `status` read, for its thread group. (The sender's uid
    /// and gid come with the request.)
    public func sender(_ tid: Int32) -> (threadGroup: Int32, isAdministrator: Bool)? {
        var capabilities: UInt64 = 0
        guard CProcess_effective_capabilities(tid, &capabilities) == 0 else { return nil }
        var group = tid
        if CProcess_leads_thread_group(tid) == 0 {
            guard let status = Self.contents(of: "/proc/\(tid)/status", inOneRead: true), let tgid = Self.number("Tgid", in: status)
            else { return nil }
            group = Int32(truncatingIfNeeded: tgid)
        }
        return (group, Self.isAdministrator(tid, capabilities: capabilities))
    }

    /// `capget`, and for a thread with CAP_SYS_ADMIN its namespace link.
    public func isAdministrator(_ tid: Int32) -> Bool {
        var capabilities: UInt64 = 0
        guard CProcess_effective_capabilities(tid, &capabilities) == 0 else { return false }
        return Self.isAdministrator(tid, capabilities: capabilities)
    }

    /// CAP_SYS_ADMIN, counted in the server's own user namespace only.
    static func isAdministrator(_ tid: Int32, capabilities: UInt64) -> Bool {
        capabilities & (1 << 21) != 0 && userNamespace(of: "\(tid)") == ownUserNamespace
    }

    /// The server's user namespace, which never changes (a process that
    /// is not single-threaded cannot `setns` or `unshare` one).
    static let ownUserNamespace = userNamespace(of: "self")

    public func identity(of pid: Int32) -> UInt64? {
        // Field 22 of /proc/PID/stat, counted after the command's ")".
        guard pid > 0, let stat = Self.contents(of: "/proc/\(pid)/stat", inOneRead: true),
              let close = stat.lastIndex(of: UInt8(ascii: ")"))
        else { return nil }
        // The 20th word after it, found without splitting the line: every
        // request to a pid directory asks this.
        let space = UInt8(ascii: " "), newline = UInt8(ascii: "\n")
        var index = close + 1
        var word = 0
        while index < stat.count {
            while index < stat.count && stat[index] == space { index += 1 }
            let start = index
            while index < stat.count && stat[index] != space && stat[index] != newline { index += 1 }
            guard index > start else { return nil }
            if word == 19 { return Self.decimal(stat[start..<index]) }
            word += 1
        }
        return nil
    }

    public func pinnedBytes(of pid: Int32) -> UInt64? {
        guard let status = Self.contents(of: "/proc/\(pid)/status", inOneRead: true), let kb = Self.number("VmPin", in: status)
        else { return nil }
        return kb * 1024
    }

    public func memlockLimit(of pid: Int32) -> MemlockLimit? {
        // "Max locked memory         8388608              8388608              bytes"
        guard let limits = Self.contents(of: "/proc/\(pid)/limits", inOneRead: true),
              let soft = Self.field("Max locked memory", in: limits, separator: UInt8(ascii: " "))
        else { return nil }
        if soft.elementsEqual("unlimited".utf8) { return .unlimited }
        return Self.decimal(soft).map { .bytes($0) }
    }

    public func mapsFUSEFile(of pid: Int32, from start: UInt64, to end: UInt64) -> Bool {
        guard let maps = Self.contents(of: "/proc/\(pid)/maps") else { return false }
        var devices: Set<[UInt8]> = []
        for line in maps.split(separator: UInt8(ascii: "\n")) {
            // "7f3a1c000000-7f3a1c100000 rw-p 00000000 00:2d 1234 /path"
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 5, omittingEmptySubsequences: true)
            guard fields.count >= 5, let dash = fields[0].firstIndex(of: UInt8(ascii: "-")),
                  let low = Self.hexadecimal(fields[0][..<dash]),
                  let high = Self.hexadecimal(fields[0][(dash + 1)...]),
                  low < end, start < high, !fields[4].elementsEqual("0".utf8),
                  let colon = fields[3].firstIndex(of: UInt8(ascii: ":")),
                  let major = Self.hexadecimal(fields[3][..<colon]),
                  let minor = Self.hexadecimal(fields[3][(colon + 1)...])
            else { continue }
            devices.insert(Array("\(major):\(minor)".utf8))
        }
        guard !devices.isEmpty, let mounts = Self.contents(of: "/proc/\(pid)/mountinfo") else { return false }
        // "36 35 0:45 / /mnt rw,relatime - fuse.sshfs host:/ rw,..."
        for line in mounts.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "))
            guard fields.count > 3, devices.contains(Array(fields[2])),
                  let separator = fields.firstIndex(where: { $0.elementsEqual("-".utf8) }),
                  separator + 1 < fields.count
            else { continue }
            let type = fields[separator + 1]
            if type.elementsEqual("fuse".utf8) || type.starts(with: "fuse.".utf8) || type.elementsEqual("fuseblk".utf8) {
                return true
            }
        }
        return false
    }

    /// The user namespace `/proc/WHO/ns/user` names, or nil.
    static func userNamespace(of who: String) -> [UInt8]? {
        var link = [UInt8](repeating: 0, count: 64)
        let count = link.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { readlink("/proc/\(who)/ns/user", $0.baseAddress!, $0.count) }
        }
        return count > 0 ? Array(link.prefix(count)) : nil
    }

    public func command(of pid: Int32) -> String? {
        guard pid > 0, var comm = Self.contents(of: "/proc/\(pid)/comm", inOneRead: true) else { return nil }
        if comm.last == UInt8(ascii: "\n") { comm.removeLast() }
        return String(decoding: comm, as: UTF8.self)
    }

    /// A whole small file of procfs or sysfs, or nil.
    ///
    /// - Parameter inOneRead: the file is one record of procfs (made by
    ///   one `single_open()` show: `stat`, `status`, `comm`, `limits`,
    ///   `cgroup`), so a read shorter than asked returned all of it and the
    ///   read of its end is spared.
    public static func contents(of path: String, inOneRead: Bool = false) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        // Read into room left uninitialized: zeroing it cost more than
        // parsing what the read put there.
        var bytes: [UInt8] = []
        var ended = false
        while !ended {
            let chunk = [UInt8](unsafeUninitializedCapacity: max(4096, bytes.count)) { buffer, count in
                count = 0
                while count < buffer.count {
                    let n = read(fd, buffer.baseAddress! + count, buffer.count - count)
                    if n < 0 && errno == EINTR { continue }
                    if n <= 0 {
                        ended = true
                        break
                    }
                    count += n
                    if inOneRead && count < buffer.count {
                        ended = true
                        break
                    }
                }
            }
            if bytes.isEmpty { bytes = chunk } else { bytes += chunk }
        }
        return bytes
    }

    /// What follows `name` and `separator` on the line that starts with them.
    static func rest(ofLine name: String, in text: [UInt8], separator: UInt8 = UInt8(ascii: ":")) -> ArraySlice<UInt8>? {
        var name = name
        let found = name.withUTF8 { key in
            text.withUnsafeBufferPointer { bytes -> Range<Int>? in
                guard let base = bytes.baseAddress, let keyBase = key.baseAddress else { return nil }
                var lineStart = 0
                while lineStart < bytes.count {
                    var lineEnd = bytes.count
                    if let newline = memchr(base + lineStart, 0x0A, bytes.count - lineStart) {
                        lineEnd = UnsafeRawPointer(newline) - UnsafeRawPointer(base)
                    }
                    let matches = lineEnd - lineStart > key.count + 1 && bytes[lineStart + key.count] == separator
                        && memcmp(base + lineStart, keyBase, key.count) == 0
                    if matches {
                        return (lineStart + key.count + 1)..<lineEnd
                    }
                    lineStart = lineEnd + 1
                }
                return nil
            }
        }
        return found.map { text[$0] }
    }

    /// The first word after `name` and `separator` at the start of a line.
    static func field(_ name: String, in text: [UInt8], separator: UInt8 = UInt8(ascii: ":")) -> ArraySlice<UInt8>? {
        guard let rest = rest(ofLine: name, in: text, separator: separator) else { return nil }
        let word = rest.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        return word.prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") }
    }

    static func number(_ name: String, in text: [UInt8]) -> UInt64? {
        field(name, in: text).flatMap(decimal)
    }

    /// Every decimal word after `name:` on its line (`Uid:` has four).
    static func numbers(_ name: String, in text: [UInt8]) -> [UInt64]? {
        guard let rest = rest(ofLine: name, in: text) else { return nil }
        let words = rest.split { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        let values = words.compactMap(decimal)
        return values.count == words.count ? values : nil
    }

    static func hexadecimal(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            let nibble: UInt8
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = digit - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = digit - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = digit - UInt8(ascii: "A") + 10
            default: return nil
            }
            value = value << 4 | UInt64(nibble)
        }
        return value
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
