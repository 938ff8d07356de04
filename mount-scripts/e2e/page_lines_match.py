#!/usr/bin/env python3
"""Checks a pin file's page lines against the kernel's own record of each
page: its frame from /proc/PID/pagemap, whether it is part of a huge page
or large folio (a compound page) from /proc/kpageflags.
Usage: page_lines_match.py PID PIN_FILE; prints what differs, exits 1 if any."""
import struct
import sys

KPF_COMPOUND_HEAD, KPF_COMPOUND_TAIL = 15, 16


def main():
    pid, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        text = f.read()
    lines = text.split("\n\n", 1)[1].splitlines()
    bad = 0
    with open(f"/proc/{pid}/pagemap", "rb") as pagemap, open("/proc/kpageflags", "rb") as flags:
        for line in lines:
            vaddr, pfn, _node, _zone, huge = line.split()
            pagemap.seek(int(vaddr, 16) // 4096 * 8)
            entry, = struct.unpack("<Q", pagemap.read(8))
            frame = entry & ((1 << 55) - 1)
            flags.seek(frame * 8)
            kflags, = struct.unpack("<Q", flags.read(8))
            compound = bool(kflags & (1 << KPF_COMPOUND_HEAD | 1 << KPF_COMPOUND_TAIL))
            if int(pfn, 16) != frame or (huge == "1") != compound:
                bad += 1
                if bad <= 5:
                    print(f"{line.rstrip()}: pagemap {frame:x}, compound {int(compound)}")
    print(f"{len(lines)} page lines, {bad} differ")
    return 1 if bad or not lines else 0


sys.exit(main())
