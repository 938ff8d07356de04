import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// What a process's open files say of who else pins its memory.
public struct PinHolders: Hashable, Sendable {
    /// The fixed buffers its io_uring rings registered (their `fdinfo`),
    /// as half-open address ranges.
    public var ioUringBuffers: [Range<UInt64>]
    /// Whether it has an RDMA device file open (`/dev/infiniband/uverbsN`),
    /// whose memory registrations no file lists.
    public var usesRDMA: Bool

    public init(ioUringBuffers: [Range<UInt64>] = [], usesRDMA: Bool = false) {
        self.ioUringBuffers = ioUringBuffers
        self.usesRDMA = usesRDMA
    }
}

// The facts about a process's memory that other pinners leave in /proc:
// its VmPin, mappings, page frames (pagemap, as root), io_uring buffers and
// RDMA files, and its cgroup.
extension ProcFS {
    public func cgroup(of pid: Int32) -> String? {
        // cgroup v2: the one line "0::/system.slice/foo.service".
        guard pid > 0, let text = Self.contents(of: "/proc/\(pid)/cgroup", inOneRead: true),
              let path = Self.rest(ofLine: "0:", in: text)
        else { return nil }
        return String(decoding: path, as: UTF8.self)
    }

    public func processesWithPinnedMemory() -> [Int32: UInt64] {
        Self.processesWithPinnedMemory { pid in pinnedBytes(of: pid) }
    }

    /// Every process `/proc` lists whose `pinnedBytes` is above zero, with it.
    static func processesWithPinnedMemory(_ pinnedBytes: (Int32) -> UInt64?) -> [Int32: UInt64] {
        guard let proc = opendir("/proc") else { return [:] }
        defer { closedir(proc) }
        var found: [Int32: UInt64] = [:]
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                Array(bytes.prefix { $0 != 0 })
            }
            guard let first = name.first, first >= UInt8(ascii: "1"), first <= UInt8(ascii: "9"),
                  let pid = Self.decimal(name[...]), pid <= UInt64(Int32.max)
            else { continue }
            if let bytes = pinnedBytes(Int32(pid)), bytes > 0 { found[Int32(pid)] = bytes }
        }
        return found
    }

    public func mappedRanges(of pid: Int32) -> [Range<UInt64>]? {
        guard pid > 0, let maps = Self.contents(of: "/proc/\(pid)/maps") else { return nil }
        var ranges: [Range<UInt64>] = []
        for line in maps.split(separator: UInt8(ascii: "\n")) {
            // "7f3a1c000000-7f3a1c100000 rw-p 00000000 00:00 0"
            let fields = line.split(separator: UInt8(ascii: " "), maxSplits: 2)
            guard fields.count >= 2, let dash = fields[0].firstIndex(of: UInt8(ascii: "-")),
                  let low = Self.hexadecimal(fields[0][..<dash]),
                  let high = Self.hexadecimal(fields[0][(dash + 1)...]), low < high,
                  // Not PROT_NONE (a reservation), not the vsyscall page.
                  !fields[1].starts(with: "---".utf8), high <= Self.userAddressLimit
            else { continue }
            ranges.append(low..<high)
        }
        return ranges
    }

    /// Above the largest user address of x86-64's 4-level paging lies only
    /// the vsyscall page.
    static let userAddressLimit: UInt64 = 1 << 47

    public func frames(of pid: Int32, from start: UInt64, count: Int) -> [UInt64]? {
        guard pid > 0, count > 0 else { return [] }
        let fd = open("/proc/\(pid)/pagemap", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        var entries = [UInt64](repeating: 0, count: count)
        let size = count * 8
        var done = 0
        while done < size {
            let n = entries.withUnsafeMutableBytes { bytes in
                pread(fd, bytes.baseAddress! + done, size - done, off_t(start / page * 8) + off_t(done))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return nil }
            done += n
        }
        // Bit 63: present; bits 0-54: the frame (0 unless we are root).
        for index in entries.indices {
            let entry = entries[index]
            entries[index] = entry >> 63 != 0 ? entry & ((1 << 55) - 1) : 0
        }
        return entries
    }

    public func pinHolders(of pid: Int32) -> PinHolders {
        var holders = PinHolders()
        guard pid > 0, let directory = opendir("/proc/\(pid)/fd") else { return holders }
        defer { closedir(directory) }
        var link = [CChar](repeating: 0, count: 256)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.first?.isNumber == true else { continue }
            let count = readlink("/proc/\(pid)/fd/\(name)", &link, link.count)
            guard count > 0 else { continue }
            let target = String(decoding: link.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if target == "anon_inode:[io_uring]" {
                holders.ioUringBuffers += Self.registeredBuffers(in: Self.contents(of: "/proc/\(pid)/fdinfo/\(name)") ?? [])
            } else if target.hasPrefix("/dev/infiniband/uverbs") {
                holders.usesRDMA = true
            }
        }
        return holders
    }

    /// The registered buffers an io_uring `fdinfo` lists after
    /// `UserBufs:`, one `    0: 0x7f3a1c000000/4194304` line each.
    public static func registeredBuffers(in fdinfo: [UInt8]) -> [Range<UInt64>] {
        var buffers: [Range<UInt64>] = []
        var listing = false
        for line in fdinfo.split(separator: UInt8(ascii: "\n")) {
            if line.starts(with: "UserBufs:".utf8) {
                listing = true
                continue
            }
            guard listing else { continue }
            let words = line.split(separator: UInt8(ascii: " "))
            guard words.count == 2, words[0].last == UInt8(ascii: ":"), words[1].starts(with: "0x".utf8),
                  let slash = words[1].firstIndex(of: UInt8(ascii: "/")),
                  let start = Self.hexadecimal(words[1][(words[1].startIndex + 2)..<slash]),
                  let length = Self.decimal(words[1][(slash + 1)...])
            else {
                // The first line that is not a buffer ends the list.
                listing = false
                continue
            }
            let (end, overflow) = start.addingReportingOverflow(length)
            if length > 0, !overflow { buffers.append(start..<end) }
        }
        return buffers
    }
}
