#!/bin/bash
# The stall attack: a FUSE file system that never answers a read, and 32
# processes of one user (nobody) that map a file of it MAP_PRIVATE and
# write their range to their own pin, all at once. Each pin would fault
# into the stuck server and hold one of mempinfs's threads for good; the
# tree refuses such a pin up front (EFAULT), so none does. Meanwhile root
# pins another process and lists the tree; the waits are printed beside the
# same pin and ls before the attack. Afterwards nothing is pinned and the
# writers have ended. Root's own pin of such a range is refused too, by
# the module, before any fault.
# (The stuck server is mounted by root with allow_other here; a user's own,
# through setuid fusermount3, is the same file system type to the tree.)
source "$(dirname "$0")/lib.sh"

stuck=$(mktemp -d /tmp/mempin-stuck.XXXXXX)
chmod 755 "$stuck"
"$BIN/mempin-stuckfs" "$stuck" &
fs=$!
cleanup() {
	fusermount3 -u -z "$stuck" 2>/dev/null
	kill "$fs" 2>/dev/null
	wait "$fs" 2>/dev/null
	rmdir "$stuck" 2>/dev/null
}
trap cleanup EXIT
for _ in $(seq 100); do [ -e "$stuck/file" ] && break; sleep 0.05; done
check "the stuck file system is mounted" test -e "$stuck/file"

start_target 4
victim=$TARGET victim_rw=$RW
ms() { echo $(($(date +%s%N) / 1000000)); }
# The same pin and ls before the attack: what root's wait is compared with
# (absolute times in a TCG guest are noisy).
t0=$(ms)
timeout 5 bash -c "echo 0x$victim_rw+1M > $MP/$victim/pin"
t1=$(ms)
timeout 5 sh -c "ls $MP >/dev/null"
t2=$(ms)
rm "$MP/$victim/$(pin_name "$victim_rw" $((1 << 20)))"
quiet_pin=$((t1 - t0)) quiet_ls=$((t2 - t1))

attackers=() ranges=()
for _ in $(seq 32); do
	start_target -u 65534 file "$stuck/file"
	attackers+=("$TARGET") ranges+=("$RW")
done
mapped=0
for a in "${attackers[@]}"; do grep -q mempin-stuck "/proc/$a/maps" && mapped=$((mapped + 1)); done
check_eq "32 processes of nobody map the stuck file" "$mapped" 32

# The 32 writers start first and wait at a gate (a FIFO), so that their
# writes reach the server together and what root then waits for is the
# server, not 32 shells starting on the VM's two CPUs.
dir=$(mktemp -d)
chmod 777 "$dir"
mkfifo -m 666 "$dir/gate"
exec 5<>"$dir/gate"
writers=()
for i in "${!attackers[@]}"; do
	setpriv --reuid=65534 --regid=65534 --clear-groups -- bash -c \
		'read -r _ <"$1"; printf "%s\n" "$2" >"$3" 2>"$4" || exit 0; echo pinned >>"$4"' \
		- "$dir/gate" "0x${ranges[$i]}+1M" "$MP/${attackers[$i]}/pin" "$dir/$i" &
	writers+=($!)
done
sleep 1
printf 'go\n%.0s' $(seq 32) >&5
t0=$(ms)
check "root pins another process meanwhile (bounded: 5 s)" \
	timeout 5 bash -c "echo 0x$victim_rw+1M > $MP/$victim/pin"
t1=$(ms)
check "root lists the tree meanwhile (bounded: 5 s)" timeout 5 sh -c "ls $MP >/dev/null"
t2=$(ms)
echo "# stall attack: root's pin of 1 MiB took $((t1 - t0)) ms (before the attack: $quiet_pin ms), its ls $((t2 - t1)) ms (before: $quiet_ls ms), with 32 writers of nobody into a stuck FUSE file"

ended=1
for w in "${writers[@]}"; do
	for _ in $(seq 100); do kill -0 "$w" 2>/dev/null || break; sleep 0.05; done
	kill -0 "$w" 2>/dev/null && ended=0
done
check_eq "every writer has ended within 5 s" "$ended" 1
wait "${writers[@]}" 2>/dev/null
exec 5>&-
check_eq "every writer was refused with EFAULT" "$(grep -l 'Bad address' "$dir"/[0-9]* | wc -l)" 32
pinned=0
for a in "${attackers[@]}"; do [ "$(vmpin_kb "$a")" = 0 ] || pinned=$((pinned + 1)); done
check_eq "none of the 32 has anything pinned (VmPin)" "$pinned" 0
check_pins "foll_pin counts only root's pin" 256
rm "$MP/$victim/$(pin_name "$victim_rw" $((1 << 20)))"
rm -rf "$dir"

# Root's own pin of such a range: the module refuses it before any fault
# (a fault on another process's behalf into a server that never answers
# could not be interrupted), so root's writer does not wait either.
err=$(timeout 5 bash -c "echo 0x${ranges[0]}+1M > $MP/${attackers[0]}/pin" 2>&1)
rc=$?
check "root's pin of a stuck FUSE file's range ends at once (bounded: 5 s)" test "$rc" != 124
check "root's pin of a stuck FUSE file's range is EFAULT" grep -q 'Bad address' <<<"$err"
check_eq "nothing of it is pinned (VmPin)" "$(vmpin_kb "${attackers[0]}")" 0
check_pins "foll_pin counters balanced after root's refused pin" 0

for a in "${attackers[@]}"; do stop_target "$a"; done
targets=("$victim")
finish
