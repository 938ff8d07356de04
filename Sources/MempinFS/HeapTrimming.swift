import CMalloc

/// When the server gives the heap its pins no longer use back to the
/// kernel.
///
/// glibc keeps what the server frees for its next allocations: after a
/// process with 100,000 pins exited, the server's RSS stayed where those
/// pins had taken it (71–78 MB in a 6.12 guest, against 9 MB before them),
/// though it showed no pin; with the tree's tables shrunk as well
/// (`Dictionary.shrinkIfSparse`), 10.7 MB. Once the tree holds
/// ``pinsReleasedBeforeTrim`` fewer pins than at its peak and a step of the
/// follower changed nothing (the burst of records is over),
/// ``trimIfQuiet(pinCount:)`` returns the free pages with `malloc_trim(3)`,
/// whose walk of the heap costs milliseconds only after such a burst.
struct HeapTrimming {
    /// Pins gone since the peak before the heap is worth a walk: about
    /// 2 MiB of the server's memory (400–500 B a pin).
    static let pinsReleasedBeforeTrim = 4096

    /// The most pins seen since the last trim.
    private var peak = 0
    /// The pin count at the last step.
    private var last = 0

    /// Notes the tree's `pinCount` after a step of the follower; the pins
    /// gone since the peak when the heap should be trimmed now (the peak
    /// then starts over), else nil.
    mutating func pinsReleased(pinCount: Int) -> Int? {
        defer { last = pinCount }
        peak = max(peak, pinCount)
        let released = peak - pinCount
        guard pinCount == last, released >= Self.pinsReleasedBeforeTrim else { return nil }
        peak = pinCount
        return released
    }

    /// Trims the heap if ``pinsReleased(pinCount:)`` says so; returns the
    /// pins gone since the peak when it did.
    mutating func trimIfQuiet(pinCount: Int) -> Int? {
        guard let released = pinsReleased(pinCount: pinCount) else { return nil }
        _ = malloc_trim(0)
        return released
    }
}
