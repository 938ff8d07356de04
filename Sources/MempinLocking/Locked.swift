#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A value behind a pthread mutex, with `Synchronization.Mutex`'s shape
/// (`withLock`, typed throws), but a lock ThreadSanitizer can see.
///
/// On Linux the standard library's `Mutex` takes its futex inside the
/// uninstrumented runtime, so TSan sees no order between two threads'
/// critical sections and reports every contended one as a race (four
/// threads adding to one counter are enough). The test command runs the
/// host suites under TSan; with this lock, what it reports is real.
/// `pthread_mutex_lock` is what swift-nio's `NIOLock` uses too.
///
/// The value lives behind a pointer, not in a stored `var`: the mutex
/// already makes each access exclusive, and an `inout` access to a class's
/// stored property would add the runtime's exclusivity check to every
/// call (`swift_beginAccess`, a tenth of the instructions of a `stat`),
/// as swift-nio's `NIOLockedValueBox` avoids with its `ManagedBuffer`.
public final class Locked<Value>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let value: UnsafeMutablePointer<Value>

    public init(_ value: consuming sending Value) {
        self.value = .allocate(capacity: 1)
        self.value.initialize(to: value)
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        let error = pthread_mutex_init(mutex, nil)
        precondition(error == 0, "pthread_mutex_init: \(error)")
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
        value.deinitialize(count: 1)
        value.deallocate()
    }

    /// Runs `body` with the value, the lock held; never recursively.
    public func withLock<Result, Failure: Error>(
        _ body: (inout sending Value) throws(Failure) -> sending Result
    ) throws(Failure) -> sending Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
    }

    /// Runs `body` with the value if the lock is free, and returns its
    /// result; nil, without waiting, when another thread holds it.
    public func withLockIfAvailable<Result, Failure: Error>(
        _ body: (inout sending Value) throws(Failure) -> sending Result
    ) throws(Failure) -> sending Result? {
        guard pthread_mutex_trylock(mutex) == 0 else { return nil }
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value.pointee)
    }
}
