import Testing

@testable import MempinFS

@Suite("the heap given back after many pins went")
struct HeapTrimmingTests {
    @Test("not while pins come or go, nor for a few; once they stop going after many")
    func trimsAfterTheBurst() {
        var heap = HeapTrimming()
        let many = HeapTrimming.pinsReleasedBeforeTrim
        // Pins made, then a quiet step: nothing went.
        #expect(heap.pinsReleased(pinCount: 3 * many) == nil)
        #expect(heap.pinsReleased(pinCount: 3 * many) == nil)
        // Going, step after step: the burst is not over.
        #expect(heap.pinsReleased(pinCount: 2 * many) == nil)
        #expect(heap.pinsReleased(pinCount: many - 1) == nil)
        // Over: the first quiet step trims, once.
        #expect(heap.pinsReleased(pinCount: many - 1) == 2 * many + 1)
        #expect(heap.pinsReleased(pinCount: many - 1) == nil)
        // Fewer than the threshold since that trim: none.
        #expect(heap.pinsReleased(pinCount: 0) == nil)
        #expect(heap.pinsReleased(pinCount: 0) == nil)
    }

    @Test("the peak starts over at each trim: pins made again count from there")
    func peakStartsOver() {
        var heap = HeapTrimming()
        let many = HeapTrimming.pinsReleasedBeforeTrim
        _ = heap.pinsReleased(pinCount: many)
        _ = heap.pinsReleased(pinCount: 0)
        #expect(heap.pinsReleased(pinCount: 0) == many)
        _ = heap.pinsReleased(pinCount: 2 * many)
        _ = heap.pinsReleased(pinCount: many)
        #expect(heap.pinsReleased(pinCount: many) == many)
        #expect(heap.trimIfQuiet(pinCount: many) == nil)
    }
}
