# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# vcsm-cma-heap on the system CMA pool: the boot has only the vcsm-cma-heap-system overlay, so
# our heaps take their memory from the Pi-like `cma: linux,cma` pool that tests/qemu/run.sh
# gives the tree (64 MiB, the kernel's default CMA area), shared with the in-kernel CMA heap
# /dev/dma_heap/linux,cma and the DMA atomic pools. Run by scripts/check.sh in a boot of its own.
# shellcheck source=tests/guest/lib.sh
. /tests/lib.sh
# shellcheck source=tests/guest/heap.sh
. /tests/heap.sh

AREA=linux,cma
AREA_DIR=/sys/kernel/debug/cma/$AREA

# The three heaps: ours from the module, the in-kernel one named after the DT's pool.
sys_heaps() {
	vcsm_run heap-system/heaps
	for h in vcsm-uncached vcsm-cached "$AREA"; do
		if [ ! -c "/dev/dma_heap/$h" ]; then
			ls -l /dev/dma_heap/
			vcsm_fail heap-system/heaps "no /dev/dma_heap/$h"
			return 1
		fi
	done
	# The CONFIG_CMA_SIZE_MBYTES area ("reserved") must not exist: the DT's pool replaced it.
	if [ -e /dev/dma_heap/reserved ] || [ -d /sys/kernel/debug/cma/reserved ]; then
		vcsm_fail heap-system/heaps "a 'reserved' CMA area exists: the kernel ignored linux,cma-default"
		return 1
	fi
	if [ ! -r "$AREA_DIR/count" ]; then
		vcsm_fail heap-system/heaps "no $AREA_DIR (CONFIG_CMA_DEBUGFS?)"
		return 1
	fi
	ls -l /dev/dma_heap/
	# vcsm-tool finds the area our heaps are on from the module's statistics.
	out=$(vcsm-tool heaps 2>&1)
	echo "$out"
	for h in vcsm-uncached vcsm-cached "$AREA"; do
		if ! echo "$out" | grep "^$h " | grep -q "CMA $AREA "; then
			vcsm_fail heap-system/heaps "vcsm-tool heaps does not show $h on CMA $AREA"
			return 1
		fi
	done
	vcsm_pass heap-system/heaps
}

# Our driver's region is the kernel's linux,cma pool: the same base and size in its log line, in
# the kernel's boot lines for the pool, and in the area's debugfs.
sys_same_region() {
	vcsm_run heap-system/region-is-linux-cma
	log=$(dmesg)
	ours=$(echo "$log" | grep 'heaps vcsm-uncached and vcsm-cached on .* MiB CMA at 0x' | tail -n 1)
	# "OF: reserved mem: 0x000000007c000000..0x000000007fffffff (65536 KiB) map reusable linux,cma"
	rmem=$(echo "$log" | grep 'reserved mem: 0x[0-9a-f]*\.\.0x[0-9a-f]* ([0-9]* KiB) .* linux,cma$' | tail -n 1)
	# "Reserved memory: created CMA memory pool at 0x000000007c000000, size 64 MiB"
	created=$(echo "$log" | grep 'Reserved memory: created CMA memory pool at 0x' | tail -n 1)
	echo "$ours"
	echo "$rmem"
	echo "$created"
	if [ -z "$ours" ] || [ -z "$rmem" ] || [ -z "$created" ]; then
		vcsm_fail heap-system/region-is-linux-cma "a log line is missing (driver: ${ours:+yes}, OF linux,cma: ${rmem:+yes}, CMA pool: ${created:+yes})"
		return
	fi
	our_mib=$(echo "$ours" | sed 's/.* on \([0-9]*\) MiB CMA at .*/\1/')
	our_base=$(echo "$ours" | sed 's/.* MiB CMA at \(0x[0-9a-f]*\).*/\1/')
	of_base=$(echo "$rmem" | sed 's/.*reserved mem: \(0x[0-9a-f]*\)\.\..*/\1/')
	of_kib=$(echo "$rmem" | sed 's/.* (\([0-9]*\) KiB) .*/\1/')
	cr_base=$(echo "$created" | sed 's/.* pool at \(0x[0-9a-f]*\), size .*/\1/')
	cr_mib=$(echo "$created" | sed 's/.*, size \([0-9]*\) MiB.*/\1/')
	dfs_base=$(( $(cat "$AREA_DIR/base_pfn") * 4096 ))
	dfs_mib=$(( $(cat "$AREA_DIR/count") * 4096 >> 20 ))
	echo "driver: $our_mib MiB at $our_base; OF: $((of_kib >> 10)) MiB at $of_base; CMA: $cr_mib MiB at $cr_base; debugfs $AREA: $dfs_mib MiB at $(printf '%#x' $dfs_base)"
	why=""
	[ $((our_base)) -eq $((of_base)) ] && [ $((our_base)) -eq $((cr_base)) ] && [ $((our_base)) -eq "$dfs_base" ] ||
		why="bases differ"
	[ "$our_mib" -eq $((of_kib >> 10)) ] && [ "$our_mib" -eq "$cr_mib" ] && [ "$our_mib" -eq "$dfs_mib" ] ||
		why="$why sizes differ"
	[ "$our_mib" -eq 64 ] || why="$why the pool is $our_mib MiB, not the harness's 64"
	if [ -z "$why" ]; then vcsm_pass heap-system/region-is-linux-cma
	else vcsm_fail heap-system/region-is-linux-cma "$why"; fi
}

sys_area_used() { cat "$AREA_DIR/used"; }
# Less the pages the heaps' pool keeps for reuse (heap.sh's heap_pool_pages): not leaked.
sys_used_is() { [ $(( $(sys_area_used) - $(heap_pool_pages) )) -eq "$1" ]; }

# A live 1 MiB vcsm-uncached buffer is 256 pages allocated from linux,cma, given back on free.
sys_buffer_in_area() {
	vcsm_run heap-system/buffer-in-linux-cma
	before=$(sys_area_used)
	heap-tests --hold vcsm-uncached > /tmp/sys-hold.out 2>&1 &
	holder=$!
	if ! vcsm_until 50 grep -q HOLDING /tmp/sys-hold.out; then
		cat /tmp/sys-hold.out
		kill $holder 2>/dev/null; wait $holder 2>/dev/null
		vcsm_fail heap-system/buffer-in-linux-cma "holder did not allocate"
		return
	fi
	held=$(sys_area_used)
	kill $holder 2>/dev/null
	wait $holder 2>/dev/null
	vcsm_until 50 sys_used_is "$before"
	pooled=$(heap_pool_pages)
	after=$(( $(sys_area_used) - pooled ))
	echo "$AREA pages used: before=$before holding 1 MiB=$held after=$after (less $pooled pooled)"
	if [ $((held - before)) -lt 256 ]; then
		vcsm_fail heap-system/buffer-in-linux-cma "$AREA grew by $((held - before)) pages for a 1 MiB buffer, not 256"
	elif [ "$after" -ne "$before" ]; then
		vcsm_fail heap-system/buffer-in-linux-cma "$AREA: $before pages used before, $after after the free"
	else
		vcsm_pass heap-system/buffer-in-linux-cma
	fi
}

# heap-tests on our heaps, judged by linux,cma's own page count. The pool is 64 MiB and the DMA
# atomic pools hold some of it from boot, so a 64 MiB buffer can never fit: alloc-64M is left
# out (--skip; --region-mib 64 would report it SKIP, which counts as a failure).
sys_heap_tests() {
	set -- --skip /alloc-64M
	for h in $HEAPS; do set -- "$@" --heap "$h"; done
	# Exhaustion empties the shared pool for a moment. Its other tenants here are the DMA atomic
	# pools: allocated at boot, grown only after atomic DMA allocations (which nothing in this
	# guest makes) and then from the page allocator if CMA is full. So linux,cma's own count
	# must come back exactly, as it does for the dedicated pool in heap.sh.
	{ heap-tests "$@" --exhaust --cma-area "$AREA"; echo "rc=$?" > /tmp/sys-ht.rc; } 2>&1 |
		tee /tmp/sys-ht.out
	# The program's own lines are counted by the judge; this one fails if it did not run to
	# its end (missing, crashed, killed).
	vcsm_run heap-system/heap-tests-completed
	rc=$(cat /tmp/sys-ht.rc 2>/dev/null)
	done_line=$(grep '@@VCSM DONE heap-tests' /tmp/sys-ht.out)
	ran=$(grep -c '@@VCSM RUN heap/' /tmp/sys-ht.out)
	if [ -z "$done_line" ]; then
		vcsm_fail heap-system/heap-tests-completed "heap-tests did not finish (${rc:-no rc})"
	elif [ "$ran" -lt 40 ]; then
		vcsm_fail heap-system/heap-tests-completed "only $ran heap tests ran (expected at least 20 per heap)"
	else
		vcsm_pass heap-system/heap-tests-completed
	fi
}

vcsm_kmemleak_clear
if heap_load && sys_heaps; then
	sys_same_region
	sys_buffer_in_area
	sys_heap_tests
	# The kernel's own dmabuf-heaps selftest on our heaps (heap.sh).
	selftest_dmabuf_heap
	heap_unload_rules
else
	vcsm_fail heap-system/not-run "the heaps are not there: nothing else could run"
fi
vcsm_kmemleak_check
