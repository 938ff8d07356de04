import MempinDevice
import MempinLocking
import MempinTree
import SystemPackage
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

/// The module's figures of a process for one pid, as a module of version 5
/// gives them; ESRCH for every other (as for a kernel thread or a zombie).
private struct OneProcessModule: ProcessFigureSource {
    let figures: ProcessFigures
    let asked = Locked(0)

    func figures(of pid: Int32, withCgroup: Bool) throws(Errno) -> ProcessFigures {
        asked.withLock { $0 += 1 }
        guard pid == figures.threadGroup else { throw .noSuchProcess }
        var answer = figures
        if !withCgroup { answer.cgroup = nil }
        return answer
    }
}

/// What the server asks the module instead of /proc, and what it still
/// asks /proc.
@Suite("Process facts from the module")
struct ModuleProcessFactsTests {
    @Test("owner, start time, VmPin, limit and cgroup come from one answer of the module; the start time counts /proc's ticks")
    func fromTheModule() throws {
        let ticks = UInt64(sysconf(Int32(_SC_CLK_TCK)))
        let figures = ProcessFigures(
            threadGroup: 4242, uids: [1000, 1001, 1002], gids: [100, 101, 102], isAdministrator: false,
            isDumpable: false, startTimeNanoseconds: 12_345 * (1_000_000_000 / ticks) + 7,
            pinnedBytes: 8192, memlockLimitBytes: 65536, cgroup: "/user.slice/a b"
        )
        let module = OneProcessModule(figures: figures)
        let facts = ModuleProcessFacts(module: module)
        #expect(try facts.owner(of: 4242) == (1000, 100))
        #expect(facts.identity(of: 4242) == 12_345)
        #expect(facts.pinnedBytes(of: 4242) == 8192)
        #expect(facts.memlockLimit(of: 4242) == .bytes(65536))
        #expect(facts.cgroup(of: 4242) == "/user.slice/a b")
        #expect(facts.credentials(of: 4242) == ProcessCredentials(
            threadGroup: 4242, uids: [1000, 1001, 1002], gids: [100, 101, 102], isAdministrator: false,
            isDumpable: false))
        #expect(facts.sender(4242)! == (4242, false))
        #expect(!facts.isAdministrator(4242))
        module.asked.withLock { $0 = 0 }
        #expect(facts.statusFigures(of: 4242) == StatusFigures(pinnedBytes: 8192, memlockLimit: .bytes(65536),
                                                               cgroup: "/user.slice/a b", identity: 12_345))
        #expect(module.asked.withLock { $0 } == 1, "status asks the module once")
        let root = ModuleProcessFacts(module: OneProcessModule(figures: ProcessFigures(
            threadGroup: 7, uids: [0, 0, 0], gids: [0, 0, 0], isAdministrator: true, startTimeNanoseconds: 0,
            pinnedBytes: 0, memlockLimitBytes: nil)))
        #expect(root.memlockLimit(of: 7) == .unlimited)
        #expect(root.isAdministrator(7))
        #expect(root.sender(7)! == (7, true))
    }

    @Test("a thread is not a process directory, though it names its group; what the module does not answer for, /proc does")
    func fallsBackToProc() throws {
        var thread = ProcessFigures(threadGroup: 4242, uids: [0, 0, 0], gids: [0, 0, 0], startTimeNanoseconds: 0,
                                    pinnedBytes: 0, memlockLimitBytes: nil)
        // The module names a thread's group: the thread's id is no pid directory.
        struct ThreadOf: ProcessFigureSource {
            let figures: ProcessFigures
            func figures(of pid: Int32, withCgroup: Bool) throws(Errno) -> ProcessFigures { figures }
        }
        thread.threadGroup = 1
        let threads = ModuleProcessFacts(module: ThreadOf(figures: thread))
        #expect(throws: Errno.noSuchProcess) { try threads.owner(of: 4243) }
        #expect(threads.sender(4243)?.threadGroup == 1)
        #expect(threads.credentials(of: 4243)?.threadGroup == 1)
        // This process, which the module here does not know: /proc's answers.
        let facts = ModuleProcessFacts(module: OneProcessModule(figures: thread))
        let proc = ProcFS()
        #expect(try facts.owner(of: getpid()) == proc.owner(of: getpid()))
        #expect(facts.identity(of: getpid()) == proc.identity(of: getpid()))
        #expect(facts.memlockLimit(of: getpid()) == proc.memlockLimit(of: getpid()))
        #expect(facts.statusFigures(of: getpid()) == proc.statusFigures(of: getpid()))
        #expect(facts.credentials(of: getpid()) == proc.credentials(of: getpid()))
        #expect(facts.sender(getpid())! == proc.sender(getpid())!)
        #expect(facts.isAdministrator(getpid()) == proc.isAdministrator(getpid()))
        #expect(facts.identity(of: Int32.max) == nil)
        #expect(throws: Errno.noSuchProcess) { try facts.owner(of: Int32.max) }
    }
}
