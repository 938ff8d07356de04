#!/bin/bash
# The main job: pin a range with echo, see it with ls and cat, rm it.
source "$(dirname "$0")/lib.sh"

start_target 4
name=$(pin_name "$RW" 1048576)
check "echo ADDR+1M > pin" write_pin "$TARGET" "0x$RW+1M"
check_eq "VmPin counts the pin" "$(vmpin_kb "$TARGET")" 1024
check_pins "foll_pin counters see 256 pages" 256
check "ls shows the process" grep -qx "$TARGET" <(ls "$MP")
check "ls shows the pin file" grep -qx "$name" <(ls "$MP/$TARGET")
check_eq "pin file mode" "$(stat -c %a "$MP/$TARGET/$name")" 644
check_eq "directory, pin, status, other_pins modes" \
	"$(cd "$MP/$TARGET" && stat -c %a . pin status other_pins | tr '\n' ' ')" "755 200 644 644 "
header=$(sed '/^$/q' "$MP/$TARGET/$name")
check "header: start" grep -qx "start $RW" <<<"$header"
check "header: pages 256" grep -qx "pages 256" <<<"$header"
check "header: bytes" grep -qx "bytes 1048576" <<<"$header"
check "header: writable 1" grep -qx "writable 1" <<<"$header"
check "header: state pinned" grep -qx "state pinned" <<<"$header"
check_eq "256 page lines" "$(sed '1,/^$/d' "$MP/$TARGET/$name" | wc -l)" 256
first=$(sed '1,/^$/d' "$MP/$TARGET/$name" | head -n 1)
check_eq "first page line's vaddr" "${first%% *}" "$RW"
pfn=$(awk '{ print $2 }' <<<"$first")
check "root sees a real PFN" test "$pfn" != 0
check "each page line is the kernel's page: pagemap's frame, kpageflags' compound" \
	"$(dirname "$0")/page_lines_match.py" "$TARGET" "$MP/$TARGET/$name"
check "status: vm_pinned_bytes" grep -qx "vm_pinned_bytes 1048576" "$MP/$TARGET/status"
check "status: pins 1" grep -qx "pins 1" "$MP/$TARGET/status"
check "stats: pins >= 1" awk '$1 == "pins" && $2 >= 1 { f = 1 } END { exit !f }' "$MP/stats"
check "rm unpins" rm "$MP/$TARGET/$name"
check_eq "VmPin 0 once rm returns" "$(vmpin_kb "$TARGET")" 0
check_pins "foll_pin balanced once rm returns" 0
sleep 1.1
check "the process leaves the listing" bash -c "! ls $MP | grep -qx $TARGET"

# THPs: the module gives their pages as runs of frames; each line is still
# its own page's.
start_target 8 thp
name=$(pin_name "$RW" 8388608)
check "echo ADDR+8M > pin (THP)" write_pin "$TARGET" "0x$RW+8M"
check "each THP page line is the kernel's page" \
	"$(dirname "$0")/page_lines_match.py" "$TARGET" "$MP/$TARGET/$name"
check "rm unpins the THP pin" rm "$MP/$TARGET/$name"
check_pins "foll_pin balanced after the THP pin" 0
finish
