import MempinDevice
import MempinLocking
import MempinTestSupport
import MempinTree
import SystemPackage
import Testing

@testable import MempinFS

/// Queued records that count how often the follower waited for one.
final class CountingChanges: ChangeSource {
    let queue = QueuedChanges()
    let waits = Locked(0)

    func changes(limit: Int, timeout: Int32) throws(Errno) -> [ChangeRecord] {
        try queue.changes(limit: limit, timeout: timeout)
    }

    func waitForChanges(timeout: Int32) throws(Errno) -> Bool {
        waits.withLock { $0 += 1 }
        return try queue.waitForChanges(timeout: timeout)
    }
}

/// A follower over counted records, and the numbers of those it followed.
final class FollowerFixture: Sendable {
    let source = CountingChanges()
    let follower: ChangeFollower
    private let followed = Locked<[UInt64]>([])

    init() {
        follower = ChangeFollower(source: source)
    }

    var sequences: [UInt64] { followed.withLock { $0 } }
    var waits: Int { source.waits.withLock { $0 } }

    func follow(_ records: [ChangeRecord]) {
        followed.withLock { $0 += records.map(\.sequence) }
    }
}

@Suite("change records, followed by the follower thread or the request that made them")
struct ChangeFollowerTests {
    func record(_ sequence: UInt64, _ kind: ChangeKind = .pin) -> ChangeRecord {
        ChangeRecord(sequence: sequence, kind: kind, id: sequence, start: 0x7f00_0000_0000, end: 0x7f00_0000_1000,
                     pages: 1, pid: 4242, timeNanoseconds: 1_800_000_000_000_000_000)
    }

    @Test("each batch is followed whole and in order, whichever thread reads it")
    func followsInOrder() throws {
        let fixture = FollowerFixture()
        let (source, follower, follow) = (fixture.source, fixture.follower, fixture.follow)

        source.queue.push([record(1), record(2), record(3, .unpin)])
        try follower.catchUp(following: follow)
        #expect(fixture.sequences == [1, 2, 3])
        // Nothing there: a catch-up neither waits nor follows.
        try follower.catchUp(following: follow)
        #expect(fixture.sequences == [1, 2, 3])
        #expect(fixture.waits == 0)

        // An idle server's follower thread waits in the module for the next.
        source.queue.push([record(4)])
        var pace = ChangeFollower.Pace()
        try follower.step(&pace, following: follow)
        #expect(fixture.sequences == [1, 2, 3, 4])
        #expect(fixture.waits == 1)
    }

    @Test("a request does not wait while another thread follows records; what it left is read next")
    func requestDoesNotWait() throws {
        let fixture = FollowerFixture()
        let (source, follower, follow) = (fixture.source, fixture.follower, fixture.follow)

        source.queue.push([record(1)])
        try follower.catchUp { records in
            follow(records)
            // A request's record comes while this batch is followed: its
            // catch-up returns at once, the lock being held.
            source.queue.push([record(2)])
            try? follower.catchUpUnlessFollowing(follow)
        }
        #expect(fixture.sequences == [1])
        try follower.catchUpUnlessFollowing(follow)
        #expect(fixture.sequences == [1, 2])
    }

    @Test("while requests make changes the follower thread sleeps ticks, not in the module; then waits there again")
    func sleepsWhileRequestsChange() throws {
        let fixture = FollowerFixture()
        let (source, follower, follow) = (fixture.source, fixture.follower, fixture.follow)
        var pace = ChangeFollower.Pace()

        follower.expectChange()
        // Another's record (an exit) comes while the server pins: found at a tick.
        source.queue.push([record(1, .exit)])
        try follower.step(&pace, following: follow)
        #expect(fixture.sequences == [1])
        for _ in 1..<ChangeFollower.ticksBeforeIdle {
            try follower.step(&pace, following: follow)
        }
        #expect(fixture.waits == 0)
        // A change of the server's own starts the quiet ticks over.
        follower.expectChange()
        try follower.step(&pace, following: follow)
        #expect(pace.quietTicks == 1)
        for _ in 1..<ChangeFollower.ticksBeforeIdle {
            try follower.step(&pace, following: follow)
        }
        #expect(fixture.waits == 0)
        source.queue.push([record(2)])
        try follower.step(&pace, following: follow)
        #expect(fixture.waits == 1)
        #expect(fixture.sequences == [1, 2])
    }

    @Test("woken by another's record, the follower thread lets the burst it may start gather before it waits again")
    func letsABurstGather() throws {
        let fixture = FollowerFixture()
        let (source, follower, follow) = (fixture.source, fixture.follower, fixture.follow)
        var pace = ChangeFollower.Pace()

        source.queue.push([record(1)])
        try follower.step(&pace, following: follow)
        #expect(fixture.sequences == [1])
        #expect(pace.woken)
        // Told at once (the caller invalidates what it removed), then it lingers.
        let clock = ContinuousClock()
        let lingered = clock.measure { follower.linger(&pace) }
        #expect(lingered >= .microseconds(ChangeFollower.burstWindowMicroseconds))
        #expect(!pace.woken)
        // What came meanwhile is read at once, in one wait that does not sleep.
        source.queue.push([record(2), record(3, .unpin)])
        try follower.step(&pace, following: follow)
        #expect(fixture.sequences == [1, 2, 3])
        #expect(fixture.waits == 2)
        // A step that did not wait in the module (a tick) does not linger.
        follower.expectChange()
        try follower.step(&pace, following: follow)
        #expect(!pace.woken)
    }
}
