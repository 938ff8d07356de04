import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// What the server tells the service manager that started it, through
/// systemd's notification protocol (`sd_notify(3)`), and where it logs.
///
/// Outside systemd (no `NOTIFY_SOCKET`) every notification is a no-op, so
/// the server calls these unconditionally.
public enum ServiceManager {
    /// Whether a service manager listens for this process's notifications
    /// (`NOTIFY_SOCKET`, a unit of `Type=notify`).
    public static var isListening: Bool { getenv("NOTIFY_SOCKET") != nil }

    /// Tells the service manager that the tree answers requests (`READY=1`)
    /// and what it serves (`STATUS=`).
    public static func notifyReady(status: String) {
        notify("READY=1\nSTATUS=\(status)")
    }

    /// Tells the service manager that the server is alive and its request
    /// loop answers (`WATCHDOG=1`).
    public static func notifyAlive() {
        notify("WATCHDOG=1")
    }

    /// Tells the service manager that the server is shutting down
    /// (`STOPPING=1`).
    public static func notifyStopping(status: String) {
        notify("STOPPING=1\nSTATUS=\(status)")
    }

    /// How often the service manager wants to hear ``notifyAlive()``
    /// (half its `WatchdogSec=`, as `sd_watchdog_enabled(3)` advises), or
    /// nil when it has no watchdog for this process.
    public static func watchdogInterval() -> Duration? {
        var microseconds: UInt64 = 0
        guard sd_watchdog_enabled(0, &microseconds) > 0, microseconds > 0 else { return nil }
        return .microseconds(Int64(clamping: microseconds / 2))
    }

    /// Whether standard error is a stream of the journal
    /// (`JOURNAL_STREAM` names its device and inode, systemd.exec(5)): then
    /// a line's priority goes in a `<N>` prefix, sd-daemon(3)'s way.
    public static func standardErrorIsJournal() -> Bool {
        guard let value = getenv("JOURNAL_STREAM") else { return false }
        let parts = String(cString: value).split(separator: ":")
        var status = stat()
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]),
              fstat(2, &status) == 0
        else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }

    private static func notify(_ state: String) {
        _ = sd_notify(0, state)
    }
}
