#if ENABLE_MOCKING
import MempinLocking
import SystemPackage

/// Forces errnos at the syscall seam and records what was called; debug
/// builds only.
///
///     try MockingDriver.withMockingEnabled { driver in
///         driver.forceErrno(.noMemory, times: 1)
///         #expect(throws: Errno.noMemory) { try device.pin(request) }
///     }
public final class MockingDriver: Sendable {
    /// A call that reached the seam.
    public enum Call: Hashable, Sendable {
        case ioctl(request: UInt)
    }

    private struct State {
        var trace: [Call] = []
        var forced: [Errno] = []
    }

    private let state = Locked(State())

    @TaskLocal static var current: MockingDriver?

    private init() {}

    /// Runs `body` with a fresh driver active for the current task.
    public static func withMockingEnabled<R>(_ body: (MockingDriver) throws -> R) rethrows -> R {
        let driver = MockingDriver()
        return try $current.withValue(driver) { try body(driver) }
    }

    /// The next `times` calls fail with `errno`.
    public func forceErrno(_ errno: Errno, times: Int = 1) {
        state.withLock { $0.forced.append(contentsOf: repeatElement(errno, count: times)) }
    }

    /// The calls seen so far.
    public var trace: [Call] { state.withLock { $0.trace } }

    func intercept(_ call: Call) -> Errno? {
        state.withLock { state in
            state.trace.append(call)
            return state.forced.isEmpty ? nil : state.forced.removeFirst()
        }
    }
}
#endif
