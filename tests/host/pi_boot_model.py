#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""What a Linux 6.12 arm64 kernel does with a merged Raspberry Pi device tree's reserved
memory, and whether the vcsm heap and the system CMA pool come out of it working.

    python3 tests/host/pi_boot_model.py MERGED.dtb [--kernel-reserve BASE:SIZE]

The model follows drivers/of/of_reserved_mem.c, mm/memblock.c, mm/cma.c and
kernel/dma/contiguous.c of 6.12:
* /reserved-memory must have the root's #address-cells and #size-cells and a `ranges`,
  otherwise "unsupported node format" and nothing is reserved;
* first pass, in node order: nodes with `reg` are reserved where they say ("invalid reg
  property" if its length is not a multiple of the root cells); nodes with only `size` are
  dynamic and queued; disabled nodes are skipped;
* second pass, in the same order: each dynamic node is allocated. `size` must be exactly
  #size-cells long ("invalid size property"), `alignment` #address-cells; a reusable
  shared-dma-pool is aligned to at least CMA_MIN_ALIGNMENT_BYTES (a pageblock: 4 MiB with
  4 KiB pages, 32 MiB with the Pi 5's 16 KiB pages); `alloc-ranges` must be a multiple of
  #address-cells + #size-cells ("invalid alloc-ranges property ... skipping node"), each
  range is tried in turn; without it, anywhere in RAM. memblock allocates top-down from the
  end of the range (bottom-up only when the range starts next to, and does not end next to, a
  region already allocated), never the first page, avoiding everything already reserved;
  base 0 counts as failure ("failed to allocate memory for node");
* right after each allocation rmem_cma_setup(): base and size must be pageblock aligned
  ("incorrect alignment of CMA region"), size 0 is refused ("unable to setup CMA region").
Already reserved before that: the DTB header's /memreserve/ entries and the kernel image with
the initramfs the firmware loads after it (modelled as --kernel-reserve, default 48 MiB at
0x200000, where the firmware loads kernel8.img).

Then the verdict, one line per finding:
* the heap node (/vcsm-cma-heap): its memory-region must be a created CMA pool, entirely
  inside the VPU's window (the /soc dma-ranges entry for bus address 0xC0000000) and below
  4 GiB;
* the system pool (linux,cma) must be created;
* enough memory must stay outside CMA for unmovable kernel allocations: at least a quarter of
  the ARM's RAM (the budget of Documentation/installing.rst).
Exit status 0 and "works" when all hold, 1 and "FAIL <finding>" lines otherwise.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdtutil as u  # noqa: E402

MiB = 1 << 20
GiB = 1 << 30
VPU_ALIAS = 0xC0000000


def mib(n):
    return "%d MiB" % (n // MiB) if n % MiB == 0 else "%#x bytes" % n


class Memblock:
    def __init__(self, memory):
        self.memory = sorted(memory)
        self.reserved = []
        self.bottom_up = False

    def reserve(self, base, size):
        self.reserved.append((base, base + size))

    def free_ranges(self):
        """Free ranges (memory minus reserved), ascending."""
        out = []
        res = sorted(self.reserved)
        for mb, ms in self.memory:
            start, end = mb, mb + ms
            cur = start
            for rb, re_ in res:
                if re_ <= cur or rb >= end:
                    continue
                if rb > cur:
                    out.append((cur, rb))
                cur = max(cur, re_)
            if cur < end:
                out.append((cur, end))
        return out

    def alloc_range(self, size, align, start, end):
        start = max(start, 4096)  # never the first page
        end = max(start, end)
        free = self.free_ranges()
        if self.bottom_up:
            for fs, fe in free:
                fs, fe = min(max(fs, start), end), min(max(fe, start), end)
                cand = (fs + align - 1) // align * align
                if cand < fe and fe - cand >= size:
                    return cand
            return 0
        for fs, fe in reversed(free):
            fs, fe = min(max(fs, start), end), min(max(fe, start), end)
            if fe < size:
                continue
            cand = (fe - size) // align * align
            if cand >= fs:
                return cand
        return 0


class Pool:
    def __init__(self, path, name):
        self.path, self.name = path, name
        self.base = self.size = 0
        self.cma = False
        self.error = None


def available(fdt, off):
    st = u.getprop(fdt, off, "status")
    return st is None or st.rstrip(b"\0") in (b"okay", b"ok")


def is_compatible(fdt, off, compat):
    return compat in u.strings(u.getprop(fdt, off, "compatible") or b"")


def model(fdt, kernel_reserve, log):
    ac = u.cell(fdt, 0, "#address-cells", 2)
    sc = u.cell(fdt, 0, "#size-cells", 1)
    memory = []
    for off in u.subnodes(fdt, 0):
        if u.getprop(fdt, off, "device_type") == b"memory\0" and available(fdt, off):
            vals, _ = u.cells_to_ints(u.getprop(fdt, off, "reg") or b"", (ac, sc))
            memory += [(b, s) for b, s in vals if s]
    mb = Memblock(memory)
    for base, size in u.mem_reserve(fdt):
        mb.reserve(base, size)
    mb.reserve(*kernel_reserve)
    page = 16 << 10 if "brcm,bcm2712" in u.strings(u.getprop(fdt, 0, "compatible") or b"") else 4 << 10
    cma_align = (1 << 10) * page if page == 4 << 10 else (1 << 11) * page  # MAX_PAGE_ORDER
    pools = {}
    rm = u.node(fdt, "/reserved-memory")
    if rm is None:
        return pools, memory, cma_align
    if (u.cell(fdt, rm, "#size-cells") != sc or u.cell(fdt, rm, "#address-cells") != ac
            or not u.has(fdt, rm, "ranges")):
        log("OF: reserved mem: Reserved memory: unsupported node format, ignoring")
        for off in u.subnodes(fdt, rm):
            p = Pool(u.path_of(fdt, off), u.name_of(fdt, off))
            p.error = "unsupported /reserved-memory format (cells differ from the root)"
            pools[p.path] = p
        return pools, memory, cma_align
    t_len = (ac + sc) * 4
    dynamic = []
    for off in u.subnodes(fdt, rm):
        path, name = u.path_of(fdt, off), u.name_of(fdt, off)
        p = Pool(path, name)
        pools[path] = p
        if not available(fdt, off):
            p.error = "disabled"
            continue
        reg = u.getprop(fdt, off, "reg")
        if reg is not None:
            if len(reg) % t_len:
                p.error = "invalid reg property in '%s', skipping node" % name
                log("OF: reserved mem: Reserved memory: " + p.error)
                continue
            for b, s in u.cells_to_ints(reg, (ac, sc))[0]:
                if s:
                    mb.reserve(b, s)
                    p.base, p.size = b, s
            p.error = "static"
            continue
        if u.has(fdt, off, "size"):
            dynamic.append((off, p))
    reserved_mem = []  # (base, size) of the regions allocated so far, for the bottom-up test
    for off, p in dynamic:
        raw = u.getprop(fdt, off, "size")
        if len(raw) != sc * 4:
            p.error = "invalid size property in '%s' node" % p.name
            log("OF: reserved mem: " + p.error)
            continue
        size = u.cells_to_ints(raw, (sc,))[0][0][0]
        align = 0
        a = u.getprop(fdt, off, "alignment")
        if a is not None:
            if len(a) != ac * 4:
                p.error = "invalid alignment property in '%s' node" % p.name
                log("OF: reserved mem: " + p.error)
                continue
            align = u.cells_to_ints(a, (ac,))[0][0][0]
        nomap = u.has(fdt, off, "no-map")
        reusable_pool = (is_compatible(fdt, off, "shared-dma-pool") and u.has(fdt, off, "reusable")
                         and not nomap)
        if reusable_pool:
            align = max(align, cma_align)
        align = align or 64
        base = 0
        ranges = u.getprop(fdt, off, "alloc-ranges")
        if ranges is not None:
            if len(ranges) % t_len:
                p.error = "invalid alloc-ranges property in '%s', skipping node" % p.name
                log("OF: reserved mem: " + p.error)
                continue
            for start, length in u.cells_to_ints(ranges, (ac, sc))[0]:
                end = start + length
                bottom_up = top_down = False
                for rb, rs in reserved_mem:
                    if rb <= start <= rb + rs:
                        bottom_up = True
                    if rb <= end <= rb + rs:
                        top_down = True
                saved = mb.bottom_up
                if bottom_up != top_down:
                    mb.bottom_up = bottom_up
                base = mb.alloc_range(size, align, start, end)
                mb.bottom_up = saved
                if base:
                    break
        else:
            base = mb.alloc_range(size, align, 0, 1 << 64)
        if base == 0:
            p.error = "failed to allocate memory for node '%s': size %s" % (p.name, mib(size))
            log("OF: reserved mem: " + p.error)
            continue
        mb.reserve(base, size)
        reserved_mem.append((base, size))
        p.base, p.size = base, size
        if is_compatible(fdt, off, "shared-dma-pool"):
            if not u.has(fdt, off, "reusable") or nomap:
                p.error = "not a reusable pool (no CMA)"
            elif (base | size) % cma_align:
                p.error = "incorrect alignment of CMA region (size %#x)" % size
                log("OF: reserved mem: Reserved memory: " + p.error)
            elif size == 0:
                p.error = "unable to setup CMA region (size 0)"
                log("OF: reserved mem: Reserved memory: " + p.error)
            else:
                p.cma = True
                log("OF: reserved mem: Reserved memory: created CMA memory pool at %#x, size %s"
                    % (base, mib(size)))
                log("OF: reserved mem: initialized node %s, compatible id shared-dma-pool" % p.name)
    return pools, memory, cma_align


def vpu_window(fdt):
    ac = u.cell(fdt, 0, "#address-cells", 2)
    for off in u.subnodes(fdt, 0):
        name = u.name_of(fdt, off)
        if name == "soc" or name.startswith("soc@"):
            sac = u.cell(fdt, off, "#address-cells", 1)
            ssc = u.cell(fdt, off, "#size-cells", 1)
            raw = u.getprop(fdt, off, "dma-ranges")
            if not raw:
                return None
            for bus, phys, size in u.cells_to_ints(raw, (sac, ac, ssc))[0]:
                if bus == VPU_ALIAS:
                    return phys, phys + size
    return None


def verdict(fdt, pools, memory, log):
    findings = []
    heap = u.node(fdt, "/vcsm-cma-heap")
    window = vpu_window(fdt)
    if heap is None or not available(fdt, heap):
        findings.append("no enabled /vcsm-cma-heap node")
    else:
        mr = u.getprop(fdt, heap, "memory-region")
        path = None
        if mr and len(mr) == 4:
            off = fdt.node_offset_by_phandle(u.u32s(mr)[0], u.QUIET)
            path = u.path_of(fdt, off) if off >= 0 else None
        pool = pools.get(path)
        if pool is None:
            findings.append("heap memory-region is not a /reserved-memory node (%s)" % path)
        elif not pool.cma:
            findings.append("heap pool %s not created: %s" % (pool.name, pool.error))
        else:
            end = pool.base + pool.size
            if window is None:
                findings.append("no VPU window (/soc dma-ranges for bus 0xc0000000)")
            elif pool.base < window[0] or end > window[1]:
                findings.append("heap pool %s at %#x-%#x is outside the VPU window %#x-%#x"
                                % (pool.name, pool.base, end, window[0], window[1]))
            if end > 4 * GiB:
                findings.append("heap pool %s ends above 4 GiB (%#x)" % (pool.name, end))
            log("heap: %s %s at %#x" % (pool.name, mib(pool.size), pool.base))
    system = pools.get("/reserved-memory/linux,cma")
    if system is None:
        findings.append("no linux,cma")
    elif not system.cma:
        findings.append("system pool linux,cma not created: %s" % system.error)
    else:
        log("system: linux,cma %s at %#x" % (mib(system.size), system.base))
    ram = sum(s for _, s in memory)
    cma = sum(p.size for p in pools.values() if p.cma)
    floor = ram // 4
    log("budget: RAM %s, CMA %s, outside CMA %s (floor %s)" % (mib(ram), mib(cma), mib(ram - cma),
                                                             mib(floor)))
    if ram - cma < floor:
        findings.append("only %s of %s RAM outside CMA (budget: at least %s)"
                        % (mib(ram - cma), mib(ram), mib(floor)))
    return findings


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dtb")
    ap.add_argument("--kernel-reserve", default="0x200000:0x3000000",
                    help="BASE:SIZE reserved before the pools (kernel image and initramfs)")
    ap.add_argument("-q", "--quiet", action="store_true", help="only the verdict")
    a = ap.parse_args()
    b, s = (int(x, 0) for x in a.kernel_reserve.split(":"))
    fdt = u.load(a.dtb)
    lines = []
    pools, memory, _ = model(fdt, (b, s), lines.append)
    findings = verdict(fdt, pools, memory, lines.append)
    if not a.quiet:
        for line in lines:
            print("  " + line)
    for f in findings:
        print("FAIL " + f)
    if not findings:
        print("works")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
