import MempinDevice
import SystemPackage

/// A run of a process's consecutive pages that something other than the
/// module holds pinned, as `other_pins` lists it.
public struct OtherPinnedRun: Hashable, Sendable {
    /// Who holds it, as far as the process's open files tell.
    public enum Holder: String, Hashable, Sendable {
        /// One of its io_uring rings lists the range as a fixed buffer.
        case ioUring = "io_uring"
        /// It has an RDMA device file open and no ring claims the range.
        case rdma
        /// Neither (VFIO, a GPU driver, a page with 1024 references).
        case unknown
    }

    /// The first byte, page-aligned.
    public var start: UInt64
    /// The end, page-aligned, exclusive.
    public var end: UInt64
    public var holder: Holder
}

// A process's `other_pins`: its memory that other subsystems hold pinned,
// found page by page with the kernel's own test.
extension PinTree {
    /// Pages asked of pagemap and the module at a time: bounds the memory a
    /// scan takes, whatever the process maps.
    static let scanBatch = 65536

    /// The pages of `pid` that the kernel reports as maybe DMA-pinned and
    /// that no pin of the module covers, in address order, with their page
    /// frames. Proportional to what the process maps (`PROT_NONE`
    /// reservations left out). A process that goes meanwhile ends the scan
    /// with what was found.
    ///
    /// - Throws: `ENOENT` when the process has gone before the scan.
    func otherPinnedPages(of pid: Int32) throws(Errno) -> [(address: UInt64, frame: UInt64)] {
        guard let ranges = processes.mappedRanges(of: pid) else { throw .noSuchFileOrDirectory }
        let page = Self.pageSize
        let covered = withState { state in
            (state.processes[pid]?.ids.values.compactMap { state.pins[$0] } ?? []).map { $0.start..<$0.end }
        }.sorted { $0.lowerBound < $1.lowerBound }
        var found: [(address: UInt64, frame: UInt64)] = []
        // One batch's present pages that no pin covers: their frames, asked
        // of the module, and their indices in the batch.
        var asked: [UInt64] = [], indices: [Int] = []
        asked.reserveCapacity(Self.scanBatch)
        indices.reserveCapacity(Self.scanBatch)
        for range in ranges {
            var address = range.lowerBound
            while address < range.upperBound {
                let count = Int(min((range.upperBound - address) / page, UInt64(Self.scanBatch)))
                guard count > 0, let frames = processes.frames(of: pid, from: address, count: count) else { return found }
                asked.removeAll(keepingCapacity: true)
                indices.removeAll(keepingCapacity: true)
                for index in frames.indices where frames[index] != 0 {
                    if covered.isEmpty || !Self.contains(covered, address + UInt64(index) * page) {
                        asked.append(frames[index])
                        indices.append(index)
                    }
                }
                if !asked.isEmpty {
                    let states = try backend.frameStates(of: asked)
                    for (position, state) in zip(indices, states) where state.contains(.pinned) {
                        found.append((address + UInt64(position) * page, frames[position]))
                    }
                }
                address += UInt64(count) * page
            }
        }
        return found
    }

    /// Whether one of `ranges` (sorted by start, not overlapping) holds
    /// `address`.
    static func contains(_ ranges: [Range<UInt64>], _ address: UInt64) -> Bool {
        var low = 0, high = ranges.count
        while low < high {
            let middle = (low + high) / 2
            if ranges[middle].upperBound <= address { low = middle + 1 } else { high = middle }
        }
        return low < ranges.count && ranges[low].contains(address)
    }

    /// The runs of `other_pins`: consecutive pinned pages with one holder.
    func otherPinnedRuns(of pid: Int32) throws(Errno) -> [OtherPinnedRun] {
        let pages = try otherPinnedPages(of: pid)
        guard !pages.isEmpty else { return [] }
        let holders = processes.pinHolders(of: pid)
        let buffers = holders.ioUringBuffers.sorted { $0.lowerBound < $1.lowerBound }
        let page = Self.pageSize
        var runs: [OtherPinnedRun] = []
        for (address, _) in pages {
            let holder: OtherPinnedRun.Holder = buffers.contains { $0.contains(address) } ? .ioUring
                : holders.usesRDMA ? .rdma : .unknown
            if let last = runs.last, last.end == address, last.holder == holder {
                runs[runs.count - 1].end = address + page
            } else {
                runs.append(OtherPinnedRun(start: address, end: address + page, holder: holder))
            }
        }
        return runs
    }

    /// `PID/other_pins`: `START-END PAGES HOLDER` per run.
    public func renderOtherPins(of pid: Int32) throws(Errno) -> String {
        let page = Self.pageSize
        return try otherPinnedRuns(of: pid).map { run in
            Formats.pinFileName(start: run.start, end: run.end) + " \((run.end - run.start) / page) \(run.holder.rawValue)\n"
        }.joined()
    }
}
