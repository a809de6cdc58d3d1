# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# The Raspberry Pi 3 boot of `make check` (QEMU -M raspi3b, tests/qemu/run.sh --machine
# raspi3b): the kernel's own Pi 3 B tree with the Pi firmware's dma-ranges, our
# vcsm-cma-heap-pi3 overlay and the simulated VPU under /soc. The real raspberrypi-firmware driver
# talks to QEMU's emulated property mailbox, so the driver's and the heap's firmware bindings get
# real answers, and every DMA address carries the Pi's own 0xC0000000 VPU alias of ARM
# physical 0.
#
# - pi3/machine: the kernel sees a Pi 3 B and the firmware driver attached;
# - vcsm/load (vcsm.sh): heap, simulator and driver load, firmware present=yes;
# - pi3/firmware: the firmware line is what QEMU's mailbox answers, checked against the tree
#   QEMU booted (its /memory is the ARM's share) and the board model;
# - pi3/vpu-window: driver and heap agree on the VPU's window, cut to the firmware's ARM memory;
# - pi3/tool-status, pi3/tool-heaps: vcsm-tool shows the firmware facts and reachability;
# - vcsm-client's imports, MEM_ALLOC, VC_MEM_REQUEST, RELEASED and the kernel API with Pi bus
#   addresses (the simulator checks every address through /soc's dma-ranges);
# - then unload and kmemleak.
# shellcheck source=tests/guest/lib.sh
. /tests/lib.sh
# shellcheck source=tests/guest/heap.sh
. /tests/heap.sh
# shellcheck source=tests/guest/vcsm.sh
. /tests/vcsm.sh

PI3_MODEL="Raspberry Pi 3 Model B"

p3_test() {
	vcsm_run "pi3/$1"
	VC_WHY=""
	if "$2"; then vcsm_pass "pi3/$1"; else vcsm_fail "pi3/$1" "${VC_WHY:-failed}"; fi
}

# p3_fw KEY: the value of KEY=... in the driver's firmware line.
p3_fw() {
	grep '^firmware ' "$VSTATE" | tr ' ' '\n' | sed -n "s/^$1=//p" | head -n 1
}

# p3_win FILE KEY: the value of KEY=... in FILE's vpu_window line.
p3_win() {
	grep '^vpu_window ' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

t_p3_machine() {
	model=$(tr -d '\0' < /proc/device-tree/model)
	[ "$model" = "$PI3_MODEL" ] || { vc_why "model is '$model'"; return 1; }
	dmesg | grep -q 'raspberrypi-firmware.*Attached to firmware' ||
		{ dmesg | grep -i firmware | tail -n 5; vc_why "the firmware driver did not attach to QEMU's mailbox"; return 1; }
	# The DMA addresses the simulator sees are the Pi's: /soc dma-ranges as the firmware's trees.
	od -An -tx1 /proc/device-tree/soc/dma-ranges | tr -d ' \n' | grep -qx 'c0000000000000003f0000007e0000003f00000001000000' ||
		{ vc_why "/soc dma-ranges are not the Pi trees'"; return 1; }
}

t_p3_firmware() {
	# QEMU's mailbox: ARM memory is what QEMU gave the kernel as /memory (the 1 GiB less the
	# VideoCore's share), VC memory is the rest of the 1 GiB.
	mem=$(od -An -tx1 /proc/device-tree/memory@0/reg | tr -d ' \n')
	want_base=$(( 0x${mem%????????} )) want_size=$(( 0x${mem#????????} ))
	{ [ "$(( $(p3_fw arm_base) ))" = "$want_base" ] && [ "$(p3_fw arm_size)" = "$want_size" ]; } ||
		{ vc_why "ARM memory $(p3_fw arm_base)+$(p3_fw arm_size), /memory says $want_base+$want_size"; return 1; }
	vc_end=$(( $(p3_fw vc_base) + $(p3_fw vc_size) ))
	{ [ "$(p3_fw vc_base)" = "$(printf '%#x' "$want_size")" ] && [ "$vc_end" = $(( 1 << 30 )) ]; } ||
		{ vc_why "VC memory $(p3_fw vc_base)+$(p3_fw vc_size) does not fill the 1 GiB after the ARM's"; return 1; }
	case "$(p3_fw revision)" in 0x0|""|error*) vc_why "firmware revision '$(p3_fw revision)'"; return 1 ;; esac
	# The board revision code decodes to a Pi 3 B with 1 GiB and a BCM2837.
	grep '^firmware ' "$VSTATE" | grep -q ' model=Pi 3 B board_rev=[0-9.]* ram_mb=1024 processor=BCM2837' ||
		{ grep '^firmware ' "$VSTATE"; vc_why "the board revision does not decode to a Pi 3 B, 1 GiB, BCM2837"; return 1; }
	echo "@@VCSM INFO pi3/firmware: $(grep '^firmware ' "$VSTATE")"
}

t_p3_window() {
	hs=/sys/kernel/debug/vcsm-cma-heap/stats
	for f in "$VSTATE" "$hs"; do
		{ [ "$(p3_win "$f" cpu_base)" = 0x0 ] && [ "$(p3_win "$f" bus_base)" = 0xc0000000 ] &&
			[ "$(p3_win "$f" cpu_end)" = "$(printf '%#x' $(( $(p3_fw arm_base) + $(p3_fw arm_size) )))" ] &&
			[ "$(p3_win "$f" source)" = dma-ranges+firmware ]; } ||
			{ grep '^vpu_window' "$f"; vc_why "$f: the window is not /soc's RAM range cut to the firmware's ARM memory"; return 1; }
	done
	[ "$(p3_win "$hs" reachable)" = yes ] || { vc_why "the heap's pool is not reachable"; return 1; }
	echo "@@VCSM INFO pi3/vpu-window: $(grep '^vpu_window' "$VSTATE")"
}

t_p3_tool_status() {
	out=$(vcsm-tool status 2>&1) || { echo "$out"; vc_why "vcsm-tool status failed"; return 1; }
	printf '%s\n' "$out" | grep -q "^firmware: present=yes revision=$(p3_fw revision) " ||
		{ echo "$out"; vc_why "status does not show the firmware revision"; return 1; }
	printf '%s\n' "$out" | grep -q "arm_size=$(p3_fw arm_size) vc_base=$(p3_fw vc_base) vc_size=$(p3_fw vc_size)" ||
		{ echo "$out"; vc_why "status does not show the memory split"; return 1; }
	json=$(vcsm-tool status --json 2>&1) || { vc_why "status --json failed"; return 1; }
	printf '%s\n' "$json" | grep -q '"model":"Pi 3 B"' || { echo "$json"; vc_why "JSON lacks the model"; return 1; }
}

t_p3_tool_heaps() {
	out=$(vcsm-tool heaps 2>&1) || { echo "$out"; vc_why "vcsm-tool heaps failed"; return 1; }
	printf '%s\n' "$out"
	printf '%s\n' "$out" | grep -Eq '^vcsm-uncached +CMA [^ ]+ +yes ' || { vc_why "vcsm-uncached not shown VPU-reachable"; return 1; }
	printf '%s\n' "$out" | grep -Eq '^linux,cma +CMA linux,cma +yes ' || { vc_why "linux,cma not shown VPU-reachable"; return 1; }
	printf '%s\n' "$out" | grep -Eq '^system +system +no ' || { vc_why "system not shown unreachable"; return 1; }
}

vcsm_kmemleak_clear
p3_test machine t_p3_machine
vc_test load t_vc_load || exit 0
p3_test firmware t_p3_firmware
p3_test vpu-window t_p3_window
p3_test tool-status t_p3_tool_status
p3_test tool-heaps t_p3_tool_heaps
insmod /lib/modules/vcsm-kapi-test.ko 2>/dev/null
vcsm-client --only vcsm/import-uncached --only vcsm/import-cached --only vcsm/zero-copy \
	--only vcsm/mem-alloc --only vcsm/vc-mem-request --only vcsm/not-contiguous \
	--only vcsm/kernel-api --only vcsm/source-outlives-process
rmmod vcsm_kapi_test 2>/dev/null
vc_test unload t_vc_unload
vcsm_kmemleak_check
