#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Rewrite a kernel-built Raspberry Pi DTB so that it carries what the Raspberry Pi firmware
hands the kernel (Documentation/testing.rst, "The Raspberry Pi tree matrix"; the facts are
those of the Raspberry Pi kernel's own trees, not of mainline's):

    python3 tests/host/pi_tree.py --board pi3b|pi3a|pi02w|pi4b|pi5 --ram 512M|1G|2G|4G|8G \
            [--gpu-mem 76M] IN.dtb OUT.dtb

* root and /reserved-memory #address-cells/#size-cells as on the Pi trees (Pi 3 / Zero 2 W:
  1/1; Pi 4 and Pi 5: 2/1), every `reg` in root cells re-encoded if they change;
* `cma: linux,cma`: shared-dma-pool, reusable, linux,cma-default, 64 MiB, with the Pi trees'
  alloc-ranges (none on the Pi 3 family, the first 768 MiB on a Pi 4, the first GiB on a Pi 5),
  a phandle, and the `cma` label in /__symbols__ as `dtc -@` records it;
* the /soc dma-ranges of the Pi trees (the VPU's 0xC0000000 alias of the first GiB, or of
  RAM below the peripherals on the Pi 3 family, and the peripheral window);
* a Pi 4 `zone_dma` node whose dma-ranges limit ZONE_DMA to the first GiB;
* the vchiq node /soc/mailbox@7e00b840: "brcm,bcm2836-vchiq", "brcm,bcm2835-vchiq" on the
  Pi 3 family, "brcm,bcm2711-vchiq" on the Pi 4, none on the Pi 5;
* one memory node for the RAM the firmware gives the ARM: below gpu_mem on the Pi 3 family
  (1 GiB with gpu_mem=76M ends at 0x3b400000; the 3 A+ and Zero 2 W have 512 MiB), split as the Pi 4
  firmware splits it (first range up to 0x3b400000, then from 0x40000000; above 4 GiB from
  0x100000000), contiguous on the Pi 5.
Phandles stay unique (checked before writing).
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdtutil as u  # noqa: E402

MiB = 1 << 20
GiB = 1 << 30

BOARDS = {
    # cells: root (and /reserved-memory) #address-cells, #size-cells
    "pi3b": dict(cells=(1, 1), rams=("1G",), cma_ranges=None,
                 dma=[(0xC0000000, 0x0, 0x3F000000), (0x7E000000, 0x3F000000, 0x1000000)],
                 vchiq=["brcm,bcm2836-vchiq", "brcm,bcm2835-vchiq"], gpu_mem=76 * MiB),
    "pi3a": dict(cells=(1, 1), rams=("512M",), cma_ranges=None,
                 dma=[(0xC0000000, 0x0, 0x3F000000), (0x7E000000, 0x3F000000, 0x1000000)],
                 vchiq=["brcm,bcm2836-vchiq", "brcm,bcm2835-vchiq"], gpu_mem=76 * MiB),
    "pi02w": dict(cells=(1, 1), rams=("512M",), cma_ranges=None,
                  dma=[(0xC0000000, 0x0, 0x3F000000), (0x7E000000, 0x3F000000, 0x1000000)],
                  vchiq=["brcm,bcm2836-vchiq", "brcm,bcm2835-vchiq"], gpu_mem=76 * MiB),
    "pi4b": dict(cells=(2, 1), rams=("1G", "2G", "4G", "8G"), cma_ranges=[(0x0, 0x30000000)],
                 dma=[(0xC0000000, 0x0, 0x40000000), (0x7C000000, 0xFC000000, 0x3800000)],
                 vchiq=["brcm,bcm2711-vchiq"], gpu_mem=76 * MiB),
    "pi5": dict(cells=(2, 1), rams=("1G", "2G", "4G", "8G"), cma_ranges=[(0x0, 0x40000000)],
                dma=[(0xC0000000, 0x0, 0x40000000), (0x7C000000, 0x107C000000, 0x4000000)],
                vchiq=None, gpu_mem=0),
}


def size_arg(s):
    mult = {"K": 1 << 10, "M": MiB, "G": GiB}
    s = s.strip().upper()
    if s and s[-1] in mult:
        return int(s[:-1], 0) * mult[s[-1]]
    return int(s, 0)


def memory_ranges(board, ram, gpu_mem):
    """[(base, size)] of the ARM's RAM as the firmware describes it."""
    if board in ("pi3b", "pi3a", "pi02w"):
        end = ram - gpu_mem
        if end >= 0x3F000000:
            raise u.FdtError("ARM RAM must end below the peripherals at 0x3f000000")
        return [(0, end)]
    if board == "pi4b":
        out = [(0, min(ram, GiB) - gpu_mem)]
        if ram > GiB:
            out.append((GiB, min(ram, 0xFC000000) - GiB))
        above = ram - 4 * GiB
        base = 4 * GiB
        while above > 0:  # one size cell: at most 2 GiB per entry
            n = min(above, 2 * GiB)
            out.append((base, n))
            base += n
            above -= n
        return out
    out, base = [], 0
    while base < ram:
        n = min(ram - base, 2 * GiB)
        out.append((base, n))
        base += n
    return out


def recell(fdt, off, prop, old, new):
    """Re-encode PROP of node OFF from cell widths OLD to NEW (tuples of widths)."""
    raw = u.getprop(fdt, off, prop)
    if raw is None or old == new:
        return
    vals, rest = u.cells_to_ints(raw, old)
    if rest:
        raise u.FdtError("%s/%s is not a multiple of %s cells" % (u.path_of(fdt, off), prop, old))
    fdt.setprop(off, prop, u.ints_to_cells(vals, new))


def find_soc(fdt):
    for sub in u.subnodes(fdt, 0):
        name = u.name_of(fdt, sub)
        if name == "soc" or name.startswith("soc@"):
            return sub
    raise u.FdtError("no /soc node")


def set_cells(fdt, off, ac, sc):
    fdt.setprop_u32(off, "#address-cells", ac)
    fdt.setprop_u32(off, "#size-cells", sc)


def rewrite(fdt, board, ram, gpu_mem):
    b = BOARDS[board]
    ac, sc = b["cells"]
    old_ac = u.cell(fdt, 0, "#address-cells", 2)
    old_sc = u.cell(fdt, 0, "#size-cells", 1)

    # Root cells: the `reg` of every child of the root is in them.
    if (old_ac, old_sc) != (ac, sc):
        for path in [u.path_of(fdt, sub) for sub in u.subnodes(fdt, 0)]:
            recell(fdt, u.node(fdt, path), "reg", (old_ac, old_sc), (ac, sc))
        set_cells(fdt, 0, ac, sc)

    # /reserved-memory with the root's cells (the kernel ignores it otherwise), children
    # re-encoded.
    rm = u.node(fdt, "/reserved-memory")
    if rm is None:
        rm = fdt.add_subnode(0, "reserved-memory")
        rm_ac, rm_sc = ac, sc
    else:
        rm_ac = u.cell(fdt, rm, "#address-cells", old_ac)
        rm_sc = u.cell(fdt, rm, "#size-cells", old_sc)
    for path in [u.path_of(fdt, sub) for sub in u.subnodes(fdt, rm)]:
        recell(fdt, u.node(fdt, path), "reg", (rm_ac, rm_sc), (ac, sc))
        recell(fdt, u.node(fdt, path), "alloc-ranges", (rm_ac, rm_sc), (ac, sc))
        recell(fdt, u.node(fdt, path), "size", (rm_sc,), (sc,))
        recell(fdt, u.node(fdt, path), "alignment", (rm_ac,), (ac,))
    rm = u.node(fdt, "/reserved-memory")
    set_cells(fdt, rm, ac, sc)
    fdt.setprop(rm, "ranges", b"")

    # The system CMA pool, `cma: linux,cma`.
    cma = u.node(fdt, "/reserved-memory/linux,cma")
    if cma is None:
        fdt.add_subnode(u.node(fdt, "/reserved-memory"), "linux,cma")
        cma = u.node(fdt, "/reserved-memory/linux,cma")
    fdt.setprop_str(cma, "compatible", "shared-dma-pool")
    fdt.setprop(cma, "size", u.ints_to_cells([(64 * MiB,)], (sc,)))
    fdt.setprop(cma, "reusable", b"")
    fdt.setprop(cma, "linux,cma-default", b"")
    if b["cma_ranges"] is None:
        if u.has(fdt, cma, "alloc-ranges"):
            fdt.delprop(cma, "alloc-ranges")
    else:
        fdt.setprop(cma, "alloc-ranges", u.ints_to_cells(b["cma_ranges"], (ac, sc)))
    cma = u.node(fdt, "/reserved-memory/linux,cma")
    if u.cell(fdt, cma, "phandle") is None:
        fdt.setprop_u32(cma, "phandle", u.max_phandle(fdt) + 1)
    sym = u.node(fdt, "/__symbols__")
    if sym is None:
        fdt.add_subnode(0, "__symbols__")
        sym = u.node(fdt, "/__symbols__")
    fdt.setprop_str(sym, "cma", "/reserved-memory/linux,cma")

    # /soc dma-ranges: <bus address (soc cells)> <ARM physical (root cells)> <size (soc cells)>.
    soc = find_soc(fdt)
    soc_ac = u.cell(fdt, soc, "#address-cells", 1)
    soc_sc = u.cell(fdt, soc, "#size-cells", 1)
    fdt.setprop(soc, "dma-ranges", u.ints_to_cells(b["dma"], (soc_ac, ac, soc_sc)))

    if board == "pi4b":
        z = u.node(fdt, "/zone_dma")
        if z is None:
            fdt.add_subnode(0, "zone_dma")
            z = u.node(fdt, "/zone_dma")
        set_cells(fdt, z, 1, 1)
        fdt.setprop(z, "dma-ranges", u.ints_to_cells([(0x0, 0x0, 0x40000000)], (1, ac, 1)))

    # The vchiq node.
    soc_path = u.path_of(fdt, find_soc(fdt))
    vchiq = u.node(fdt, soc_path + "/mailbox@7e00b840")
    if b["vchiq"] is None:
        if vchiq is not None:
            fdt.del_node(vchiq)
    else:
        if vchiq is None:
            raise u.FdtError("%s has no %s/mailbox@7e00b840 (vchiq)" % (board, soc_path))
        fdt.setprop(vchiq, "compatible", b"".join(s.encode() + b"\0" for s in b["vchiq"]))

    # Memory: the firmware's description of the ARM's RAM, in one node.
    for path in [u.path_of(fdt, sub) for sub in u.subnodes(fdt, 0)]:
        sub = u.node(fdt, path)
        dt = u.getprop(fdt, sub, "device_type")
        if dt == b"memory\0" or u.name_of(fdt, sub).startswith("memory@"):
            fdt.del_node(sub)
    fdt.add_subnode(0, "memory@0")
    mem = u.node(fdt, "/memory@0")
    fdt.setprop_str(mem, "device_type", "memory")
    fdt.setprop(mem, "reg", u.ints_to_cells(memory_ranges(board, ram, gpu_mem), (ac, sc)))

    dups = {p: paths for p, paths in u.phandles(fdt).items() if len(paths) > 1}
    if dups:
        raise u.FdtError("duplicate phandles: %s" % dups)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--board", required=True, choices=sorted(BOARDS))
    ap.add_argument("--ram", required=True, help="512M, 1G, 2G, 4G or 8G")
    ap.add_argument("--gpu-mem", help="gpu_mem carve-out below the VPU's window end "
                    "(default 76M; none on a Pi 5)")
    ap.add_argument("input")
    ap.add_argument("output")
    a = ap.parse_args()
    b = BOARDS[a.board]
    if a.ram.upper() not in b["rams"]:
        ap.error("--board %s has --ram %s" % (a.board, " or ".join(b["rams"])))
    gpu_mem = size_arg(a.gpu_mem) if a.gpu_mem else b["gpu_mem"]
    try:
        fdt = u.load(a.input)
        rewrite(fdt, a.board, size_arg(a.ram), gpu_mem)
        u.save(fdt, a.output)
    except (u.FdtError, u.libfdt.FdtException) as e:
        sys.exit("pi_tree.py: %s: %s" % (a.input, e))


if __name__ == "__main__":
    main()
