# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# `make demo`: a narrated session in the guest. Lines starting with "DEMO:" are the story; each
# step is also a checked test (@@VCSM lines), so the demo fails if any step does not hold.
# shellcheck source=tests/guest/lib.sh
. /tests/lib.sh
# shellcheck source=tests/guest/heap.sh
. /tests/heap.sh

say() { echo "DEMO: $*"; }
VS=/sys/kernel/debug/vpu-sim
# Pages of the CMA pool that live buffers hold: the pool's used count less what the heap's
# buffer pool keeps zeroed for reuse (vcsm_cma_used).
live_pages() { vcsm_cma_used | awk '$1 == "vcsm-cma-pool" { print $2 }'; }
STATE=/sys/kernel/debug/vcsm-cma/state
TMP=/tmp/demo
mkdir -p $TMP

# step NAME: run the function demo_NAME as a checked step.
step() {
	vcsm_run "demo/$1"
	WHY=""
	if "demo_$1"; then vcsm_pass "demo/$1"; else vcsm_fail "demo/$1" "${WHY:-failed}"; say "  !! this step failed: ${WHY:-failed}"; fi
}
why() { WHY=$*; return 1; }
wait_for() { i=0; while ! eval "$1"; do [ $i -ge "${2:-100}" ] && return 1; sleep 0.1; i=$((i + 1)); done; }

demo_setup() {
	say "This guest is an arm64 Linux 6.12 kernel with Rust, in QEMU. Its device tree got our"
	say "overlay: a 128 MiB reusable CMA pool and a heap node using it."
	insmod /lib/modules/vcsm-cma-heap.ko || why "insmod vcsm-cma-heap.ko failed" || return 1
	say "vcsm-cma-heap.ko (Rust) turned the pool into /dev/dma_heap/vcsm-uncached and vcsm-cached."
	say "There is no VideoCore here: vpu-sim.ko plays the Pi's firmware behind the same VCHIQ API."
	insmod /lib/modules/vpu-sim.ko || why "insmod vpu-sim.ko failed" || return 1
	insmod /lib/modules/vc-sm-cma.ko || why "insmod vc-sm-cma.ko failed" || return 1
	wait_for "[ -c /dev/vcsm-cma ]" 50 || why "/dev/vcsm-cma did not appear" || return 1
	say "vc-sm-cma.ko (Rust) connected to it and created /dev/vcsm-cma."
	vcsm-tool heaps | sed 's/^/DEMO:   /'
}

demo_zero_copy() {
	say "A camera app allocates 1 MiB from vcsm-uncached and imports it into the VPU:"
	vcsm-tool verify --alloc vcsm-uncached:1M --import --pattern xorshift:0xC0FFEE --wait 30 \
		>$TMP/verify.out 2>$TMP/verify.err &
	app=$!
	wait_for "grep -q 'VPU handle' $TMP/verify.err" || why "no VPU handle: $(cat $TMP/verify.err)" || return 1
	h=$(sed -n 's/.*VPU handle \(0x[0-9a-f]*\).*/\1/p' $TMP/verify.err)
	say "  the VPU knows the buffer as handle $h, at bus address $(awk -v h="$h" '$1=="handle" && $2==h {for(i=3;i<NF;i++) if($i=="addr") print $(i+1)}' $VS/state)."
	echo "$h" > $VS/hold || why "vpu-sim refused to hold $h" || return 1
	say "The VPU takes a reference of its own (as the codec does while it works on a frame),"
	echo "$h 0xC0FFEE" > $VS/fill || why "vpu-sim refused to fill $h" || return 1
	say "and writes a pattern into the buffer through that bus address."
	wait $app || why "the app did not see the VPU's pattern: $(cat $TMP/verify.err $TMP/verify.out)" || return 1
	say "  the app read it back through its mmap, with no copy: $(cat $TMP/verify.out)"
	echo "$h" > $TMP/handle
}

demo_held_after_exit() {
	h=$(cat $TMP/handle)
	say "The app has exited and closed every fd. The VPU still holds handle $h, so the memory stays:"
	row=$(grep "vc_handle=$h " $STATE)
	[ -n "$row" ] || why "the driver no longer lists handle $h" || return 1
	vcsm-tool status | sed 's/^/DEMO:   /'
	echo "$row" | grep -q "vpu=unmapping" || why "expected the buffer to wait for RELEASED: $row" || return 1
	say "  (vpu=unmapping: FREE was sent, the pages wait for the VPU's RELEASED.) Pool pages in use: $(live_pages)"
}

demo_released() {
	h=$(cat $TMP/handle)
	say "The VPU finishes with the buffer and drops its reference; it sends RELEASED."
	echo "$h" > $VS/drop || why "vpu-sim refused to drop $h" || return 1
	wait_for "! grep -q 'vc_handle=$h ' $STATE" 50 || why "the driver still lists $h after RELEASED" || return 1
	wait_for "[ \$(live_pages) = 0 ]" 50 || why "pool pages still in use: $(live_pages)" || return 1
	say "  the driver let the source buffer go: it is gone from the state, pool pages in use: $(live_pages)"
	say "  (the heap keeps its $(vcsm_pool_pages) pages zeroed for the next allocation of that size)."
}

demo_camera() {
	say "A camera streams into the VPU: vivid (a V4L2 capture driver) fills 4 vcsm-uncached buffers,"
	say "each imported into the VPU once; the VPU checks every frame against what the CPU sees."
	modprobe vivid n_devs=1 node_types=0x1 num_inputs=1 allocators=1 || why "modprobe vivid failed" || return 1
	out=$(vcsm-tool stream --frames 20 --no-progress 2>&1)
	rc=$?
	rmmod vivid
	echo "$out" | while IFS= read -r l; do say "    $l"; done
	[ $rc = 0 ] || why "vcsm-tool stream failed: $out" || return 1
	echo "$out" | grep -q "^VPU-side check: 20 of 20 frames matched" || why "not every frame matched: $out" || return 1
	wait_for "grep -q '^buffers=0 ' $STATE" 50 || why "the driver still lists buffers after the stream" || return 1
	say "  no frame was copied, and the stream left nothing behind."
}

demo_unload() {
	rmmod vc_sm_cma && rmmod vpu_sim && rmmod vcsm_cma_heap || why "modules did not unload cleanly" || return 1
	say "All three modules unloaded cleanly."
}

vcsm_kmemleak_clear
step setup && step zero_copy && step held_after_exit && step released && step camera && step unload
vcsm_kmemleak_check
say "The kernel's leak scan is clean; any memory-safety or locking report would have failed this demo."
