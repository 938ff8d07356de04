import MempinDevice
import MempinLocking
import MempinTree
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Reads the module's change records and has them followed in the order
/// the module made them, by whichever thread asks: the follower thread,
/// and a request that made a change, once it has replied.
///
/// A record wakes a thread that waits for one, and in a guest that wake-up
/// and the context switches after it cost as much as the request that made
/// the record. So while the server's own requests make changes, the
/// follower thread does not wait in the module (which then wakes no one):
/// each such request reads its records itself after its reply, so its
/// `events` line goes out at once, and the follower thread looks for the
/// records of others (seed pins, exits) every ``busyTickMilliseconds``.
/// After ``ticksBeforeIdle`` ticks without a change of the server's own it
/// waits in the module again: an idle server sleeps until a record comes.
/// Woken there, it follows the record at once and then lingers
/// (``linger(_:)``), so that a burst of others' records wakes it once.
final class ChangeFollower: Sendable {
    let source: any ChangeSource
    /// Held while records are read and followed: the batches two threads
    /// read are followed in the order they were read.
    private let reading = Locked(())
    /// How many changes the server's requests set out to make.
    private let changesMadeHere = Atomic<UInt64>(0)

    /// How long the follower thread sleeps between two looks while the
    /// server's requests make changes.
    static let busyTickMilliseconds = 10
    /// Ticks without a change of the server's own before the follower
    /// thread waits in the module again.
    static let ticksBeforeIdle = 10
    /// How long the follower thread lets others' records gather after
    /// one woke it.
    static let burstWindowMicroseconds = 1_000

    /// What the follower thread saw at its last step.
    struct Pace {
        var changesMadeHere: UInt64 = 0
        var quietTicks = ChangeFollower.ticksBeforeIdle
        /// The last step was woken by another's record (see ``linger(_:)``).
        var woken = false
    }

    init(source: any ChangeSource) {
        self.source = source
    }

    /// A request is about to make a change: it reads the change's record
    /// itself (``catchUpUnlessFollowing(_:)``), and the follower thread
    /// stops waiting in the module for a while.
    func expectChange() {
        changesMadeHere.add(1, ordering: .relaxed)
    }

    /// The follower thread's step: waits, in the module or for a tick (see
    /// the type's description), then follows what came.
    func step(_ pace: inout Pace, following follow: ([ChangeRecord]) -> Void) throws(Errno) {
        let made = changesMadeHere.load(ordering: .relaxed)
        if made != pace.changesMadeHere {
            pace = Pace(changesMadeHere: made, quietTicks: 0)
        }
        if pace.quietTicks < Self.ticksBeforeIdle {
            pace.quietTicks += 1
            var tick = timespec(tv_sec: 0, tv_nsec: Self.busyTickMilliseconds * 1_000_000)
            nanosleep(&tick, nil)
        } else if try !source.waitForChanges(timeout: 250) {
            // The bound only lets the caller see a stop.
            return
        } else {
            pace.woken = true
        }
        try catchUp(following: follow)
    }

    /// After a step woken by another's record, once what it followed is
    /// told: lets the records of the burst it may start (a program pinning
    /// its buffers through the seed interface) gather for
    /// ``burstWindowMicroseconds``, to be read together at the next step,
    /// instead of each waking this thread.
    func linger(_ pace: inout Pace) {
        guard pace.woken else { return }
        pace.woken = false
        var window = timespec(tv_sec: 0, tv_nsec: Self.burstWindowMicroseconds * 1_000)
        nanosleep(&window, nil)
    }

    /// Reads the records there are (up to 256, without waiting) and has
    /// `follow` follow them, the reading lock held.
    func catchUp(following follow: ([ChangeRecord]) -> Void) throws(Errno) {
        try reading.withLock { (_: inout Void) throws(Errno) in
            try read(following: follow)
        }
    }

    /// ``catchUp(following:)`` for a request after its reply, unless
    /// another thread is following records: a request never waits for
    /// another's batch (a full listing of the ledger after the module's
    /// ring overran can take a second). What that thread did not read
    /// yet, the follower thread finds at its next tick.
    func catchUpUnlessFollowing(_ follow: ([ChangeRecord]) -> Void) throws(Errno) {
        try reading.withLockIfAvailable { (_: inout Void) throws(Errno) in
            try read(following: follow)
        }
    }

    private func read(following follow: ([ChangeRecord]) -> Void) throws(Errno) {
        let records = try source.changes(limit: 256, timeout: 0)
        if !records.isEmpty { follow(records) }
    }
}
