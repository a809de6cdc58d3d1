#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Make the kernel's own Raspberry Pi 3 B tree (bcm2837-rpi-3-b.dtb, from the test kernel's
# `make dtbs`) look the way the Pi firmware hands it to the kernel where this suite cares
# (../shared facts, Documentation/testing.rst): /soc's dma-ranges gain the Pi trees' second
# entry, the peripherals' VPU bus addresses (<0x7e000000 0x3f000000 0x1000000>), next to RAM's
# <0xc0000000 0x0 0x3f000000>. The rest already matches: one address and one size cell, the
# 64 MiB `cma: linux,cma` pool without alloc-ranges, the bcm2836/bcm2835 vchiq compatibles,
# the firmware node. QEMU itself sets /memory to the ARM's share of the 1 GiB.
#
#   tests/qemu/pi3-tree.sh IN.dtb OUT.dtb
set -euo pipefail
in=${1:?usage: pi3-tree.sh IN.dtb OUT.dtb} out=${2:?usage: pi3-tree.sh IN.dtb OUT.dtb}
cp "$in" "$out"
[ "$(fdtget "$out" / '#address-cells')" = 1 ] && [ "$(fdtget "$out" / '#size-cells')" = 1 ] ||
	{ echo "pi3-tree.sh: $in is not a 1+1-cell Pi 3 tree" >&2; exit 1; }
fdtget "$out" /reserved-memory/linux,cma linux,cma-default >/dev/null ||
	{ echo "pi3-tree.sh: $in has no linux,cma default pool" >&2; exit 1; }
fdtput -t x "$out" /soc dma-ranges c0000000 0 3f000000 7e000000 3f000000 1000000
