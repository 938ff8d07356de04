import Foundation
import MempinDevice
import MempinFS
import MempinTestSupport
import MempinTree
import Testing

/// The tree mounted for real (FUSE on the host) over an in-memory backend,
/// used from the shell. The kernel-backed end-to-end tests run in the VM.
@Suite("FUSE mount on the host", .serialized)
struct FileSystemTests {
    /// Mounts a fresh tree, starts a target process, runs `body`, and
    /// always unmounts and ends the target.
    func withMount(_ body: (MountedTree, Target) throws -> Void) throws {
        let tree = try MountedTree()
        defer { tree.unmount() }
        let target = try Shell.startTarget()
        defer { target.end() }
        try body(tree, target)
    }

    @Test("pin, ls, cat, head, wc and rm from the shell")
    func walkthrough() throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            let mp = tree.mountpoint
            var r = Shell.run("echo 0x10000+16K > \(mp)/\(pid)/pin")
            #expect(r.status == 0, "\(r.error)")
            r = Shell.run("ls \(mp)")
            #expect(r.output.split(separator: "\n") == ["\(pid)", "events", "memory", "metrics", "self", "stats"])
            r = Shell.run("ls \(mp)/\(pid)")
            #expect(r.output.split(separator: "\n") == ["00010000-00014000", "other_pins", "pin", "status"])
            r = Shell.run("cat \(mp)/\(pid)/00010000-00014000")
            #expect(r.output.hasPrefix("start 00010000\n") == false)
            #expect(r.output.hasPrefix("start 10000\nend 14000\npages 4\nbytes 16384\nwritable 1\nstate pinned\n"))
            let pad = String(repeating: " ", count: 11)
            #expect(r.output.hasSuffix("\n\n" + (0..<4).map { "0001\($0)000 10000\($0) 0 normal 0\(pad)\n" }.joined()))
            r = Shell.run("head -n 2 \(mp)/\(pid)/00010000-00014000")
            #expect(r.output == "start 10000\nend 14000\n")
            r = Shell.run("sed -n '/^$/,$p' \(mp)/\(pid)/00010000-00014000 | wc -l")
            #expect(r.output.trimmingCharacters(in: .whitespacesAndNewlines) == "5")
            r = Shell.run("cat \(mp)/\(pid)/status")
            #expect(r.output.hasPrefix("pins 1\npages 4\nbytes 16384\n"))
            #expect(r.output.contains("\nvm_pinned_bytes 0\n"))
            #expect(r.output.contains("\nmemlock_limit_bytes "))
            r = Shell.run("cat \(mp)/stats")
            #expect(r.output.hasPrefix("pins 1\npages 4\nbytes 16384\nprocesses 1\n"))
            r = Shell.run("rm \(mp)/\(pid)/00010000-00014000 && ls \(mp) && ls \(mp)/\(pid)")
            #expect(r.status == 0, "\(r.error)")
            #expect(r.output.split(separator: "\n") == ["events", "memory", "metrics", "self", "stats", "other_pins", "pin", "status"])
            #expect(tree.backend.pinnedPages == 0)
        }
    }

    @Test("ls -l of 300 pins: every entry with its attributes (readdirplus); the kernel's forgets balance the lookups")
    func longListing() throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            let mp = tree.mountpoint
            let lines = (0..<300).map { String(format: "%x+4K", 0x10000 + $0 * 0x2000) }.joined(separator: "\n")
            var r = Shell.run("printf '\(lines)\\n' > \(mp)/\(pid)/pin")
            #expect(r.status == 0, "\(r.error)")
            // Names and inode numbers only, no stat (`ls -i` stats): a
            // lookup counted for the first file is readdirplus's.
            r = Shell.run("python3 -c 'import os, sys; print(min((e.name, e.inode()) for e in os.scandir(sys.argv[1]))[1])' \(mp)/\(pid)")
            let first = UInt64(r.output.trimmingCharacters(in: .whitespacesAndNewlines))
            #expect(first.map { tree.fileSystem.tree.lookupCount(of: $0) } == 1, "\(r.output)")
            r = Shell.run("ls -ln \(mp)/\(pid)")
            let entries = r.output.split(separator: "\n").dropFirst()  // "total 0"
            #expect(entries.count == 303)
            #expect(entries.filter { $0.hasPrefix("-rw-r--r-- 1 0 0 0 ") }.count == 302)  // the pins, other_pins, status
            #expect(entries.dropLast().last?.hasSuffix(" pin") == true)
            #expect(entries.last?.hasSuffix(" status") == true)
            r = Shell.run("ls \(mp)/\(pid) | head -n 1; stat -c %i \(mp)/\(pid)/00010000-00011000")
            let output = r.output.split(separator: "\n")
            #expect(output.first == "00010000-00011000")
            // Evicted from the kernel's caches, every entry is forgotten as
            // often as it was counted (by lookup or by readdirplus).
            guard let inode = output.last.flatMap({ UInt64($0) }) else { return }
            #expect(tree.fileSystem.tree.lookupCount(of: inode) >= 1)
            guard Shell.run("echo 2 > /proc/sys/vm/drop_caches").status == 0 else { return }
            for _ in 0..<50 where tree.fileSystem.tree.lookupCount(of: inode) != 0 {
                usleep(100_000)
            }
            #expect(tree.fileSystem.tree.lookupCount(of: inode) == 0)
        }
    }

    @Test("metrics: Prometheus text with pins per process and refusals; listed by ls")
    func metrics() throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            let mp = tree.mountpoint
            var r = Shell.run("echo 0x10000+16K > \(mp)/\(pid)/pin; echo nonsense > \(mp)/\(pid)/pin; cat \(mp)/metrics")
            #expect(r.status == 0, "\(r.error)")
            let lines = r.output.split(separator: "\n").map(String.init)
            #expect(lines.contains("mempin_pins 1"))
            #expect(lines.contains("mempin_pinned_bytes 16384"))
            #expect(lines.contains { $0.hasPrefix("mempin_process_pinned_pages{pid=\"\(pid)\",comm=") && $0.hasSuffix("} 4") })
            #expect(lines.contains("mempin_refusals_total{operation=\"pin\",errno=\"EINVAL\"} 1"))
            // promtool, from mount-scripts/setup, lints names, types and help.
            r = Shell.run("p=/opt/mempin/promtool; [ -x $p ] || exit 0; $p check metrics < \(mp)/metrics 2>&1")
            #expect(r.status == 0 && r.output.isEmpty, "\(r.output)")
            r = Shell.run("ls \(mp); stat -c '%a %U' \(mp)/metrics")
            #expect(r.output.split(separator: "\n") == ["\(pid)", "events", "memory", "metrics", "self", "stats", "444 root"])
        }
    }

    @Test("every refused write gives the contract's errno to the shell", arguments: [
        ("nonsense", "Invalid argument"),
        ("10000+1T", "Invalid argument"),
        ("20000-10000", "Invalid argument"),
        ("10000+0", "Invalid argument"),
        ("ffffffffffffffff+2", "Invalid argument"),
        ("10000+4K\\n10000+4K", "File exists"),
        ("10000+4K\\n900000+4K", "Bad address"),
    ])
    func refusedWrites(text: String, message: String) throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            tree.backend.makeFault(at: 0x90_0000)
            // One write(2) for all lines: bash's printf writes line by line.
            let r = Shell.run("f=$(mktemp); printf '\(text)\\n' > $f; cat $f > \(tree.mountpoint)/\(pid)/pin; s=$?; rm $f; exit $s")
            #expect(r.status != 0)
            #expect(r.error.contains(message), "\(r.error)")
            #expect(tree.backend.pinnedPages == 0, "a refused write left pins")
        }
    }

    @Test("over the limit is ENOMEM")
    func overLimit() throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            tree.backend.limitPages(to: 3)
            let r = Shell.run("echo 10000+16K > \(tree.mountpoint)/\(pid)/pin")
            #expect(r.error.contains("Cannot allocate memory"), "\(r.error)")
        }
    }

    @Test("modes and owners follow the contract")
    func modes() throws {
        try withMount { tree, target in
            let nobodyTarget = try Shell.startTarget(as: 65534)
            defer { nobodyTarget.end() }
            let npid = nobodyTarget.processIdentifier
            #expect(Shell.run("echo 10000+4K > \(tree.mountpoint)/\(npid)/pin").status == 0)
            let r = Shell.run("cd \(tree.mountpoint) && stat -c '%n %a %u %F' \(npid) \(npid)/pin \(npid)/status \(npid)/other_pins \(npid)/00010000-00011000 stats self")
            #expect(r.output.split(separator: "\n") == [
                "\(npid) 755 65534 directory", "\(npid)/pin 200 65534 regular empty file",
                "\(npid)/status 644 65534 regular empty file", "\(npid)/other_pins 644 65534 regular empty file",
                "\(npid)/00010000-00011000 644 65534 regular empty file", "stats 444 0 regular empty file",
                "self 777 0 symbolic link",
            ])
        }
    }

    @Test("a user may pin and unpin their own processes, not others'")
    func userPermissions() throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            let mine = try Shell.startTarget(as: 65534)
            defer { mine.end() }
            let mp = tree.mountpoint
            var r = Shell.run("echo 10000+4K > \(mp)/\(pid)/pin", as: 65534)
            #expect(r.error.contains("Permission denied"), "\(r.error)")
            r = Shell.run("echo 10000+4K > \(mp)/\(mine.processIdentifier)/pin", as: 65534)
            #expect(r.status == 0, "\(r.error)")
            #expect(Shell.run("echo 20000+4K > \(mp)/\(pid)/pin").status == 0)
            r = Shell.run("rm -f \(mp)/\(pid)/00020000-00021000", as: 65534)
            #expect(r.error.contains("Permission denied"), "\(r.error)")
            r = Shell.run("cat \(mp)/\(mine.processIdentifier)/00010000-00011000", as: 65534)
            #expect(r.output.hasSuffix("\n\n00010000 0 0 normal 0    \n"), "PFN must be 0 for non-root: \(r.output)")
            r = Shell.run("rm \(mp)/\(mine.processIdentifier)/00010000-00011000", as: 65534)
            #expect(r.status == 0, "\(r.error)")
            #expect(tree.backend.pinnedPages == 1)
        }
    }

    @Test("a pid directory lists, and its pin files read, only for root or its dumpable owner; status for all")
    func readingRules() throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            let mine = try Shell.startTarget(as: 65534)
            defer { mine.end() }
            let mp = tree.mountpoint
            #expect(Shell.run("echo 10000+4K > \(mp)/\(pid)/pin").status == 0)
            #expect(Shell.run("echo 10000+4K > \(mp)/\(mine.processIdentifier)/pin").status == 0)
            for command in ["ls \(mp)/\(pid)", "cat \(mp)/\(pid)/00010000-00011000", "stat \(mp)/\(pid)/00010000-00011000"] {
                let r = Shell.run(command, as: 65534)
                #expect(r.status != 0 && r.error.contains("Permission denied"), "\(command): \(r.status) \(r.output) \(r.error)")
            }
            var r = Shell.run("cat \(mp)/\(pid)/status", as: 65534)
            #expect(r.status == 0 && r.output.hasPrefix("pins 1\n"), "\(r.error)")
            r = Shell.run("ls \(mp)/\(mine.processIdentifier)", as: 65534)
            #expect(r.output.split(separator: "\n") == ["00010000-00011000", "other_pins", "pin", "status"], "\(r.error)")
            r = Shell.run("ls \(mp)/\(mine.processIdentifier)", as: 1000)
            #expect(r.error.contains("Permission denied"), "\(r.error)")
        }
    }

    @Test("cat of 5,000 ranges (180 KiB, lines straddling writes) pins them all; a cut-off last line fails the close")
    func linesAcrossWrites() throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            let mp = tree.mountpoint
            // 36 bytes a line: several of cat's 128 KiB writes, cut mid-line.
            let lines = (0..<5000).map { index -> String in
                let start = 0x100_0000 + UInt64(index) * 0x2000
                let hex = { (value: UInt64) in String(repeating: "0", count: 17 - String(value, radix: 16).count) + String(value, radix: 16) }
                return hex(start) + "-" + hex(start + 0x1000) + "\n"
            }
            let file = TemporaryFile()
            #expect(write(file.descriptor, lines.joined(), lines.joined().utf8.count) == 180_000)
            var r = Shell.run("cat \(file.path) > \(mp)/\(pid)/pin")
            #expect(r.status == 0, "\(r.error)")
            #expect(tree.backend.pinnedPages == 5000)
            let cut = TemporaryFile()
            let text = "0x80000000+4K\n0x80010000+4"
            #expect(write(cut.descriptor, text, text.utf8.count) == text.utf8.count)
            r = Shell.run("cat \(cut.path) > \(mp)/\(pid)/pin")
            #expect(r.status != 0 && r.error.contains("Invalid argument"), "\(r.error)")
            // The whole line before it was pinned; nothing of the cut one.
            #expect(tree.backend.pinnedPages == 5001)
        }
    }

    @Test("rewinddir of an open pid directory sees pins made since")
    func rewinddirSeesChanges() throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            let dir = tree.path("\(pid)")
            #expect(Shell.run("echo 10000+4K > \(dir)/pin").status == 0)
            let script = """
                opendir(my $d, "\(dir)") or die; my @a = grep { !/^\\./ } readdir($d);
                system("echo 20000+4K > \(dir)/pin") == 0 or die;
                rewinddir($d); my @b = grep { !/^\\./ } readdir($d);
                print scalar(@a), " ", scalar(@b), "\\n";
                """
            let r = Shell.run("perl -e '\(script)'")
            #expect(r.output == "4 5\n", "\(r.output) \(r.error)")
        }
    }

    @Test("a pin removed between opendir and the first read is left out of that listing; the others are listed with attributes")
    func pinGoneSinceOpendir() throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            let dir = tree.path("\(pid)")
            #expect(Shell.run("printf '10000+4K\\n20000+4K\\n' > \(dir)/pin").status == 0)
            // The first read of a listing is the kernel's READDIRPLUS: each
            // entry looked up by the pin it was listed for.
            let script = """
                opendir(my $d, "\(dir)") or die;
                unlink("\(dir)/00010000-00011000") or die;
                my @a = sort grep { !/^\\./ } readdir($d);
                print join(" ", @a), "\\n";
                """
            let r = Shell.run("perl -e '\(script)'")
            #expect(r.output == "00020000-00021000 other_pins pin status\n", "\(r.output) \(r.error)")
            let listed = Shell.run("ls -ln \(dir) | awk '$NF == \"00020000-00021000\" { print $1, $3 }'")
            #expect(listed.output == "-rw-r--r-- \(getuid())\n", "\(listed.output) \(listed.error)")
        }
    }

    @Test("self points at the caller; unknown pids are ENOENT")
    func selfAndMissing() throws {
        try withMount { tree, target in
            let r = Shell.run("echo $$; cd \(tree.mountpoint)/self && basename $(readlink /proc/$$/cwd); cd /; ls \(tree.mountpoint)/999999 2>&1; ls \(tree.mountpoint)/self/ 2>&1")
            let lines = r.output.split(separator: "\n")
            #expect(lines.count >= 3)
            #expect(lines[0] == lines[1])
            #expect(lines[2].contains("No such file or directory"))
            #expect(lines.dropFirst(3) == ["other_pins", "pin", "status"])
        }
    }

    @Test("a 1 GiB pin streams all 262144 page lines; concurrent readers agree")
    func largePin() throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            let mp = tree.mountpoint
            #expect(Shell.run("echo 7f0000000000+1G > \(mp)/\(pid)/pin").status == 0)
            let file = "\(mp)/\(pid)/7f0000000000-7f0040000000"
            let r = Shell.run("sed -n '/^$/,$p' \(file) | tail -n +2 | wc -l; tail -n 1 \(file) | sed 's/ *$//'")
            #expect(r.output == "262144\n7f003ffff000 13ffff 0 normal 0\n")
            let sums = Shell.run("for i in 1 2 3 4 5 6; do md5sum < \(file) & done; wait")
            let distinct = Set(sums.output.split(separator: "\n"))
            #expect(distinct.count == 1 && sums.output.split(separator: "\n").count == 6)
        }
    }

    @Test("a process's directory leaves the listing within a second of its exit")
    func exitLeavesListing() throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            let mp = tree.mountpoint
            #expect(Shell.run("echo 10000+4K > \(mp)/\(pid)/pin").status == 0)
            #expect(Shell.run("ls \(mp)").output.contains("\(pid)"))
            target.end()
            tree.backend.processExited(pid)   // what the module's release notifier does
            let r = Shell.run("sleep 1; ls \(mp); ls \(mp)/\(pid) 2>&1")
            #expect(!r.output.split(separator: "\n").contains("\(pid)"))
            #expect(r.output.contains("No such file or directory"))
        }
    }

    @Test("the tree refuses creating, renaming and removing its own files")
    func readOnlyShape() throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            let mp = tree.mountpoint
            let r = Shell.run("mkdir \(mp)/x 2>&1; touch \(mp)/\(pid)/x 2>&1; rm \(mp)/\(pid)/pin 2>&1; mv \(mp)/stats \(mp)/y 2>&1")
            #expect(r.output.components(separatedBy: "Operation not permitted").count - 1 == 4, "\(r.output)")
        }
    }

    @Test("cat events waits without a server thread, gets each line, ends when killed; O_NONBLOCK is EAGAIN")
    func eventsStream() throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            let mp = tree.mountpoint
            let out = "/tmp/mempinfs-events-\(getpid())"
            defer { _ = Shell.run("rm -rf \(out)*") }
            // Twenty waiting readers, more than the server's eight threads.
            let started = Shell.run("mkdir \(out).d; for i in $(seq 20); do cat \(mp)/events > \(out).d/$i & echo $!; done; "
                + "cat \(mp)/events > \(out) & echo $!")
            let readers = started.output.split(separator: "\n").joined(separator: " ")
            #expect(started.output.split(separator: "\n").count == 21)
            usleep(300_000)
            #expect(Shell.run("timeout 5 ls \(mp)").status == 0, "ls blocked by waiting readers")
            #expect(Shell.run("timeout 5 bash -c 'echo 10000+4K > \(mp)/\(pid)/pin'").status == 0)
            let made = try #require(tree.backend.listAll(pid: pid).first)
            tree.changes.push([ChangeRecord(sequence: 1, kind: .pin, id: made.id, start: 0x10000, end: 0x11000,
                                            pages: 1, pid: pid, timeNanoseconds: 1_764_262_800_000_000_000)])
            let line = "pin \(pid) 00010000-00011000 pages=1 via=tree uid=0 id=\(made.id) time=1764262800"
            let seen = Shell.run("for i in $(seq 40); do grep -qx '\(line)' \(out) && "
                + "[ $(grep -lx '\(line)' \(out).d/* | wc -l) = 20 ] && exit 0; sleep 0.05; done; exit 1")
            #expect(seen.status == 0, "\(Shell.run("cat \(out)").output)")
            // A refusal the server makes itself (nobody's uid, root's gid:
            // the mode bits let nobody open, the ptrace rule does not)
            // reaches the waiting readers at once, no module record behind it.
            let other = Shell.run("setpriv --reuid=65534 --regid=0 --clear-groups sleep 30 >/dev/null 2>&1 & echo $!")
            let otherPID = other.output.trimmingCharacters(in: .whitespacesAndNewlines)
            defer { _ = Shell.run("kill \(otherPID)") }
            usleep(100_000)
            #expect(Shell.run("echo 10000+4K > \(mp)/\(otherPID)/pin", as: 65534).status != 0)
            let refused = Shell.run("for i in $(seq 40); do grep -q '^refuse \(otherPID) - errno=EACCES pages=0 via=tree uid=65534 ' "
                + "\(out) && exit 0; sleep 0.05; done; exit 1")
            #expect(refused.status == 0, "\(Shell.run("cat \(out)").output)")
            let nonBlocking = Shell.run("dd if=\(mp)/events iflag=nonblock bs=4096 count=1 2>&1 >/dev/null")
            #expect(nonBlocking.output.contains("Resource temporarily unavailable"), "\(nonBlocking.output)")
            let killed = Shell.run("kill -TERM \(readers); "
                + "for i in $(seq 40); do a=0; for p in \(readers); do kill -0 $p 2>/dev/null && a=1; done; "
                + "[ $a = 0 ] && exit 0; sleep 0.05; done; exit 1")
            #expect(killed.status == 0, "a killed reader did not end")
            let closed = Shell.run("sleep 0.2")
            #expect(closed.status == 0 && tree.fileSystem.openHandleCount < 5)
        }
    }

    @Test("one user's thousands of opens, slow readers and huge writes are bounded; root opens, pins and lists meanwhile")
    func oneUserIsBounded() throws {
        try withMount { tree, target in
            let pid = target.processIdentifier
            let mine = try Shell.startTarget(as: 65534)
            defer { mine.end() }
            let mp = tree.mountpoint, npid = mine.processIdentifier
            let out = "/tmp/mempinfs-bounded-\(getpid())"
            defer { _ = Shell.run("rm -f \(out)*") }
            #expect(Shell.run("echo 10000+16K > \(mp)/\(npid)/pin", as: 65534).status == 0)
            // Slow readers: each reads a byte of the pin file, then sits on it.
            let readers = Shell.run("for i in $(seq 8); do (exec 3< \(mp)/\(npid)/00010000-00014000; "
                + "head -c 1 <&3 >/dev/null; sleep 30) >/dev/null 2>&1 & echo $!; done", as: 65534)
            // Opens until the tree says no; their own RLIMIT_NOFILE is higher.
            let opener = Shell.run("(ulimit -n 4096; n=0; while [ $n -lt 1100 ] && exec {fd}< \(mp)/\(npid)/status; "
                + "do n=$((n+1)); done 2> \(out).err; echo $n > \(out); sleep 30) >/dev/null 2>&1 & echo $!", as: 65534)
            let holders = (readers.output + opener.output).split(separator: "\n").joined(separator: " ")
            defer { _ = Shell.run("kill \(holders) 2>/dev/null") }
            let counted = Shell.run("for i in $(seq 200); do [ -s \(out) ] && cat \(out) && exit 0; sleep 0.05; done; exit 1")
            // The slow readers' 8 count too: 1016 opens of status were let in.
            #expect(counted.output == "\(FileSystem.openFilesPerUser - 8)\n", "\(counted.output)")
            #expect(Shell.run("cat \(out).err").output.contains("Too many open files"))
            // The user is refused; root is not, nor is any other user.
            var r = Shell.run("cat \(mp)/\(npid)/status", as: 65534)
            #expect(r.error.contains("Too many open files"), "\(r.error)")
            r = Shell.run("timeout 5 bash -c 'echo 20000+4K > \(mp)/\(pid)/pin && ls \(mp) && cat \(mp)/\(npid)/status'")
            #expect(r.status == 0 && r.output.contains("pins 1\n"), "\(r.error)")
            #expect(Shell.run("timeout 5 cat \(mp)/\(pid)/status", as: 1000).status == 0)
            // A huge write: a line longer than any range is EINVAL at once,
            // and nothing of it waits in the server or stays pinned.
            let huge = Shell.run("head -c 1048576 /dev/zero | tr '\\0' 7 > \(out).huge; "
                + "cat \(out).huge > \(mp)/\(pid)/pin")
            #expect(huge.status != 0 && huge.error.contains("Invalid argument"), "\(huge.error)")
            #expect(tree.backend.pinnedPages == 5)
            // When the user's processes end, their opens are given back.
            _ = Shell.run("kill \(holders)")
            let released = Shell.run("for i in $(seq 100); do cat \(mp)/\(npid)/status >/dev/null 2>&1 && exit 0; "
                + "sleep 0.05; done; exit 1", as: 65534)
            #expect(released.status == 0, "the user's opens were not given back")
            for _ in 0..<100 where tree.fileSystem.openHandleCount > 0 { usleep(20_000) }
            #expect(tree.fileSystem.openHandleCount == 0)
        }
    }

    @Test("memory/ lists the host's blocks, root reads one; other_pins of a process with no other pinner is empty")
    func memoryAndOtherPins() throws {
        try withMount { tree, target in
            let mp = tree.mountpoint, pid = target.processIdentifier
            let blocks = Shell.run("ls /sys/devices/system/memory | grep -c '^memory[0-9]'").output
            var r = Shell.run("ls \(mp)/memory | wc -l")
            #expect(r.output == blocks, "\(r.output) \(r.error)")
            r = Shell.run("stat -c '%a %U' \(mp)/memory \(mp)/memory/memory0; cat \(mp)/memory/memory0")
            #expect(r.output.hasPrefix("555 root\n400 root\npinned_pages "), "\(r.output) \(r.error)")
            #expect(r.output.contains("\nmempin_pages 0\n"))
            r = Shell.run("cat \(mp)/memory/memory0", as: 65534)
            #expect(r.error.contains("Permission denied"), "\(r.error)")
            r = Shell.run("cat \(mp)/\(pid)/other_pins && grep -E '^(other_pinned_bytes|cgroup) ' \(mp)/\(pid)/status")
            let cgroup = Shell.run("sed -n 's/^0:://p' /proc/\(pid)/cgroup").output
            #expect(r.status == 0 && r.output == "other_pinned_bytes 0\ncgroup \(cgroup)", "\(r.output) \(r.error)")
            r = Shell.run("cat \(mp)/\(pid)/other_pins", as: 65534)
            #expect(r.error.contains("Permission denied"), "\(r.error)")
        }
    }
}
