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
	# CMA used with the heaps loaded, holding nothing and nothing pooled (heap/pool/unload).
	vcsm_cma_used > /tmp/heap-cma-base
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
	heap_pool_tests
	heap_unload_rules
}

# ---- the pool of freed buffers (drivers/cma-heap/pool.rs) ----------------------------------

HSTATS=/sys/kernel/debug/vcsm-cma-heap/stats
HPARAM=/sys/module/vcsm_cma_heap/parameters

# pool_kv KEY: KEY=... of the stats file's `pool` line.
pool_kv() {
	awk -v k="$1" '$1 == "pool" { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' "$HSTATS"
}
# uc_kv KEY: KEY=... of the `vcsm-uncached` line.
uc_kv() {
	awk -v k="$1" '$1 == "vcsm-uncached" { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' "$HSTATS"
}
# heap_pool_pages: pages the pool holds (the CMA pages it keeps for reuse).
heap_pool_pages() { echo $(( $(pool_kv bytes) / 4096 )); }
pool_settled() { [ "$(pool_kv dirty)" = 0 ] && [ "$(pool_kv zeroing)" = 0 ]; }
pool_empty() { [ "$(pool_kv buffers)" = 0 ] && [ "$(pool_kv bytes)" = 0 ]; }
pool_line() { grep '^pool ' "$HSTATS"; }
# pool_reset: empty the pool (cap 0, then the default again) and wait until it is.
pool_reset() {
	echo 0 > "$HPARAM/pool_max_kb"
	vcsm_until 50 pool_empty
	rc=$?
	echo -1 > "$HPARAM/pool_max_kb"
	return $rc
}

# 1. A freed buffer is zeroed by the worker and handed to the next allocation of its size.
pool_t_hit() {
	for h in $HEAPS; do
		pool_reset || { HP_WHY="the pool did not empty"; return 1; }
		heap-tests --pool-loop "$h" --size 1048576 --iters 1 || { HP_WHY="first allocation failed"; return 1; }
		vcsm_until 50 pool_settled || { pool_line; HP_WHY="the worker did not zero the freed buffer"; return 1; }
		h0=$(pool_kv hits); bg0=$(pool_kv zeroed_bg_bytes); b0=$(pool_kv buffers)
		# The second round checks that every byte reads zero before writing.
		heap-tests --pool-loop "$h" --size 1048576 --iters 1 || { HP_WHY="$h: the pooled buffer was not all zero"; return 1; }
		h1=$(pool_kv hits)
		echo "$h: pool buffers=$b0 zeroed_bg_bytes=$bg0 hits $h0 -> $h1"
		{ [ "$b0" -ge 1 ] && [ "$bg0" -ge 1048576 ]; } || { HP_WHY="$h: the freed buffer was not pooled and zeroed"; return 1; }
		[ "$h1" = $((h0 + 1)) ] || { HP_WHY="$h: hits went $h0 -> $h1, not +1"; return 1; }
	done
}

# 7. A buffer the cached heap freed, pooled, then taken by vcsm-uncached: counted in cleans
# once (its zeroes were cleaned to memory, by the worker), with no clean at the mapping.
pool_t_uncached_clean() {
	pool_reset || { HP_WHY="the pool did not empty"; return 1; }
	heap-tests --pool-loop vcsm-cached --size 2097152 --iters 1 || { HP_WHY="cached allocation failed"; return 1; }
	vcsm_until 50 pool_settled || { HP_WHY="the worker did not zero the buffer"; return 1; }
	h0=$(pool_kv hits); c0=$(uc_kv cleans); r0=$(pool_kv clean_reused)
	heap-tests --pool-loop vcsm-uncached --size 2097152 --iters 1 || { HP_WHY="the pooled buffer was not all zero in vcsm-uncached"; return 1; }
	h1=$(pool_kv hits); c1=$(uc_kv cleans); r1=$(pool_kv clean_reused)
	echo "hits $h0 -> $h1, vcsm-uncached cleans $c0 -> $c1, clean_reused $r0 -> $r1"
	[ "$h1" = $((h0 + 1)) ] || { HP_WHY="the uncached allocation did not come from the pool"; return 1; }
	[ "$c1" = $((c0 + 1)) ] || { HP_WHY="cleans moved by $((c1 - c0)), not 1"; return 1; }
	[ "$r1" = $((r0 + 1)) ] || { HP_WHY="clean_reused moved by $((r1 - r0)), not 1"; return 1; }
}

# 2. Never un-zeroed: processes on both heaps allocate, check every byte is zero, write a
# pattern and free, all the same size, so each reuses what the others freed.
pool_t_never_unzeroed() {
	pool_reset || { HP_WHY="the pool did not empty"; return 1; }
	iters=${VCSM_POOL_ITERS:-150}
	h0=$(pool_kv hits); m0=$(pool_kv misses)
	pids=""
	for h in vcsm-uncached vcsm-uncached vcsm-cached vcsm-cached; do
		heap-tests --pool-loop "$h" --size 262144 --iters "$iters" &
		pids="$pids $!"
	done
	bad=0
	for p in $pids; do wait "$p" || bad=$((bad + 1)); done
	h1=$(pool_kv hits); m1=$(pool_kv misses)
	echo "4 processes x $iters rounds of 256 KiB (2 per heap): $((4 * iters)) allocations, pool hits $((h1 - h0)), misses $((m1 - m0)), failed processes $bad"
	[ "$bad" = 0 ] || { HP_WHY="$bad processes saw a buffer that was not all zero (or failed)"; return 1; }
	[ $((h1 - h0)) -gt 0 ] || { HP_WHY="no allocation came from the pool: the test proves nothing"; return 1; }
}

# 4. The cap holds, and pool_max_kb=0 empties the pool and turns it off.
pool_t_cap() {
	pool_reset || { HP_WHY="the pool did not empty"; return 1; }
	echo 1024 > "$HPARAM/pool_max_kb"
	heap-tests --pool-fill vcsm-uncached --size 262144 --count 12 > /tmp/pool-fill.out 2>&1 &
	filler=$!
	most=0
	while kill -0 "$filler" 2>/dev/null; do
		b=$(pool_kv bytes); [ "$b" -gt "$most" ] && most=$b
	done
	wait "$filler" || { cat /tmp/pool-fill.out; HP_WHY="filling failed"; return 1; }
	vcsm_until 50 pool_settled
	for _ in 1 2 3 4 5; do b=$(pool_kv bytes); [ "$b" -gt "$most" ] && most=$b; sleep 0.1; done
	max=$(pool_kv max); capret=$(pool_kv cap_returned); held=$(pool_kv bytes)
	echo "pool_max_kb=1024: max=$max, most seen=$most, holding $held, cap_returned=$capret"
	[ "$max" = 1048576 ] || { HP_WHY="max=$max, not 1048576"; return 1; }
	[ "$most" -le 1048576 ] || { HP_WHY="the pool held $most bytes over its 1 MiB cap"; return 1; }
	[ "$held" -gt 0 ] || { HP_WHY="nothing pooled under the cap"; return 1; }
	echo 0 > "$HPARAM/pool_max_kb"
	vcsm_until 30 pool_empty || { pool_line; echo -1 > "$HPARAM/pool_max_kb"; HP_WHY="pool_max_kb=0 did not empty the pool"; return 1; }
	h0=$(pool_kv hits)
	heap-tests --pool-loop vcsm-uncached --size 262144 --iters 3 || { echo -1 > "$HPARAM/pool_max_kb"; HP_WHY="allocation with the pool off failed"; return 1; }
	b=$(pool_kv bytes); h1=$(pool_kv hits)
	echo -1 > "$HPARAM/pool_max_kb"
	echo "pool_max_kb=0: emptied; 3 rounds with the pool off: pool bytes=$b hits $h0 -> $h1"
	{ [ "$b" = 0 ] && [ "$h1" = "$h0" ]; } || { HP_WHY="the pool was used while off"; return 1; }
}

# 5. Idle trimming: buffers untouched for pool_idle_ms go back to CMA by themselves.
pool_t_idle() {
	pool_reset || { HP_WHY="the pool did not empty"; return 1; }
	heap-tests --pool-fill vcsm-uncached --size 1048576 --count 4 || { HP_WHY="filling failed"; return 1; }
	vcsm_until 50 pool_settled
	b0=$(pool_kv buffers); i0=$(pool_kv idle_returned)
	[ "$b0" -ge 1 ] || { HP_WHY="nothing pooled"; return 1; }
	echo 500 > "$HPARAM/pool_idle_ms"
	vcsm_until 50 pool_empty
	rc=$?
	echo 60000 > "$HPARAM/pool_idle_ms"
	i1=$(pool_kv idle_returned)
	echo "pool_idle_ms=500: $b0 pooled buffers, idle_returned $i0 -> $i1, now $(pool_kv buffers)"
	[ $rc = 0 ] || { HP_WHY="the pool did not empty within 5 s"; return 1; }
	[ "$i1" -ge $((i0 + b0)) ] || { HP_WHY="idle_returned did not count them"; return 1; }
}

# 3. Memory pressure: a full pool, then a process touching nearly all free memory, then (if
# that did not reach the shrinker) drop_caches: the pool shrinks and nothing fails.
# Idle trimming is off meanwhile: a hog slower than pool_idle_ms (65 s in one 7.3 boot under
# TCG) would otherwise see the idle trim empty the pool before reclaim starts.
pool_t_pressure() {
	pool_reset || { HP_WHY="the pool did not empty"; return 1; }
	idle0=$(cat "$HPARAM/pool_idle_ms")
	echo 0 > "$HPARAM/pool_idle_ms"
	pool_pressure
	rc=$?
	echo "$idle0" > "$HPARAM/pool_idle_ms"
	return $rc
}
pool_pressure() {
	heap-tests --pool-fill vcsm-uncached --size 1048576 --count 40 || { HP_WHY="filling failed"; return 1; }
	vcsm_until 100 pool_settled
	b0=$(pool_kv bytes); s0=$(pool_kv shrinker_returned)
	[ "$b0" -ge $((16 << 20)) ] || { pool_line; HP_WHY="the pool holds only $b0 bytes after 40 MiB were freed"; return 1; }
	# Free memory outside CMA (the hog's page tables cannot come from CMA, and an OOM kill
	# would fail the boot), less a margin near the watermarks.
	free_mib=$(( $(awk '$1 == "MemFree:" { f = $2 } $1 == "CmaFree:" { c = $2 } END { print f - c }' /proc/meminfo) / 1024 ))
	hog=$((free_mib - 16))
	heap-tests --hog-mib "$hog" || { HP_WHY="the $hog MiB memory hog failed (killed?)"; return 1; }
	b1=$(pool_kv bytes); s1=$(pool_kv shrinker_returned)
	how="the hog's reclaim"
	if [ "$s1" = "$s0" ]; then
		echo 2 > /proc/sys/vm/drop_caches
		how="drop_caches (the hog's reclaim did not call it)"
	fi
	b2=$(pool_kv bytes); s2=$(pool_kv shrinker_returned)
	echo "pool bytes before=$b0 after hog ($hog MiB of $free_mib MiB free outside CMA)=$b1 after=$b2; shrinker_returned $s0 -> $s1 -> $s2 by $how"
	heap-tests --pool-loop vcsm-uncached --size 1048576 --iters 2 || { HP_WHY="allocation after the pressure failed"; return 1; }
	[ "$s2" -gt "$s0" ] || { HP_WHY="the shrinker returned nothing"; return 1; }
	[ "$b2" -lt "$b0" ] || { HP_WHY="the pool did not shrink"; return 1; }
}

# 6. Unload with buffers pooled: CMA back to its count with nothing allocated; reload works.
# hp_cma_back: the CMA areas' used counts are what they were when the heap was loaded.
hp_cma_back() { [ "$(vcsm_cma_used)" = "$(cat /tmp/heap-cma-base)" ]; }

pool_t_unload() {
	heap-tests --pool-fill vcsm-uncached --size 1048576 --count 6 || { HP_WHY="filling failed"; return 1; }
	b=$(pool_kv buffers)
	[ "$b" -ge 1 ] || { HP_WHY="nothing pooled"; return 1; }
	rmmod vcsm_cma_heap || { HP_WHY="rmmod with $b buffers pooled failed"; return 1; }
	vcsm_until 30 hp_cma_back
	now=$(vcsm_cma_used | tr '\n' ' ')
	echo "unloaded with $b buffers pooled; CMA used: $now/ at load: $(tr '\n' ' ' < /tmp/heap-cma-base)"
	[ "$(vcsm_cma_used)" = "$(cat /tmp/heap-cma-base)" ] || { insmod /lib/modules/vcsm-cma-heap.ko; HP_WHY="CMA used is not back at its count at load"; return 1; }
	{ insmod /lib/modules/vcsm-cma-heap.ko && [ -c /dev/dma_heap/vcsm-uncached ]; } || { HP_WHY="reload failed"; return 1; }
	heap-tests --pool-loop vcsm-uncached --size 1048576 --iters 2 || { HP_WHY="allocation after the reload failed"; return 1; }
	[ "$(pool_kv buffers)" -ge 0 ] || { HP_WHY="no pool line after the reload"; return 1; }
}

heap_pool_test() {
	vcsm_run "heap/pool/$1"
	HP_WHY=""
	if "$2"; then vcsm_pass "heap/pool/$1"; else pool_line; vcsm_fail "heap/pool/$1" "${HP_WHY:-failed}"; fi
}

heap_pool_tests() {
	vcsm_run heap/pool/stats
	if ! pool_line || [ ! -w "$HPARAM/pool_max_kb" ] || [ ! -w "$HPARAM/pool_idle_ms" ]; then
		vcsm_fail heap/pool/stats "no pool line in $HSTATS or no pool_max_kb/pool_idle_ms parameters"
		return
	fi
	vcsm_pass heap/pool/stats
	idle0=$(cat "$HPARAM/pool_idle_ms")
	# No idle trimming behind the tests' backs (pool/idle-trim sets its own).
	echo 60000 > "$HPARAM/pool_idle_ms"
	heap_pool_test hit pool_t_hit
	heap_pool_test uncached-clean pool_t_uncached_clean
	heap_pool_test never-unzeroed pool_t_never_unzeroed
	heap_pool_test cap-and-off pool_t_cap
	heap_pool_test idle-trim pool_t_idle
	heap_pool_test pressure pool_t_pressure
	echo "$idle0" > "$HPARAM/pool_idle_ms"
	heap_pool_test unload pool_t_unload
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
