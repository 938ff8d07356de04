#!/bin/bash
# SIGKILL of the server releases every pin it holds (the kernel closes its
# container). The runner restarts the server after this test.
source "$(dirname "$0")/lib.sh"

start_target 4
a=$TARGET a_rw=$RW
start_target 4
b=$TARGET b_rw=$RW
check "pin in one process" write_pin "$a" "0x$a_rw+2M"
check "pin in another" write_pin "$b" "0x$b_rw+1M"
check_pins "foll_pin sees 768 pages" 768
kill -KILL "$MEMPINFS_PID"
for _ in $(seq 50); do kill -0 "$MEMPINFS_PID" 2>/dev/null || break; sleep 0.1; done
check_pins "foll_pin balanced after the kill" 0
check_eq "VmPin 0 in one" "$(vmpin_kb "$a")" 0
check_eq "VmPin 0 in the other" "$(vmpin_kb "$b")" 0
finish
