# Shared by mempin's scripts; source it. Sets PROJECT, OUT, STATE and
# provides the kernel, build and VM helpers.
# shellcheck shell=bash

PROJECT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=$PROJECT/.build-mempin
STATE=${MEMPIN_STATE:-/opt/mempin}
export PATH=$STATE/venv/bin:/opt/swift/usr/bin:$PATH
mkdir -p "$OUT"

# kernel_version SERIES: the resolved Debian ABI name of 6.1 or 6.12.
kernel_version() {
	awk -v s="$1" '$1 == s { print $2 }' "$STATE/kernels"
}

# build_module VERSION: build mempinfd.ko for one kernel in its own folder
# (M= builds write next to the sources), warnings are errors.
build_module() {
	local v=$1 dir=$OUT/kernel-$1
	mkdir -p "$dir/include/uapi/linux"
	cp "$PROJECT"/kernel/{mempinfd.c,Kbuild,Makefile} "$dir/"
	cp "$PROJECT/kernel/include/uapi/linux/mempinfd.h" "$dir/include/uapi/linux/"
	make -s -C "/lib/modules/$v/build" M="$dir" KCFLAGS=-Werror modules >"$dir/build.log" 2>&1 || {
		cat "$dir/build.log" >&2
		return 1
	}
	if grep -q -i 'warning' "$dir/build.log"; then
		cat "$dir/build.log" >&2
		return 1
	fi
}

# build_c_tests: the module's C tests, the ioctl fuzzer, the e2e target,
# the memory hog, the seed-interface holder and the FUSE server that never
# answers, for the guest.
build_c_tests() {
	mkdir -p "$OUT/bin"
	gcc -O2 -g -Wall -Wextra -Werror -pthread -o "$OUT/bin/mempinfd_test" \
		"$PROJECT/kernel/tests/mempinfd_test.c" &&
	gcc -O2 -g -Wall -Wextra -Werror -o "$OUT/bin/mempin-target" \
		"$PROJECT/mount-scripts/e2e/target.c" &&
	gcc -O2 -g -Wall -Wextra -Werror -o "$OUT/bin/mempinfd_fuzz" \
		"$PROJECT/kernel/tests/mempinfd_fuzz.c" &&
	gcc -O2 -g -Wall -Wextra -Werror -o "$OUT/bin/mempin-hog" \
		"$PROJECT/mount-scripts/e2e/hog.c" &&
	gcc -O2 -g -Wall -Wextra -Werror -o "$OUT/bin/mempin-seed-holder" \
		"$PROJECT/mount-scripts/e2e/seed_holder.c" &&
	gcc -O2 -g -Wall -Wextra -Werror $(pkg-config --cflags fuse3) -o "$OUT/bin/mempin-stuckfs" \
		"$PROJECT/mount-scripts/e2e/stuckfs.c" $(pkg-config --libs fuse3) &&
	build_other_pinner
}

# The io_uring and RDMA pinner of the e2e tests; with RDMA when Debian's
# libibverbs-dev is there (mount-scripts/setup installs it).
build_other_pinner() {
	local verbs=()
	[ -f /usr/include/infiniband/verbs.h ] && verbs=(-DWITH_VERBS -libverbs)
	gcc -O2 -g -Wall -Wextra -Werror -o "$OUT/bin/mempin-other-pinner" \
		"$PROJECT/mount-scripts/e2e/other_pinner.c" "${verbs[@]}"
}

# build_server: the release mempinfs; prints its path.
build_server() {
	(cd "$PROJECT" && swift build -c release --product mempinfs >&2) || return 1
	echo "$(cd "$PROJECT" && swift build -c release --show-bin-path)/mempinfs"
}

# vm_run VERSION RESULTS_DIR CMD...: boot the Debian kernel VERSION under TCG
# and run CMD as root in the project folder; RESULTS_DIR is writable from
# the guest. VM_APPEND adds kernel boot options; VM_SYSTEMD=1 boots systemd
# as PID 1 (CMD then runs as a service of it). Returns CMD's exit status.
vm_run() {
	local v=$1 results=$2 rc try append=${VM_APPEND:-}
	shift 2
	mkdir -p "$results"
	# vng --systemd boots the host's own root, where /.dockerenv (this
	# machine is a container) makes systemd's generators believe they run in
	# a container: they ignore the kernel command line and start a console
	# getty instead of the serial one through which vng runs CMD. An empty
	# $container tells PID 1 it is not in one, and booting into the serial
	# getty itself (with sysinit's journald and udevd) needs no generator.
	[ -n "${VM_SYSTEMD:-}" ] && append="${append:+$append }container= systemd.unit=serial-getty@ttyS0.service"
	for try in 1 2; do
		(cd "$PROJECT" && timeout --kill-after=10 "${VM_TIMEOUT:-900}" \
			vng -r "/boot/vmlinuz-$v" --disable-kvm --memory "${VM_MEMORY:-2G}" --cpus 2 \
			${append:+--append "$append"} ${VM_SYSTEMD:+--systemd} \
			--rwdir "$results" --exec "$*" </dev/null)
		rc=$?
		# vng answers 255 when qemu ends without the command's exit status.
		# With RESULTS_DIR still empty the command never started (seen once:
		# a 6.12 boot that ended at once, no output): boot once more. A
		# command that started and failed is never run again.
		if [ $rc != 255 ] || [ $try = 2 ] || [ -n "$(ls -A "$results")" ]; then
			return $rc
		fi
		echo "vm_run: the $v VM ended before its command started (vng exit 255); booting once more" >&2
	done
}

# The debug checks Debian's kernels are built with but leave off: red zones,
# poisoning and consistency checks of slab objects (SLUB_DEBUG), poisoned
# free pages, zeroed freed memory, and KFENCE sampling (6.12). A module bug
# that overruns or uses freed memory then reports (and the tests fail on
# the report) instead of passing by luck.
DEBUG_BOOT="slub_debug=FZPU page_poison=1 init_on_free=1 kfence.sample_interval=10"

# The test VM's memory as a machine that plans to offline memory has it
# (MEMPIN_MOVABLECORE, 512M unless set; empty for none): the last 512 MiB
# (four memory blocks) in
# ZONE_MOVABLE, which only movable allocations use and from which a
# long-term pin first migrates its pages (FOLL_LONGTERM). Boot-time
# allocations made before the zones exist (the memmap, top-down) may still
# sit in its last block; a block without them offlines without the
# kernel's "unmovable page" dumps, and the e2e tests offline one mid-read.
# Pins are slower to make there (each page migrates first), which widens
# races: it found the server entering a pin after the record of its
# target's exit (fixed 2026-12-02, PinTree's endedPins).
MEMPIN_MOVABLECORE=${MEMPIN_MOVABLECORE-512M}
TEST_BOOT="$DEBUG_BOOT${MEMPIN_MOVABLECORE:+ movablecore=$MEMPIN_MOVABLECORE}"

# record NAME STATUS: one part's result for the summary line of the test
# and torture commands; any status but pass fails the run.
declare -A result
failed=0
record() {
	result[$1]=$2
	[ "$2" = pass ] || failed=1
}

# summarize TITLE [PREFIX]: prints "TITLE: PASS (PREFIX parts)" or FAIL and
# exits 0 or 1 (FAIL as well when nothing was recorded).
summarize() {
	local line="" k
	for k in "${!result[@]}"; do line+="$k: ${result[$k]}; "; done
	if [ $failed = 0 ] && [ -n "$line" ]; then
		echo "$1: PASS (${2:-}$line)"
		exit 0
	fi
	echo "$1: FAIL (${2:-}${line:-nothing ran})"
	exit 1
}
