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
    /// frames, over the module's pinned pages, and over the memory of each
    /// process whose `VmPin` shows other pinners.
    ///
    /// - Throws: `ENOENT` when there is no such block.
    public func renderMemoryBlock(_ index: UInt32) throws(Errno) -> String {
        guard let block = memoryBlocks.block(index) else { throw .noSuchFileOrDirectory }
        let frames = block.firstFrame..<(block.firstFrame + block.frameCount)
        let states = try backend.frameStates(from: block.firstFrame, count: Int(block.frameCount))
        let pinned = UInt64(states.lazy.filter { $0.contains(.pinned) }.count)

        refreshIfChanged()
        var holders: [BlockHolder] = []
        let pins = withState { state in
            state.pins.values.map { (pin: $0, name: state.name(of: $0.id) ?? "") }
        }
        var mempinPages: UInt64 = 0
        for (pin, name) in pins {
            let inBlock = framesOfPin(pin.id, count: pin.pages, within: frames)
            guard inBlock > 0 else { continue }
            mempinPages += inBlock
            holders.append(BlockHolder(pid: pin.pid, name: name, pages: inBlock))
        }
        var otherPages: UInt64 = 0
        for pid in processesPinnedByOthers().keys {
            guard let pages = try? otherPinnedPages(of: pid) else { continue }
            let inBlock = UInt64(pages.lazy.filter { frames.contains($0.frame) }.count)
            guard inBlock > 0 else { continue }
            otherPages += inBlock
            holders.append(BlockHolder(pid: pid, name: "other", pages: inBlock))
        }
        holders.sort { ($0.pages, $1.pid, $1.name) > ($1.pages, $0.pid, $0.name) }

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

    /// How many of pin `id`'s `count` pages lie in `frames`; 0 for a pin
    /// that went meanwhile.
    private func framesOfPin(_ id: UInt64, count: UInt64, within frames: Range<UInt64>) -> UInt64 {
        var found: UInt64 = 0
        var first: UInt64 = 0
        while first < count {
            guard let pages = try? backend.pages(of: id, from: first, count: PinFileReader.pagesPerBatch),
                  !pages.isEmpty
            else { break }
            found += UInt64(pages.lazy.filter { frames.contains($0.frameNumber) }.count)
            first += UInt64(pages.count)
        }
        return found
    }
}
