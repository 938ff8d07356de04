/// The least capacity worth a rebuild: a smaller table costs little.
private let shrinkableCapacity = 1024

extension Dictionary {
    /// Gives back the room of a table most of whose entries went. Swift's
    /// dictionary keeps its capacity when entries are removed: a tree that
    /// held one process's 100,000 pins kept the buckets of all of them
    /// after the process exited (in a 6.12 guest the server's RSS stayed at
    /// 47–66 MB with the heap trimmed, 9 MB before the pins; 10.7 MB with
    /// the tables shrunk too).
    ///
    /// Call it after a removal: it rebuilds the table at twice its count
    /// once fewer than an eighth of the capacity is used, so a rebuild
    /// copies at most an eighth of the removals since the last and removal
    /// stays O(1) amortized.
    mutating func shrinkIfSparse() {
        guard capacity > shrinkableCapacity, count < capacity / 8 else { return }
        var smaller = Dictionary(minimumCapacity: count * 2)
        for (key, value) in self { smaller[key] = value }
        self = smaller
    }
}
