import MempinDevice
import MempinLocking
import SystemPackage

/// Serves one open pin file by offset without ever building its whole text.
///
/// The content is the key block (rendered at open), a blank line, and one
/// line per page, generated from the module's page list on demand. Page
/// lines have one width per file, so any offset names its page by
/// arithmetic: a read anywhere (`tail`, `pread`, readers sharing a file)
/// costs what a read at the start costs, and past the end is EOF at once.
/// The reader keeps the pages it fetched for where the last read ended, so
/// sequential reads (`cat`, `head`, `wc`) ask the module a batch at a time,
/// and once a read is answered it renders the next ones ahead
/// (``renderAhead(after:size:)``): while the reader takes in one chunk the
/// server makes the next two, instead of the two taking turns.
public final class PinFileReader: Sendable {
    /// The pin, as it was when the file was opened.
    public let pin: PinRecord
    private let header: [UInt8]
    private let showsFrames: Bool
    /// The width of each page line, its newline included.
    private let lineWidth: Int
    private let backend: any PinBackend

    private struct Cursor {
        /// The byte offset the cursor stands at (past the header).
        var offset: UInt64
        /// The index of the first page not yet rendered.
        var nextPage: UInt64
        /// The unread tail of the last rendered line.
        var pending: ArraySlice<UInt8> = []
        /// Pages fetched from the backend but not rendered yet, from
        /// `nextPage` on, as runs.
        var fetched: ArraySlice<PageRun> = []

        /// Moves past the first `pages` pages fetched, all in the first run.
        mutating func pass(_ pages: Int) {
            let run = fetched[fetched.startIndex]
            if pages == run.count {
                fetched.removeFirst()
            } else {
                fetched[fetched.startIndex] = run.dropping(pages)
            }
            nextPage += UInt64(pages)
        }
    }

    /// A chunk rendered before it was asked for. Its buffer has one owner
    /// at a time (the cursor, under its lock, or the read it is handed to).
    private struct Ahead: @unchecked Sendable {
        /// Where it starts in the file.
        var offset: UInt64
        /// Its bytes, `count` of them rendered; ``aheadBudget`` counts the room.
        var buffer: UnsafeMutableRawBufferPointer
        var count: Int
    }

    /// The room all readers of a tree share for chunks rendered ahead.
    private let budget: ReadAheadBudget

    /// Where rendering stands. Its lock is held while a chunk is rendered,
    /// and taken before ``ahead``'s.
    private let cursor: Locked<Cursor>

    /// The chunks rendered for the reads that continue the last one, in
    /// order, each from where the one before ends; the cursor stands at the
    /// end of the last. A read takes the first without waiting for one
    /// being rendered.
    private let ahead = Locked<[Ahead]>([])

    /// Chunks rendered ahead of a reader at most: with two, the next is
    /// ready when its read comes while the one after is being made, so the
    /// renderer does not wait for each read to ask before starting.
    static let chunksAhead = 2

    /// Pages asked of the backend at a time: bounds the reader's memory.
    static let pagesPerBatch = 4096

    public init(pin: PinRecord, showsFrames: Bool, backend: any PinBackend,
                budget: ReadAheadBudget = ReadAheadBudget(limit: 0)) {
        self.budget = budget
        self.pin = pin
        self.header = Array(Formats.pinHeader(pin).utf8)
        self.showsFrames = showsFrames
        self.lineWidth = Formats.pageLineWidth(end: pin.end, showsFrame: showsFrames)
        self.backend = backend
        self.cursor = Locked(Cursor(offset: UInt64(header.count), nextPage: 0))
    }

    deinit {
        ahead.withLock { discardAll(&$0) }
    }

    /// Answers a read of up to `size` bytes from `offset`: `reply` gets
    /// them, fewer only at the end of the file. A read that continues the
    /// last one where ``renderAhead(after:size:)`` made its bytes gets
    /// those, without a copy.
    ///
    /// - Returns: how many bytes `reply` got.
    public func read(offset: UInt64, size: Int, reply: (UnsafeRawBufferPointer) -> Void) -> Result<Int, Errno> {
        // Made already, or being made: the cursor's lock is held while a
        // chunk is rendered, so once it is ours the chunk is in or never
        // will be.
        if let answer = takeAhead(offset: offset, size: size) ?? cursor.withLock({ _ in takeAhead(offset: offset, size: size) }) {
            reply(UnsafeRawBufferPointer(rebasing: answer.buffer[..<answer.count]))
            var done: Ahead? = answer
            discard(&done)
            return .success(answer.count)
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, size), alignment: 16)
        defer { buffer.deallocate() }
        let result = read(offset: offset, into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<max(0, size)]))
        if case .success(let count) = result {
            reply(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
        }
        return result
    }

    /// The first chunk rendered ahead if it is the answer to a read of
    /// `size` bytes from `offset` (made for it, or it reached the end);
    /// else every chunk ahead is dropped (the reader went elsewhere) and
    /// nil.
    private func takeAhead(offset: UInt64, size: Int) -> Ahead? {
        ahead.withLock { chunks -> Ahead? in
            guard let first = chunks.first else { return nil }
            let fits = first.count == size || (first.count < first.buffer.count && first.count <= size)
            guard first.offset == offset && fits else {
                discardAll(&chunks)
                return nil
            }
            return chunks.removeFirst()
        }
    }

    /// Renders chunks of `size` bytes for the reads that will continue the
    /// one just answered, which ended at `offset` (see
    /// ``read(offset:size:reply:)``), until ``chunksAhead`` are ready: called
    /// after the reply, while the reader takes in what it got. Nothing when
    /// the reader went elsewhere meanwhile, the offset is in the key block,
    /// or the tree's readers hold all of their ``ReadAheadBudget``.
    public func renderAhead(after offset: UInt64, size: Int) {
        let pageLines = UInt64(header.count) + pin.pages * UInt64(lineWidth)
        guard size > 0, offset >= UInt64(header.count) else { return }
        while true {
            let made = cursor.withLock { cursor -> Bool in
                // Where the chunks ahead end, or the answered read if none.
                let (held, end) = ahead.withLock { ($0.count, $0.last.map { $0.offset + UInt64($0.count) } ?? offset) }
                guard held < Self.chunksAhead, cursor.offset == end, end < pageLines, budget.take(size) else { return false }
                let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
                var chunk: Ahead? = Ahead(offset: end, buffer: buffer, count: 0)
                guard let count = try? fill(buffer.bindMemory(to: UInt8.self).baseAddress!, room: size, cursor: &cursor) else {
                    cursor.offset = Self.unknownOffset
                    discard(&chunk)
                    return false
                }
                chunk?.count = count
                ahead.withLock { $0.append(chunk!) }
                return count == size
            }
            guard made else { return }
        }
    }

    /// A cursor offset no read asks for: a fill that failed part way left
    /// the cursor's pages unknown, so the next read seeks afresh.
    private static let unknownOffset = UInt64.max

    /// Frees chunks rendered ahead, and their room in the budget.
    private func discardAll(_ chunks: inout [Ahead]) {
        for chunk in chunks {
            var taken: Ahead? = chunk
            discard(&taken)
        }
        chunks.removeAll()
    }

    /// Frees a chunk rendered ahead, and its room in the budget.
    private func discard(_ ahead: inout Ahead?) {
        guard let taken = ahead else { return }
        ahead = nil
        budget.give(taken.buffer.count)
        taken.buffer.deallocate()
    }

    /// Up to `size` bytes from `offset`; fewer only at the end of the file.
    public func read(offset: UInt64, size: Int) throws(Errno) -> [UInt8] {
        var result: Result<Int, Errno> = .success(0)
        let bytes = [UInt8](unsafeUninitializedCapacity: max(0, size)) { buffer, count in
            result = read(offset: offset, into: UnsafeMutableRawBufferPointer(buffer))
            count = (try? result.get()) ?? 0
        }
        _ = try result.get()
        return bytes
    }

    /// Fills `buffer` with the file's bytes from `offset`; returns how many,
    /// fewer than the buffer holds only at the end of the file.
    public func read(offset: UInt64, into buffer: UnsafeMutableRawBufferPointer) -> Result<Int, Errno> {
        guard let out = buffer.bindMemory(to: UInt8.self).baseAddress, buffer.count > 0 else { return .success(0) }
        let size = buffer.count
        var filled = 0
        var position = offset
        if position < UInt64(header.count) {
            let start = Int(position)
            filled = min(header.count - start, size)
            header.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + start, count: filled) }
            position += UInt64(filled)
            if filled == size { return .success(filled) }
        }
        let pageLines = UInt64(header.count) + pin.pages * UInt64(lineWidth)
        guard position < pageLines else { return .success(filled) }
        return cursor.withLock { cursor in
            // Chunks rendered ahead are for the reads that continue the
            // last one through ``read(offset:size:reply:)``, not this one.
            ahead.withLock { discardAll(&$0) }
            do throws(Errno) {
                if cursor.offset != position {
                    cursor = try seek(to: position)
                }
                filled += try fill(out + filled, room: size - filled, cursor: &cursor)
                return .success(filled)
            } catch {
                cursor.offset = Self.unknownOffset
                return .failure(error)
            }
        }
    }

    /// Writes page lines at `out` from `cursor`, up to `room` bytes or the
    /// end; returns how many. Lines go straight into the reply; only the part
    /// of the last line that does not fit is kept for the next read.
    private func fill(_ out: UnsafeMutablePointer<UInt8>, room: Int, cursor: inout Cursor) throws(Errno) -> Int {
        var filled = 0
        if !cursor.pending.isEmpty {
            let take = min(room, cursor.pending.count)
            cursor.pending.prefix(take).withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: take) }
            cursor.pending = cursor.pending.dropFirst(take)
            filled = take
        }
        let lineRoom = lineWidth
        let showsFrames = showsFrames
        while filled < room && cursor.nextPage < pin.pages {
            if cursor.fetched.isEmpty {
                // Enough pages for the rest of the read, at least one, at
                // most a batch, as runs (the module's cover many pages).
                let want = min(Self.pagesPerBatch, (room - filled) / lineWidth + 1)
                cursor.fetched = try runs(from: cursor.nextPage, count: want)[...]
                if cursor.fetched.isEmpty {
                    cursor.nextPage = pin.pages
                    break
                }
            }
            // Whole lines straight into the reply while one fits.
            let run = cursor.fetched[cursor.fetched.startIndex]
            let (rendered, bytes) = Formats.writePageLines(run, showsFrame: showsFrames, width: lineRoom,
                                                           room: room - filled, into: out + filled)
            filled += bytes
            if rendered > 0 {
                cursor.pass(rendered)
                continue
            }
            // The last line of this read: what does not fit waits.
            cursor.pass(1)
            var line: [UInt8] = []
            Formats.appendPageLine(run.first, showsFrame: showsFrames, width: lineWidth, to: &line)
            let take = min(room - filled, line.count)
            line.withUnsafeBufferPointer { (out + filled).update(from: $0.baseAddress!, count: take) }
            filled += take
            cursor.pending = line[take...]
        }
        cursor.offset += UInt64(filled)
        return filled
    }

    /// The pin's pages from `first` on; none once the pin has gone (it was
    /// unpinned or its process exited while being read: the read ends
    /// there, it does not fail).
    private func pages(from first: UInt64, count: Int) throws(Errno) -> [PageRecord] {
        do {
            return try backend.pages(of: pin.id, from: first, count: count)
        } catch .noSuchFileOrDirectory {
            return []
        }
    }

    /// The same as up to `count` runs. Where frames are not shown, pages
    /// that follow each other but for their frames make one run too: their
    /// lines differ only in the address.
    private func runs(from first: UInt64, count: Int) throws(Errno) -> [PageRun] {
        let runs: [PageRun]
        do {
            runs = try backend.pageRuns(of: pin, from: first, count: count)
        } catch .noSuchFileOrDirectory {
            return []
        }
        guard !showsFrames else { return runs }
        var joined: [PageRun] = []
        joined.reserveCapacity(runs.count)
        for run in runs {
            if let last = joined.last, last.continues(with: run.first, comparingFrames: false) {
                joined[joined.count - 1].count += run.count
            } else {
                joined.append(run)
            }
        }
        return joined
    }

    /// A cursor at byte `position` of the file (past the header, before
    /// the end): its page by arithmetic, that page fetched only when the
    /// position falls inside its line.
    private func seek(to position: UInt64) throws(Errno) -> Cursor {
        let index = (position - UInt64(header.count)) / UInt64(lineWidth)
        let skip = Int((position - UInt64(header.count)) % UInt64(lineWidth))
        guard skip > 0 else { return Cursor(offset: position, nextPage: index) }
        guard let page = try pages(from: index, count: 1).first else {
            // The pin went: nothing more to read.
            return Cursor(offset: position, nextPage: pin.pages)
        }
        var line: [UInt8] = []
        Formats.appendPageLine(page, showsFrame: showsFrames, width: lineWidth, to: &line)
        return Cursor(offset: position, nextPage: index + 1, pending: line[skip...])
    }
}

/// The room the pin files of one tree may hold in chunks rendered ahead
/// (see ``PinFileReader/renderAhead(after:size:)``): a user who opens many
/// pin files and reads a little of each gets no more than this held for
/// them; past it, reads are rendered when asked, as before.
public final class ReadAheadBudget: Sendable {
    /// Bytes all readers together may hold.
    public let limit: Int
    private let held = Locked(0)

    public init(limit: Int) {
        self.limit = limit
    }

    /// Bytes held now.
    public var bytesHeld: Int { held.withLock { $0 } }

    /// Takes `bytes` of room if there is as much left.
    func take(_ bytes: Int) -> Bool {
        held.withLock { held in
            guard held + bytes <= limit else { return false }
            held += bytes
            return true
        }
    }

    /// Gives back room taken.
    func give(_ bytes: Int) {
        held.withLock { $0 -= bytes }
    }
}
