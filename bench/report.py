#!/usr/bin/env python3
"""Turn the guest's key=value benchmark lines into a table and JSON.

Usage: report.py JSON_OUT [native=profile.txt] SERIES=bench.txt [SERIES=bench.txt ...]
Prints one Markdown table per kernel: our figure, its baseline measured in
the same VM session, the ratio, and the issue's target where it has one;
then, given mount-scripts/profile's output as native=, the server's own
instructions per operation behind each row (deterministic, unlike TCG).
"""
import json
import re
import sys

# mount-scripts/profile's phases, and the bench rows whose server work each
# one counts (over the in-memory backend: no FUSE, no module).
NATIVE_ROWS = (
    ("pin", "pin and unpin through the tree, any size and THP; one small pin"),
    ("parse", "the write's ranges, parsed (within a pin)"),
    ("log", "the pin's log line (within a pin)"),
    ("sender", "a request's sender and credentials read from /proc (a module before interface 5; the module answers in one ioctl)"),
    ("stat", "stat of status"),
    ("status", "open+read+close of status"),
    ("listing", "readdir of a dir with 1,000 pins"),
    ("plus", "readdir of a dir with 1,000 pins: each entry of its first page, which the kernel asks with attributes"),
    ("pages", "page list of a 1 GiB pin"),
    ("events", "`events`: a pin's line reaches a waiting reader"),
    ("follow", "following another interface's pin and its unpin (no reader)"),
    ("ledger", "seed pins in the ledger: a fresh server's listing and adoption"),
    ("otherpins", "`other_pins` of a process with 1 GiB mapped"),
    ("block", "one `memory/memoryN` block"),
)


def parse_native(path):
    """Each phase's instructions per item, and the tree's bytes per pin."""
    counts, memory = {}, None
    with open(path) as f:
        for line in f:
            m = re.match(r"^(\w+): (\d+) instructions, (\d+) per (.+) \(callgrind\)$", line.strip())
            if m:
                counts[m.group(1)] = (int(m.group(3)), m.group(4))
            elif line.startswith("memory: "):
                memory = line.strip()[len("memory: "):]
    return counts, memory


def native_table(counts, memory):
    out = ["### The server's own work behind each row, natively (`mount-scripts/profile`, callgrind)", "",
           "| rows | phase | instructions |", "| --- | --- | --- |"]
    figures = []
    for phase, rows in NATIVE_ROWS:
        if phase in counts:
            per, unit = counts[phase]
            out.append(f"| {rows} | `{phase}` | {per:,} per {unit} |")
            figures.append({"phase": phase, "instructions": per, "per": unit})
    if memory:
        out.append(f"| 10,000 pins / 100,000 seed pins: server memory per pin | `memory` | {memory} |")
    return "\n".join(out), {"phases": figures, "memory": memory}


def parse(path):
    rows = []
    with open(path) as f:
        for line in f:
            fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            if "row" in fields:
                rows.append(fields)
    return rows


def timing(rows, row, size, op):
    for r in rows:
        if r.get("row") == row and r.get("op") == op and (size is None or int(r.get("size", -1)) == size):
            if "median_ns" in r:
                return r
    return None


def fmt_ns(ns):
    ns = float(ns)
    if ns >= 1e9:
        return f"{ns / 1e9:.2f} s"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def spread(r):
    return f"{fmt_ns(r['min_ns'])}–{fmt_ns(r['max_ns'])}"


def size_name(size):
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= div:
            return f"{size // div} {unit}"
    return f"{size} B"


def table(series, rows):
    out = []
    figures = []
    machine = next((r for r in rows if r["row"] == "machine"), {})
    out.append(f"### {series}: kernel {machine.get('kernel', '?')}, {machine.get('cpus', '?')} vCPUs (TCG), "
               f"{int(machine.get('mem_kb', 0)) // 1024} MiB, THP {machine.get('thp', '?')}")
    out.append("")
    out.append("| what | ours (median, spread) | baseline (median, spread) | ratio | target |")
    out.append("| --- | --- | --- | --- | --- |")

    def add(what, ours, base, target=None, base_name=""):
        if not ours or not base:
            out.append(f"| {what} | {'—' if not ours else fmt_ns(ours['median_ns'])} | "
                       f"{'—' if not base else fmt_ns(base['median_ns'])} | — | {target or ''} |")
            return
        ratio = float(ours["median_ns"]) / max(1.0, float(base["median_ns"]))
        met = ""
        if target:
            limit = float(target.split()[-1].rstrip("×"))
            met = (" ✓" if (ratio <= limit if target.startswith("≤") else ratio >= limit) else " ✗")
        out.append(f"| {what} | {fmt_ns(ours['median_ns'])} ({spread(ours)}) | {base_name}{fmt_ns(base['median_ns'])} "
                   f"({spread(base)}) | {ratio:.2f}× | {(target or '') + met} |")
        figures.append({"what": what, "ours_ns": int(ours["median_ns"]), "ours_min_ns": int(ours["min_ns"]),
                        "ours_max_ns": int(ours["max_ns"]), "baseline_ns": int(base["median_ns"]),
                        "baseline_min_ns": int(base["min_ns"]), "baseline_max_ns": int(base["max_ns"]),
                        "ratio": round(ratio, 3), "target": target})

    for size in (4096, 2 << 20, 64 << 20, 1 << 30):
        big = size >= (64 << 20)
        add(f"pin {size_name(size)}: tree vs raw ioctl", timing(rows, "tree", size, "pin"),
            timing(rows, "raw_ioctl", size, "pin"), "≤ 1.10×" if size >= (2 << 20) else None, "raw ")
        add(f"pin {size_name(size)}: tree vs manager ioctl", timing(rows, "tree", size, "pin"),
            timing(rows, "manager_ioctl", size, "pin"), None, "mgr ")
        # Where a tree pin's time goes: the kernel's remote path, then the server.
        add(f"pin {size_name(size)}: manager ioctl of another process vs raw ioctl",
            timing(rows, "manager_remote", size, "pin"), timing(rows, "raw_ioctl", size, "pin"), None, "raw ")
        add(f"pin {size_name(size)}: tree vs manager ioctl of another process", timing(rows, "tree", size, "pin"),
            timing(rows, "manager_remote", size, "pin"), None, "remote ")
        add(f"unpin {size_name(size)}: tree (rm) vs raw ioctl", timing(rows, "tree", size, "unpin"),
            timing(rows, "raw_ioctl", size, "unpin"), "≤ 1.5×" if big else None, "raw ")
    # THP through the tree (pinbench thp MP): the raw ioctl of the same huge pages.
    # Its rm against the raw unpin plus what unlink(2) of a file costs on the
    # C server (pinbench write: its GETATTR, LOOKUP and UNLINK, as ours has),
    # the "one C libfuse unlink round trip"; and, as before
    # 2026-12-07, plus one write request only.
    unlink = timing(rows, "nullfs_unlink", None, "unlink")
    trip = timing(rows, "nullfs_write", None, "write")
    for label, row, raw in (("2 MiB", "tree_thp_2m", "thp_2m"), ("64 MiB", "tree_thp_64m", "thp_64m")):
        add(f"pin {label} THP: tree vs raw ioctl", timing(rows, row, None, "pin"), timing(rows, raw, None, "pin"),
            "≤ 1.10×", "raw ")
        raw_unpin = timing(rows, raw, None, "unpin")
        for what, extra, target, name in (("one C libfuse unlink", unlink, "≤ 1.0×", "raw+unlink "),
                                          ("one C libfuse write request", trip, None, "raw+write ")):
            base = None
            if raw_unpin and extra:
                base = {k: int(raw_unpin[k]) + int(extra[k]) for k in ("median_ns", "min_ns", "max_ns")}
            add(f"unpin {label} THP: tree (rm) vs raw ioctl + {what}",
                timing(rows, row, None, "unpin"), base, target if label == "64 MiB" else None, name)
    for size in (4096, 2 << 20, 64 << 20, 1 << 30):
        for op in ("pin", "unpin"):
            add(f"{op} {size_name(size)}: raw ioctl vs io_uring register", timing(rows, "raw_ioctl", size, op),
                timing(rows, "io_uring_register", size, op), "≤ 1.0×", "io_uring ")
    add("one small pin: write to pin vs C libfuse round trip", timing(rows, "tree_small_write", None, "write"),
        timing(rows, "nullfs_write", None, "write"), "≤ 1.5×", "nullfs ")
    add("rm of that pin vs unlink on C libfuse (GETATTR, LOOKUP, UNLINK each)",
        timing(rows, "tree_small_rm", None, "unlink"), timing(rows, "nullfs_unlink", None, "unlink"), None, "nullfs ")
    cpu = {r["server"]: r for r in rows if r["row"] == "write_cpu"}
    if "mempinfs" in cpu and "nullfs" in cpu:
        per = {k: int(v["cpu_ns"]) / max(1, int(v["ops"])) for k, v in cpu.items()}
        sw = {k: int(v["switches"]) / max(1, int(v["ops"])) for k, v in cpu.items()}
        out.append(f"| the server's CPU time per small pin and its rm (all threads) / C libfuse's per write and unlink "
                   f"| {fmt_ns(per['mempinfs'])}, {sw['mempinfs']:.1f} switches | {fmt_ns(per['nullfs'])}, "
                   f"{sw['nullfs']:.1f} switches | {per['mempinfs'] / max(1.0, per['nullfs']):.1f}× | report |")
        figures.append({"what": "write_cpu", "mempinfs_ns": int(per["mempinfs"]), "nullfs_ns": int(per["nullfs"]),
                        "mempinfs_switches": round(sw["mempinfs"], 2), "nullfs_switches": round(sw["nullfs"], 2)})
    lag = timing(rows, "events_latency", None, "pin_to_reader")
    if lag:
        median = float(lag["median_ns"])
        out.append(f"| `events`: a pin's line reaches a waiting reader after the write returns | {fmt_ns(median)} "
                   f"({spread(lag)}) | — | — | ≤ 2 ms{' ✓' if median <= 2e6 else ' ✗'} |")
        figures.append({"what": "events_latency", "ns": int(median), "min_ns": int(lag["min_ns"]),
                        "max_ns": int(lag["max_ns"])})
    for op, what in (("stat", "stat of status"), ("open_read_close", "open+read+close of status"),
                     ("readdir", "readdir of a dir with 1,000 pins")):
        add(f"{what}: mempinfs vs C libfuse", timing(rows, "mempinfs", None, op), timing(rows, "nullfs", None, op),
            "≤ 1.1×", "nullfs ")
    pl, plain = timing(rows, "page_list", None, "read"), timing(rows, "plain_file", None, "read")
    if pl and plain:
        mbs = lambda r: int(r["size"]) / (float(r["median_ns"]) / 1e9) / (1 << 20)
        ratio = mbs(pl) / mbs(plain)
        rss = next((r for r in rows if r["row"] == "page_list_rss"), {})
        growth = int(rss.get("growth_kb", 0))
        out.append(f"| page list of a 1 GiB pin ({int(pl['size']) / (1 << 20):.1f} MiB): read throughput vs plain file "
                   f"| {mbs(pl):.0f} MiB/s | {mbs(plain):.0f} MiB/s | {ratio:.2f}× | ≥ 0.5×{' ✓' if ratio >= 0.5 else ' ✗'} |")
        out.append(f"| server peak RSS growth while streaming it | {growth} KiB | — | — | ≤ 4096 KiB{' ✓' if growth <= 4096 else ' ✗'} |")
        figures.append({"what": "page_list_throughput", "ours_mib_s": round(mbs(pl), 1),
                        "baseline_mib_s": round(mbs(plain), 1), "ratio": round(ratio, 3)})
        figures.append({"what": "page_list_rss_growth_kb", "value": growth})
        stream = timing(rows, "nullfs_stream", None, "read")
        if stream:
            floor = mbs(stream) / mbs(plain)
            out.append(f"| the same bytes from C libfuse, copied from memory ({int(stream['size']) / (1 << 20):.1f} MiB, "
                       f"direct I/O): FUSE's own ceiling vs plain file | {mbs(stream):.0f} MiB/s | {mbs(plain):.0f} MiB/s | "
                       f"{floor:.2f}× | report |")
            out.append(f"| page list vs that C libfuse stream | {mbs(pl):.0f} MiB/s | {mbs(stream):.0f} MiB/s | "
                       f"{mbs(pl) / mbs(stream):.2f}× | report |")
            figures.append({"what": "nullfs_stream_throughput", "mib_s": round(mbs(stream), 1),
                            "ratio_to_plain": round(floor, 3)})
    wc = next((r for r in rows if r["row"] == "page_list_wc"), None)
    wc_plain = next((r for r in rows if r["row"] == "plain_file_wc"), None)
    if wc and wc_plain:
        out.append(f"| `wc -l` of the 1 GiB pin's file ({wc['lines']} lines) | {wc['ms']} ms | {wc_plain['ms']} ms (plain) | "
                   f"{int(wc['ms']) / max(1, int(wc_plain['ms'])):.2f}× | |")
    def tries(row):
        return [int(r["ms"]) for r in rows if r["row"] == row]
    other, floor = sorted(tries("other_pins_1g")), sorted(tries("pagemap_1g"))
    if other:
        median = other[len(other) // 2]
        base = f"{floor[len(floor) // 2]} ms (its pagemap alone)" if floor else "—"
        ratio = f"{median / max(1, floor[len(floor) // 2]):.2f}×" if floor else "—"
        out.append(f"| `other_pins` of a process with 1 GiB mapped | {median} ms ({other[0]}–{other[-1]}) | {base} | "
                   f"{ratio} | < 1000 ms{' ✓' if median < 1000 else ' ✗'} |")
        figures.append({"what": "other_pins_1g", "ms": median, "pagemap_ms": floor[len(floor) // 2] if floor else None})
    block = tries("memory_block")
    if block:
        mib = next((r["block_mib"] for r in rows if r["row"] == "memory_block" and "block_mib" in r), "?")
        again = sorted(block[1:]) or block
        median = again[len(again) // 2]
        out.append(f"| one `memory/memoryN` ({mib} MiB block) while 1 GiB is pinned: first read, then again | "
                   f"{block[0]} ms, then {median} ms | — | — | < 1000 ms{' ✓' if max(block[0], median) < 1000 else ' ✗'} |")
        figures.append({"what": "memory_block", "first_ms": block[0], "ms": median})
    each = timing(rows, "scale", None, "pin_each")
    unpin_each = timing(rows, "scale", None, "unpin_each")
    ls = next((r for r in rows if r["row"] == "scale_ls"), None)
    ls_l = next((r for r in rows if r["row"] == "scale_ls_l"), None)
    mem = next((r for r in rows if r["row"] == "scale_memory"), None)
    if each and ls and mem:
        per = int(mem["bytes_per_pin"])
        out.append(f"| 10,000 pins in one process: per pin / per rm | {fmt_ns(each['median_ns'])} / "
                   f"{fmt_ns(unpin_each['median_ns']) if unpin_each else '—'} | — | — | report |")
        plain = next((r for r in rows if r["row"] == "plain_ls"), None)
        plain_l = next((r for r in rows if r["row"] == "plain_ls_l"), None)
        base = f"{plain['ms']} ms / {plain_l['ms']} ms (10,000 files in tmpfs)" if plain and plain_l else "—"
        ratio = f"{int(ls['ms']) / max(1, int(plain['ms'])):.2f}× / {int(ls_l['ms']) / max(1, int(plain_l['ms'])):.2f}×" \
            if plain and plain_l and ls_l else "—"
        out.append(f"| 10,000 pins: `ls` ({ls['entries']} names) / `ls -l` | {ls['ms']} ms / {ls_l['ms'] if ls_l else '?'} ms "
                   f"| {base} | {ratio} | `ls` < 1000 ms{' ✓' if int(ls['ms']) < 1000 else ' ✗'} |")
        out.append(f"| 10,000 pins: server memory per pin | {per} B | — | — | ≤ 512 B{' ✓' if per <= 512 else ' ✗'} |")
        figures.append({"what": "scale", "pin_each_ns": int(each["median_ns"]), "ls_ms": int(ls["ms"]),
                        "bytes_per_pin": per})
        gone = next((r for r in rows if r["row"] == "scale_memory_released"), None)
        if gone:
            out.append(f"| 10,000 pins: server RSS before them / with them / 1 s after their `rm` | "
                       f"{int(mem['rss_before_kb']) / 1024:.1f} / {int(mem['rss_after_kb']) / 1024:.1f} / "
                       f"{int(gone['rss_kb']) / 1024:.1f} MiB | — | — | report |")
            figures.append({"what": "scale_memory_released", "rss_before_kb": int(mem["rss_before_kb"]),
                            "rss_with_kb": int(mem["rss_after_kb"]), "rss_after_kb": int(gone["rss_kb"])})
    start = next((r for r in rows if r["row"] == "ledger_start"), None)
    empty = next((r for r in rows if r["row"] == "empty_start"), None)
    if start:
        adopt = int(start.get("adopt_ms", 0) or 0)
        base = f"{empty['ms']} ms (empty ledger)" if empty else "—"
        ratio = f"{int(start['ms']) / max(1, int(empty['ms'])):.2f}×" if empty else "—"
        out.append(f"| {int(start['pins']):,} seed pins in the ledger: a fresh server's start until `stats` counts them "
                   f"| {start['ms']} ms | {base} | {ratio} | report |")
        if adopt:
            out.append(f"| {int(start['pins']):,} seed pins: the server's listing and adoption of the ledger (its log) "
                       f"| {adopt} ms | — | — | < 1000 ms{' ✓' if adopt < 1000 else ' ✗'} |")
        figures.append({"what": "ledger_start", "pins": int(start["pins"]), "ms": int(start["ms"]),
                        "empty_ms": int(empty["ms"]) if empty else None, "adopt_ms": adopt})
    ledger_mem = next((r for r in rows if r["row"] == "ledger_memory"), None)
    if ledger_mem:
        per = int(ledger_mem["bytes_per_pin"])
        out.append(f"| {int(ledger_mem['pins']):,} seed pins: that server's memory per pin (RSS over a fresh server's "
                   f"with none) | {per} B | — | — | ≤ 512 B{' ✓' if per <= 512 else ' ✗'} |")
        figures.append({"what": "ledger_memory", "bytes_per_pin": per})
    ledger_ls = next((r for r in rows if r["row"] == "ledger_ls"), None)
    if ledger_ls:
        out.append(f"| {int(ledger_ls['entries']):,} seed pins of one process: `ls` of its directory | {ledger_ls['ms']} ms "
                   f"| — | — | report |")
    for size_label, huge, small in (("2 MiB", "thp_2m", "small_pages_2m"), ("64 MiB", "thp_64m", "small_pages_64m")):
        for op in ("pin", "unpin"):
            add(f"{op} {size_label} THP vs 4 KiB pages (raw ioctl)", timing(rows, huge, None, op),
                timing(rows, small, None, op), None, "4K ")
    return "\n".join(out), {"machine": machine, "figures": figures}


def main():
    json_out = sys.argv[1]
    result = {}
    native = None
    for arg in sys.argv[2:]:
        series, path = arg.split("=", 1)
        if series == "native":
            native = path
            continue
        text, data = table(series, parse(path))
        print(text)
        print()
        result[series] = data
    if native:
        text, data = native_table(*parse_native(native))
        print(text)
        print()
        result["native"] = data
    with open(json_out, "w") as f:
        json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
