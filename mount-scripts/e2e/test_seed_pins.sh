#!/bin/bash
# A process that pins 2 MiB of its own through the seed ioctl, as a
# user-space driver does, is in the tree: at the root, in its pid
# directory as a file with via ioctl and holder_pid, in stats. Its owner
# may read it but not remove it; root's rm revokes it: VmPin back to 0,
# the holder's file polls POLLPRI and its own MEM_CMD_UNPIN is ENOENT,
# and the holder goes on running.
source "$(dirname "$0")/lib.sh"

report=$(mktemp)
chmod 666 "$report"
out=$(mktemp)
chmod 666 "$out"
setpriv --reuid=65534 --regid=65534 --clear-groups -- \
	prlimit --memlock=$((4 << 20)):$((4 << 20)) \
	"$BIN/mempin-seed-holder" 2 "$report" >"$out" &
h=$!
targets+=("$h")
target_ready "$out"
rm -f "$out"
name=$(pin_name "$TARGET_RW" $((2 << 20)))
check_eq "the holder pinned 2 MiB of its own (VmPin)" "$(vmpin_kb "$h")" 2048
check_pins "foll_pin sees 512 pages" 512

listed() { ls "$MP" | grep -qx "$h"; }
for _ in $(seq 20); do listed && break; sleep 0.05; done
check "listed at the root within a second" listed
check_eq "its pid directory has the pin file" "$(ls "$MP/$h" | grep -c -x "$name")" 1
file=$MP/$h/$name
check "via ioctl" grep -qx 'via ioctl' "$file"
check "holder_pid $h" grep -qx "holder_pid $h" "$file"
check "pages 512" grep -qx 'pages 512' "$file"
check "state pinned" grep -qx 'state pinned' "$file"
check_eq "512 page lines" "$(sed '1,/^$/d' "$file" | wc -l)" 512
check "stats counts it" sh -c "awk '\$1 == \"pins\" && \$2 >= 1 { ok = 1 } END { exit !ok }' '$MP/stats'"
check "its owner may read it" setpriv --reuid=65534 --regid=65534 --clear-groups -- grep -qx 'via ioctl' "$file"

msg=$(setpriv --reuid=65534 --regid=65534 --clear-groups -- rm -f "$file" 2>&1)
case $msg in
*"Operation not permitted"*) ok "its owner may not revoke it: EPERM" ;;
*) not_ok "its owner's rm: '$msg'" ;;
esac
msg=$(setpriv --reuid=1000 --regid=1000 --clear-groups -- rm -f "$file" 2>&1)
case $msg in
*"Permission denied"*) ok "another user may not: EACCES" ;;
*) not_ok "another user's rm: '$msg'" ;;
esac
check_eq "still pinned after both (VmPin)" "$(vmpin_kb "$h")" 2048

check "root's rm revokes it" rm "$file"
check_eq "VmPin 0 when rm returns" "$(vmpin_kb "$h")" 0
check_pins "foll_pin balanced after the revoke" 0
told() { grep -qx 'revoked unpin=ENOENT' "$report"; }
for _ in $(seq 20); do told && break; sleep 0.05; done
check "the holder polled POLLPRI and its unpin was ENOENT" told
check "the holder goes on running" kill -0 "$h"
check "the file is gone" test ! -e "$file"
rm -f "$report"
finish
