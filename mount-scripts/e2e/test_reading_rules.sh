#!/bin/bash
# Reading follows /proc/PID/maps: another user can neither list a process's
# pins nor read their page lists (EACCES), status stays readable by all; a
# user's own pins are hers. uid 0 without CAP_SYS_ADMIN is not root.
source "$(dirname "$0")/lib.sh"

start_target 4
check "root pins its process" write_pin "$TARGET" "0x$RW+64K"
name=$(pin_name "$RW" 65536)
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@" 2>&1; }
refused() {
	local out
	if out=$(as_nobody "$@"); then not_ok "nobody: $*: allowed"; else
		case $out in
		*"Permission denied"*) ok "nobody: $*: Permission denied" ;;
		*) not_ok "nobody: $*: '$out'" ;;
		esac
	fi
}
refused ls "$MP/$TARGET"
refused cat "$MP/$TARGET/$name"
refused stat "$MP/$TARGET/$name"
check "nobody reads root's process's status" bash -c "as() { setpriv --reuid=65534 --regid=65534 --clear-groups -- \"\$@\"; }; as cat $MP/$TARGET/status | grep -qx 'pins 1'"
# uid 0 without capabilities reads its own uid's process (ptrace's rule),
# but it is not root: it does not see PFNs (pagemap's rule).
pfns=$(setpriv --inh-caps=-all --bounding-set=-all -- sed '1,/^$/d' "$MP/$TARGET/$name" | awk '{ print $2 }' | sort -u)
check_eq "uid 0 without CAP_SYS_ADMIN sees PFN 0" "$pfns" 0
check "root sees PFNs" bash -c "sed '1,/^\$/d' $MP/$TARGET/$name | awk '{ print \$2 }' | grep -qv '^0\$'"
rm -f "$MP/$TARGET/$name"

start_target -u 65534 4
check "nobody pins its own process" write_pin "$TARGET" "0x$RW+64K" 65534
check "nobody lists its own process" bash -c "setpriv --reuid=65534 --regid=65534 --clear-groups -- ls $MP/$TARGET | grep -qx $(pin_name "$RW" 65536)"
finish
