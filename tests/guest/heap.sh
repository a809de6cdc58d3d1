# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# Guest tests of vcsm-cma-heap.ko (sourced by check.sh after lib.sh).

HEAPS="vcsm-uncached vcsm-cached"

heap_load() {
	vcsm_run heap/load
	if ! insmod /lib/modules/vcsm-cma-heap.ko; then
		vcsm_fail heap/load "insmod failed"
		return 1
	fi
	for h in $HEAPS; do
		if [ ! -c "/dev/dma_heap/$h" ]; then
			vcsm_fail heap/load "no /dev/dma_heap/$h after insmod"
			return 1
		fi
	done
	ls -l /dev/dma_heap/
	vcsm_pass heap/load
}

# The module must refuse to unload while a buffer or a heap file is alive, and unload cleanly
# (heaps gone, nothing leaked) once they are gone.
heap_unload_rules() {
	vcsm_run heap/unload-refused-while-buffer-alive
	heap-tests --hold vcsm-uncached > /tmp/hold.out 2>&1 &
	holder=$!
	i=0
	while ! grep -q HOLDING /tmp/hold.out && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	if ! grep -q HOLDING /tmp/hold.out; then
		cat /tmp/hold.out
		vcsm_fail heap/unload-refused-while-buffer-alive "holder did not allocate"
	elif rmmod vcsm_cma_heap 2>/dev/null; then
		vcsm_fail heap/unload-refused-while-buffer-alive "rmmod succeeded with a live buffer"
		kill $holder; wait $holder
		return
	else
		vcsm_pass heap/unload-refused-while-buffer-alive
	fi
	kill $holder 2>/dev/null
	wait $holder 2>/dev/null

	vcsm_run heap/unload-refused-while-heap-open
	exec 3</dev/dma_heap/vcsm-cached
	if rmmod vcsm_cma_heap 2>/dev/null; then
		exec 3<&-
		vcsm_fail heap/unload-refused-while-heap-open "rmmod succeeded with an open heap file"
		return
	fi
	exec 3<&-
	vcsm_pass heap/unload-refused-while-heap-open

	vcsm_run heap/unload-and-reload
	if ! rmmod vcsm_cma_heap; then
		vcsm_fail heap/unload-and-reload "rmmod failed with nothing alive"
		return
	fi
	if [ -e /dev/dma_heap/vcsm-uncached ] || [ -e /dev/dma_heap/vcsm-cached ]; then
		vcsm_fail heap/unload-and-reload "heap devices remain after rmmod"
		return
	fi
	if ! insmod /lib/modules/vcsm-cma-heap.ko || [ ! -c /dev/dma_heap/vcsm-cached ]; then
		vcsm_fail heap/unload-and-reload "reload failed"
		return
	fi
	vcsm_pass heap/unload-and-reload
}

# The vcsm-far-pool-virt overlay's second heap node has a pool outside the simulated VPU's
# window (issue 10, D1): the heap refuses it at probe with one line naming the pool, the window
# and the overlay to use, and the heaps come from the node whose pool the VPU reaches.
heap_far_pool_refused() {
	vcsm_run heap/far-pool-refused
	stats=/sys/kernel/debug/vcsm-cma-heap/stats
	if [ ! -d /proc/device-tree/vcsm-far-heap ]; then
		vcsm_fail heap/far-pool-refused "no /vcsm-far-heap node: the boot lacks the vcsm-far-pool-virt overlay"
		return
	fi
	line=$(dmesg | grep 'refusing pool vcsm-far-pool at 0x' | tail -n 1)
	base=$(printf '%s\n' "$line" | sed -n 's/.*refusing pool vcsm-far-pool at \(0x[0-9a-f]*\)\.\..*/\1/p')
	if [ -z "$line" ] || [ -z "$base" ] || [ $((base)) -lt $((0x80000000)) ]; then
		vcsm_fail heap/far-pool-refused "no refusal line for the pool above the window: '$line'"
	elif ! printf '%s\n' "$line" | grep -q "reaches only ARM 0x40000000..0x80000000 (dma-ranges); use the overlay for the board, vcsm-cma-heap-pi4 or vcsm-cma-heap-pi3"; then
		vcsm_fail heap/far-pool-refused "the line does not name the window and the overlay: $line"
	elif grep -q "^region base=$base " "$stats" || ! grep -q '^vpu_window .* reachable=yes$' "$stats"; then
		cat "$stats"
		vcsm_fail heap/far-pool-refused "the heaps are not on the reachable pool"
	else
		echo "$line"
		vcsm_pass heap/far-pool-refused
	fi
}

heap_tests() {
	heap_load || return
	[ "${HEAP_FAR_POOL:-}" = 1 ] && heap_far_pool_refused
	set --
	for h in $HEAPS; do set -- "$@" --heap "$h"; done
	# Our own functional tests, including exhaustion of the region.
	heap-tests "$@" --exhaust --cma-area vcsm-cma-pool
	# The kernel's own dmabuf-heaps selftest on our heaps, with vgem as the importing device.
	selftest_dmabuf_heap
	heap_unload_rules
}

# Runs tools/testing/selftests/dmabuf-heaps/dmabuf-heap and turns its TAP into our lines.
selftest_dmabuf_heap() {
	vcsm_run selftest/dmabuf-heap
	if [ ! -x /bin/dmabuf-heap ]; then
		vcsm_fail selftest/dmabuf-heap "dmabuf-heap selftest binary missing from the initramfs"
		return
	fi
	# The selftest walks /dev/dma_heap; show it only our heaps, in a private mount namespace.
	# (The in-kernel CMA heap maps one segment longer than vgem's 64 KiB limit, which
	# DMA-API debugging reports; that is not ours to judge here.)
	nodes=""
	for h in $HEAPS; do nodes="$nodes $h:$(cat "/sys/class/dma_heap/$h/dev")"; done
	unshare -m sh -c "mount -t tmpfs heaps /dev/dma_heap &&
		for n in $nodes; do
			name=\${n%%:*}; mm=\${n#*:}
			mknod /dev/dma_heap/\$name c \${mm%%:*} \${mm#*:} || exit 1
		done && ls /dev/dma_heap && exec dmabuf-heap" > /tmp/selftest.out 2>&1
	rc=$?
	cat /tmp/selftest.out
	for h in $HEAPS; do
		if ! grep -q "$h" /tmp/selftest.out; then
			vcsm_fail selftest/dmabuf-heap "the selftest did not exercise heap $h"
			return
		fi
	done
	totals=$(grep 'Totals:' /tmp/selftest.out)
	case "$totals" in
	*"fail:0 "*) if [ $rc -eq 0 ]; then vcsm_pass selftest/dmabuf-heap; return; fi ;;
	esac
	vcsm_fail selftest/dmabuf-heap "rc=$rc ${totals:-no Totals line}"
}
