# SPDX-License-Identifier: GPL-2.0
"""Small helpers over pylibfdt (Debian package python3-libfdt) shared by the host tools
pi_tree.py, dtmerge.py and pi_boot_model.py."""

import struct
import sys

try:
    import libfdt
except ImportError:  # a pyenv/venv python first on PATH does not see Debian's dist-packages
    sys.path.append("/usr/lib/python3/dist-packages")
    try:
        import libfdt
    except ImportError:
        sys.exit("python3-libfdt is not installed (apt-get install python3-libfdt)")

QUIET = [libfdt.NOTFOUND]


class FdtError(Exception):
    """A refusal with a message, as the tools print it."""


def load(path, extra=0x20000):
    with open(path, "rb") as f:
        data = f.read()
    fdt = libfdt.Fdt(bytearray(data))
    fdt.resize(len(data) + extra)
    return fdt


def save(fdt, path):
    fdt.pack()
    with open(path, "wb") as f:
        f.write(bytes(fdt.as_bytearray()))


def node(fdt, path):
    """Offset of PATH, or None."""
    off = fdt.path_offset(path, QUIET)
    return off if off >= 0 else None


def getprop(fdt, off, name):
    """Raw bytes of a property, or None."""
    # Not fdt.getprop(): in Debian's pylibfdt 1.6.1 a lookup of a missing property drops a
    # reference to None each time, and the interpreter aborts after a few thousand.
    p = fdt.first_property_offset(off, QUIET)
    while p >= 0:
        prop = fdt.get_property_by_offset(p)
        if prop.name == name:
            return bytes(prop)
        p = fdt.next_property_offset(p, QUIET)
    return None


def has(fdt, off, name):
    return getprop(fdt, off, name) is not None


def u32s(raw):
    return list(struct.unpack(">%dI" % (len(raw) // 4), raw[: len(raw) // 4 * 4]))


def cells_to_ints(raw, widths):
    """Decode RAW as repeated tuples of numbers WIDTHS cells wide. Returns (tuples, rest)
    where rest is the number of left-over bytes (non-zero: malformed)."""
    words = u32s(raw)
    step = sum(widths)
    out = []
    i = 0
    while i + step <= len(words):
        t = []
        for w in widths:
            v = 0
            for _ in range(w):
                v = (v << 32) | words[i]
                i += 1
            t.append(v)
        out.append(tuple(t))
    return out, len(raw) - i * 4


def ints_to_cells(tuples, widths):
    words = []
    for t in tuples:
        for v, w in zip(t, widths):
            if v >> (32 * w):
                raise FdtError("value %#x does not fit in %d cell(s)" % (v, w))
            for k in reversed(range(w)):
                words.append((v >> (32 * k)) & 0xFFFFFFFF)
    return struct.pack(">%dI" % len(words), *words)


def cell(fdt, off, name, default=None):
    raw = getprop(fdt, off, name)
    if raw is None or len(raw) != 4:
        return default
    return struct.unpack(">I", raw)[0]


def name_of(fdt, off):
    return fdt.get_name(off)


def path_of(fdt, off):
    parts = []
    while off > 0:
        parts.append(fdt.get_name(off))
        off = fdt.parent_offset(off)
    return "/" + "/".join(reversed(parts))


def subnodes(fdt, off):
    out = []
    sub = fdt.first_subnode(off, QUIET)
    while sub >= 0:
        out.append(sub)
        sub = fdt.next_subnode(sub, QUIET)
    return out


def props(fdt, off):
    """[(name, bytes)] of a node, in order."""
    out = []
    p = fdt.first_property_offset(off, QUIET)
    while p >= 0:
        prop = fdt.get_property_by_offset(p)
        out.append((prop.name, bytes(prop)))
        p = fdt.next_property_offset(p, QUIET)
    return out


def all_nodes(fdt, off=0):
    """Every node offset under OFF (included), depth first in tree order."""
    out = [off]
    for sub in subnodes(fdt, off):
        out.extend(all_nodes(fdt, sub))
    return out


def phandles(fdt):
    """{phandle: [paths]} over the whole tree (phandle and linux,phandle)."""
    out = {}
    for off in all_nodes(fdt):
        for prop in ("phandle", "linux,phandle"):
            v = cell(fdt, off, prop)
            if v is not None:
                paths = out.setdefault(v, [])
                p = path_of(fdt, off)
                if p not in paths:
                    paths.append(p)
    return out


def max_phandle(fdt):
    best = 0
    for off in all_nodes(fdt):
        for prop in ("phandle", "linux,phandle"):
            v = cell(fdt, off, prop)
            if v is not None and v > best:
                best = v
    return best


def strings(raw):
    return [s.decode() for s in raw.split(b"\0")[:-1]] if raw else []


def mem_reserve(fdt):
    """The DTB header's memory reservation block (/memreserve/): [(base, size)]. Read from the
    blob: pylibfdt's get_mem_rsv is unreliable in Debian's 1.6.1."""
    blob = bytes(fdt.as_bytearray())
    off = struct.unpack(">I", blob[16:20])[0]
    out = []
    while True:
        base, size = struct.unpack(">QQ", blob[off:off + 16])
        if base == 0 and size == 0:
            return out
        out.append((base, size))
        off += 16
