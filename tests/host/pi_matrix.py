#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""The Raspberry Pi overlay matrix: every board x RAM size x system-pool stack x overlay x
parameter set, applied as the firmware applies them and read as the kernel reads them.

    python3 tests/host/pi_matrix.py --dtbs KERNEL_DTB_DIR --overlays DTBO_DIR --work DIR

KERNEL_DTB_DIR holds the kernel's own bcm2837-rpi-3-b, bcm2837-rpi-3-a-plus,
bcm2837-rpi-zero-2-w, bcm2711-rpi-4-b and bcm2712-rpi-5-b DTBs. For each board and RAM size pi_tree.py gives them the Raspberry Pi
facts; the "pios" stack then resizes linux,cma as Raspberry Pi OS's default
`dtoverlay=vc4-kms-v3d` does (256 MiB on the Pi 3 family, 508 MiB on the Pi 4); the "fw"
stack keeps the firmware trees' 64 MiB. dtmerge.py applies our overlay with its parameters
and pi_boot_model.py says what 6.12 makes of the result. One line per combination:

    PASS pi/<board>-<ram>/<stack>/<overlay>[,<params>]: <what happened>
    FAIL pi/<board>-<ram>/<stack>/<overlay>[,<params>]: expected <x>, got <y>

The expectations below are the documented ones (Documentation/installing.rst, "Sizes"):
"works" (heap on a CMA pool inside the VPU window, below 4 GiB, system pool created, a
quarter of RAM left outside CMA), "refused: <text>" (dtmerge and the firmware refuse the
overlay with that message) or "broken: <text>" (it applies, and the kernel's result has that
finding: the documented failure of an out-of-budget or malformed size).
"""

import argparse
import io
import os
import subprocess
import sys
import contextlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdtutil as u  # noqa: E402
import dtmerge  # noqa: E402
import pi_boot_model  # noqa: E402
import pi_tree  # noqa: E402

MiB = 1 << 20

TREES = [  # (board, ram, kernel DTB)
    ("pi3b", "1G", "bcm2837-rpi-3-b"),
    ("pi3a", "512M", "bcm2837-rpi-3-a-plus"),
    ("pi02w", "512M", "bcm2837-rpi-zero-2-w"),
    ("pi4b", "1G", "bcm2711-rpi-4-b"),
    ("pi4b", "2G", "bcm2711-rpi-4-b"),
    ("pi4b", "4G", "bcm2711-rpi-4-b"),
    ("pi4b", "8G", "bcm2711-rpi-4-b"),
    ("pi5", "2G", "bcm2712-rpi-5-b"),
    ("pi5", "4G", "bcm2712-rpi-5-b"),
    ("pi5", "8G", "bcm2712-rpi-5-b"),
]
# Raspberry Pi OS's default system CMA (vc4-kms-v3d; vc4-kms-v3d-pi4 on a Pi 4).
PIOS_CMA = {"pi3b": 256 * MiB, "pi3a": 256 * MiB, "pi02w": 256 * MiB, "pi4b": 508 * MiB}

W = "works"
ALLOC = "broken: heap pool vcsm-cma-pool not created: failed to allocate"
ALIGN = "broken: incorrect alignment of CMA region"
ZERO = "broken: unable to setup CMA region"
BUDGET = "broken: outside CMA (budget"
SYSFAIL = "broken: system pool linux,cma not created"
WINDOW = "broken: outside the VPU window"
UNKNOWN = "refused: unknown param"
BADVAL = "refused: invalid override value"


def pi4_expect(board, ram, stack, params):
    if board != "pi4b":
        return "refused: can't find symbol 'emmc2bus'"
    table = {
        "": W, "cma-64": W, "cma-96": W, "cma-128": W, "cma-default": W,
        "cma-size=0x8000000": W, "cma-size=134217728": W,
        "cma-size=0xb400000": W,             # 180 MiB: all of the window above linux,cma
        "cma-size=0xc000000": ALLOC,         # 192 MiB does not fit there: ours fails, not the system pool
        "cma-size=0x20000000": ALLOC,        # 512 MiB (D3 of issue 10: it used to starve linux,cma)
        "cma-192": UNKNOWN, "cma-256": UNKNOWN, "cma-512": UNKNOWN,
        "cma-size=0x8100000": ALIGN, "cma-size": ALIGN,  # no value: "true", 1 byte
        "cma-size=0": ZERO, "cma-size=0x100000000": ZERO,  # truncated to 32 bits: 0
        "cma-size=256M": BADVAL, "size=0x8000000": UNKNOWN,
    }
    return table[params]


PI4_PARAMS = ["", "cma-64", "cma-96", "cma-128", "cma-default", "cma-size=0x8000000",
              "cma-size=134217728", "cma-size=0xb400000", "cma-size=0xc000000",
              "cma-size=0x20000000", "cma-192",
              "cma-256", "cma-512", "cma-size=0x8100000", "cma-size", "cma-size=0",
              "cma-size=0x100000000", "cma-size=256M", "size=0x8000000"]


def pi3_expect(board, ram, stack, params):
    if board not in ("pi3b", "pi3a", "pi02w"):
        return "refused: can't find symbol 'intc'"
    common = {"cma-size=0x4100000": ALIGN, "cma-size=0": ZERO, "cma-size=64M": BADVAL,
              "cma-1024": UNKNOWN}
    if params in common:
        return common[params]
    size = {"": 64, "cma-default": 64, "cma-size=0x4000000": 64}.get(params)
    if size is None:
        size = int(params.split("-")[1])
    # The budget (installing.rst): Pi 3 B/B+ 1 GiB: up to 448 MiB with Raspberry Pi OS's
    # 256 MiB system pool; Zero 2 W: 64 MiB with it, 256 MiB with the firmware's 64 MiB.
    if board == "pi3b":
        limit = 448 if stack == "pios" else 512
        return W if size <= limit else BUDGET
    # Zero 2 W and 3 A+, 436 MiB of ARM RAM: a pool larger than what is left does not fit.
    if size > 436 - 50:
        return ALLOC
    if stack == "fw":
        return W if size <= 256 else BUDGET
    if size <= 64:
        return W
    # With the 256 MiB system pool: from 192 MiB on (the old docs' 256 MiB included) ours,
    # allocated first, leaves the system pool no room: D3 of issue 10.
    return SYSFAIL if size >= 192 else BUDGET


PI3_PARAMS = ["", "cma-default", "cma-64", "cma-96", "cma-128", "cma-192", "cma-256",
              "cma-320", "cma-384", "cma-448", "cma-512", "cma-size=0x4000000",
              "cma-size=0x4100000", "cma-size=0", "cma-size=64M", "cma-1024"]


def system_expect(board, ram, stack, params):
    return W if params == "" else UNKNOWN


SYSTEM_PARAMS = ["", "cma-256"]

OVERLAYS = [
    ("vcsm-cma-heap-pi4", PI4_PARAMS, pi4_expect),
    ("vcsm-cma-heap-pi3", PI3_PARAMS, pi3_expect),
    ("vcsm-cma-heap-system", SYSTEM_PARAMS, system_expect),
]


def resize_overlay(work, sc, size):
    """A vc4-kms-v3d-style resize of the system pool: one fragment on <&cma> setting its
    size (our own minimal overlay, built with dtc -@ as the Pi overlays are)."""
    path = os.path.join(work, "system-cma-%x.dtbo" % size)
    if not os.path.exists(path):
        cells = " ".join("0x%x" % ((size >> (32 * k)) & 0xFFFFFFFF) for k in reversed(range(sc)))
        dts = ("/dts-v1/;\n/plugin/;\n/ { fragment@0 { target = <&cma>; __overlay__ {"
               " size = <%s>; }; }; };\n" % cells)
        subprocess.run(["dtc", "-@", "-q", "-I", "dts", "-O", "dtb", "-o", path, "-"],
                       input=dts.encode(), check=True)
    return path


# What the tree must say after pi_tree.py, written out from the facts table
# (../shared/reference/pi-platform.md), independently of pi_tree.py's own tables.
FACTS = {
    "pi3b": dict(cells=(1, 1), cma_ranges=None, mem_end=0x3B400000,
                 dma=[(0xC0000000, 0x0, 0x3F000000), (0x7E000000, 0x3F000000, 0x1000000)],
                 vchiq="brcm,bcm2836-vchiq"),
    "pi3a": dict(cells=(1, 1), cma_ranges=None, mem_end=0x1B400000,
                 dma=[(0xC0000000, 0x0, 0x3F000000), (0x7E000000, 0x3F000000, 0x1000000)],
                 vchiq="brcm,bcm2836-vchiq"),
    "pi02w": dict(cells=(1, 1), cma_ranges=None, mem_end=0x1B400000,
                  dma=[(0xC0000000, 0x0, 0x3F000000), (0x7E000000, 0x3F000000, 0x1000000)],
                  vchiq="brcm,bcm2836-vchiq"),
    "pi4b": dict(cells=(2, 1), cma_ranges=[(0x0, 0x30000000)],
                 mem_end={"1G": 0x3B400000, "2G": 0x80000000, "4G": 0xFC000000, "8G": 0x200000000},
                 dma=[(0xC0000000, 0x0, 0x40000000), (0x7C000000, 0xFC000000, 0x3800000)],
                 vchiq="brcm,bcm2711-vchiq"),
    "pi5": dict(cells=(2, 1), cma_ranges=[(0x0, 0x40000000)],
                mem_end={"2G": 0x80000000, "4G": 0x100000000, "8G": 0x200000000},
                dma=[(0xC0000000, 0x0, 0x40000000), (0x7C000000, 0x107C000000, 0x4000000)],
                vchiq=None),
}


def check_tree(path, board, ram):
    """The differences from FACTS, as a list of strings."""
    f = FACTS[board]
    fdt = u.load(path)
    bad = []
    ac, sc = u.cell(fdt, 0, "#address-cells"), u.cell(fdt, 0, "#size-cells")
    rm = u.node(fdt, "/reserved-memory")
    if (ac, sc) != f["cells"] or rm is None or \
            (u.cell(fdt, rm, "#address-cells"), u.cell(fdt, rm, "#size-cells")) != f["cells"]:
        bad.append("cells")
    cma = u.node(fdt, "/reserved-memory/linux,cma")
    if cma is None:
        return bad + ["no linux,cma"]
    if u.cells_to_ints(u.getprop(fdt, cma, "size") or b"", (sc,))[0] != [(64 * MiB,)]:
        bad.append("linux,cma size")
    for p in ("reusable", "linux,cma-default"):
        if not u.has(fdt, cma, p):
            bad.append("linux,cma has no " + p)
    ar = u.getprop(fdt, cma, "alloc-ranges")
    if (u.cells_to_ints(ar, (ac, sc))[0] if ar else None) != f["cma_ranges"]:
        bad.append("linux,cma alloc-ranges")
    if u.strings(u.getprop(fdt, u.node(fdt, "/__symbols__"), "cma") or b"") != ["/reserved-memory/linux,cma"]:
        bad.append("no cma label")
    if any(len(v) > 1 for v in u.phandles(fdt).values()):
        bad.append("duplicate phandles")
    soc = [o for o in u.subnodes(fdt, 0) if u.name_of(fdt, o).split("@")[0] == "soc"][0]
    dr = u.cells_to_ints(u.getprop(fdt, soc, "dma-ranges") or b"",
                         (u.cell(fdt, soc, "#address-cells"), ac, u.cell(fdt, soc, "#size-cells")))[0]
    if dr != f["dma"]:
        bad.append("/soc dma-ranges %s" % dr)
    vchiq = u.node(fdt, u.path_of(fdt, soc) + "/mailbox@7e00b840")
    compat = u.strings(u.getprop(fdt, vchiq, "compatible") or b"") if vchiq is not None else None
    if (compat[0] if compat else None) != f["vchiq"]:
        bad.append("vchiq compatible %s" % compat)
    if board == "pi4b" and u.node(fdt, "/zone_dma") is None:
        bad.append("no zone_dma")
    mem = []
    for o in u.subnodes(fdt, 0):
        if u.getprop(fdt, o, "device_type") == b"memory\0":
            mem += u.cells_to_ints(u.getprop(fdt, o, "reg"), (ac, sc))[0]
    end = f["mem_end"][ram] if isinstance(f["mem_end"], dict) else f["mem_end"]
    if not mem or max(b + s for b, s in mem) != end:
        bad.append("memory %s does not end at %#x" % ([(hex(b), hex(s)) for b, s in mem], end))
    if board == "pi4b" and (0, 0x3B400000) not in mem:
        bad.append("the Pi 4's first memory range is not 0-0x3b400000")
    return bad


def merge(base, out, dtbo, params):
    """dtmerge.py in-process: (ok, message)."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        rc = dtmerge.main(["dtmerge.py", base, out, dtbo] + params)
    return rc == 0, "; ".join(l.lstrip("* ") for l in buf.getvalue().splitlines() if l.strip())


def boot(dtb):
    fdt = u.load(dtb)
    log = []
    pools, memory, _ = pi_boot_model.model(fdt, (0x200000, 0x3000000), log.append)
    findings = pi_boot_model.verdict(fdt, pools, memory, log.append)
    return findings, log


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dtbs", required=True)
    ap.add_argument("--overlays", required=True)
    ap.add_argument("--work", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    npass = nfail = 0

    def report(ok, name, why):
        nonlocal npass, nfail
        print("%s %s: %s" % ("PASS" if ok else "FAIL", name, why))
        if ok:
            npass += 1
        else:
            nfail += 1

    for board, ram, kdtb in TREES:
        src = os.path.join(a.dtbs, kdtb + ".dtb")
        tree = os.path.join(a.work, "%s-%s.dtb" % (board, ram))
        name = "pi/%s-%s" % (board, ram)
        try:
            fdt = u.load(src)
            pi_tree.rewrite(fdt, board, pi_tree.size_arg(ram), pi_tree.BOARDS[board]["gpu_mem"])
            u.save(fdt, tree)
        except (OSError, u.FdtError, u.libfdt.FdtException) as e:
            report(False, name + "/tree", "pi_tree.py on %s: %s" % (src, e))
            continue
        wrong = check_tree(tree, board, ram)
        report(not wrong, name + "/tree",
               ("the Pi facts, from %s" % kdtb) if not wrong else "; ".join(wrong))
        sc = pi_tree.BOARDS[board]["cells"][1]
        stacks = [("fw", tree)]
        if board in PIOS_CMA:
            stacked = os.path.join(a.work, "%s-%s-pios.dtb" % (board, ram))
            ok, msg = merge(tree, stacked, resize_overlay(a.work, sc, PIOS_CMA[board]), [])
            if not ok:
                report(False, name + "/pios", "the system-pool resize failed: " + msg)
            else:
                stacks.append(("pios", stacked))
        for stack, base in stacks:
            for overlay, param_sets, expect in OVERLAYS:
                dtbo = os.path.join(a.overlays, overlay + ".dtbo")
                for params in param_sets:
                    case = "%s/%s/%s%s" % (name, stack, overlay, "," + params if params else "")
                    want = expect(board, ram, stack, params)
                    if want.startswith("refused: can't find symbol") and \
                            params not in ("", param_sets[1]):
                        continue  # on the wrong board: the default and one parameter suffice
                    if not os.path.exists(dtbo):
                        report(False, case, "no %s" % dtbo)
                        continue
                    out = os.path.join(a.work, "merged.dtb")
                    ok, msg = merge(base, out, dtbo, params.split(",") if params else [])
                    if not ok:
                        got = "refused: " + msg
                    else:
                        findings, log = boot(out)
                        got = "works" if not findings else "broken: " + "; ".join(findings)
                        if not findings:
                            got = "works (%s)" % "; ".join(l for l in log if l.startswith("heap:"))
                    if ok and not params:
                        # dtmerge, unlike fdtoverlay, exports no overlay label; a new pool
                        # comes before linux,cma (what the kernel's node order sees).
                        m = u.load(out)
                        syms = [n for n, _ in u.props(m, u.node(m, "/__symbols__"))]
                        leaked = [n for n in ("vcsm_cma_pool", "vcsm_cma_heap") if n in syms]
                        order = [u.name_of(m, o) for o in u.subnodes(m, u.node(m, "/reserved-memory"))]
                        if leaked:
                            report(False, case + "/labels", "exported %s" % leaked)
                        elif "vcsm-cma-pool" in order and \
                                order.index("vcsm-cma-pool") > order.index("linux,cma"):
                            report(False, case + "/order", "pool after linux,cma: %s" % order)
                    if want == W:
                        good = got.startswith("works")
                    else:
                        kind, _, text = want.partition(": ")
                        good = got.startswith(kind + ":") and text in got
                    report(good, case, got if good else "expected %s, got %s" % (want, got))
    print("pi-matrix: %d passed, %d failed" % (npass, nfail))
    return 1 if nfail else 0


if __name__ == "__main__":
    sys.exit(main())
