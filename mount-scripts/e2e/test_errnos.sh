#!/bin/bash
# Every row of the contract's errno table, each leaving nothing pinned.
source "$(dirname "$0")/lib.sh"

start_target 4
expect_refused "bad syntax" "$TARGET" "hello" "Invalid argument"
expect_refused "unknown suffix" "$TARGET" "0x$RW+1T" "Invalid argument"
expect_refused "END not above START" "$TARGET" "$(hex_add "$RW" 8192)-$RW" "Invalid argument"
expect_refused "zero length" "$TARGET" "0x$RW+0" "Invalid argument"
expect_refused "overflow past 2^64" "$TARGET" "ffffffffffff0000+1M" "Invalid argument"
expect_refused "no range at all" "$TARGET" "" "Invalid argument"
expect_refused "not mapped" "$TARGET" "0x1000+4K" "Bad address"
expect_refused "partly mapped" "$TARGET" "0x$RW+1G" "Bad address"
expect_refused "read-only" "$TARGET" "0x$RO+4K" "Bad address"
check "a pin to overlap" write_pin "$TARGET" "0x$RW+64K"
expect_refused "overlap" "$TARGET" "$(hex_add "$RW" 32768)+64K" "File exists"
expect_refused "a write is all or nothing" "$TARGET" "$(printf '0x%s+4K\n0x1000+4K' "$(hex_add "$RW" 1048576)")" "Bad address"
check_eq "the good line of the failed write is not pinned" "$(vmpin_kb "$TARGET")" 64
check "rm" rm "$MP/$TARGET/$(pin_name "$RW" 65536)"

# Someone else's process: the pin file's mode (and the server) refuse.
expect_refused "another user's process" "$TARGET" "0x$RW+4K" "Permission denied" 65534
check_eq "rm of an unknown pin is ENOENT" "$(rm "$MP/$TARGET/$(pin_name "$RW" 4096)" 2>&1 | grep -c 'No such file')" 1
check_eq "an unknown pid is ENOENT" "$(ls "$MP/999999" 2>&1 | grep -c 'No such file')" 1

# The process exits between open and write: ESRCH.
start_target 4
victim=$TARGET
exec 3>"$MP/$victim/pin"
stop_target "$victim"
message=$(printf '0x%s+4K\n' "$RW" 2>&1 >&3)
exec 3>&-
case $message in
*"No such process"*) ok "exited process: No such process" ;;
*) not_ok "exited process: got '$message'" ;;
esac
finish
