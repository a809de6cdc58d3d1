# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# The VPU-window boot of `make check`: the simulated VPU with two dma-ranges entries
# (vpu-sim-virt-split overlay): its RAM window (bus 0xC0000000 = ARM 0x40000000, 1 GiB) and the
# rest of virt's RAM at bus 0. The DMA layer maps memory above the window directly (no bounce
# buffer), so only the driver's window check keeps it from the VPU (issue 10):
#
# - window/range-map: the driver's window is the RAM entry, not the second one;
# - vcsm-client vcsm/out-of-vpu-reach: a page above the window is refused with EINVAL;
# - vcsm-client vcsm/v4l2-outside-window: vivid captures into a 2 MiB buffer above the window;
#   its import is refused with EINVAL, the in-window buffer next to it streams;
# - window/refused-by-window: by the window check (its lines, refused_outside=2), not by a bounce;
# - imports and MEM_ALLOC inside the window still work;
# - then unload and kmemleak.
# shellcheck source=tests/guest/lib.sh
. /tests/lib.sh
# shellcheck source=tests/guest/vcsm.sh
. /tests/vcsm.sh

w_test() {
	vcsm_run "window/$1"
	VC_WHY=""
	if "$2"; then vcsm_pass "window/$1"; else vcsm_fail "window/$1" "${VC_WHY:-failed}"; fi
}

t_w_range_map() {
	line=$(grep '^vpu_window ' "$VSTATE")
	[ "$line" = "vpu_window cpu_base=0x40000000 cpu_end=0x80000000 bus_base=0xc0000000 size=1073741824 source=dma-ranges refused_outside=0" ] ||
		{ vc_why "the window is not the RAM entry: $line"; return 1; }
}

t_w_refused() {
	vc_dmesg_has "import: 4096 bytes at bus address 0x[0-9a-f]* are outside the VPU's window (bus 0xc0000000..0x100000000, ARM 0x40000000..0x80000000, from the dma-ranges): refused" ||
		{ dmesg | tail -n 5; vc_why "no window refusal line for the far page"; return 1; }
	! vc_dmesg_has "outside the VPU's reach (its DMA mapping is a bounce buffer" ||
		{ vc_why "the far page was bounced: the split dma-ranges did not apply"; return 1; }
	vc_dmesg_has "import: 2097152 bytes at bus address 0x[0-9a-f]* are outside the VPU's window" ||
		{ vc_why "no window refusal line for the far V4L2 frame buffer"; return 1; }
	[ "$(vc_kv refused_outside)" = 2 ] || { vc_why "refused_outside=$(vc_kv refused_outside), want 2 (the far page and the far frame)"; return 1; }
}

vcsm_kmemleak_clear
vc_test load t_vc_load || exit 0
w_test range-map t_w_range_map
insmod /lib/modules/vcsm-kapi-test.ko || vcsm_fail window/kapi-test "insmod vcsm-kapi-test failed"
vcsm-client --only vcsm/out-of-vpu-reach --only vcsm/import-uncached --only vcsm/mem-alloc \
	--only vcsm/kernel-api --only vcsm/v4l2-outside-window
w_test refused-by-window t_w_refused
rmmod vcsm_kapi_test
vc_test unload t_vc_unload
vcsm_kmemleak_check
