import MempinLocking

/// At most ``burst`` refusal notices per uid in each ``window``: one user
/// cannot flood the journal, nor push root's `events` lines out of the
/// ring. The server's log tells what a window held back in one line when
/// that user's next notice is let through; `events` drops them.
public final class NoticeLimit: Sendable {
    public static let burst = 10
    static let window: Duration = .seconds(10)
    /// Users remembered at most; older windows are dropped past it.
    static let users = 1024

    private struct Window {
        var start: ContinuousClock.Instant
        var admitted = 0
        var suppressed = 0
    }

    public init() {}

    private let windows = Locked<[UInt32: Window]>([:])

    /// Whether a notice of `uid` may be logged now, and how many of its
    /// notices were held back before it (to be told first).
    public func admit(uid: UInt32, at now: ContinuousClock.Instant) -> (admitted: Bool, suppressed: Int) {
        windows.withLock { windows in
            var window = windows[uid] ?? Window(start: now)
            var held = 0
            if now - window.start >= Self.window {
                held = window.suppressed
                window = Window(start: now)
            }
            let admitted = window.admitted < Self.burst
            if admitted { window.admitted += 1 } else { window.suppressed += 1 }
            if windows[uid] == nil && windows.count >= Self.users {
                windows = windows.filter { now - $0.value.start < Self.window }
            }
            windows[uid] = window
            return (admitted, admitted ? held : 0)
        }
    }
}
