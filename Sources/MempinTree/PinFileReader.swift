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
/// sequential reads (`cat`, `head`, `wc`) ask the module a batch at a time.
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
        /// Pages fetched from the backend but not rendered yet, from `nextPage` on.
        var fetched: ArraySlice<PageRecord> = []
    }

    private let cursor: Locked<Cursor>

    /// Pages asked of the backend at a time: bounds the reader's memory.
    static let pagesPerBatch = 4096

    public init(pin: PinRecord, showsFrames: Bool, backend: any PinBackend) {
        self.pin = pin
        self.header = Array(Formats.pinHeader(pin).utf8)
        self.showsFrames = showsFrames
        self.lineWidth = Formats.pageLineWidth(end: pin.end, showsFrame: showsFrames)
        self.backend = backend
        self.cursor = Locked(Cursor(offset: UInt64(header.count), nextPage: 0))
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
            do throws(Errno) {
                if cursor.offset != position {
                    cursor = try seek(to: position)
                }
                filled += try fill(out + filled, room: size - filled, cursor: &cursor)
                return .success(filled)
            } catch {
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
                // most a batch.
                let want = min(Self.pagesPerBatch, (room - filled) / lineWidth + 1)
                cursor.fetched = try pages(from: cursor.nextPage, count: want)[...]
                if cursor.fetched.isEmpty {
                    cursor.nextPage = pin.pages
                    break
                }
            }
            // Whole lines straight into the reply while a longest one fits.
            let rendered = cursor.fetched.withUnsafeBufferPointer { pages in
                var index = 0
                while index < pages.count && room - filled >= lineRoom {
                    filled += Formats.writePageLine(pages[index], showsFrame: showsFrames, width: lineRoom,
                                                    into: out + filled)
                    index += 1
                }
                return index
            }
            if rendered > 0 {
                cursor.fetched = cursor.fetched.dropFirst(rendered)
                cursor.nextPage += UInt64(rendered)
                continue
            }
            // The last line of this read: what does not fit waits.
            let page = cursor.fetched.removeFirst()
            cursor.nextPage += 1
            var line: [UInt8] = []
            Formats.appendPageLine(page, showsFrame: showsFrames, width: lineWidth, to: &line)
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
