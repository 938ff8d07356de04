import MempinLocking
import SystemPackage

/// An open `pin` control file of a pid directory.
///
/// It remembers what the kernel would keep in `struct file`: the process it
/// was opened for (a later process with the same pid is not it), who opened
/// it (their credentials count, as `file->f_cred` does), and the unfinished
/// last line of its writes, which waits for the next write: `cat` writes
/// 128 KiB at a time, wherever a line ends.
public final class ControlFile: Sendable {
    /// The target process.
    public let pid: Int32
    /// Who opened the file.
    public let opener: Requester
    /// The target's identity (start time) when the file was opened.
    let identity: UInt64?
    private let unfinished = Locked<[UInt8]>([])

    /// The longest line a write may leave unfinished; a range is under 50
    /// bytes, so a longer one is not a range.
    static let longestLine = 4096

    init(pid: Int32, opener: Requester, identity: UInt64?) {
        self.pid = pid
        self.opener = opener
        self.identity = identity
    }

    /// The complete lines of the text so far with `bytes` appended, and the
    /// unfinished rest, without keeping either.
    ///
    /// - Throws: `EINVAL` when the unfinished line grows past
    ///   ``longestLine``.
    func lines(appending bytes: some Collection<UInt8>) throws(Errno) -> (complete: [UInt8], rest: [UInt8]) {
        var text = unfinished.withLock { $0 }
        // A write's buffer is contiguous: one copy, where the generic
        // append (unspecialized across modules) went byte by byte.
        if bytes.withContiguousStorageIfAvailable({ text.append(contentsOf: $0) }) == nil {
            text.append(contentsOf: bytes)
        }
        let cut = text.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0
        let rest = Array(text[cut...])
        guard rest.count <= Self.longestLine else { throw .invalidArgument }
        text.removeSubrange(cut...)
        return (text, rest)
    }

    /// Keeps `rest` as the unfinished line (empty after a failed write).
    func keep(_ rest: [UInt8]) {
        unfinished.withLock { $0 = rest }
    }

    /// Takes the unfinished line away; true if it held more than blanks.
    func takeUnfinished() -> Bool {
        let rest = unfinished.withLock { line in
            defer { line = [] }
            return line
        }
        return rest.contains { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\t") && $0 != UInt8(ascii: "\r") }
    }
}
