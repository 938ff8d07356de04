#!/bin/bash
# The tree's pins belong to their processes, not to the server: SIGKILL and
# SIGTERM of mempinfs leave every pin in place (VmPin and foll_pin do not
# move), and a restarted server lists them under the same names and
# removes them with rm. This test restarts the server itself and leaves
# the one it started to the runner, which restarts its own.
source "$(dirname "$0")/lib.sh"

# serve: a new server on $MP after the last one went away.
serve() {
	fusermount3 -u -z "$MP" 2>/dev/null
	"$MEMPINFS" -f -o allow_other "$MP" 2>>/tmp/mempinfs-restarted.log &
	MEMPINFS_PID=$!
	for _ in $(seq 100); do mounted && return 0; sleep 0.05; done
	return 1
}

# gone PID: waits up to 5 s for PID to exit.
gone() {
	for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
	return 1
}

start_target 4
a=$TARGET a_rw=$RW
start_target 4
b=$TARGET b_rw=$RW
check "pin in one process" write_pin "$a" "0x$a_rw+2M"
check "pin in another" write_pin "$b" "0x$b_rw+1M"
check_pins "foll_pin sees 768 pages" 768
before=$(ls "$MP/$a" "$MP/$b")

kill -KILL "$MEMPINFS_PID"
check "SIGKILL ends the server" gone "$MEMPINFS_PID"
wait "$MEMPINFS_PID" 2>/dev/null
check_pins "foll_pin unchanged after the kill" 768
check_eq "VmPin unchanged in one" "$(vmpin_kb "$a")" 2048
check_eq "VmPin unchanged in the other" "$(vmpin_kb "$b")" 1024

check "a new server mounts" serve
check_eq "it lists the same files" "$(ls "$MP/$a" "$MP/$b")" "$before"
check "the root lists both processes" sh -c "ls '$MP' | grep -qx '$a' && ls '$MP' | grep -qx '$b'"
check "its pin file reads as before" grep -qx 'state pinned' "$MP/$a/$(pin_name "$a_rw" $((2 << 20)))"
check "rm through the new server" rm "$MP/$a/$(pin_name "$a_rw" $((2 << 20)))"
check_eq "VmPin 0 after that rm" "$(vmpin_kb "$a")" 0
check_pins "foll_pin sees the other 256 pages" 256

kill -TERM "$MEMPINFS_PID"
check "SIGTERM ends the server" gone "$MEMPINFS_PID"
wait "$MEMPINFS_PID" 2>/dev/null
check_eq "SIGTERM leaves the pin (VmPin)" "$(vmpin_kb "$b")" 1024
check_pins "foll_pin unchanged after SIGTERM" 256
check "another server mounts" serve
check "it lists the pin under its name" test -f "$MP/$b/$(pin_name "$b_rw" $((1 << 20)))"
check "rm removes it" rm "$MP/$b/$(pin_name "$b_rw" $((1 << 20)))"
check_eq "VmPin 0" "$(vmpin_kb "$b")" 0
kill -TERM "$MEMPINFS_PID"
gone "$MEMPINFS_PID"
finish
