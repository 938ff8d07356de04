# End-to-end test helpers, sourced by each test_*.sh inside the VM guest,
# with the module loaded and mempinfs serving $MP. Every check prints a TAP
# line; finish() checks that the kernel's foll_pin counters are back where
# the test started and exits non-zero if anything failed.
# shellcheck shell=bash

MP=${MP:-/run/mempin}
BIN=${BIN:?BIN must name the folder with mempin-target}
TEST=$(basename "$0" .sh)
failures=0
targets=()

source "$(dirname "${BASH_SOURCE[0]}")/../guest/lib.sh"
BASELINE=$(settled_balance)

ok() { echo "ok - $TEST: $*"; }
not_ok() { echo "not ok - $TEST: $*"; failures=$((failures + 1)); }

# check DESCRIPTION COMMAND...: ok if COMMAND succeeds.
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# check_pins DESCRIPTION PAGES: foll_pin counts PAGES pages above the
# baseline (read until it does, for 3 s: see settled_balance).
check_pins() {
	local b
	if b=$(balance_reaches $((BASELINE + $2))); then ok "$1"; else
		not_ok "$1 (foll_pin $((b - BASELINE)) pages, want $2)"; fi
}

# check_eq DESCRIPTION GOT WANT
check_eq() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (got '$2', want '$3')"; fi
}

# start_target [-u UID] [-l MEMLOCK_BYTES] [MIB] [thp]: a process with MIB
# MiB to pin. Sets TARGET (pid), RW (hex address), RW_SIZE, RO.
start_target() {
	local user="" memlock="" out
	while [ $# -gt 0 ]; do
		case $1 in
		-u) user=$2; shift 2 ;;
		-l) memlock=$2; shift 2 ;;
		*) break ;;
		esac
	done
	out=$(mktemp)
	local cmd=("$BIN/mempin-target" "$@")
	[ -n "$memlock" ] && cmd=(prlimit "--memlock=$memlock:$memlock" "${cmd[@]}")
	[ -n "$user" ] && cmd=(setpriv "--reuid=$user" "--regid=$user" --clear-groups -- "${cmd[@]}")
	"${cmd[@]}" >"$out" &
	TARGET=$!
	targets+=("$TARGET")
	target_ready "$out"
	RW=$TARGET_RW RW_SIZE=$TARGET_RW_SIZE RO=$TARGET_RO
	rm -f "$out"
}

stop_target() {
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# write_pin PID TEXT [UID]: one write(2) of TEXT to PID's control file (as
# UID). Prints the shell's error message, if any; returns the write's status.
write_pin() {
	local f rc
	f=$(mktemp)
	chmod 644 "$f"
	printf '%s\n' "$2" >"$f"
	if [ -n "${3:-}" ]; then
		setpriv --reuid="$3" --regid="$3" --clear-groups -- bash -c "cat $f > $MP/$1/pin" 2>&1
	else
		bash -c "cat $f > $MP/$1/pin" 2>&1
	fi
	rc=$?
	rm -f "$f"
	return $rc
}

# expect_refused DESCRIPTION PID TEXT MESSAGE [UID]: the write fails with
# MESSAGE (strerror of the errno) and the target's VmPin does not move.
expect_refused() {
	local before after message
	before=$(vmpin_kb "$2")
	if message=$(write_pin "$2" "$3" "${5:-}"); then
		not_ok "$1: the write succeeded"
		return
	fi
	after=$(vmpin_kb "$2")
	case $message in
	*"$4"*) ok "$1: $4" ;;
	*) not_ok "$1: got '$message', want '$4'" ;;
	esac
	check_eq "$1: nothing pinned" "$after" "$before"
}

# hex_add HEX BYTES: HEX + BYTES, in hex.
hex_add() { printf '%x' $((0x$1 + $2)); }


finish() {
	local t
	for t in "${targets[@]}"; do stop_target "$t"; done
	# Pins of exited targets are released by their exit.
	check_pins "foll_pin counters balanced" 0
	exit $((failures > 0))
}
