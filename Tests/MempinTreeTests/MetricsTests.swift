import MempinTree
import SystemPackage
import Testing

@Suite("The metrics file")
struct MetricsTests {
    func sample() -> MetricsSnapshot {
        var snapshot = MetricsSnapshot()
        snapshot.processes = [
            .init(pid: 42, command: "dma \"engine\"\\1", pins: 2, detachedPins: 1, pages: 258, bytes: 258 * 4096,
                  vmPinnedBytes: 258 * 4096, memlockLimit: .unlimited),
            .init(pid: 7, command: "sva", pins: 1, detachedPins: 0, pages: 1, bytes: 4096,
                  vmPinnedBytes: 4096, memlockLimit: .bytes(65536), cgroup: "/system.slice/sva.service"),
            .init(pid: 9, command: "uring", pins: 0, detachedPins: 0, pages: 0, bytes: 0,
                  vmPinnedBytes: 1 << 22, memlockLimit: nil, cgroup: "/system.slice/sva.service"),
        ]
        snapshot.modulePinnedPages = 300
        snapshot.moduleMaxPinnedPages = 0
        snapshot.pinsMade = 5
        snapshot.pinsRemoved = 2
        snapshot.refusals = [.init(operation: "pin", errno: .invalidArgument): 3,
                             .init(operation: "pin", errno: .fileExists): 1,
                             .init(operation: "unpin", errno: .notPermitted): 1]
        return snapshot
    }

    @Test("totals, per-process samples with pid and comm labels, counters")
    func samples() {
        let lines = PrometheusText.render(sample()).split(separator: "\n").map(String.init)
        #expect(lines.contains("mempin_pins 3"))
        #expect(lines.contains("mempin_pinned_pages 259"))
        #expect(lines.contains("mempin_pinned_bytes \(259 * 4096)"))
        #expect(lines.contains("mempin_processes 2"))
        #expect(lines.contains("mempin_detached_pins 1"))
        #expect(lines.contains("mempin_module_pinned_pages 300"))
        #expect(lines.contains("mempin_process_pins{pid=\"7\",comm=\"sva\"} 1"))
        #expect(lines.contains("mempin_process_pinned_bytes{pid=\"42\",comm=\"dma \\\"engine\\\"\\\\1\"} \(258 * 4096)"))
        #expect(lines.contains("mempin_process_memlock_limit_bytes{pid=\"42\",comm=\"dma \\\"engine\\\"\\\\1\"} +Inf"))
        #expect(lines.contains("mempin_process_memlock_limit_bytes{pid=\"7\",comm=\"sva\"} 65536"))
        #expect(lines.contains("mempin_pins_made_total 5"))
        #expect(lines.contains("mempin_refusals_total{operation=\"pin\",errno=\"EINVAL\"} 3"))
        #expect(lines.contains("mempin_refusals_total{operation=\"unpin\",errno=\"EPERM\"} 1"))
        // Processes only others pin count there alone.
        #expect(lines.contains("mempin_process_other_pinned_bytes{pid=\"9\",comm=\"uring\"} 4194304"))
        #expect(lines.contains("mempin_process_other_pinned_bytes{pid=\"7\",comm=\"sva\"} 0"))
        #expect(!lines.contains { $0.hasPrefix("mempin_process_pins{pid=\"9\"") })
        #expect(lines.contains("mempin_cgroup_pins{cgroup=\"/system.slice/sva.service\"} 1"))
        #expect(lines.contains("mempin_cgroup_pinned_bytes{cgroup=\"\"} \(258 * 4096)"))
        // Samples of a family are ordered by pid.
        let pins = lines.filter { $0.hasPrefix("mempin_process_pins{") }
        #expect(pins.first?.contains("pid=\"7\"") == true)
    }

    @Test("every family has HELP and TYPE once, before its samples")
    func families() {
        var seen: Set<String> = []
        var current = ""
        for line in PrometheusText.render(sample()).split(separator: "\n").map(String.init) {
            if line.hasPrefix("# HELP ") {
                current = String(line.split(separator: " ")[2])
                #expect(seen.insert(current).inserted, "\(current) twice")
            } else if line.hasPrefix("# TYPE ") {
                let fields = line.split(separator: " ")
                #expect(String(fields[2]) == current)
                #expect(fields[3] == "gauge" || (fields[3] == "counter" && current.hasSuffix("_total")))
            } else {
                let name = line.prefix { $0 != "{" && $0 != " " }
                #expect(String(name) == current, "\(line)")
            }
        }
        #expect(seen.count == 20)
    }

    @Test("an empty tree still describes every family")
    func empty() {
        let text = PrometheusText.render(MetricsSnapshot())
        #expect(text.contains("mempin_pins 0\n"))
        #expect(text.contains("# TYPE mempin_process_pins gauge\n"))
        #expect(!text.contains("mempin_process_pins{"))
        #expect(!text.contains("mempin_module_"))
    }
}
