#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the overlays and apply them with fdtoverlay to the device trees they are for: the
# Raspberry Pi DTBs built from the test kernel's own source, and QEMU virt's generated DTB.
# Each application is a test that asserts the resulting nodes and properties.
#   tests/host/overlays.sh OUTDIR [KERNEL_SOURCE]
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: overlays.sh OUTDIR [KERNEL_SOURCE]}
src=${2:-}
pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

if ! "$top/dts-overlays/build.sh" "$out"; then
	bad build "dts-overlays/build.sh failed"
	echo "overlays: $pass passed, $fail failed"
	exit 1
fi
ok build

# assert NAME DTB SIZE_CELLS: the merged tree has the pool and the heap node, wired together.
assert_merged() {
	local name=$1 dtb=$2 want_size=$3 pool=/reserved-memory/vcsm-cma-pool
	local why=""
	[ "$(fdtget "$dtb" $pool compatible 2>&1)" = shared-dma-pool ] || why="pool compatible"
	fdtget "$dtb" $pool reusable >/dev/null 2>&1 || why="$why pool not reusable"
	[ "$(fdtget -t x "$dtb" $pool size 2>&1)" = "$want_size" ] || why="$why size=$(fdtget -t x "$dtb" $pool size 2>&1)"
	[ "$(fdtget "$dtb" /vcsm-cma-heap compatible 2>&1)" = raspberrypi,vcsm-cma-heap ] || why="$why heap compatible"
	local ph ref
	ph=$(fdtget "$dtb" $pool phandle 2>/dev/null)
	ref=$(fdtget "$dtb" /vcsm-cma-heap memory-region 2>/dev/null)
	[ -n "$ph" ] && [ "$ph" = "$ref" ] || why="$why memory-region ($ref) is not the pool ($ph)"
	# Whatever /reserved-memory held before is still there.
	if [ -n "${4:-}" ]; then
		for n in $4; do fdtget -l "$dtb" /reserved-memory | grep -qx "$n" || why="$why lost /reserved-memory/$n"; done
	fi
	if [ -z "$why" ]; then ok "$name"; else bad "$name" "$why"; fi
}

# QEMU virt: the tree QEMU generates, plus the /reserved-memory node the harness adds.
if command -v qemu-system-aarch64 >/dev/null; then
	qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 2048 -nic none -machine dumpdtb="$out/virt.dtb" -nographic >/dev/null 2>&1
	fdtput -c "$out/virt.dtb" /reserved-memory
	fdtput -t i "$out/virt.dtb" /reserved-memory '#address-cells' 2
	fdtput -t i "$out/virt.dtb" /reserved-memory '#size-cells' 2
	fdtput -t x "$out/virt.dtb" /reserved-memory ranges
	if fdtoverlay -i "$out/virt.dtb" -o "$out/virt-vcsm.dtb" "$out/vcsm-cma-heap-virt.dtbo"; then
		assert_merged virt "$out/virt-vcsm.dtb" "0 8000000"
		range=$(fdtget -t x "$out/virt-vcsm.dtb" /reserved-memory/vcsm-cma-pool alloc-ranges 2>&1)
		if [ "$range" = "0 40000000 0 40000000" ]; then ok virt-alloc-ranges
		else bad virt-alloc-ranges "pool alloc-ranges is '$range', not the VPU's first GiB"; fi
	else
		bad virt "fdtoverlay failed"
	fi
else
	bad virt "qemu-system-aarch64 not installed"
fi

# Raspberry Pi trees from the kernel source.
if [ -n "$src" ]; then
	for b in bcm2711-rpi-4-b bcm2837-rpi-3-b bcm2710-rpi-zero-2-w bcm2837-rpi-zero-2-w bcm2837-rpi-3-b-plus; do
		dts="$src/arch/arm64/boot/dts/broadcom/$b.dts"
		[ -f "$dts" ] || continue
		if ! cpp -nostdinc -undef -x assembler-with-cpp -D__DTS__ -P \
			-I "$src/scripts/dtc/include-prefixes" -I "$src/arch/arm64/boot/dts/broadcom" \
			"$dts" 2>"$out/$b.cpp.log" | dtc -q -@ -I dts -O dtb -o "$out/$b.dtb" - 2>"$out/$b.dtc.log"; then
			bad "$b" "cannot build the DTB from $dts"
			continue
		fi
		before=$(fdtget -l "$out/$b.dtb" /reserved-memory 2>/dev/null | tr '\n' ' ')
		if fdtoverlay -i "$out/$b.dtb" -o "$out/$b-vcsm.dtb" "$out/vcsm-cma-heap.dtbo"; then
			assert_merged "$b" "$out/$b-vcsm.dtb" "8000000" "$before"
		else
			bad "$b" "fdtoverlay failed"
		fi
		case $b in bcm2711*)
			if fdtoverlay -i "$out/$b.dtb" -o "$out/$b-vcsm-pi4.dtb" "$out/vcsm-cma-heap-pi4.dtbo"; then
				assert_merged "$b-pi4" "$out/$b-vcsm-pi4.dtb" "8000000" "$before"
				range=$(fdtget -t x "$out/$b-vcsm-pi4.dtb" /reserved-memory/vcsm-cma-pool alloc-ranges 2>&1)
				if [ "$range" = "0 0 40000000" ]; then ok "$b-pi4-alloc-ranges"
				else bad "$b-pi4-alloc-ranges" "alloc-ranges is '$range'"; fi
			else
				bad "$b-pi4" "fdtoverlay failed"
			fi ;;
		esac
	done
else
	bad raspberry-pi-dtbs "no kernel source given: the Pi DTBs cannot be built"
fi
echo "overlays: $pass passed, $fail failed"
[ $fail -eq 0 ]
