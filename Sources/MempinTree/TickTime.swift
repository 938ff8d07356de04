#if canImport(Glibc)
import Glibc
#endif

/// A moment of `CLOCK_MONOTONIC_COARSE`: the kernel's last tick, a few
/// milliseconds coarse, for what the tree keeps for a second or so (owners
/// shown in attributes, the scan of processes pinned by others).
///
/// The vDSO answers it from its own data without reading the clock source,
/// which `ContinuousClock.now` (`CLOCK_BOOTTIME`) reads on every call: a
/// system call and an emulated device read in a guest without a usable TSC,
/// and two of them in every pin and `rm` through the tree.
struct TickTime: Comparable, Sendable {
    /// Nanoseconds since an unspecified start.
    var nanoseconds: UInt64

    static var now: TickTime {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &time)
        return TickTime(nanoseconds: UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec))
    }

    static func + (moment: TickTime, duration: Duration) -> TickTime {
        let (seconds, attoseconds) = duration.components
        return TickTime(nanoseconds: moment.nanoseconds + UInt64(seconds) * 1_000_000_000
                        + UInt64(attoseconds / 1_000_000_000))
    }

    static func < (earlier: TickTime, later: TickTime) -> Bool {
        earlier.nanoseconds < later.nanoseconds
    }
}
