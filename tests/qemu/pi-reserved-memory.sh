#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Give a device tree dumped from QEMU `virt` (-machine dumpdtb=) the /reserved-memory node and
# the system CMA pool that every Raspberry Pi tree has, edited in place:
#
#   /reserved-memory { #address-cells = <2>; #size-cells = <2>; ranges;
#       cma: linux,cma { compatible = "shared-dma-pool"; reusable; linux,cma-default;
#                        size = <0x0 0x4000000>;
#                        alloc-ranges = <0x0 0x40000000 0x0 0x40000000>; }; };
#   /__symbols__ { cma = "/reserved-memory/linux,cma"; };
#
#   tests/qemu/pi-reserved-memory.sh DTB
#
# Used by tests/qemu/run.sh for every boot and by tests/host/overlays.sh, so the host test
# applies the overlays to the very tree the guest boots with.
set -euo pipefail
dtb=${1:?usage: pi-reserved-memory.sh DTB}

# The node our dedicated-pool overlays add their pool to. virt has two address and two size
# cells at the root; a Pi tree one and one (Pi 4: two and one).
fdtput -c "$dtb" /reserved-memory
fdtput -t i "$dtb" /reserved-memory '#address-cells' 2
fdtput -t i "$dtb" /reserved-memory '#size-cells' 2
fdtput -t x "$dtb" /reserved-memory ranges

# The Pi's system pool (bcm283x.dtsi, bcm2712.dtsi: `cma: linux,cma`), 64 MiB as in the base
# Pi trees, placed in the first GiB of virt's RAM (which starts at 0x40000000): the simulated
# VPU's window, as the Pi trees keep it in the VideoCore's. `linux,cma-default` makes it the
# kernel's default CMA area (instead of the CONFIG_CMA_SIZE_MBYTES one, named "reserved"), so
# the DMA atomic pools and dma_alloc_coherent() take from it and the in-kernel CMA heap is
# /dev/dma_heap/linux,cma, as on a Pi. A `cma=` on the kernel command line would make the
# kernel ignore this node; run.sh refuses one.
node=/reserved-memory/linux,cma
fdtput -c "$dtb" "$node"
fdtput -t s "$dtb" "$node" compatible shared-dma-pool
fdtput -t x "$dtb" "$node" reusable
fdtput -t x "$dtb" "$node" linux,cma-default
fdtput -t x "$dtb" "$node" size 0 4000000
fdtput -t x "$dtb" "$node" alloc-ranges 0 40000000 0 40000000

# A phandle above every one QEMU assigned (it numbers from 0x8000), so `<&cma>` in an overlay
# resolves to this node. fdtoverlay renumbers the overlay's own phandles above the base tree's
# largest, this one included.
max=0
for p in $(dtc -q -I dtb -O dts "$dtb" | sed -n 's/^[[:space:]]*\(linux,\)\{0,1\}phandle = <\(0x[0-9a-fA-F]*\)>;$/\2/p'); do
	[ $((p)) -gt "$max" ] && max=$((p))
done
fdtput -t x "$dtb" "$node" phandle "$(printf '%x' $((max + 1)))"

# The label, as `dtc -@` records it in a Pi tree, so overlays can say <&cma>.
fdtget -l "$dtb" / | grep -qx __symbols__ || fdtput -c "$dtb" /__symbols__
fdtput -t s "$dtb" /__symbols__ cma "$node"
