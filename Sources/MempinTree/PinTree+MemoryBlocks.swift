import MempinDevice
import SystemPackage

// `memory/`: one file per memory block, saying which pins hold its pages:
// why a block will not offline, or why no huge page forms there.
extension PinTree {
    func memoryChild(named name: String) throws(Errno) -> Node {
        guard let index = SysfsMemoryBlocks.index(fromName: Array(name.utf8)[...]),
              memoryBlocks.block(index) != nil
        else { throw .noSuchFileOrDirectory }
        return .memoryBlock(index: index)
    }

    func memoryEntries() -> [DirectoryEntry] {
        memoryBlocks.blockIndices().map { index in
            DirectoryEntry(name: "memory\(index)", node: .memoryBlock(index: index), kind: .regularFile)
        }
    }

    /// The directory is everyone's to list, as sysfs's is; a block's file
    /// ties processes to physical memory, which only root may see (as
    /// `/proc/PID/pagemap`'s frames): mode 0400.
    func memoryAttributes(of node: Node, now: UInt64) throws(Errno) -> Attributes {
        switch node {
        case .memoryBlock(let index):
            guard memoryBlocks.block(index) != nil else { throw .noSuchFileOrDirectory }
            return Attributes(inode: node.inode, kind: .regularFile, permissions: 0o400, uid: 0, gid: 0,
                              size: 0, linkCount: 1, modificationTime: now)
        default:
            return rootAttributes(of: .memoryDirectory, now: now)
        }
    }

    func openMemoryFile(_ node: Node, for requester: Requester, writing: Bool) throws(Errno) -> OpenFile {
        guard case .memoryBlock(let index) = node else { throw .isDirectory }
        guard !writing, requester.isRoot else { throw .permissionDenied }
        return .snapshot(Array(try renderMemoryBlock(index).utf8))
    }

    /// One holder's pages in a block: a pin of the module (its file name)
    /// or a process's pages pinned by others (`other`).
    struct BlockHolder: Hashable {
        var pid: Int32
        var name: String
        var pages: UInt64
    }

    /// `memory/memoryN`: what the kernel reports pinned in the block, and
    /// who holds it, most pages first. Costs one pass over the block's
    /// frames; when some are pinned, one over the frames of the module's
    /// pins (read once per pin, then kept); and when the module's pins do
    /// not hold all of them, one over the memory of each process whose
    /// `VmPin` shows other pinners. A page that both a pin of the module
    /// and another subsystem hold counts for the pin only.
    ///
    /// - Throws: `ENOENT` when there is no such block.
    public func renderMemoryBlock(_ index: UInt32) throws(Errno) -> String {
        guard let block = memoryBlocks.block(index) else { throw .noSuchFileOrDirectory }
        let frames = block.firstFrame..<(block.firstFrame + block.frameCount)
        let states = try backend.frameStates(from: block.firstFrame, count: Int(block.frameCount))
        let pinned = states.lazy.filter { $0.contains(.pinned) }.count

        var holders: [BlockHolder] = []
        var mempinPages: UInt64 = 0, otherPages: UInt64 = 0
        if pinned > 0 {
            refreshIfChanged()
            let pins = withState { state in
                state.pins.values.map { (pin: $0, name: state.name(of: $0.id) ?? "") }
            }
            // The block's frames that the module's pins hold.
            var held = [Bool](repeating: false, count: states.count)
            for (pin, name) in pins {
                var inBlock: UInt64 = 0
                for run in frameRuns(ofPin: pin.id, pages: pin.pages) {
                    let low = max(run.first, frames.lowerBound), high = min(run.first + run.count, frames.upperBound)
                    guard low < high else { continue }
                    inBlock += high - low
                    for frame in low..<high { held[Int(frame - frames.lowerBound)] = true }
                }
                guard inBlock > 0 else { continue }
                mempinPages += inBlock
                holders.append(BlockHolder(pid: pin.pid, name: name, pages: inBlock))
            }
            let unexplained = states.indices.contains { states[$0].contains(.pinned) && !held[$0] }
            for pid in unexplained ? Array(processesPinnedByOthers().keys) : [] {
                guard let pages = try? otherPinnedPages(of: pid) else { continue }
                let inBlock = UInt64(pages.lazy.filter { frames.contains($0.frame) }.count)
                guard inBlock > 0 else { continue }
                otherPages += inBlock
                holders.append(BlockHolder(pid: pid, name: "other", pages: inBlock))
            }
            holders.sort { ($0.pages, $1.pid, $1.name) > ($1.pages, $0.pid, $0.name) }
        }

        var keys: [(key: String, value: String)] = [
            ("pinned_pages", String(pinned)),
            ("mempin_pages", String(mempinPages)),
            ("other_pages", String(otherPages)),
        ]
        if let zone = block.zone { keys.append(("zone", zone)) }
        if let state = block.state { keys.append(("state", state)) }
        keys.append(("block_pages", String(block.frameCount)))
        keys.append(("first_frame", Formats.hex(block.firstFrame)))
        return Formats.keyedLines(keys) + "\n" + holders.map { "\($0.pid) \($0.name) \($0.pages)\n" }.joined()
    }

    /// Consecutive page frames of a pin.
    struct FrameRun: Hashable {
        var first: UInt64
        var count: UInt64
    }

    /// The page frames of pin `id` (of `count` pages), as runs of
    /// consecutive frames. Read from the backend once and kept until the
    /// pin goes: a long-term pinned page never moves (the kernel migrates
    /// it out of movable memory before pinning it, never while pinned),
    /// and ids are never reused. Empty for a pin that went meanwhile.
    func frameRuns(ofPin id: UInt64, pages count: UInt64) -> [FrameRun] {
        if let runs = withState({ $0.frameRuns[id] }) { return runs }
        var runs: [FrameRun] = []
        var first: UInt64 = 0
        while first < count {
            guard let pages = try? backend.pages(of: id, from: first, count: PinFileReader.pagesPerBatch),
                  !pages.isEmpty
            else { return [] }
            for page in pages {
                if let last = runs.last, last.first + last.count == page.frameNumber {
                    runs[runs.count - 1].count += 1
                } else {
                    runs.append(FrameRun(first: page.frameNumber, count: 1))
                }
            }
            first += UInt64(pages.count)
        }
        // Kept only while the tree has the pin: its removal drops them.
        withState { state in
            if state.pins[id] != nil { state.frameRuns[id] = runs }
        }
        return runs
    }
}
