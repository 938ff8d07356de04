#!/bin/bash
# A target's exit releases its pins; its directory leaves the listing
# within a second.
source "$(dirname "$0")/lib.sh"

start_target 8
check "pin 4M" write_pin "$TARGET" "0x$RW+4M"
check "pin 2M more" write_pin "$TARGET" "$(hex_add "$RW" 4194304)+2M"
check_pins "foll_pin sees 1536 pages" 1536
stop_target "$TARGET"
check_pins "exit releases the pins" 0
sleep 1
check "the directory left the listing" bash -c "! ls $MP | grep -qx $TARGET"
check "and its name" bash -c "! test -e $MP/$TARGET"
check "stats has no pins of it" grep -qx "processes 0" "$MP/stats"
finish
