import MempinTree
import Testing

@Suite("Refusal notices")
struct NoticeLimitTests {
    @Test("ten notices per uid per window; the rest are counted and told once")
    func limitsPerUser() {
        let limit = NoticeLimit()
        let start = ContinuousClock.now
        let first = (0..<25).map { _ in limit.admit(uid: 1000, at: start) }
        #expect(first.filter(\.admitted).count == 10)
        // Another user is not held back by the first.
        #expect(limit.admit(uid: 1001, at: start).admitted)
        let later = limit.admit(uid: 1000, at: start + .seconds(11))
        #expect(later.admitted && later.suppressed == 15)
        #expect(limit.admit(uid: 1000, at: start + .seconds(11)).suppressed == 0)
    }
}
