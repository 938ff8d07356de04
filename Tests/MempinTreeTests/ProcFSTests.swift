import MempinTree
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The facts the server reads from this host's /proc.
@Suite("/proc as the server reads it")
struct ProcFSTests {
    let proc = ProcFS()

    @Test("a request's sender: its thread's group (from a thread or the leader), and root only as its credentials say, with or without the group")
    func sender() throws {
        // "/proc/thread-self" links to "PID/task/TID".
        var link = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/thread-self", &link, link.count)
        let path = String(decoding: link.prefix(max(0, count)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let tid = try #require(path.split(separator: "/").last.flatMap { Int32($0) })
        #expect(tid != getpid(), "tests run on worker threads: this is the path of a non-leader")
        let sender = try #require(proc.sender(tid))
        let credentials = try #require(proc.credentials(of: tid))
        #expect(sender.threadGroup == getpid())
        #expect(sender.isAdministrator == credentials.isAdministrator)
        // The process's leader, as a shell's echo or rm is: no status read.
        #expect(proc.sender(getpid())?.threadGroup == getpid())
        #expect(proc.sender(getpid())?.isAdministrator == proc.credentials(of: getpid())?.isAdministrator)
        #expect(proc.sender(Int32.max) == nil)
        #expect(proc.sender(0) == nil)
        // Root-ness alone, for a request that needs no thread group.
        #expect(proc.isAdministrator(tid) == credentials.isAdministrator)
        #expect(proc.isAdministrator(getpid()) == credentials.isAdministrator)
        #expect(!proc.isAdministrator(Int32.max))
        #expect(!proc.isAdministrator(0))
    }

    @Test("a file is read whole: one record in one read, a longer file in as many as it takes")
    func wholeFiles() throws {
        let status = try #require(ProcFS.contents(of: "/proc/self/status", inOneRead: true))
        #expect(status.last == UInt8(ascii: "\n"))
        #expect(String(decoding: status, as: UTF8.self).contains("\nTgid:\t\(getpid())\n"))
        // Several KiB of maps, more than one buffer: every line, to the end.
        let maps = try #require(ProcFS.contents(of: "/proc/self/maps"))
        #expect(maps.count > 4096)
        #expect(maps.last == UInt8(ascii: "\n"))
        #expect(String(decoding: maps, as: UTF8.self).contains("[stack]"))
        #expect(ProcFS.contents(of: "/proc/self/no-such-file") == nil)
    }

    @Test("a process's identity is its start time, field 22 of /proc/PID/stat")
    func identity() throws {
        for pid in [getpid(), 1] {
            let stat = try #require(ProcFS.contents(of: "/proc/\(pid)/stat"))
            let close = try #require(stat.lastIndex(of: UInt8(ascii: ")")))
            let fields = stat[(close + 1)...].split(separator: UInt8(ascii: " "))
            let want = UInt64(String(decoding: fields[19], as: UTF8.self))
            #expect(proc.identity(of: pid) == want)
        }
        #expect(proc.identity(of: Int32.max) == nil)
        #expect(proc.identity(of: 0) == nil)
    }
}
