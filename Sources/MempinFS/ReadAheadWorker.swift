#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One thread that renders page-list chunks ahead, for every reader of the
/// mount, while the request threads reply.
///
/// A page-list read is answered from the chunk rendered for it, and the
/// next chunk is rendered meanwhile: the request's thread copies one chunk
/// into the reader as this thread makes the next. Rendered by the request's
/// thread after its reply, the two took turns: a 1 GiB pin's page list
/// streamed at 111–122 MiB/s where C libfuse copying the same bytes from
/// memory streamed 493–527 MiB/s (6.12 TCG guest, 2026-12-06).
///
/// Jobs are best effort: a full queue or a stopped worker refuses one, and
/// the caller does the work itself.
final class ReadAheadWorker: @unchecked Sendable {
    typealias Job = @Sendable () -> Void

    /// The smallest read whose next chunk the worker renders: below it,
    /// waking the worker costs more than rendering after the reply (`wc`
    /// reading 16 KiB at a time took 325–413 ms for a 1 GiB pin's list
    /// with the request thread rendering, 359–524 ms with the worker).
    static let smallestRead = 64 << 10

    /// Jobs waiting at most: one per reader streaming at once is the need.
    static let queueLimit = 32

    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let posted: UnsafeMutablePointer<pthread_cond_t>
    // Behind `mutex`:
    private var jobs: [Job] = []
    private var running = false
    private var stopping = false

    init() {
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        precondition(pthread_mutex_init(mutex, nil) == 0, "pthread_mutex_init")
        posted = .allocate(capacity: 1)
        posted.initialize(to: pthread_cond_t())
        precondition(pthread_cond_init(posted, nil) == 0, "pthread_cond_init")
    }

    deinit {
        pthread_cond_destroy(posted)
        posted.deinitialize(count: 1)
        posted.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deinitialize(count: 1)
        mutex.deallocate()
    }

    /// Queues `job` for the worker's thread, started at the first job.
    ///
    /// - Returns: false if it was not queued (the queue is full, the worker
    ///   stopped, or its thread could not start): run it yourself.
    func post(_ job: @escaping Job) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard !stopping, jobs.count < Self.queueLimit else { return false }
        if !running {
            guard startThread() else { return false }
            running = true
        }
        jobs.append(job)
        pthread_cond_signal(posted)
        return true
    }

    /// Lets the thread end once the jobs queued are done; later posts are
    /// refused.
    func stop() {
        pthread_mutex_lock(mutex)
        stopping = true
        pthread_cond_signal(posted)
        pthread_mutex_unlock(mutex)
    }

    /// The thread, detached; it keeps the worker alive until it ends.
    /// Called with `mutex` held.
    private func startThread() -> Bool {
        guard let thread = startServerThread({ self.work() }) else { return false }
        pthread_detach(thread)
        return true
    }

    private func work() {
        while true {
            pthread_mutex_lock(mutex)
            while jobs.isEmpty && !stopping { pthread_cond_wait(posted, mutex) }
            if jobs.isEmpty {
                running = false
                pthread_mutex_unlock(mutex)
                return
            }
            let job = jobs.removeFirst()
            pthread_mutex_unlock(mutex)
            job()
        }
    }
}
