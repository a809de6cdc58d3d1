# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# The hostile-user phase "process death at random points" and the unload/unbind races of
# vc-sm-cma.ko against the simulated VPU. Sourced after lib.sh and vcsm.sh; the entry point is
# chaos_tests. Expects the modules loaded and /dev/vcsm-cma ready (as after t_vc_load) and
# leaves them so.
#
# The work is in vcsm-chaos (userspace/vcsm-tests), one run per mode, each printing its own
# @@VCSM lines: it starts as root, drives the simulator and the module, and runs everything
# that opens a device node as uid 1000 in group video (44), with the udev rule's node modes.
# Each mode ends with the settled check (no buffer in the driver, no handle on the VPU, CMA,
# dma-bufs and module references back where they were).
#
# All modes share one seed, printed first; replay a run with VCSM_CHAOS_SEED=N, or one mode
# with `vcsm-chaos --seed N --as-user 1000:44 MODE`.

CHAOS_BASE=/tmp/chaos-cma.base

chaos_seed() {
	s=${VCSM_CHAOS_SEED:-$(od -An -N4 -tu4 /dev/urandom 2>/dev/null | tr -d ' \n')}
	echo "${s:-$(date +%s)}"
}

# chaos_mode MODE [ARGS...]: one vcsm-chaos run. It exits 1 after reporting a failure; any
# other non-zero status (a crash) is a failure it could not report itself.
chaos_mode() {
	vcsm-chaos --seed "$CHAOS_SEED" --as-user "$VCSM_USER_UID:$VCSM_VIDEO_GID:$VCSM_VIDEO_GID" \
		--video-gid "$VCSM_VIDEO_GID" "$@"
	rc=$?
	if [ "$rc" != 0 ] && [ "$rc" != 1 ]; then
		vcsm_run "chaos/$1-exit"
		vcsm_fail "chaos/$1-exit" "vcsm-chaos $* exited with status $rc without reporting (seed $CHAOS_SEED)"
	fi
}

chaos_tests() {
	vcsm_run chaos/setup
	if ! command -v vcsm-chaos >/dev/null; then
		vcsm_fail chaos/setup "vcsm-chaos is not in the initramfs"
		return
	fi
	if [ ! -c /dev/vcsm-cma ] || [ ! -e /sys/kernel/debug/vpu-sim/state ] || [ ! -c /dev/dma_heap/vcsm-uncached ]; then
		vcsm_fail chaos/setup "needs /dev/vcsm-cma, /dev/dma_heap/vcsm-uncached and vpu-sim loaded (as after vcsm/load)"
		return
	fi
	vcsm_apply_udev_modes
	vcsm_cma_used > "$CHAOS_BASE"
	CHAOS_SEED=$(chaos_seed)
	echo "chaos: seed $CHAOS_SEED (replay with VCSM_CHAOS_SEED=$CHAOS_SEED)"
	vcsm_pass chaos/setup

	chaos_mode kill
	chaos_mode fork
	chaos_mode mmap-race
	chaos_mode after-release
	chaos_mode unload

	vcsm_run chaos/settled
	# shellcheck disable=SC2012 # ls -ln of one fixed node, for its mode and group: no names parsed
	if ! vcsm_settled "$CHAOS_BASE"; then
		vcsm_fail chaos/settled "buffers, VPU handles or CMA pages left after the chaos phase (seed $CHAOS_SEED)"
	elif [ ! -c /dev/vcsm-cma ] || [ "$(vcsm_drv_kv phase)" != Ready ]; then
		vcsm_fail chaos/settled "the driver is not loaded and ready after the chaos phase"
	elif [ "$(ls -ln /dev/vcsm-cma | awk '{ print $1 " " $4 }')" != "crw-rw---- $VCSM_VIDEO_GID" ]; then
		vcsm_fail chaos/settled "/dev/vcsm-cma lost the udev rule's group $VCSM_VIDEO_GID and mode 0660: $(ls -ln /dev/vcsm-cma)"
	else
		vcsm_pass chaos/settled
	fi
}
