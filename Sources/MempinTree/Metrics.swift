import MempinDevice
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// What the `metrics` file reports, gathered at open.
public struct MetricsSnapshot: Sendable {
    /// The pins of one process.
    public struct Process: Sendable {
        public var pid: Int32
        /// `/proc/PID/comm`, or empty if the process has gone.
        public var command: String
        public var pins: Int
        public var detachedPins: Int
        public var pages: UInt64
        public var bytes: UInt64
        /// The kernel's `VmPin`, in bytes (all of the process's long-term
        /// pins, not only ours); nil when it could not be read.
        public var vmPinnedBytes: UInt64?
        /// RLIMIT_MEMLOCK; nil when it could not be read.
        public var memlockLimit: MemlockLimit?
        /// `VmPin` less the module's charge: io_uring, RDMA and others.
        public var otherPinnedBytes: UInt64?
        /// Its cgroup v2 path; nil when it could not be read.
        public var cgroup: String?

        public init(pid: Int32, command: String, pins: Int, detachedPins: Int, pages: UInt64, bytes: UInt64,
                    vmPinnedBytes: UInt64?, memlockLimit: MemlockLimit?, cgroup: String? = nil) {
            self.pid = pid
            self.command = command
            self.pins = pins
            self.detachedPins = detachedPins
            self.pages = pages
            self.bytes = bytes
            self.vmPinnedBytes = vmPinnedBytes
            self.memlockLimit = memlockLimit
            self.otherPinnedBytes = vmPinnedBytes.map { $0 > bytes ? $0 - bytes : 0 }
            self.cgroup = cgroup
        }
    }

    /// Refused requests of one kind.
    public struct Refusal: Hashable, Sendable {
        /// `pin` or `unpin`.
        public var operation: String
        public var errno: Errno

        public init(operation: String, errno: Errno) {
            self.operation = operation
            self.errno = errno
        }
    }

    /// By pid.
    public var processes: [Process] = []
    /// Pages pinned through the module by anyone (this server, other
    /// containers, the RFC path), and its limit (0: none).
    public var modulePinnedPages: UInt64?
    public var moduleMaxPinnedPages: UInt64?
    /// Pins made and removed through this server since it started.
    public var pinsMade: UInt64 = 0
    public var pinsRemoved: UInt64 = 0
    public var refusals: [Refusal: UInt64] = [:]
    /// The module's change records the server followed since it started,
    /// by event (`pin`, `unpin`, `revoke`, `exit`, `close`, `detach`,
    /// `refuse`).
    public var events: [String: UInt64] = [:]

    public init() {}
}

/// The Prometheus text exposition format (version 0.0.4) of the `metrics`
/// file, for node_exporter's textfile collector or a scrape job.
public enum PrometheusText {
    /// The whole file: every family with its `# HELP` and `# TYPE`.
    public static func render(_ snapshot: MetricsSnapshot) -> String {
        var text = ""
        // Every process with a long-term pin; those of the module first.
        let all = snapshot.processes.sorted { $0.pid < $1.pid }
        let processes = all.filter { $0.pins > 0 }

        family(&text, "mempin_pins", "gauge", "Long-term pins held through mempinfs.",
               [("", String(processes.reduce(0) { $0 + $1.pins }))])
        family(&text, "mempin_detached_pins", "gauge", "Pins whose range was unmapped or remapped since pinning.",
               [("", String(processes.reduce(0) { $0 + $1.detachedPins }))])
        family(&text, "mempin_pinned_pages", "gauge", "Pages pinned through mempinfs.",
               [("", String(processes.reduce(0) { $0 + $1.pages }))])
        family(&text, "mempin_pinned_bytes", "gauge", "Bytes pinned through mempinfs.",
               [("", String(processes.reduce(0) { $0 + $1.bytes }))])
        family(&text, "mempin_processes", "gauge", "Processes with at least one pin through mempinfs.",
               [("", String(processes.count))])
        if let pages = snapshot.modulePinnedPages {
            family(&text, "mempin_module_pinned_pages", "gauge",
                   "Pages pinned through /dev/mempinfd machine-wide, by any container.", [("", String(pages))])
        }
        if let limit = snapshot.moduleMaxPinnedPages {
            family(&text, "mempin_module_max_pinned_pages", "gauge",
                   "The module's machine-wide limit of pinned pages (max_pinned_pages; 0: none).",
                   [("", String(limit))])
        }

        let cgroups = Dictionary(grouping: processes) { $0.cgroup ?? "" }.sorted { $0.key < $1.key }
        func perCgroup(_ name: String, _ help: String, _ value: ([MetricsSnapshot.Process]) -> UInt64) {
            family(&text, name, "gauge", help, cgroups.map { ("{cgroup=\"\(escaped($0.key))\"}", String(value($0.value))) })
        }
        perCgroup("mempin_cgroup_pins", "Pins through mempin of the processes of one cgroup.") { $0.reduce(0) { $0 + UInt64($1.pins) } }
        perCgroup("mempin_cgroup_pinned_bytes", "Bytes pinned through mempin in the processes of one cgroup.") {
            $0.reduce(0) { $0 + $1.bytes }
        }
        family(&text, "mempin_process_other_pinned_bytes", "gauge",
               "Bytes of one process that other subsystems hold pinned (VmPin less mempin's: io_uring, RDMA, ...).",
               all.compactMap { process in
                   process.otherPinnedBytes.map { ("{pid=\"\(process.pid)\",comm=\"\(escaped(process.command))\"}", String($0)) }
               })

        let labels = processes.map { "{pid=\"\($0.pid)\",comm=\"\(escaped($0.command))\"}" }
        func perProcess(_ name: String, _ help: String, _ value: (MetricsSnapshot.Process) -> String) {
            family(&text, name, "gauge", help, zip(labels, processes).map { ($0, value($1)) })
        }
        perProcess("mempin_process_pins", "Pins of one process.") { String($0.pins) }
        perProcess("mempin_process_detached_pins", "Detached pins of one process.") { String($0.detachedPins) }
        perProcess("mempin_process_pinned_pages", "Pages pinned in one process through mempinfs.") { String($0.pages) }
        perProcess("mempin_process_pinned_bytes", "Bytes pinned in one process through mempinfs.") { String($0.bytes) }
        perProcess("mempin_process_vm_pinned_bytes", "The process's VmPin: all its long-term pins, in bytes (NaN: unreadable).") {
            $0.vmPinnedBytes.map { String($0) } ?? "NaN"
        }
        perProcess("mempin_process_memlock_limit_bytes", "The process's RLIMIT_MEMLOCK in bytes (+Inf: unlimited; NaN: unreadable).") {
            switch $0.memlockLimit {
            case .bytes(let bytes): String(bytes)
            case .unlimited: "+Inf"
            case nil: "NaN"
            }
        }

        family(&text, "mempin_pins_made_total", "counter", "Pins made through this server since it started.",
               [("", String(snapshot.pinsMade))])
        family(&text, "mempin_pins_removed_total", "counter", "Pins removed with rm through this server since it started.",
               [("", String(snapshot.pinsRemoved))])
        let refusals = snapshot.refusals.sorted {
            ($0.key.operation, $0.key.errno.rawValue) < ($1.key.operation, $1.key.errno.rawValue)
        }
        family(&text, "mempin_refusals_total", "counter", "Refused pin writes and rm's since the server started, by errno.",
               refusals.map { ("{operation=\"\(escaped($0.key.operation))\",errno=\"\(Formats.errnoName($0.key.errno))\"}", String($0.value)) })
        family(&text, "mempin_events_total", "counter",
               "Changes of the module's pins since the server started, by event, as the events file shows them.",
               ChangeKind.allCases.map { ("{event=\"\($0.rawValue)\"}", String(snapshot.events[$0.rawValue, default: 0])) })
        return text
    }

    /// One metric family; a family without samples still says what it is.
    static func family(_ text: inout String, _ name: String, _ type: String, _ help: String,
                       _ samples: [(labels: String, value: String)]) {
        text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        for sample in samples {
            text += name + sample.labels + " " + sample.value + "\n"
        }
    }

    /// A label value with `\`, `"` and newlines escaped, as the format asks.
    static func escaped(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
