#!/bin/bash
# A user pins their own process's memory, charged against its
# RLIMIT_MEMLOCK; root is not limited; PFNs are hidden from the user.
source "$(dirname "$0")/lib.sh"

start_target -u 65534 -l 131072 4
check "the user pins 64K of their process" write_pin "$TARGET" "0x$RW+64K" 65534
check_eq "VmPin 64 kB" "$(vmpin_kb "$TARGET")" 64
expect_refused "over RLIMIT_MEMLOCK" "$TARGET" "$(hex_add "$RW" 65536)+128K" "Cannot allocate memory" 65534
check "up to the limit" write_pin "$TARGET" "$(hex_add "$RW" 65536)+64K" 65534
check_eq "VmPin 128 kB" "$(vmpin_kb "$TARGET")" 128
check "root is not limited" write_pin "$TARGET" "$(hex_add "$RW" 1048576)+1M"
check_eq "VmPin 1152 kB" "$(vmpin_kb "$TARGET")" 1152
name=$(pin_name "$RW" 65536)
pfns=$(setpriv --reuid=65534 --regid=65534 --clear-groups -- sed '1,/^$/d' "$MP/$TARGET/$name" | awk '{ print $2 }' | sort -u)
check_eq "the user sees PFN 0" "$pfns" 0
check "pin owned by the user" test "$(stat -c %u "$MP/$TARGET/$name")" = 65534
check "the user unpins" setpriv --reuid=65534 --regid=65534 --clear-groups -- rm "$MP/$TARGET/$name"
check_eq "VmPin 1088 kB" "$(vmpin_kb "$TARGET")" 1088
finish
