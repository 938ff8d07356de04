import Foundation
import Logging
import MempinFS
import MempinTestSupport
import MempinTree

/// A real FUSE mount of the tree under /tmp, served from this process over
/// an in-memory backend, driven from the shell like a user would.
final class MountedTree: @unchecked Sendable {
    let backend = InMemoryBackend()
    /// The change records the server follows.
    let changes = QueuedChanges()
    let mountpoint: String
    let fileSystem: FileSystem
    private var session: FuseSession?
    private var server: Thread?
    private let finished = DispatchSemaphore(value: 0)

    /// - Parameter heartbeat: what the session tells as it would the
    ///   service manager.
    init(heartbeat: FuseSession.Heartbeat? = nil) throws {
        var template = Array("/tmp/mempinfs-test-XXXXXX".utf8CString)
        guard mkdtemp(&template) != nil else { throw POSIXError(.EIO) }
        mountpoint = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var logger = Logger(label: "mempinfs-test")
        logger.logLevel = .critical
        fileSystem = FileSystem(tree: PinTree(backend: backend), changes: changes, logger: logger)
        let session = try FuseSession(
            fileSystem: fileSystem, mountpoint: mountpoint, options: ["allow_other"], handlesSignals: false
        )
        self.session = session
        let finished = self.finished
        let thread = Thread {
            session.run(threads: 8, heartbeat: heartbeat)
            finished.signal()
        }
        thread.start()
        server = thread
    }

    /// Unmounts (lazily, like the scripts' traps) and waits for the server.
    func unmount() {
        _ = Shell.run("fusermount3 -u -z \(mountpoint)")
        _ = finished.wait(timeout: .now() + 10)
        session = nil
        rmdir(mountpoint)
    }

    func path(_ relative: String) -> String { mountpoint + "/" + relative }
}

/// Runs shell commands and keeps their output. Children start with an
/// empty signal mask and default dispositions: this process's threads
/// (libfuse's workers among them) block signals, and children inherit that.
enum Shell {
    struct Result {
        var status: Int32
        var output: String
        var error: String
    }

    /// Runs `script` with `bash -c` (dash reports every write error as "I/O error"), as root or, with `user`, as that uid
    /// (setpriv, no capabilities).
    static func run(_ script: String, as user: UInt32? = nil) -> Result {
        let out = TemporaryFile(), err = TemporaryFile()
        let pid = (try? spawn(command(["/bin/bash", "-c", script], as: user), stdout: out.descriptor,
                              stderr: err.descriptor).get()) ?? -1
        var status: Int32 = 0
        while pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let exitStatus: Int32 = pid <= 0 ? -1 : (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: exitStatus, output: out.contents(), error: err.contents())
    }

    /// Starts `sleep 600` as a target process (as `user` if given); returns its pid.
    static func startTarget(as user: UInt32? = nil) throws -> Target {
        let pid = try spawn(command(["/bin/sleep", "600"], as: user), stdout: nil, stderr: nil).get()
        // setpriv execs sleep in place: wait until it has.
        for _ in 0..<200 {
            if let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8), comm.hasPrefix("sleep") { break }
            usleep(5_000)
        }
        return Target(processIdentifier: pid)
    }

    private static func command(_ argv: [String], as user: UInt32?) -> [String] {
        guard let user else { return argv }
        return ["/usr/bin/setpriv", "--reuid=\(user)", "--regid=\(user)", "--clear-groups", "--"] + argv
    }

    /// posix_spawn(3), tried again for a while on a transient refusal:
    /// it failed once with EAGAIN under AddressSanitizer while the other
    /// suites ran (the CI run of 2026-12-07), and the test that needed a
    /// target failed with it.
    private static func spawn(_ argv: [String], stdout: Int32?, stderr: Int32?) -> Swift.Result<pid_t, POSIXError> {
        var spawned = spawnOnce(argv, stdout: stdout, stderr: stderr)
        for _ in 0..<20 {
            guard case .failure(let error) = spawned, error.code == .EAGAIN || error.code == .ENOMEM else { break }
            usleep(50_000)
            spawned = spawnOnce(argv, stdout: stdout, stderr: stderr)
        }
        return spawned
    }

    private static func spawnOnce(_ argv: [String], stdout: Int32?, stderr: Int32?) -> Swift.Result<pid_t, POSIXError> {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdout { posix_spawn_file_actions_adddup2(&actions, stdout, 1) }
        if let stderr { posix_spawn_file_actions_adddup2(&actions, stderr, 2) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { cArgs.forEach { free($0) } }
        var pid: pid_t = 0
        let error = posix_spawn(&pid, argv[0], &actions, &attributes, &cArgs, environ)
        guard error == 0 else { return .failure(POSIXError(POSIXErrorCode(rawValue: error) ?? .EIO)) }
        return .success(pid)
    }
}

/// A target process: `sleep`, killed and reaped by ``end()``.
struct Target {
    let processIdentifier: Int32

    func end() {
        kill(processIdentifier, SIGKILL)
        var status: Int32 = 0
        while waitpid(processIdentifier, &status, 0) < 0 && errno == EINTR {}
    }
}

/// A file under /tmp that output goes to, removed when read.
final class TemporaryFile {
    let descriptor: Int32
    let path: String

    init() {
        var template = Array("/tmp/mempinfs-out-XXXXXX".utf8CString)
        descriptor = mkstemp(&template)
        path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    func contents() -> String {
        (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    }
}
