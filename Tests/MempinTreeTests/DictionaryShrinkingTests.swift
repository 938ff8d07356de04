import Testing

@testable import MempinTree

@Suite("tables give back their room when most entries went")
struct DictionaryShrinkingTests {
    @Test("a table emptied to under an eighth of its capacity is rebuilt smaller, its entries kept")
    func shrinksWhenSparse() {
        var table = [UInt64: String]()
        for key in 0..<100_000 as Range<UInt64> { table[key] = String(key) }
        let full = table.capacity
        for key in 10..<100_000 as Range<UInt64> {
            table[key] = nil
            table.shrinkIfSparse()
        }
        #expect(table.count == 10)
        #expect(table.capacity < full / 64)
        for key in 0..<10 as Range<UInt64> { #expect(table[key] == String(key)) }
    }

    @Test("a table still well used, or small, keeps its capacity")
    func keepsWhenUsedOrSmall() {
        var used = [Int: Int]()
        for key in 0..<10_000 { used[key] = key }
        let capacity = used.capacity
        for key in 0..<(capacity / 2) where used[key] != nil {
            used[key] = nil
            used.shrinkIfSparse()
        }
        #expect(used.capacity == capacity)

        var small = [Int: Int](minimumCapacity: 500)
        let smallCapacity = small.capacity
        small[1] = 1
        small.shrinkIfSparse()
        #expect(small.capacity == smallCapacity)
    }

    @Test("rebuilds stay rare: removing all of n entries copies fewer than n in all")
    func rebuildsAreAmortized() {
        var table = [Int: Int]()
        for key in 0..<50_000 { table[key] = key }
        var rebuilds = 0
        var copied = 0
        for key in 0..<50_000 {
            table[key] = nil
            let before = table.capacity
            let left = table.count
            table.shrinkIfSparse()
            if table.capacity != before {
                rebuilds += 1
                copied += left
            }
        }
        #expect(table.isEmpty)
        #expect(rebuilds > 0 && rebuilds < 10)
        #expect(copied < 50_000 / 2)
    }
}
