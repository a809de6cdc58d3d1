# SPDX-License-Identifier: GPL-2.0
# `make demo`: a narrated session in the guest. Lines starting with "DEMO:" are the story.
. /tests/lib.sh
. /tests/heap.sh

say() { echo "DEMO: $*"; }
pool=/sys/kernel/debug/cma/vcsm-cma-pool

say "The device tree has our overlay: a reusable CMA pool and a heap node using it."
say "  $(cat /proc/device-tree/vcsm-cma-heap/compatible) -> memory-region vcsm-cma-pool"
heap_load || exit 1
say "vcsm-cma-heap.ko loaded: /dev/dma_heap now has: $(ls /dev/dma_heap | tr '\n' ' ')"
say "The pool holds $(( $(cat $pool/count) * 4 / 1024 )) MiB; $(cat $pool/used) pages in use."

vcsm_run demo/alloc-write-read
say "Allocating 8 MiB from vcsm-uncached, writing a pattern through mmap and reading it back:"
if heap-tests --heap vcsm-uncached --only alloc-8M | grep -q '@@VCSM PASS'; then
	say "  written, read back intact, and the buffer was zeroed when allocated."
	vcsm_pass demo/alloc-write-read
else
	vcsm_fail demo/alloc-write-read "8 MiB alloc/write/read failed"
fi

vcsm_run demo/buffer-pins-module
say "A process now holds a 1 MiB buffer from vcsm-uncached..."
heap-tests --hold vcsm-uncached > /tmp/hold.out 2>&1 &
holder=$!
i=0
while ! grep -q HOLDING /tmp/hold.out && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
say "  pool pages in use: $(cat $pool/used)"
if rmmod vcsm_cma_heap 2>/dev/null; then
	vcsm_fail demo/buffer-pins-module "the module unloaded under a live buffer"
else
	say "  so the module refuses to unload (the buffer pins it)."
	kill $holder; wait $holder 2>/dev/null
	say "The process is gone; pool pages in use: $(cat $pool/used)"
	if rmmod vcsm_cma_heap; then
		say "  and now the module unloads cleanly: $(ls /dev/dma_heap | tr '\n' ' ')"
		vcsm_pass demo/buffer-pins-module
	else
		vcsm_fail demo/buffer-pins-module "rmmod failed after the buffer was freed"
	fi
fi
