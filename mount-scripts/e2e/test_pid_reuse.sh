#!/bin/bash
# Pid reuse: a shell of nobody sitting in /run/mempin/N (or holding its pin
# file open) must never pin a later process that got pid N. The next pid
# is chosen with /proc/sys/kernel/ns_last_pid. Twice: once with nothing
# else looking N up, once after root lists /run/mempin/N afresh (the tree
# then answers for the new process, under a new inode generation, and the
# kernel takes the shell's directory for stale).
source "$(dirname "$0")/lib.sh"

# reuse_pid PID MIB: starts a mempin-target of nobody as pid PID (sets
# TARGET, RW); fails if another process took the pid first.
reuse_pid() {
	local out try
	out=$(mktemp)
	chmod 666 "$out"
	for try in 1 2 3 4 5; do
		echo $(($1 - 1)) >/proc/sys/kernel/ns_last_pid
		setpriv --reuid=65534 --regid=65534 --clear-groups -- "$BIN/mempin-target" "$2" >"$out" &
		TARGET=$!
		targets+=("$TARGET")
		[ "$TARGET" = "$1" ] && break
		stop_target "$TARGET"
		: >"$out"
	done
	target_ready "$out"
	RW=$TARGET_RW
	rm -f "$out"
	[ "$TARGET" = "$1" ]
}

for round in quiet relisted; do
	start_target -u 65534 4
	old=$TARGET
	dir=$(mktemp -d)
	mkfifo "$dir/go"
	chmod -R 777 "$dir"
	# nobody's shell: in the old process's directory, pin opened there too.
	setpriv --reuid=65534 --regid=65534 --clear-groups -- bash -c "
		cd $MP/$old || exit 9
		exec 3>pin || exit 8
		echo ready >$dir/ready
		read -r range <$dir/go
		echo \"\$range\" >pin 2>$dir/cwd.err; echo \$? >$dir/cwd.rc
		echo \"\$range\" >&3 2>$dir/fd.err; echo \$? >$dir/fd.rc" &
	shell=$!
	for _ in $(seq 200); do [ -e "$dir/ready" ] || ! kill -0 "$shell" 2>/dev/null && break; sleep 0.05; done
	if [ ! -e "$dir/ready" ]; then
		not_ok "$round: nobody's shell could not open the pin of its process $old"
		kill "$shell" 2>/dev/null
		continue
	fi
	stop_target "$old"
	if ! reuse_pid "$old" 4; then
		not_ok "$round: pid $old was not handed out again"
		kill "$shell" 2>/dev/null
		continue
	fi
	ok "$round: a new process of nobody has pid $old"
	[ $round = relisted ] && ls "$MP/$old" >/dev/null 2>&1
	timeout 5 bash -c "echo 0x$RW+4K >$dir/go"
	timeout 10 tail --pid="$shell" -f /dev/null
	check "$round: the write through the old directory fails" test "$(cat "$dir/cwd.rc" 2>/dev/null)" = 1
	check "$round: the write to the pin opened for the old process fails" test "$(cat "$dir/fd.rc" 2>/dev/null)" = 1
	echo "# $round: through the directory: $(cat "$dir/cwd.err"); through the open file: $(cat "$dir/fd.err")"
	check_eq "$round: the new process has nothing pinned (VmPin)" "$(vmpin_kb "$TARGET")" 0
	stop_target "$TARGET"
	rm -rf "$dir"
done
finish
