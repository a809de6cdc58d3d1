# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# Guest tests of vc-sm-cma.ko against the simulated VideoCore (vpu-sim.ko). Sourced after
# lib.sh; the entry point is vcsm_tests. Needs the vcsm-cma-heap-virt and vpu-sim-virt
# overlays, with the heap's CMA pool inside the VPU's 1 GiB window.
#
# Most checks are in the vcsm-client program (userspace/vcsm-tests), which prints its own
# @@VCSM lines; this file loads the modules and does what needs the shell: node permissions,
# kernel log lines, the kernel-API test module, unbinding and unloading.

VSIM=/sys/kernel/debug/vpu-sim
VSTATE=/sys/kernel/debug/vcsm-cma/state

# vc_kv KEY: the value of KEY=... in the driver's state file (summary lines).
vc_kv() {
	awk -v k="$1" '$1 != "buffer" { for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) print a[2] } }' "$VSTATE"
}

# vc_sim KEY: the second word of the simulator's state line starting with KEY.
vc_sim() {
	awk -v k="$1" '$1 == k { print $2; exit }' "$VSIM/state"
}

vc_no_buffers() { [ "$(vc_kv buffers)" = 0 ]; }
vc_no_handles() { [ "$(vc_sim handles)" = 0 ]; }
vc_idle() { vc_no_buffers && vc_no_handles; }
vc_loaded() { grep -q "^$1 " /proc/modules; }
vc_ready() { [ -c /dev/vcsm-cma ] && [ "$(vc_kv phase)" = Ready ]; }

# vc_test NAME FUNCTION: run a test; FUNCTION sets VC_WHY and returns non-zero on failure.
vc_test() {
	vcsm_run "vcsm/$1"
	VC_WHY=""
	if "$2"; then
		vcsm_pass "vcsm/$1"
	else
		vcsm_fail "vcsm/$1" "${VC_WHY:-failed}"
		return 1
	fi
}
vc_why() { VC_WHY=$*; return 1; }

# vc_dmesg_has TEXT: the kernel log has a line containing TEXT.
vc_dmesg_has() { dmesg | grep -q "$1"; }

t_vc_load() {
	for m in vpu-sim vcsm-cma-heap; do
		vc_loaded "$(echo $m | tr - _)" || insmod /lib/modules/$m.ko || { vc_why "insmod $m failed"; return 1; }
	done
	# The vchiq test client binds to the same device name: make room.
	vc_loaded vchiq_test_client && rmmod vchiq_test_client
	# Transaction ids start at 60000, so the tests cross 65536 (where downstream's u16 ids
	# broke) without 65536 round trips; the concurrency test crosses it.
	insmod /lib/modules/vc-sm-cma.ko first_trans_id=60000 || { vc_why "insmod vc-sm-cma failed"; return 1; }
	vcsm_until 30 vc_ready || { dmesg | tail -n 20; vc_why "no /dev/vcsm-cma or not connected"; return 1; }
	[ "$(readlink -f /sys/bus/vchiq-bus/devices/vcsm-cma/driver)" = "$(readlink -f /sys/bus/vchiq-bus/drivers/vcsm-cma)" ] ||
		{ vc_why "vcsm-cma device not bound to our driver"; return 1; }
	[ "$(vc_kv protocol)" = 2 ] || { vc_why "protocol 2 not acknowledged"; return 1; }
	[ "$(vc_sim client_version)" = 2 ] || { vc_why "the VPU did not get CLIENT_VERSION 2"; return 1; }
	# The service's use count is back to 0 between messages.
	grep -q '^service .* fourcc SMEM version 1 min 0 use_count 0 ' "$VSIM/state" ||
		{ grep '^service' "$VSIM/state"; vc_why "service not opened as SMEM v1/min 0 or use count left held"; return 1; }
	param_timeout=$(cat /sys/module/vc_sm_cma/parameters/timeout_ms)
	[ "$param_timeout" = 3000 ] || { vc_why "timeout_ms is $param_timeout, not 3000"; return 1; }
	vc_firmware_line || return 1
	vc_window_line
}

# vc_window_line: the state file's vpu_window line. On QEMU virt, the simulator's dma-ranges
# (bus 0xC0000000 is ARM 0x40000000, 1 GiB); where there is a firmware, cut to its ARM memory
# (checked in detail by pi3.sh).
vc_window_line() {
	vc_win=$(grep '^vpu_window ' "$VSTATE")
	if vc_has_fw_node; then
		case "$vc_win" in
		"vpu_window cpu_base="*" source=dma-ranges+firmware refused_outside="*) ;;
		*) vc_why "a firmware, but the window line is: $vc_win"; return 1 ;;
		esac
	else
		[ "$vc_win" = "vpu_window cpu_base=0x40000000 cpu_end=0x80000000 bus_base=0xc0000000 size=1073741824 source=dma-ranges refused_outside=0" ] ||
			{ vc_why "the window is not the simulator's dma-ranges: $vc_win"; return 1; }
	fi
}

# vc_has_fw_node: the device tree has a Raspberry Pi firmware node.
vc_has_fw_node() {
	find /proc/device-tree/ -name compatible 2>/dev/null | while read -r f; do
		grep -q 'raspberrypi,bcm2835-firmware' "$f" && echo yes && break
	done | grep -q yes
}

# vc_firmware_line: the state file's firmware line says what the machine has: no firmware on
# QEMU virt, the firmware's answers (revision, board, ARM and VC memory) where the device tree
# has a firmware node.
vc_firmware_line() {
	vc_fw=$(grep '^firmware ' "$VSTATE")
	[ -n "$vc_fw" ] || { vc_why "no firmware line in $VSTATE"; return 1; }
	if vc_has_fw_node; then
		case "$vc_fw" in
		"firmware present=yes "*) ;;
		*) vc_why "a firmware node in the device tree, but the state file says: $vc_fw"; return 1 ;;
		esac
		for k in 'revision=0x' 'board=0x' 'arm_base=0x' 'arm_size=[1-9]' 'vc_base=0x' 'vc_size=[1-9]'; do
			printf '%s\n' "$vc_fw" | grep -q " $k" ||
				{ vc_why "firmware line lacks $k: $vc_fw"; return 1; }
		done
	else
		[ "$vc_fw" = "firmware present=no" ] ||
			{ vc_why "no firmware node in the device tree, but the state file says: $vc_fw"; return 1; }
	fi
}

t_vc_node() {
	# Dynamic minor of the misc major (10), mode 0660 (not downstream's 0666).
	# shellcheck disable=SC2046 # split on purpose: ls -l's fields become $1..$9
	set -- $(ls -l /dev/vcsm-cma)
	[ "$1" = "crw-rw----" ] || { vc_why "mode $1"; return 1; }
	[ "$5" = "10," ] || { vc_why "major $5 (not misc)"; return 1; }
	grep -q ' vcsm-cma$' /proc/misc || { vc_why "not in /proc/misc"; return 1; }
}

t_vc_dmesg() {
	vc_dmesg_has "CLEAN_INVALID2 is not supported: use DMA_BUF_IOCTL_SYNC" ||
		{ vc_why "no kernel log line for CLEAN_INVALID2"; return 1; }
	vc_dmesg_has "the VPU needs one (a contiguous buffer)" ||
		{ vc_why "no kernel log line for a non-contiguous import"; return 1; }
	vc_dmesg_has "outside the VPU's reach (its DMA mapping is a bounce buffer" ||
		{ vc_why "no kernel log line for a bounced import"; return 1; }
	vc_dmesg_has "import: cannot map a 2097152-byte vcsm-kapi-test-far-frame buffer for the VPU (EIO): the DMA layer has no bus address the VPU can use" ||
		{ vc_why "no kernel log line for a V4L2 frame buffer too big to bounce (v4l2-outside-window)"; return 1; }
	vc_dmesg_has "no reply from the VPU to Import" ||
		{ vc_why "no kernel log line for the timeout"; return 1; }
}

# The module cannot go while userspace holds a wrapper, nor while the VPU holds a buffer.
t_vc_unload_held() {
	vcsm-client --hold > /tmp/vc-hold.out 2>&1 &
	holder=$!
	vcsm_until 50 grep -q HOLDING /tmp/vc-hold.out || { cat /tmp/vc-hold.out; kill $holder; vc_why "holder did not import"; return 1; }
	if rmmod vc_sm_cma 2>/dev/null; then vc_why "rmmod succeeded while a process holds a wrapper"; return 1; fi
	kill $holder
	wait $holder 2>/dev/null
	vcsm_until 30 vc_idle || { cat "$VSTATE"; vc_why "holder's buffer not released"; return 1; }

	out=$(vcsm-client --hold-exit) || { echo "$out"; vc_why "hold-exit failed"; return 1; }
	h=$(echo "$out" | awk '$1 == "HELD" { print $2 }')
	[ "$(vc_kv unmapping)" = 1 ] || { cat "$VSTATE"; vc_why "buffer not waiting for RELEASED"; return 1; }
	if rmmod vc_sm_cma 2>/dev/null; then vc_why "rmmod succeeded while the VPU holds a buffer"; return 1; fi
	vc_ready || { vc_why "a refused rmmod broke the device"; return 1; }
	echo "$h" > "$VSIM/drop" || { vc_why "drop $h failed"; return 1; }
	vcsm_until 30 vc_idle || { cat "$VSTATE"; vc_why "not idle after RELEASED"; return 1; }
}

# vc_dma_entries: the DMA-API debug table's mappings of the vchiq device (vcsm-cma).
vc_dma_entries() { awk '$2 == "vcsm-cma"' /sys/kernel/debug/dma-api/dump; }

# Unbinding the device while a wrapper is open: the VPU is told to let go, the service closes;
# the wrapper stays usable as a dma-buf until closed; binding again works. The wrapper's source
# is a vcsm-cached buffer (its unmap does cache maintenance through the device's DMA ranges):
# its mapping for the vchiq device is undone before unbind returns, while the device still has
# its DMA configuration, not later when the wrapper is closed.
t_vc_unbind() {
	[ -r /sys/kernel/debug/dma-api/dump ] || { vc_why "no DMA-API debug dump (kernel without DMA_API_DEBUG)"; return 1; }
	vcsm-client --hold --heap vcsm-cached > /tmp/vc-hold.out 2>&1 &
	holder=$!
	vcsm_until 50 grep -q HOLDING /tmp/vc-hold.out || { kill $holder; vc_why "holder did not import"; return 1; }
	[ -n "$(vc_dma_entries)" ] || { kill $holder; vc_why "the import is not mapped for vcsm-cma (DMA-API debug shows nothing)"; return 1; }
	echo vcsm-cma > /sys/bus/vchiq-bus/drivers/vcsm-cma/unbind || { kill $holder; vc_why "unbind failed"; return 1; }
	[ ! -e /dev/vcsm-cma ] || { kill $holder; vc_why "/dev/vcsm-cma still there after unbind"; return 1; }
	{ [ "$(vc_sim handles)" = 0 ] && [ "$(vc_sim services)" = 0 ] && [ "$(vc_sim instances)" = 0 ]; } ||
		{ kill $holder; cat "$VSIM/state"; vc_why "the VPU still has handles, services or instances"; return 1; }
	left=$(vc_dma_entries)
	[ -z "$left" ] || { kill $holder; echo "$left"; vc_why "mappings of vcsm-cma outlive unbind (its DMA ranges are gone)"; return 1; }
	vc_dmesg_has "unmapped 1 imported buffers from the VPU that are still open" ||
		{ kill $holder; vc_why "no kernel log line for the unmapped open import"; return 1; }
	kill $holder
	wait $holder 2>/dev/null
	echo vcsm-cma > /sys/bus/vchiq-bus/drivers/vcsm-cma/bind || { vc_why "bind failed"; return 1; }
	vcsm_until 30 vc_ready || { vc_why "not ready after bind"; return 1; }
}

# Firmware that does not acknowledge protocol 2: FREE is final.
t_vc_protocol1() {
	rmmod vc_sm_cma || { vc_why "rmmod failed"; return 1; }
	echo 1 > "$VSIM/protocol"
	insmod /lib/modules/vc-sm-cma.ko || { vc_why "insmod failed"; return 1; }
	vcsm_until 30 vc_ready || { vc_why "not ready with protocol 1 firmware"; return 1; }
	[ "$(vc_kv protocol)" = 1 ] || { vc_why "driver claims protocol $(vc_kv protocol)"; return 1; }
	vc_dmesg_has "did not acknowledge protocol 2" || { vc_why "no log line about protocol 1"; return 1; }
	out=$(vcsm-client --hold-exit) || { echo "$out"; vc_why "hold-exit failed"; return 1; }
	h=$(echo "$out" | awk '$1 == "HELD" { print $2 }')
	# The driver released the buffer on FREE; the VPU's own reference is the VPU's business.
	vcsm_until 10 vc_no_buffers || { cat "$VSTATE"; vc_why "buffer kept after FREE with protocol 1"; return 1; }
	echo "$h" > "$VSIM/drop"
	vcsm_until 10 vc_no_handles || { vc_why "handle not dropped"; return 1; }
	[ "$(vc_kv released_unknown)" = 0 ] || { vc_why "unexpected RELEASED"; return 1; }
	rmmod vc_sm_cma || { vc_why "rmmod failed"; return 1; }
	echo 2 > "$VSIM/protocol"
	insmod /lib/modules/vc-sm-cma.ko || { vc_why "reload failed"; return 1; }
	{ vcsm_until 30 vc_ready && [ "$(vc_kv protocol)" = 2 ]; } || { vc_why "no protocol 2 after reload"; return 1; }
}

# Unload with nothing held: everything goes, nothing stays on the VPU, and it loads again.
t_vc_unload() {
	rmmod vc_sm_cma || { vc_why "rmmod failed"; return 1; }
	{ [ ! -e /dev/vcsm-cma ] && [ ! -e /sys/kernel/debug/vcsm-cma ]; } || { vc_why "node or debugfs left"; return 1; }
	{ [ "$(vc_sim instances)" = 0 ] && [ "$(vc_sim services)" = 0 ] && [ "$(vc_sim handles)" = 0 ]; } ||
		{ cat "$VSIM/state"; vc_why "instances, services or handles left on the VPU"; return 1; }
	[ "$(awk '$1 == "errors" { for (i = 2; i <= NF; i++) if ($i ~ /^client_errors=/) { split($i, a, "="); print a[2] } }' "$VSIM/state")" = 0 ] ||
		{ grep ^errors "$VSIM/state"; vc_why "the VPU saw VCHIQ API misuse"; return 1; }
	{ insmod /lib/modules/vc-sm-cma.ko && vcsm_until 30 vc_ready; } || { vc_why "reload failed"; return 1; }
	rmmod vc_sm_cma || { vc_why "second rmmod failed"; return 1; }
}

vcsm_tests() {
	if [ ! -d /sys/firmware/devicetree/base/vpu-sim ]; then
		vcsm_run vcsm/load
		vcsm_fail vcsm/load "no /vpu-sim node in the device tree (vpu-sim-virt overlay not applied)"
		return
	fi
	vc_test load t_vc_load || return
	vc_test node t_vc_node
	insmod /lib/modules/vcsm-kapi-test.ko || echo "insmod vcsm-kapi-test failed"
	vcsm-client
	rmmod vcsm_kapi_test 2>/dev/null
	vc_test kernel-log t_vc_dmesg
	vc_test unload-refused-while-held t_vc_unload_held
	vc_test unbind-with-open-wrapper t_vc_unbind
	vc_test protocol-1-firmware t_vc_protocol1
	vc_test unload t_vc_unload
}
