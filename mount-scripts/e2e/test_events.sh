#!/bin/bash
# events: a reader started before them sees pin, unpin, detach, revoke,
# exit, close and refuse lines with the right pid and name within a second;
# O_NONBLOCK gives EAGAIN; a killed reader ends at once; 200 waiting
# readers hold no server thread (ls answers, each reader gets the next
# event); a reader 4096 events behind gets "lost N"; a user sees only the
# events of processes whose pin files it may read.
source "$(dirname "$0")/lib.sh"

EV=$MP/events
all=$(mktemp)
mine=$(mktemp)
chmod 666 "$mine"
cat "$EV" >"$all" &
reader=$!
setpriv --reuid=65534 --regid=65534 --clear-groups -- cat "$EV" >"$mine" &
nobody_reader=$!
sleep 0.3

# has FILE PATTERN: a line matching PATTERN (an extended regex) appears in
# FILE within a second.
has() {
	for _ in $(seq 20); do grep -E -q "$2" "$1" && return 0; sleep 0.05; done
	return 1
}

start_target 4
t=$TARGET t_rw=$RW
n1=$(pin_name "$t_rw" $((1 << 20)))
write_pin "$t" "0x$t_rw+1M" >/dev/null
check "pin: pid, name, pages, via, uid" has "$all" "^pin $t $n1 .*pages=256 via=tree uid=0( |$)"
rm "$MP/$t/$n1"
check "unpin" has "$all" "^unpin $t $n1 .*pages=256 via=tree"
write_pin "$t" "0x$t_rw+1M" >/dev/null
kill -USR1 "$t"
check "detach after munmap" has "$all" "^detach $t $n1 "
rm "$MP/$t/$n1"

report=$(mktemp)
chmod 666 "$report"
out=$(mktemp)
"$BIN/mempin-seed-holder" 2 "$report" >"$out" &
h=$!
targets+=("$h")
target_ready "$out"
hn=$(pin_name "$TARGET_RW" $((2 << 20)))
check "a seed pin: via ioctl and holder_pid" has "$all" "^pin $h $hn .*via=ioctl .*holder_pid=$h"
rm "$MP/$h/$hn"
check "revoke by root's rm" has "$all" "^revoke $h $hn "

"$BIN/mempin-seed-holder" 2 /dev/null >"$out" &
h2=$!
targets+=("$h2")
target_ready "$out"
hn2=$(pin_name "$TARGET_RW" $((2 << 20)))
kill -USR1 "$h2"
check "close of the holder's file" has "$all" "^close $h2 $hn2 "

start_target 4
e=$TARGET
write_pin "$e" "0x$RW+1M" >/dev/null
en=$(pin_name "$RW" $((1 << 20)))
stop_target "$e"
check "exit of the target" has "$all" "^exit $e $en "

start_target -u 65534 -l $((1 << 20)) 4
u=$TARGET u_rw=$RW
write_pin "$u" "0x$u_rw+2M" 65534 >/dev/null
check "refuse over RLIMIT_MEMLOCK: errno and reason" \
	has "$all" "^refuse $u $(pin_name "$u_rw" $((2 << 20))) errno=ENOMEM reason=memlock .*uid=65534"
if [ -n "${RESULTS:-}" ]; then
	check "the server's log names the limit" \
		has "$RESULTS/mempinfs.log" "refused a pin of $u/$(pin_name "$u_rw" $((2 << 20))): ENOMEM reason=memlock"
fi
write_pin "$u" "0x$u_rw+512K" 65534 >/dev/null
check "nobody's reader sees nobody's pin" has "$mine" "^pin $u $(pin_name "$u_rw" $((512 << 10))) "
check_eq "nobody's reader sees no event of root's processes" "$(grep -c -E "^[a-z]+ ($t|$h|$e) " "$mine")" 0
rm "$MP/$u/$(pin_name "$u_rw" $((512 << 10)))"

# Mode bits let nobody open the pin of a process of uid nobody, gid root;
# the server's ptrace rule (gids too) refuses it at open, before a range.
out=$(mktemp)
setpriv --reuid=65534 --regid=0 --clear-groups -- "$BIN/mempin-target" 4 >"$out" &
g=$!
targets+=("$g")
target_ready "$out"
rm -f "$out"
write_pin "$g" "0x$TARGET_RW+4K" 65534 >/dev/null
check "refuse at open of pin, a refusal the server makes: errno=EACCES, no range" \
	has "$all" "^refuse $g - errno=EACCES .*uid=65534"

msg=$(dd if="$EV" iflag=nonblock bs=4096 count=1 2>&1 >/dev/null)
case $msg in
*"Resource temporarily unavailable"*) ok "O_NONBLOCK with nothing to read: EAGAIN" ;;
*) not_ok "O_NONBLOCK read: '$msg'" ;;
esac

# What a reader saw, for the README's transcript.
[ -n "${RESULTS:-}" ] && cp "$all" "$RESULTS/events-transcript.txt"
kill -TERM "$reader" "$nobody_reader"
ended() { for _ in $(seq 20); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done; return 1; }
check "a killed reader ends at once" ended "$reader"
check "so does nobody's" ended "$nobody_reader"
wait "$reader" "$nobody_reader" 2>/dev/null

# 200 readers waiting at once (a fresh target: the first one's range is
# unmapped).
start_target 4
t=$TARGET t_rw=$RW
dir=$(mktemp -d)
pids=()
for i in $(seq 200); do cat "$EV" >"$dir/$i" & pids+=($!); done
sleep 1
check "ls answers with 200 readers waiting" timeout 5 ls "$MP" >/dev/null
check "a pin is made with 200 readers waiting" timeout 5 bash -c "echo 0x$t_rw+4K > $MP/$t/pin"
n4=$(pin_name "$t_rw" 4096)
got=0
for _ in $(seq 40); do
	got=$(grep -l -E "^pin $t $n4 " "$dir"/* 2>/dev/null | wc -l)
	[ "$got" = 200 ] && break
	sleep 0.1
done
check_eq "each of the 200 readers got that pin's line" "$got" 200
rm "$MP/$t/$n4"
kill -TERM "${pids[@]}" 2>/dev/null
gone=1
for p in "${pids[@]}"; do ended "$p" || gone=0; done
check_eq "all 200 end when killed" "$gone" 1
wait "${pids[@]}" 2>/dev/null
rm -rf "$dir"

# A reader that does not read while 5,000 pins come and go.
exec 5<"$EV"
follow=$(mktemp)
cat "$EV" >"$follow" &
follower=$!
check "5,000 seed pins and unpins" "$BIN/mempin-seed-holder" churn 5000
# The server follows the module's records in order, and under TCG it may
# still be at it: once a later seed pin's line reaches the reader that
# keeps up, every record of the churn has reached the log too.
mout=$(mktemp)
"$BIN/mempin-seed-holder" 1 /dev/null >"$mout" &
marker=$!
seen=0
for _ in $(seq 200); do grep -E -q "^pin $marker .*via=ioctl" "$follow" && seen=1 && break; sleep 0.1; done
check_eq "a seed pin after the churn reaches a reader that keeps up" "$seen" 1
first=""
IFS= read -r -t 5 first <&5
exec 5<&-
kill -USR1 "$marker" 2>/dev/null
kill "$marker" 2>/dev/null
wait "$marker" 2>/dev/null
kill "$follower" 2>/dev/null
wait "$follower" 2>/dev/null
rm -f "$mout" "$follow"
case $first in
"lost "[1-9]*) ok "a reader far behind gets '$first'" ;;
*) not_ok "a reader far behind got '$first'" ;;
esac

kill -TERM "$h" "$h2" 2>/dev/null
rm -f "$all" "$mine" "$report" "$out"
finish
