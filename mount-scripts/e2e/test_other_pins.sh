#!/bin/bash
# The whole machine's long-term pins. An io_uring fixed buffer of 4 MiB
# puts its process at the root, with other_pinned_bytes in status, its range
# in other_pins (1024 pages, io_uring) and its pages under their memory
# block as "PID other N"; a mempin pin shows in its block under its name.
# Another user reads neither other_pins nor a block; after unregistering,
# the line and the directory go. With soft-RoCE in the guest, an RDMA
# memory region shows the same way (rdma).
source "$(dirname "$0")/lib.sh"

block_size=$((0x$(cat /sys/devices/system/memory/block_size_bytes)))
page=$(getconf PAGESIZE)

# start_pinner uring|rdma MIB: a process that has the kernel pin MIB MiB.
# Sets PINNER (pid), PRW (hex address), POUT (its output file).
start_pinner() {
	POUT=$(mktemp)
	"$BIN/mempin-other-pinner" "$@" >"$POUT" 2>&1 &
	PINNER=$!
	targets+=("$PINNER")
	for _ in $(seq 100); do
		grep -q '^rw ' "$POUT" && break
		kill -0 "$PINNER" 2>/dev/null || break
		sleep 0.05
	done
	PRW=$(awk '$1 == "rw" { print $2 }' "$POUT")
}

# frames PID HEX PAGES: the page frame of each page, one per line (pagemap).
frames() {
	dd if="/proc/$1/pagemap" bs=8 skip=$((0x$2 / page)) count="$3" 2>/dev/null |
		od -An -v -tx8 | tr -s ' ' '\n' | grep . |
		while read -r e; do echo $((0x$e & ((1 << 55) - 1))); done
}

# in_block BLOCK: how many of the frames on stdin lie in memory block BLOCK.
in_block() {
	local n=0 f
	while read -r f; do [ $((f * page / block_size)) = "$1" ] && n=$((n + 1)); done
	echo "$n"
}

# listed PID: the root lists PID (within 2 s).
listed() {
	for _ in $(seq 40); do ls "$MP" | grep -qx "$1" && return 0; sleep 0.05; done
	return 1
}

# unlisted PID: the root no longer lists PID (within 2 s).
unlisted() {
	for _ in $(seq 40); do ls "$MP" | grep -qx "$1" || return 0; sleep 0.05; done
	return 1
}

start_pinner uring 4
check "an io_uring buffer of 4 MiB is registered" test -n "$PRW"
check_eq "its VmPin" "$(vmpin_kb "$PINNER")" 4096
check "its process is listed at the root" listed "$PINNER"
check "status: other_pinned_bytes 4194304" grep -qx "other_pinned_bytes 4194304" "$MP/$PINNER/status"
check "status: cgroup is its cgroup" grep -qx "cgroup $(sed -n 's/^0:://p' "/proc/$PINNER/cgroup")" "$MP/$PINNER/status"
check_eq "other_pins lists exactly the buffer, 1024 pages, io_uring" \
	"$(cat "$MP/$PINNER/other_pins")" "$(pin_name "$PRW" 4194304) 1024 io_uring"
first=$(frames "$PINNER" "$PRW" 1)
block=$((first * page / block_size))
want=$(frames "$PINNER" "$PRW" 1024 | in_block "$block")
mem=$MP/memory/memory$block
check "the buffer's pages are PID other N in the block of its first page" grep -qx "$PINNER other $want" "$mem"
pinned=$(awk '$1 == "pinned_pages" { print $2 }' "$mem")
mempin=$(awk '$1 == "mempin_pages" { print $2 }' "$mem")
check "the block's pinned_pages >= its pages held by the ring ($want)" test "$pinned" -ge "$want"
check "the block's pinned_pages >= mempin_pages" test "$pinned" -ge "$mempin"

# A mempin pin of another process, in the block of its first page.
start_target 4
name=$(pin_name "$RW" 4194304)
check "pin 4 MiB" write_pin "$TARGET" "0x$RW+4M"
tframes=$(sed -n '/^$/,$p' "$MP/$TARGET/$name" | while read -r _ f _; do [ -n "$f" ] && echo $((0x$f)); done)
tblock=$(($(head -n 1 <<<"$tframes") * page / block_size))
twant=$(in_block "$tblock" <<<"$tframes")
tmem=$MP/memory/memory$tblock
check "the pin is PID NAME N in the block of its first page" grep -qx "$TARGET $name $twant" "$tmem"
check "that block's mempin_pages >= N ($twant)" \
	test "$(awk '$1 == "mempin_pages" { print $2 }' "$tmem")" -ge "$twant"
check "that block's pinned_pages >= its mempin_pages" test \
	"$(awk '$1 == "pinned_pages" { print $2 }' "$tmem")" -ge "$(awk '$1 == "mempin_pages" { print $2 }' "$tmem")"
check_eq "the pinned process has no other_pins" "$(cat "$MP/$TARGET/other_pins")" ""
check "status of the pinned process: other_pinned_bytes 0" grep -qx "other_pinned_bytes 0" "$MP/$TARGET/status"

# Other users: status yes; other_pins and memory blocks no (procfs's rule).
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
check "nobody reads the ring holder's status" as_nobody sh -c "cat $MP/$PINNER/status >/dev/null"
err=$(as_nobody cat "$MP/$PINNER/other_pins" 2>&1)
check "nobody may not read its other_pins (EACCES)" grep -q "Permission denied" <<<"$err"
err=$(as_nobody cat "$mem" 2>&1)
check "nobody may not read a memory block (EACCES)" grep -q "Permission denied" <<<"$err"
check "nobody lists memory/" as_nobody sh -c "ls $MP/memory >/dev/null"

# A block offlined while its file is open: the read goes on to its end
# with what the block held at open (the file is rendered then), a new open
# says offline, and the block comes back. Only a block wholly in
# ZONE_MOVABLE and without boot-time allocations (reserved pages, which
# /proc/kpageflags shows) offlines without the kernel dumping the pages it
# could not move; the test VM has four blocks there (lib.sh TEST_BOOT;
# none with MEMPIN_MOVABLECORE set empty). Offlining migrates every page in
# use, at about a millisecond a page under TCG, and one pass of the
# kernel's migration over a block full of page cache ran long enough for
# the soft-lockup watchdog (seen in CI, 2026-12-02): the test drops the
# clean page cache first and offlines the block with the fewest pages on
# the LRU.
# quiet_block BLOCK...: of the memory blocks BLOCK... without reserved pages
# (KPF_RESERVED), the one with the fewest pages on the LRU (KPF_LRU), as
# "BLOCK PAGES"; nothing when each has reserved pages.
quiet_block() {
	python3 - "$block_size" "$page" "$@" <<-'PY'
		import struct, sys
		size, page = int(sys.argv[1]), int(sys.argv[2])
		frames = size // page
		best = None
		with open("/proc/kpageflags", "rb") as f:
		    for block in (int(a) for a in sys.argv[3:]):
		        f.seek(block * frames * 8)
		        data = f.read(frames * 8)
		        flags = struct.unpack(f"{len(data) // 8}Q", data)
		        if len(flags) != frames or any(x >> 32 & 1 for x in flags):
		            continue
		        lru = sum(1 for x in flags if x >> 5 & 1)
		        if best is None or lru < best[0]:
		            best = (lru, block)
		if best:
		    print(best[1], best[0])
	PY
}
sync
echo 1 >/proc/sys/vm/drop_caches
candidates=()
for d in /sys/devices/system/memory/memory*; do
	[ "$(cat "$d/state")" = online ] && [ "$(cat "$d/valid_zones")" = Movable ] &&
		candidates+=("${d##*/memory}")
done
movable="" lru=""
[ ${#candidates[@]} -gt 0 ] && read -r n lru < <(quiet_block "${candidates[@]}") && movable=memory$n
if [ -z "$movable" ]; then
	echo "ok - $TEST: a block offlined mid-read # SKIP no online block of ZONE_MOVABLE without reserved pages"
else
	exec 3<"$MP/memory/$movable"
	head=$(dd bs=1 count=12 <&3 2>/dev/null)
	t0=$(date +%s%N)
	if err=$(timeout 120 sh -c "echo offline >/sys/devices/system/memory/$movable/state" 2>&1); then
		echo "# $movable, $lru pages on the LRU: offline in $((($(date +%s%N) - t0) / 1000000)) ms"
		rest=$(cat <&3)
		exec 3<&-
		check "a block offlined mid-read reads to its end, as it was at open" \
			grep -qx "state online" <<<"$head$rest"
		check "a new open of $movable says offline" grep -qx "state offline" "$MP/memory/$movable"
		check "an offline block has no pinned pages" grep -qx "pinned_pages 0" "$MP/memory/$movable"
		check "the block comes back online (movable)" \
			sh -c "echo online_movable >/sys/devices/system/memory/$movable/state"
		check "a new open of $movable says online" grep -qx "state online" "$MP/memory/$movable"
	else
		exec 3<&-
		not_ok "offline $movable (a block of ZONE_MOVABLE): $err; $(cat /sys/devices/system/memory/$movable/state)"
	fi
fi

# Unregistering takes the line, the charge and the directory away.
kill -USR1 "$PINNER"
for _ in $(seq 100); do grep -q released "$POUT" && break; sleep 0.05; done
check_eq "after unregistering: other_pins is empty" "$(cat "$MP/$PINNER/other_pins")" ""
check "after unregistering: other_pinned_bytes 0" grep -qx "other_pinned_bytes 0" "$MP/$PINNER/status"
check "after unregistering: the directory leaves the root's listing" unlisted "$PINNER"
# An open other_pins outlives its process: the read ends cleanly.
start_pinner uring 1
exec 3<"$MP/$PINNER/other_pins"
stop_target "$PINNER"
check "other_pins of a process that exits while open reads to its end" bash -c 'cat <&3 >/dev/null'
exec 3<&-
rm -f "$POUT"

# Soft-RoCE: an RDMA memory region over a dummy link, where it runs.
rdma_ready() {
	modprobe -q rdma_rxe 2>/dev/null && modprobe -q dummy 2>/dev/null &&
		{ ip link show mempin0 >/dev/null 2>&1 || ip link add mempin0 type dummy; } &&
		ip link set mempin0 up &&
		{ rdma link show rxe0 >/dev/null 2>&1 || rdma link add rxe0 type rxe netdev mempin0; }
}
if ! command -v rdma >/dev/null; then
	echo "ok - $TEST: RDMA memory region # SKIP no rdma tool (iproute2) in the guest"
elif ! rdma_ready 2>/tmp/mempin-rdma.err; then
	echo "ok - $TEST: RDMA memory region # SKIP soft-RoCE did not start: $(head -c 200 /tmp/mempin-rdma.err | tr '\n' ' ')"
else
	start_pinner rdma 4
	if [ -z "$PRW" ]; then
		echo "ok - $TEST: RDMA memory region # SKIP ibv_reg_mr failed: $(head -c 200 "$POUT" | tr '\n' ' ')"
	else
		check "an RDMA region's process is listed" listed "$PINNER"
		check "status: other_pinned_bytes 4194304 (RDMA)" grep -qx "other_pinned_bytes 4194304" "$MP/$PINNER/status"
		check_eq "other_pins lists the region, 1024 pages, rdma" \
			"$(cat "$MP/$PINNER/other_pins")" "$(pin_name "$PRW" 4194304) 1024 rdma"
	fi
	stop_target "$PINNER"
	rdma link delete rxe0 2>/dev/null
	ip link delete mempin0 2>/dev/null
	rm -f "$POUT"
fi
rm -f /tmp/mempin-rdma.err
check_pins "foll_pin counts only the mempin pin" 1024
rm "$MP/$TARGET/$name"
finish
