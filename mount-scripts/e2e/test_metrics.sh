#!/bin/bash
# The metrics file: Prometheus text that promtool accepts, with the pins of
# a real process matching the kernel's VmPin, and refusals counted.
source "$(dirname "$0")/lib.sh"
PROMTOOL=${PROMTOOL:-/opt/mempin/promtool}

start_target 4
check "pin 1 MiB" write_pin "$TARGET" "0x$RW+1M"
write_pin "$TARGET" "nonsense" >/dev/null
metrics=$(cat "$MP/metrics")
sample() { printf '%s\n' "$metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
label="{pid=\"$TARGET\",comm=\"mempin-target\"}"
check_eq "per-process pinned bytes" "$(sample "mempin_process_pinned_bytes$label")" 1048576
check_eq "per-process VmPin is the kernel's" "$(sample "mempin_process_vm_pinned_bytes$label")" \
	$(($(vmpin_kb "$TARGET") * 1024))
check_eq "module-wide pinned pages" "$(sample mempin_module_pinned_pages)" 256
check "the refusal is counted" test "$(sample 'mempin_refusals_total{operation="pin",errno="EINVAL"}')" -ge 1
if [ -x "$PROMTOOL" ]; then
	out=$(printf '%s\n' "$metrics" | "$PROMTOOL" check metrics 2>&1)
	check_eq "promtool check metrics: no complaint" "$out" ""
else
	not_ok "promtool check metrics: $PROMTOOL missing (mount-scripts/setup fetches it)"
fi
check "metrics is listed at the root" sh -c "ls '$MP' | grep -qx metrics"
check "metrics is read-only" sh -c "! echo x > '$MP/metrics' 2>/dev/null"
rm "$MP/$TARGET/$(pin_name "$RW" 1048576)"
check_eq "after rm: the process is gone from metrics" "$(grep -c "pid=\"$TARGET\"" "$MP/metrics")" 0
finish
