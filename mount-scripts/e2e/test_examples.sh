#!/bin/bash
# The scripts in examples/ against a real process: pin its heap and its
# libc data by name, list every pin sorted by size, unpin all of it.
source "$(dirname "$0")/lib.sh"
EX=$(cd "$(dirname "$0")/../../examples" && pwd)
export MEMPIN=$MP

start_target 4
heap=$(awk '$6 == "[heap]" { print $1 }' "/proc/$TARGET/maps")
if [ -z "$heap" ]; then
	not_ok "the target has a heap"
	finish
fi
heap_bytes=$((16#${heap#*-} - 16#${heap%-*}))

out=$("$EX/pin-mapping" "$TARGET" 2>&1)
check_eq "pin-mapping pins [heap] and prints its file" "$out" \
	"$MP/$TARGET/$(printf '%08x-%08x' $((16#${heap%-*})) $((16#${heap#*-})))"
check_eq "VmPin is the heap's size" "$(vmpin_kb "$TARGET")" $((heap_bytes / 1024))

# libc has several writable mappings: one write pins them all.
libc_bytes=0
for r in $(awk 'substr($2, 2, 1) == "w" && index($6, "libc.so") { print $1 }' "/proc/$TARGET/maps"); do
	libc_bytes=$((libc_bytes + 16#${r#*-} - 16#${r%-*}))
done
out=$("$EX/pin-mapping" "$TARGET" libc.so 2>&1)
check "pin-mapping libc.so prints a pin file per mapping" test "$(printf '%s\n' "$out" | grep -c "^$MP/$TARGET/")" -ge 1
check_eq "VmPin adds libc's writable mappings" "$(vmpin_kb "$TARGET")" $(((heap_bytes + libc_bytes) / 1024))

before=$(vmpin_kb "$TARGET")
if "$EX/pin-mapping" "$TARGET" no-such-mapping 2>/dev/null; then not_ok "an unknown name fails"; else ok "an unknown name fails"; fi
if "$EX/pin-mapping" "$TARGET" '[heap]' 2>/dev/null; then not_ok "pinning the heap twice fails (EEXIST)"; else
	ok "pinning the heap twice fails (EEXIST)"; fi
check_eq "failed pin-mapping pins nothing" "$(vmpin_kb "$TARGET")" "$before"

# A second process with a bigger pin comes first in the listing.
a=$TARGET
start_target 4
check "pin 2 MiB in another process" write_pin "$TARGET" "0x$RW+2M"
listing=$("$EX/list-pins")
check_eq "list-pins: a header and one line per pin" "$(printf '%s\n' "$listing" | wc -l)" \
	$((1 + $(find "$MP/$a" "$MP/$TARGET" -name '*-*' | wc -l)))
first=$(printf '%s\n' "$listing" | sed -n 2p)
check_eq "list-pins: the largest first" "$(echo "$first" | awk '{ print $1, $2, $4 }')" "2097152 $TARGET pinned"
check "list-pins: sorted by size" sh -c "printf '%s\n' \"\$1\" | tail -n +2 | awk '{ print \$1 }' | sort -c -nr" - "$listing"

out=$("$EX/unpin-all" "$a")
check "unpin-all says what it removed" test -n "$out"
check_eq "unpin-all: VmPin 0" "$(vmpin_kb "$a")" 0
check_eq "unpin-all: no pin files left" "$(find "$MP/$a" -name '*-*' 2>/dev/null | wc -l)" 0
check_eq "the other process keeps its pin" "$(vmpin_kb "$TARGET")" 2048

# metrics-textfile writes the metrics where node_exporter reads them.
dir=$(mktemp -d)
check "metrics-textfile writes mempin.prom" "$EX/metrics-textfile" "$dir"
check "mempin.prom has the other process" grep -q "^mempin_process_pinned_bytes{pid=\"$TARGET\",comm=\"mempin-target\"} 2097152$" "$dir/mempin.prom"
rm -rf "$dir"
"$EX/unpin-all" "$TARGET" >/dev/null
finish
