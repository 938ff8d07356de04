import CFuse
import MempinLocking
import MempinTree
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The `events` file's waiting readers: a read with nothing to return is
/// kept, not answered, and answered when an event comes (or with `EINTR`
/// when the reader is interrupted), so a waiting reader holds no server
/// thread; `poll` handles are kept likewise until there is something.
final class EventWaiters: Sendable {
    /// A read being kept. Its interrupt callback is being registered while
    /// `registering`: then nobody else may answer it (libfuse frees an
    /// answered request under the registration).
    struct Pending {
        var request: UInt
        var size: Int
        var registering = true
        var interrupted = false
    }

    struct Waiter {
        var reader: EventReader
        var pending: Pending?
        var poll: UInt?
    }

    private let waiters = Locked<[UInt64: Waiter]>([:])

    /// A reader opened as `handle`.
    func opened(_ handle: UInt64, reader: EventReader) {
        waiters.withLock { $0[handle] = Waiter(reader: reader) }
    }

    /// Its last close: a poll handle left is destroyed.
    func closed(_ handle: UInt64) {
        let waiter = waiters.withLock { $0.removeValue(forKey: handle) }
        if let poll = waiter?.poll { fuse_pollhandle_destroy(OpaquePointer(bitPattern: poll)) }
    }

    /// Keeps the read `req` of `handle` until `log` has something for it.
    func keep(_ req: fuse_req_t, size: Int, of handle: UInt64, from log: EventLog) {
        let request = UInt(bitPattern: req)
        waiters.withLock { $0[handle]?.pending = Pending(request: request, size: size) }
        fuse_req_interrupt_func(req, { req, data in
            FileSystem.from(req).eventWaiters.interrupt(UInt(bitPattern: req), of: UInt64(UInt(bitPattern: data)))
        }, UnsafeMutableRawPointer(bitPattern: UInt(handle)))
        let interrupted = waiters.withLock { waiters -> Bool in
            guard let pending = waiters[handle]?.pending, pending.request == request else { return false }
            if pending.interrupted {
                waiters[handle]?.pending = nil
                return true
            }
            waiters[handle]?.pending?.registering = false
            return false
        }
        if interrupted {
            fuse_reply_err(req, EINTR)
        } else {
            // A line may have come since the read found none.
            deliver(from: log)
        }
    }

    /// libfuse's interrupt callback: the kept read ends with `EINTR` (a
    /// killed `cat` ends at once).
    private func interrupt(_ request: UInt, of handle: UInt64) {
        let answer = waiters.withLock { waiters -> Bool in
            guard let pending = waiters[handle]?.pending, pending.request == request else { return false }
            if pending.registering {
                waiters[handle]?.pending?.interrupted = true
                return false
            }
            waiters[handle]?.pending = nil
            return true
        }
        if answer, let req = fuse_req_t(bitPattern: request) {
            fuse_reply_err(req, EINTR)
        }
    }

    /// Keeps `ph` to be told when `handle` has something to read.
    func keepPoll(_ ph: OpaquePointer, of handle: UInt64) {
        let old = waiters.withLock { waiters -> UInt? in
            defer { waiters[handle]?.poll = UInt(bitPattern: ph) }
            return waiters[handle]?.poll
        }
        if let old { fuse_pollhandle_destroy(OpaquePointer(bitPattern: old)) }
    }

    /// New lines came: answers the kept reads that now have something and
    /// tells the kept poll handles.
    func deliver(from log: EventLog) {
        var answers: [(UInt, [UInt8])] = []
        var polls: [UInt] = []
        waiters.withLock { waiters in
            for (handle, waiter) in waiters {
                if let pending = waiter.pending, !pending.registering,
                   let bytes = log.read(waiter.reader, size: pending.size) {
                    waiters[handle]?.pending = nil
                    answers.append((pending.request, bytes))
                }
                if let poll = waiter.poll, log.hasLines(for: waiter.reader) {
                    waiters[handle]?.poll = nil
                    polls.append(poll)
                }
            }
        }
        for (request, bytes) in answers {
            guard let req = fuse_req_t(bitPattern: request) else { continue }
            _ = bytes.withUnsafeBytes { fuse_reply_buf(req, $0.baseAddress, $0.count) }
        }
        for poll in polls {
            let ph = OpaquePointer(bitPattern: poll)
            fuse_lowlevel_notify_poll(ph)
            fuse_pollhandle_destroy(ph)
        }
    }

    /// Readers waiting now (for tests and metrics).
    var waitingReads: Int { waiters.withLock { $0.values.count(where: { $0.pending != nil }) } }
}
