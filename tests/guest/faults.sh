# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# Systematic fault injection against every entry point of vc-sm-cma and the vcsm heaps
# (userspace/vcsm-tests/src/bin/vcsm-faults.rs). Sourced after lib.sh, heap.sh and vcsm.sh; the
# entry point is fault_tests. Expects the modules loaded and /dev/vcsm-cma ready (as after
# t_vc_load in vcsm.sh) and a debug kernel with CONFIG_FAULT_INJECTION, FAILSLAB,
# FAIL_PAGE_ALLOC, FAULT_INJECTION_DEBUG_FS and FAULT_INJECTION_STACKTRACE_FILTER.
#
# vcsm-faults prints, per entry point, `faults/<entry>: N steps, M distinct errnos {...}` and
# its @@VCSM PASS/FAIL line; it saves and restores the fault attributes itself. This file loads
# the kernel-API test module for the kernel-API entry point and checks afterwards that nothing
# is left behind and that fault injection is off again.

FI_BASELINE=/tmp/faults-cma-baseline

# fault_attrs_off: nothing injects faults any more (probability 0; fail-nth is per thread and
# ends with the program).
fault_attrs_off() {
	for d in /sys/kernel/debug/failslab /sys/kernel/debug/fail_page_alloc; do
		[ "$(cat $d/probability)" = 0 ] || { echo "$d/probability is $(cat $d/probability)"; return 1; }
		[ "$(cat $d/verbose)" != 0 ] || { echo "$d/verbose left at 0"; return 1; }
		[ "$(cat $d/ignore-gfp-wait)" = Y ] || { echo "$d/ignore-gfp-wait left at N"; return 1; }
		[ "$(cat $d/require-start)" = 0x0000000000000000 ] || { echo "$d/require-start left at $(cat $d/require-start)"; return 1; }
		[ "$(cat $d/reject-end)" = 0x0000000000000000 ] || { echo "$d/reject-end left at $(cat $d/reject-end)"; return 1; }
	done
	[ "$(cat /sys/kernel/debug/failslab/cache-filter)" = N ] || { echo "failslab/cache-filter left at Y"; return 1; }
	marked=$(cat /sys/kernel/slab/*/failslab 2>/dev/null | grep -c '^1')
	[ "$marked" = 0 ] || { echo "$marked slab caches left marked for failslab"; return 1; }
}

# fault_recover: releases what a failed step left behind, so the tests after this phase start
# clean: unbinding the driver releases the buffers it kept; a handle the simulated VPU still
# holds (one whose IMPORT reply the driver lost) goes with the simulator, reloaded with the
# driver as t_vc_load loads them.
fault_recover() {
	echo "faults: unbinding vc-sm-cma and reloading it and vpu-sim to release what was left behind"
	echo vcsm-cma > /sys/bus/vchiq-bus/drivers/vcsm-cma/unbind
	{ rmmod vc_sm_cma && rmmod vpu_sim; } || { echo "faults: cannot unload vc_sm_cma and vpu_sim"; return 1; }
	VC_WHY=""
	t_vc_load || { echo "faults: reload failed: $VC_WHY"; return 1; }
	if vcsm_settled "$FI_BASELINE" 30; then
		echo "faults: released by the reload"
	else
		echo "faults: still not settled after the reload"
		return 1
	fi
}

fault_tests() {
	vcsm_run faults/setup
	if [ ! -e /proc/self/fail-nth ] || [ ! -d /sys/kernel/debug/failslab ] || [ ! -d /sys/kernel/debug/fail_page_alloc ] ||
		[ ! -e /sys/kernel/debug/failslab/require-start ]; then
		vcsm_fail faults/setup "kernel without fail-nth, failslab, fail_page_alloc or the stack-trace filter"
		return
	fi
	if [ ! -c /dev/vcsm-cma ] || [ ! -c /dev/dma_heap/vcsm-uncached ] || [ ! -c /dev/dma_heap/vcsm-cached ]; then
		vcsm_fail faults/setup "no /dev/vcsm-cma or vcsm heaps (modules not loaded?)"
		return
	fi
	loaded_kapi=""
	if ! grep -q '^vcsm_kapi_test ' /proc/modules; then
		insmod /lib/modules/vcsm-kapi-test.ko || { vcsm_fail faults/setup "insmod vcsm-kapi-test failed"; return; }
		loaded_kapi=1
	fi
	vcsm_cma_used > "$FI_BASELINE"
	vcsm_pass faults/setup

	t0=$(date +%s)
	vcsm-faults
	rc=$?
	echo "vcsm-faults: exit $rc after $(($(date +%s) - t0)) s"

	[ -n "$loaded_kapi" ] && rmmod vcsm_kapi_test

	vcsm_run faults/settled
	if vcsm_settled "$FI_BASELINE" 30; then
		vcsm_pass faults/settled
	else
		vcsm_fail faults/settled "driver, VPU or CMA not back to where they were before the fault injection"
		fault_recover
	fi

	vcsm_run faults/injection-off
	if out=$(fault_attrs_off); then
		vcsm_pass faults/injection-off
	else
		vcsm_fail faults/injection-off "fault attributes not restored: $out"
	fi
}
