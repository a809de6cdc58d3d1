# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# shellcheck disable=SC3043 # local: not POSIX, but busybox sh (ash) has it
# Helpers for guest test scripts (busybox sh). Each test prints `@@VCSM RUN name`, then
# `@@VCSM PASS name` or `@@VCSM FAIL name: reason`; tests/qemu/judge.py counts them.

vcsm_run() { echo "@@VCSM RUN $1"; }
vcsm_pass() { echo "@@VCSM PASS $1"; }
vcsm_fail() { echo "@@VCSM FAIL $1: $2"; }

# vcsm_until TENTHS COMMAND...: retry COMMAND every 0.1 s until it succeeds, at most TENTHS
# times; the status of the last try.
vcsm_until() {
	# Local: callers keep their own variables (an `n` of theirs must survive this).
	local tries="$1"
	shift
	while [ "$tries" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		tries=$((tries - 1))
	done
	"$@"
}

# vcsm_check NAME COMMAND...: a test that passes when COMMAND succeeds; its output is shown.
vcsm_check() {
	name=$1
	shift
	vcsm_run "$name"
	if out=$("$@" 2>&1); then
		[ -n "$out" ] && echo "$out"
		vcsm_pass "$name"
	else
		rc=$?
		[ -n "$out" ] && echo "$out"
		vcsm_fail "$name" "'$*' exited with $rc"
	fi
}

# vcsm_expect_fail NAME COMMAND...: passes when COMMAND fails.
vcsm_expect_fail() {
	name=$1
	shift
	vcsm_run "$name"
	if out=$("$@" 2>&1); then
		echo "$out"
		vcsm_fail "$name" "'$*' succeeded but must fail"
	else
		echo "$out"
		vcsm_pass "$name"
	fi
}

# kmemleak: forget everything allocated so far (boot), to judge only what the tests leak.
vcsm_kmemleak_clear() {
	[ -w /sys/kernel/debug/kmemleak ] && echo clear > /sys/kernel/debug/kmemleak
}

# kmemleak: scan (objects must be older than 5 s to be reported) and fail on any report.
vcsm_kmemleak_check() {
	vcsm_run kmemleak/scan
	if [ ! -w /sys/kernel/debug/kmemleak ]; then
		vcsm_fail kmemleak/scan "no /sys/kernel/debug/kmemleak: kernel without DEBUG_KMEMLEAK"
		return
	fi
	sleep 6
	echo scan > /sys/kernel/debug/kmemleak
	sleep 1
	echo scan > /sys/kernel/debug/kmemleak
	leaks=$(cat /sys/kernel/debug/kmemleak)
	if [ -n "$leaks" ]; then
		echo "$leaks" | head -n 60
		vcsm_fail kmemleak/scan "$(echo "$leaks" | grep -c 'unreferenced object') unreferenced objects"
	else
		vcsm_pass kmemleak/scan
	fi
}

# ---- state shared by the hostile-user phases (fuzz.sh, faults.sh, chaos.sh) ----

# vcsm_cma_used: one line "AREA USED" per CMA area (pages in use, from CMA debugfs). Pages the
# heap's pool holds (its stats' `pool ... bytes=`) are not counted as used in the heap's area:
# they are the pool's, returned on pressure, idle or unload, so a leak check compares what is
# neither live nor pooled. The pool is read before and after the areas, again if it changed.
vcsm_cma_used() {
	_s=/sys/kernel/debug/vcsm-cma-heap/stats
	_try=0
	while :; do
		_p1=$(vcsm_pool_pages) _pfn=""
		[ -r "$_s" ] && _pfn=$(($(sed -n 's/^region base=\(0x[0-9a-f]*\) .*/\1/p' "$_s") / 4096))
		_out=$(for d in /sys/kernel/debug/cma/*/; do
			[ -r "$d/used" ] || continue
			u=$(cat "$d/used")
			[ "$(cat "$d/base_pfn" 2>/dev/null)" = "$_pfn" ] && u=$((u - _p1))
			echo "$(basename "$d") $u"
		done)
		_try=$((_try + 1))
		[ "$(vcsm_pool_pages)" = "$_p1" ] || [ $_try -ge 5 ] && break
	done
	[ -n "$_out" ] && echo "$_out"
}

# vcsm_pool_pages: pages the heap's pool holds (0 without the heap or its pool line).
vcsm_pool_pages() {
	_b=$(awk '$1 == "pool" { for (i = 2; i <= NF; i++) if ($i ~ /^bytes=/) { sub(/^bytes=/, "", $i); print $i } }' \
		/sys/kernel/debug/vcsm-cma-heap/stats 2>/dev/null)
	echo $((${_b:-0} / 4096))
}

# vcsm_drv_kv KEY: the value of KEY=... on the summary lines of vc-sm-cma's state file.
vcsm_drv_kv() {
	awk -v k="$1" '$1 != "buffer" && $1 != "pin" { for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' \
		/sys/kernel/debug/vcsm-cma/state 2>/dev/null
}

# vcsm_settled BASELINE_FILE [TENTHS]: waits (default 10 s) until the driver holds no buffer,
# the simulated VPU no handle, and every CMA area's used count equals the one recorded in
# BASELINE_FILE (from vcsm_cma_used); prints what differs and fails otherwise.
vcsm_settled_now() {
	if [ -e /sys/kernel/debug/vcsm-cma/state ]; then
		[ "$(vcsm_drv_kv buffers)" = 0 ] || return 1
	fi
	if [ -e /sys/kernel/debug/vpu-sim/state ]; then
		[ "$(awk '$1 == "handles" { print $2; exit }' /sys/kernel/debug/vpu-sim/state)" = 0 ] || return 1
	fi
	[ "$(vcsm_cma_used)" = "$(cat "$1")" ]
}
vcsm_settled() {
	vcsm_until "${2:-100}" vcsm_settled_now "$1" && return 0
	echo "not settled: driver buffers=$(vcsm_drv_kv buffers)"
	grep '^handles' /sys/kernel/debug/vpu-sim/state 2>/dev/null
	echo "CMA used now:"; vcsm_cma_used
	echo "CMA used at the start:"; cat "$1"
	return 1
}

# vcsm_as_video_user: apply the udev rule's modes (udev/99-vcsm.rules: group video, 0660) to
# the nodes, as a Raspberry Pi OS system has them. VCSM_VIDEO_GID is Debian's video group.
VCSM_VIDEO_GID=44
# shellcheck disable=SC2034 # used by the scripts that source this file
VCSM_USER_UID=1000
vcsm_apply_udev_modes() {
	for n in /dev/vcsm-cma /dev/dma_heap/vcsm-uncached /dev/dma_heap/vcsm-cached; do
		[ -e "$n" ] && chgrp "$VCSM_VIDEO_GID" "$n" && chmod 0660 "$n"
	done
	# Raspberry Pi OS's 60-dma-heap.rules: every dma_heap node group video, 0660.
	for n in /dev/dma_heap/*; do
		[ -c "$n" ] && chgrp "$VCSM_VIDEO_GID" "$n" && chmod 0660 "$n"
	done
	return 0
}
