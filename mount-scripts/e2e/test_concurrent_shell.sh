#!/bin/bash
# Shell workers pin, read, list and unpin at once in several processes;
# every answer is checked, and the counters balance at the end.
source "$(dirname "$0")/lib.sh"

pids=()
for _ in 1 2 3 4; do start_target 4; pids+=("$TARGET:$RW"); done
worker() {
	local pid=${1%%:*} rw=${1##*:} i=$2 errors=0 name addr
	for round in $(seq 10); do
		addr=$(hex_add "$rw" $(((i * 10 + round) % 64 * 65536)))
		name=$(pin_name "$addr" 65536)
		write_pin "$pid" "0x$addr+64K" >/dev/null || { errors=$((errors + 1)); continue; }
		[ "$(sed '1,/^$/d' "$MP/$pid/$name" | wc -l)" = 16 ] || errors=$((errors + 1))
		ls "$MP" "$MP/$pid" >/dev/null || errors=$((errors + 1))
		rm "$MP/$pid/$name" || errors=$((errors + 1))
	done
	echo "$errors"
}
results=$(for i in $(seq 0 7); do worker "${pids[$((i % 4))]}" "$i" & done; wait)
check_eq "no worker saw an error" "$(echo "$results" | awk '{ s += $1 } END { print s }')" 0
for p in "${pids[@]}"; do
	check_eq "VmPin 0 in ${p%%:*}" "$(vmpin_kb "${p%%:*}")" 0
done
finish
