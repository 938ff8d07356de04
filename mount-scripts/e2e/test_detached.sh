#!/bin/bash
# A range unmapped after pinning shows state detached, stays pinned and
# charged until rm.
source "$(dirname "$0")/lib.sh"

start_target 4
name=$(pin_name "$RW" 1048576)
check "pin 1M" write_pin "$TARGET" "0x$RW+1M"
check "state pinned" grep -qx "state pinned" "$MP/$TARGET/$name"
kill -USR1 "$TARGET"
sleep 0.2
check "state detached after munmap" grep -qx "state detached" "$MP/$TARGET/$name"
check_eq "still charged" "$(vmpin_kb "$TARGET")" 1024
check "status counts it" grep -qx "detached_pins 1" "$MP/$TARGET/status"
check "rm" rm "$MP/$TARGET/$name"
check_eq "uncharged" "$(vmpin_kb "$TARGET")" 0
finish
