#if canImport(Glibc)
import Glibc
#endif

/// One memory block of `/sys/devices/system/memory`, the unit memory is
/// onlined and offlined in.
public struct MemoryBlock: Hashable, Sendable {
    /// Its number, as in its name `memoryN`.
    public var index: UInt32
    /// Its first page frame.
    public var firstFrame: UInt64
    /// Its page frames.
    public var frameCount: UInt64
    /// Its zone, lowercase (`normal`, `dma32`, `movable`), or nil when
    /// sysfs does not say.
    public var zone: String?
    /// `online` or `offline`, or nil when sysfs does not say.
    public var state: String?

    public init(index: UInt32, firstFrame: UInt64, frameCount: UInt64, zone: String?, state: String?) {
        self.index = index
        self.firstFrame = firstFrame
        self.frameCount = frameCount
        self.zone = zone
        self.state = state
    }
}

/// What the tree needs to know about memory blocks.
public protocol MemoryBlockFacts: Sendable {
    /// The numbers of the blocks there are now, ascending.
    func blockIndices() -> [UInt32]
    /// The block `memoryN`, or nil when there is none.
    func block(_ index: UInt32) -> MemoryBlock?
}

/// Memory blocks read from sysfs.
public struct SysfsMemoryBlocks: MemoryBlockFacts {
    let directory: String

    public init(directory: String = "/sys/devices/system/memory") {
        self.directory = directory
    }

    public func blockIndices() -> [UInt32] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var indices: [UInt32] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { bytes in
                Array(bytes.prefix { $0 != 0 })
            }
            if let index = Self.index(fromName: name[...]) { indices.append(index) }
        }
        return indices.sorted()
    }

    /// The N of `memoryN`: decimal, no sign, no leading zero.
    static func index(fromName name: ArraySlice<UInt8>) -> UInt32? {
        let prefix = "memory".utf8
        guard name.starts(with: prefix) else { return nil }
        let digits = name.dropFirst(prefix.count)
        guard let first = digits.first, first != UInt8(ascii: "0") || digits.count == 1,
              let value = ProcFS.decimal(digits), value <= UInt64(UInt32.max)
        else { return nil }
        return UInt32(value)
    }

    public func block(_ index: UInt32) -> MemoryBlock? {
        let path = "\(directory)/memory\(index)"
        guard let size = Self.word(of: "\(directory)/block_size_bytes").flatMap(ProcFS.hexadecimal),
              let first = Self.word(of: "\(path)/phys_index").flatMap(ProcFS.hexadecimal)
        else { return nil }
        let page = UInt64(sysconf(Int32(_SC_PAGESIZE)))
        let zone = Self.word(of: "\(path)/valid_zones").map { String(decoding: $0, as: UTF8.self).lowercased() }
        let state = Self.word(of: "\(path)/state").map { String(decoding: $0, as: UTF8.self) }
        let (firstByte, overflow) = first.multipliedReportingOverflow(by: size)
        guard !overflow else { return nil }
        return MemoryBlock(index: index, firstFrame: firstByte / page, frameCount: size / page, zone: zone, state: state)
    }

    /// The first word of a small sysfs file.
    static func word(of path: String) -> ArraySlice<UInt8>? {
        guard let text = ProcFS.contents(of: path) else { return nil }
        let word = text.prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") }
        return word.isEmpty ? nil : word
    }
}
