# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# The ioctl fuzzer (userspace/vcsm-tests/src/bin/vcsm-fuzz.rs) against /dev/vcsm-cma, every
# dma-heap and the dma-bufs around them: as a user of group video with the udev rule's node
# modes, then as a user outside the group (every node must refuse to open); afterwards the
# driver, the simulated VPU and every CMA area must be back where they started.
#
# Sourced after lib.sh and vcsm.sh; the entry point is fuzz_tests. Needs the modules loaded
# and /dev/vcsm-cma ready (as after t_vc_load).
#
# Environment (for example from the kernel command line, which hands KEY=VALUE words to init:
# tests/qemu/run.sh ... --kernel-cmdline "VCSM_FUZZ_SEED=123 VCSM_FUZZ_CALLS=1000000"):
#   VCSM_FUZZ_SEED        replay this seed (the log's `vcsm-fuzz: seed N threads T calls C`);
#                         default a fresh one
#   VCSM_FUZZ_CALLS       calls in total (default 200000; a soak uses more)
#   VCSM_FUZZ_THREADS     worker threads (default 3; a replay needs the same number)
#   VCSM_FUZZ_WRAP_DEPTH  longest chain of wrappers of wrappers (default: the program's, 16)
#   VCSM_FUZZ_IMPORTS_PER_BUFFER  most live imports of one buffer (default: no limit)

FUZZ_BASE=/tmp/fuzz-cma.base
FUZZ_NOBODY=1001

# Every CMA area's used count is the one recorded before the fuzzer.
fuzz_cma_back() { [ "$(vcsm_cma_used)" = "$(cat "$FUZZ_BASE")" ]; }

# fuzz_sim_err KEY: a counter of the simulator's `errors` line (0 if there is none).
fuzz_sim_err() {
	awk -v k="$1" '$1 == "errors" { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' \
		/sys/kernel/debug/vpu-sim/state 2>/dev/null
}

# fuzz_run NAME ARGS...: runs vcsm-fuzz, which prints its own @@VCSM lines; a run that ends
# without them (killed, or a signal the program's handler did not catch) fails NAME.
fuzz_run() {
	name=$1
	shift
	vcsm-fuzz "$@"
	rc=$?
	case $rc in
	0 | 1 | 3) ;;
	*) vcsm_fail "$name" "vcsm-fuzz $* ended with status $rc (killed?)" ;;
	esac
}

fuzz_tests() {
	if [ ! -c /dev/vcsm-cma ]; then
		vcsm_run fuzz/video-user
		vcsm_fail fuzz/video-user "no /dev/vcsm-cma: the driver is not loaded or not connected"
		return
	fi
	vcsm_cma_used > "$FUZZ_BASE"
	vcsm_apply_udev_modes
	client0=$(fuzz_sim_err client_errors)
	free0=$(fuzz_sim_err free_invalid)
	log0=$(dmesg | wc -l)

	set -- --calls "${VCSM_FUZZ_CALLS:-200000}" --threads "${VCSM_FUZZ_THREADS:-3}" --phase video-user \
		--as-user "$VCSM_USER_UID:$VCSM_USER_UID:$VCSM_VIDEO_GID"
	[ -n "${VCSM_FUZZ_SEED:-}" ] && set -- "$@" --seed "$VCSM_FUZZ_SEED"
	[ -n "${VCSM_FUZZ_WRAP_DEPTH:-}" ] && set -- "$@" --max-wrap-depth "$VCSM_FUZZ_WRAP_DEPTH"
	[ -n "${VCSM_FUZZ_IMPORTS_PER_BUFFER:-}" ] && set -- "$@" --max-imports-per-buffer "$VCSM_FUZZ_IMPORTS_PER_BUFFER"
	start=$(date +%s)
	fuzz_run fuzz/video-user "$@"
	echo "fuzz: video-user run took $(($(date +%s) - start)) s, $(($(dmesg | wc -l) - log0)) kernel log lines"

	fuzz_run fuzz/no-access --as-user "$FUZZ_NOBODY:$FUZZ_NOBODY" --expect-no-access

	# Everything the fuzzer made is gone once the VPU has answered the last FREEs.
	vcsm_settled "$FUZZ_BASE" 150 > /tmp/fuzz-settled.out 2>&1
	vcsm_run fuzz/settled/driver-buffers
	n=$(vcsm_drv_kv buffers)
	if [ "$n" = 0 ]; then
		vcsm_pass fuzz/settled/driver-buffers
	else
		cat /sys/kernel/debug/vcsm-cma/state
		vcsm_fail fuzz/settled/driver-buffers "the driver still holds '$n' buffers 15 s after the fuzzer exited"
	fi
	vcsm_run fuzz/settled/vpu-handles
	n=$(awk '$1 == "handles" { print $2; exit }' /sys/kernel/debug/vpu-sim/state 2>/dev/null)
	if [ "$n" = 0 ]; then
		vcsm_pass fuzz/settled/vpu-handles
	else
		grep '^handle' /sys/kernel/debug/vpu-sim/state | head -n 20
		vcsm_fail fuzz/settled/vpu-handles "the simulated VPU still has '$n' handles"
	fi
	vcsm_run fuzz/settled/cma-used
	# A reading taken while the pool's worker returns a buffer to CMA can be off by that buffer
	# for a moment (the area's count and the pool's are two counters): the count must be back
	# within 3 s, which a leak never is.
	if vcsm_until 30 fuzz_cma_back; then
		vcsm_pass fuzz/settled/cma-used
	else
		cat /tmp/fuzz-settled.out
		vcsm_fail fuzz/settled/cma-used "CMA pages in use differ from before the fuzzer: $(vcsm_cma_used | tr '\n' ' ')/ before: $(tr '\n' ' ' < "$FUZZ_BASE")"
	fi
	vcsm_run fuzz/settled/vchiq-use
	c=$(fuzz_sim_err client_errors)
	f=$(fuzz_sim_err free_invalid)
	if [ "$c" = "$client0" ] && [ "$f" = "$free0" ]; then
		vcsm_pass fuzz/settled/vchiq-use
	else
		grep '^errors' /sys/kernel/debug/vpu-sim/state
		vcsm_fail fuzz/settled/vchiq-use "the driver misused VCHIQ or freed unknown handles under the fuzzer: client_errors $client0 -> $c, free_invalid $free0 -> $f"
	fi
}
