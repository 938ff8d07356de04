# Helpers shared by the guest scripts (e2e-tests, package-tests, torture)
# and the e2e tests' lib.sh: the kernel's view of pins, the mount, the
# target process. Sourced; needs root.
# shellcheck shell=bash

# nr_foll_pin_acquired - nr_foll_pin_released, per-CPU deltas folded first.
foll_balance() {
	echo 1 >/proc/sys/vm/stat_refresh
	awk '$1 == "nr_foll_pin_acquired" { a = $2 } $1 == "nr_foll_pin_released" { r = $2 }
		END { print a - r }' /proc/vmstat
}

# settled_balance: foll_balance once three reads in a row agree. Other work
# in the guest pins pages for a moment (9p and FUSE pin a reader's buffer
# for the request), and a pin taken on one CPU and released on another can
# show as -1 or +1 between folds: one read can be off by a page or two.
settled_balance() {
	local prev="" b same=0
	for _ in $(seq 40); do
		b=$(foll_balance)
		if [ "$b" = "$prev" ]; then
			same=$((same + 1))
			[ $same -ge 2 ] && break
		else
			same=0
		fi
		prev=$b
		sleep 0.05
	done
	echo "$b"
}

# balance_reaches WANT [TRIES]: true once foll_balance reads WANT (10 reads
# a second, 30 by default). Prints the last read.
balance_reaches() {
	local b
	for _ in $(seq "${2:-30}"); do
		b=$(foll_balance)
		[ "$b" = "$1" ] && break
		sleep 0.1
	done
	echo "$b"
	[ "$b" = "$1" ]
}

# pin_name START_HEX BYTES: the pin file name of a page-aligned range.
pin_name() { printf '%08x-%08x' $((0x$1)) $((0x$1 + $2)); }

# VmPin of a process, in kB (empty once it is gone).
vmpin_kb() { awk '$1 == "VmPin:" { print $2 }' "/proc/$1/status" 2>/dev/null; }

# mounted: mempinfs serves $MP.
mounted() { grep -q " $MP fuse.mempinfs " /proc/mounts; }

# target_ready FILE: waits (up to 5 s) for a mempin-target writing to FILE
# to print its mappings (see e2e/target.c), then sets TARGET_RW (hex),
# TARGET_RW_SIZE (bytes) and TARGET_RO (hex) from them.
target_ready() {
	for _ in $(seq 100); do
		grep -q '^ro ' "$1" 2>/dev/null && break
		sleep 0.05
	done
	TARGET_RW=$(awk '$1 == "rw" { print $2 }' "$1")
	TARGET_RW_SIZE=$(awk '$1 == "rw" { print $3 }' "$1")
	TARGET_RO=$(awk '$1 == "ro" { print $2 }' "$1")
}
