import Foundation
import Logging
@testable import MempinFS
import Synchronization
import Testing

/// What the server tells systemd, and how it logs to the journal. The
/// service itself runs under a real systemd in the VM
/// (mount-scripts/guest/systemd-tests).
@Suite("systemd's protocol", .serialized)
struct ServiceManagerTests {
    @Test("the heartbeat says ready once the mount answers, then alive while it does")
    func heartbeat() throws {
        // The prober's own open of the tree is what makes it say ready.
        let readies = Atomic<Int>(0), alives = Atomic<Int>(0)
        let tree = try MountedTree(heartbeat: FuseSession.Heartbeat(
            interval: .milliseconds(50),
            ready: { readies.add(1, ordering: .relaxed) },
            alive: { alives.add(1, ordering: .relaxed) }
        ))
        defer { tree.unmount() }
        for _ in 0..<200 where alives.load(ordering: .relaxed) < 3 { usleep(20_000) }
        #expect(readies.load(ordering: .relaxed) == 1)
        #expect(alives.load(ordering: .relaxed) >= 3)
    }

    @Test("READY, STATUS, WATCHDOG and STOPPING reach NOTIFY_SOCKET; the watchdog interval is half WATCHDOG_USEC")
    func notifications() throws {
        let path = "/tmp/mempinfs-notify-\(getpid())"
        unlink(path)
        let socket = try NotifySocket(path: path)
        defer { unlink(path) }
        setenv("NOTIFY_SOCKET", path, 1)
        setenv("WATCHDOG_USEC", "3000000", 1)
        setenv("WATCHDOG_PID", "\(getpid())", 1)
        defer {
            unsetenv("NOTIFY_SOCKET")
            unsetenv("WATCHDOG_USEC")
            unsetenv("WATCHDOG_PID")
        }
        #expect(ServiceManager.isListening)
        ServiceManager.notifyReady(status: "serving /dev/mempinfd at /run/mempin")
        #expect(socket.receive() == "READY=1\nSTATUS=serving /dev/mempinfd at /run/mempin")
        ServiceManager.notifyAlive()
        #expect(socket.receive() == "WATCHDOG=1")
        ServiceManager.notifyStopping(status: "unmounting /run/mempin")
        #expect(socket.receive() == "STOPPING=1\nSTATUS=unmounting /run/mempin")
        #expect(ServiceManager.watchdogInterval() == .milliseconds(1500))
        // A watchdog meant for another process is not ours.
        setenv("WATCHDOG_PID", "1", 1)
        #expect(ServiceManager.watchdogInterval() == nil)
    }

    @Test("outside systemd nothing is sent and there is no watchdog")
    func outsideSystemd() {
        unsetenv("NOTIFY_SOCKET")
        unsetenv("WATCHDOG_USEC")
        #expect(!ServiceManager.isListening)
        #expect(ServiceManager.watchdogInterval() == nil)
        ServiceManager.notifyReady(status: "nobody listens")
    }

    @Test("standard error is the journal's only when JOURNAL_STREAM names it")
    func journalStream() {
        var status = stat()
        #expect(fstat(2, &status) == 0)
        setenv("JOURNAL_STREAM", "\(status.st_dev):\(status.st_ino)", 1)
        #expect(ServiceManager.standardErrorIsJournal())
        setenv("JOURNAL_STREAM", "\(status.st_dev):\(status.st_ino + 1)", 1)
        #expect(!ServiceManager.standardErrorIsJournal())
        setenv("JOURNAL_STREAM", "garbage", 1)
        #expect(!ServiceManager.standardErrorIsJournal())
        unsetenv("JOURNAL_STREAM")
        #expect(!ServiceManager.standardErrorIsJournal())
    }

    @Test("for the journal, a line is its syslog priority and the message; on a terminal, the time, level and label")
    func journalLines() {
        func event(_ level: Logger.Level) -> LogEvent {
            LogEvent(level: level, message: "refused write 42/pin: EINVAL", metadata: ["uid": "1000"],
                     source: nil, file: #fileID, function: #function, line: #line)
        }
        let journal = StandardErrorLogHandler(label: "mempinfs", forJournal: true)
        #expect(journal.line(for: event(.notice)) == "<5>refused write 42/pin: EINVAL uid=1000\n")
        #expect(journal.line(for: event(.info)).hasPrefix("<6>"))
        #expect(journal.line(for: event(.error)).hasPrefix("<3>"))
        #expect(journal.line(for: event(.critical)).hasPrefix("<2>"))
        let terminal = StandardErrorLogHandler(label: "mempinfs")
        let line = terminal.line(for: event(.notice))
        #expect(line.hasSuffix("Z notice mempinfs: refused write 42/pin: EINVAL uid=1000\n"))
    }
}

/// A datagram socket bound where NOTIFY_SOCKET points, as systemd's.
private struct NotifySocket: ~Copyable {
    let descriptor: Int32

    init(path: String) throws {
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            for (index, byte) in path.utf8.enumerated() where index < buffer.count - 1 { buffer[index] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else {
            close(descriptor)
            throw POSIXError(.EADDRINUSE)
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(descriptor) }

    /// The next datagram, or nil after 5 s.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(descriptor, &buffer, buffer.count, 0)
        return count < 0 ? nil : String(decoding: buffer.prefix(count), as: UTF8.self)
    }
}
