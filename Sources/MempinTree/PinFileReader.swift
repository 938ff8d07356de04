import MempinDevice
import Synchronization
import SystemPackage

/// Serves one open pin file by offset without ever building its whole text.
///
/// The content is the key block (rendered at open), a blank line, and one
/// line per page, generated from the module's page list on demand. The
/// reader keeps a cursor where the last read ended, so sequential reads
/// (`cat`, `head`, `wc`) each cost only the lines they return; a read at
/// another offset walks the page list from the start to find its line, as
/// `seq_file` does.
public final class PinFileReader: Sendable {
    /// The pin, as it was when the file was opened.
    public let pin: PinRecord
    private let header: [UInt8]
    private let showsFrames: Bool
    private let backend: any PinBackend

    private struct Cursor {
        /// The byte offset `pending` starts at (after the header).
        var offset: UInt64
        /// The index of the first page not yet rendered.
        var nextPage: UInt64
        /// The unread tail of the last rendered line.
        var pending: ArraySlice<UInt8>
    }

    private let cursor: Mutex<Cursor>

    /// Pages asked of the backend at a time: bounds the reader's memory.
    static let pagesPerBatch = 4096

    public init(pin: PinRecord, showsFrames: Bool, backend: any PinBackend) {
        self.pin = pin
        self.header = Array(Formats.pinHeader(pin).utf8)
        self.showsFrames = showsFrames
        self.backend = backend
        self.cursor = Mutex(Cursor(offset: UInt64(header.count), nextPage: 0, pending: []))
    }

    /// Up to `size` bytes from `offset`; fewer only at the end of the file.
    public func read(offset: UInt64, size: Int) throws(Errno) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(size)
        var position = offset
        if position < UInt64(header.count) {
            out.append(contentsOf: header[Int(position)..<min(header.count, Int(position) + size)])
            position += UInt64(out.count)
            if out.count == size { return out }
        }
        let result: Result<Void, Errno> = cursor.withLock { cursor in
            do throws(Errno) {
                if cursor.offset != position {
                    cursor = try seek(to: position)
                }
                try fill(&out, upTo: size, cursor: &cursor)
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        return out
    }

    /// Appends page lines to `out` from `cursor` until `size` bytes or the end.
    private func fill(_ out: inout [UInt8], upTo size: Int, cursor: inout Cursor) throws(Errno) {
        var lines: [UInt8] = []
        while out.count < size {
            if !cursor.pending.isEmpty {
                let take = min(size - out.count, cursor.pending.count)
                out.append(contentsOf: cursor.pending.prefix(take))
                cursor.pending = cursor.pending.dropFirst(take)
                cursor.offset += UInt64(take)
                continue
            }
            guard cursor.nextPage < pin.pages else { return }
            // Roughly the lines that fill the rest of the read (lines are
            // 20 to 40 bytes), at least one.
            let want = min(Self.pagesPerBatch, max(1, (size - out.count) / 20 + 1))
            let pages = try backend.pages(of: pin.id, from: cursor.nextPage, count: want)
            if pages.isEmpty { return }
            lines.removeAll(keepingCapacity: true)
            for page in pages {
                Formats.appendPageLine(page, showsFrame: showsFrames, to: &lines)
            }
            cursor.nextPage += UInt64(pages.count)
            cursor.pending = lines[...]
        }
    }

    /// A cursor at byte `position` of the file (past the header), found by
    /// walking the page list from its start.
    private func seek(to position: UInt64) throws(Errno) -> Cursor {
        var offset = UInt64(header.count)
        var index: UInt64 = 0
        var line: [UInt8] = []
        while index < pin.pages {
            let pages = try backend.pages(of: pin.id, from: index, count: Self.pagesPerBatch)
            if pages.isEmpty { break }
            for page in pages {
                line.removeAll(keepingCapacity: true)
                Formats.appendPageLine(page, showsFrame: showsFrames, to: &line)
                let end = offset + UInt64(line.count)
                if position < end {
                    let skip = Int(position - offset)
                    return Cursor(offset: position, nextPage: index + 1, pending: line[skip...])
                }
                offset = end
                index += 1
            }
        }
        // At or past the end: nothing more to read.
        return Cursor(offset: position, nextPage: pin.pages, pending: [])
    }
}
