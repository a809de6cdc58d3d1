#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Apply a device-tree overlay and its parameters the way the Raspberry Pi firmware and its
`dtmerge` do (their shared overlay library, raspberrypi/utils dtmerge/dtoverlay.c), so the
host tests see what a Pi boots with. fdtoverlay cannot: it knows no `__overrides__`.

    python3 tests/host/dtmerge.py BASE.dtb OUT.dtb OVERLAY.dtbo [param[=value] ...]
    python3 tests/host/dtmerge.py BASE.dtb OUT.dtb - [param[=value] ...]   (dtparam)

What it does, in the library's order (the behaviour is the library's; the code is ours):
1. Resolve the overlay against the base: every `__fixups__` symbol must be in the base's
   /__symbols__ ("can't find symbol" fails the overlay); a base node referenced without a
   phandle gets the next free one. Then the overlay's own phandles are moved above the
   base's largest, with `__local_fixups__` (which covers `__overrides__`).
2. Apply the parameters to the overlay (or, if the overlay has no such parameter, to the
   base's own `__overrides__`, as dtparam does). A parameter the overlay does not define
   fails the whole overlay. Parameter values: without `=` the value is "true". Integer
   targets (`prop:offset`, `.` `;` `:` `#` for 1, 2, 4, 8 bytes) take what C's
   strtoull(value, 0) reads in full (decimal, 0x-hex, and 0-prefixed octal; an empty value is
   0), or y/yes/on/true/down (1), n/no/off/false (0), up (2); anything else ("256M") is
   "invalid override value" and fails the overlay. Values are truncated to the target's
   width. Literal targets (`prop:0=`, <cell>) ignore the value. `prop?` / `prop!` are
   booleans (present / absent, or inverted), `prop[` a hex byte string, a bare `prop` a
   string (`status` maps booleans to "okay"/"disabled"), and a <0> phandle an overlay-wide
   fragment switch (+N, -N, =N, !N).
3. Merge each `fragment@N` / `fragment-N` whose `__overlay__` is not `__dormant__`, in order:
   `target-path` must name a node of the base and `target` a phandle of the base ("invalid
   target-path" / "invalid target" fail the overlay); properties overwrite (bootargs
   appends), nodes merge by name, new nodes are added before the target's existing children
   (libfdt's fdt_add_subnode), top-level phandles are not copied.
4. The overlay's /__symbols__ are dropped unless an /__exports__ node names them: unlike
   fdtoverlay, its labels do not appear in the merged tree.
On any refusal it prints "* <reason>" and exits 1 without writing OUT.
"""

import os
import re
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fdtutil as u  # noqa: E402

Refused = u.FdtError

INT_SEPS = {".": 1, ";": 2, ":": 4, "#": 8}
SEPS = ".;:#?![{="


# ---------------------------------------------------------------- step 1: fixups, phandles

def apply_fixup_strings(fdt, entries, value, relative):
    for entry in entries:
        try:
            path, prop, offset = entry.rsplit(":", 2)
            offset = int(offset, 10)
        except ValueError:
            raise Refused("bad fixup '%s'" % entry)
        off = u.node(fdt, path)
        if off is None:
            raise Refused("fixup node '%s' not found" % path)
        raw = u.getprop(fdt, off, prop)
        if raw is None or offset > len(raw) - 4:
            raise Refused("fixup '%s' is outside its property" % entry)
        old = struct.unpack(">I", raw[offset:offset + 4])[0]
        new = (old + value) & 0xFFFFFFFF if relative else value
        raw = raw[:offset] + struct.pack(">I", new) + raw[offset + 4:]
        fdt.setprop(u.node(fdt, path), prop, raw)


def local_fixups_node(fdt, fix_path, target_path, inc):
    """New-style __local_fixups__: a tree mirroring the overlay; each property lists the byte
    offsets of phandle cells to relocate in the same-named property of the mirrored node."""
    fix = u.node(fdt, fix_path)
    for name, raw in u.props(fdt, fix):
        tgt = u.node(fdt, target_path)
        data = u.getprop(fdt, tgt, name)
        if data is None:
            raise Refused("local fixup of missing %s/%s" % (target_path, name))
        for pos in u.u32s(raw):
            if pos + 4 > len(data):
                raise Refused("local fixup outside %s/%s" % (target_path, name))
            v = (struct.unpack(">I", data[pos:pos + 4])[0] + inc) & 0xFFFFFFFF
            data = data[:pos] + struct.pack(">I", v) + data[pos + 4:]
        fdt.setprop(u.node(fdt, target_path), name, data)
    for sub in [u.name_of(fdt, s) for s in u.subnodes(fdt, u.node(fdt, fix_path))]:
        child = (target_path.rstrip("/") + "/" + sub)
        if u.node(fdt, child) is None:
            raise Refused("local fixup for missing node %s" % child)
        local_fixups_node(fdt, fix_path + "/" + sub, child, inc)


class Base:
    def __init__(self, fdt):
        self.fdt = fdt
        self.max_phandle = u.max_phandle(fdt)


def fixup_overlay(base, ov):
    fixups = u.node(ov, "/__fixups__")
    if fixups is not None:
        entries = u.props(ov, fixups)
        if entries:
            symbols = u.node(base.fdt, "/__symbols__")
            if symbols is None:
                raise Refused("no symbols found")
        for sym, raw in entries:
            if sym.startswith("/"):
                target = sym
                kind = "path"
            else:
                t = u.getprop(base.fdt, u.node(base.fdt, "/__symbols__"), sym)
                if t is None:
                    raise Refused("can't find symbol '%s'" % sym)
                target = u.strings(t)[0]
                kind = "symbol"
            toff = u.node(base.fdt, target)
            if toff is None:
                raise Refused("%s '%s' is invalid" % (kind, sym))
            ph = u.cell(base.fdt, toff, "phandle") or u.cell(base.fdt, toff, "linux,phandle")
            if not ph:
                base.max_phandle += 1
                ph = base.max_phandle
                base.fdt.setprop_u32(toff, "phandle", ph)
            apply_fixup_strings(ov, u.strings(raw), ph, relative=False)
    # The overlay's own phandles, moved above the base's.
    inc = base.max_phandle
    for path in [u.path_of(ov, o) for o in u.all_nodes(ov)]:
        off = u.node(ov, path)
        for prop in ("phandle", "linux,phandle"):
            v = u.cell(ov, off, prop)
            if v is not None:
                ov.setprop_u32(u.node(ov, path), prop, v + inc)
    lf = u.node(ov, "/__local_fixups__")
    if lf is not None:
        old = u.getprop(ov, lf, "fixup")
        if old is not None:
            apply_fixup_strings(ov, u.strings(old), inc, relative=True)
        else:
            local_fixups_node(ov, "/__local_fixups__", "/", inc)


# ---------------------------------------------------------------- step 2: parameters

def strtoull(s):
    """C strtoull(s, &end, 0) when it consumes all of s; None otherwise."""
    if s == "":
        return 0
    m = re.fullmatch(r"[ \t\n\r\f\v]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", s)
    if not m:
        return None
    v = int(m.group(2), 0) if not re.fullmatch(r"0[0-7]+", m.group(2)) else int(m.group(2), 8)
    v = min(v, (1 << 64) - 1)
    return (-v) & ((1 << 64) - 1) if m.group(1) == "-" else v


def int_value(value, overlay_type=False):
    v = strtoull(value)
    if v is not None:
        return v
    if value in ("y", "yes", "on", "true", "down"):
        return 1
    if value in ("n", "no", "off", "false"):
        return 0
    if value == "up":
        return 2
    if overlay_type:
        return 1 if value else 0
    raise Refused("invalid override value '%s'" % value)


def parse_override(raw):
    """Yield (phandle, target string, literal) from an __overrides__ property, where literal
    is None, ("str", s) or ("cell", n)."""
    pos = 0
    while pos < len(raw):
        if len(raw) - pos < 6:
            raise Refused("override data is truncated or mangled")
        ph = struct.unpack(">I", raw[pos:pos + 4])[0]
        pos += 4
        end = raw.find(b"\0", pos)
        if end < 0:
            raise Refused("override string is not NUL-terminated")
        target = raw[pos:end].decode()
        pos = end + 1
        literal = None
        if ph != 0:
            t = len(target) if not re.search(r"[={]", target) else re.search(r"[={]", target).start()
            if t < len(target):
                kind, lit = target[t], target[t + 1:]
                if kind == "{":
                    raise Refused("lookup-table overrides are not supported by this tool")
                name_len = len(re.split(r"[.;:#?!\[{=]", target, 1)[0])
                sep = target[name_len] if name_len < len(target) else ""
                is_string = sep in ("", "=")
                if lit or is_string or sep == "[":
                    if is_string and not lit:
                        if pos < len(raw):
                            e2 = raw.find(b"\0", pos)
                            if e2 < 0:
                                raise Refused("override string is not NUL-terminated")
                            lit = raw[pos:e2].decode()
                            pos = e2 + 1
                    literal = ("str", lit)
                else:
                    if pos + 4 > len(raw):
                        raise Refused("truncated cell literal")
                    literal = ("cell", struct.unpack(">I", raw[pos:pos + 4])[0])
                    pos += 4
                target = target[:t]
        yield ph, target, literal


def set_fragment_state(ov, frag, active):
    for name in ("/fragment@%d" % frag, "/fragment-%d" % frag):
        f = u.node(ov, name)
        if f is not None:
            break
    else:
        raise Refused("fragment %d not found" % frag)
    want, other = ("__overlay__", "__dormant__") if active else ("__dormant__", "__overlay__")
    sub = u.node(ov, u.path_of(ov, f) + "/" + other)
    if sub is not None:
        ov.set_name(sub, want)


def apply_param(dtb, name, value, raw):
    for ph, target, literal in parse_override(raw):
        if ph == 0:  # overlay-wide: fragment switches
            v = int_value(value, overlay_type=True)
            for m in re.finditer(r"([+\-=!])(\d+)", target):
                op, n = m.group(1), int(m.group(2))
                active = op == "+" or (op == "=" and v != 0) or (op == "!" and v == 0)
                set_fragment_state(dtb, n, active)
            if not re.fullmatch(r"([+\-=!]\d+)+", target):
                raise Refused("invalid overlay override '%s'" % target)
            continue
        node_off = dtb.node_offset_by_phandle(ph, u.QUIET)
        if node_off < 0:
            raise Refused("phandle %d not found" % ph)
        path = u.path_of(dtb, node_off)
        m = re.match(r"([^.;:#?!\[]*)([.;:#?!\[]?)(.*)", target)
        prop, sep, rest = m.group(1), m.group(2), m.group(3)
        val = value
        if literal is not None:
            val = literal[1] if literal[0] == "str" else str(literal[1])
        if sep in INT_SEPS:
            width = INT_SEPS[sep]
            offset = int(re.match(r"\d*", rest).group(0) or 0)
            n = int_value(val) & ((1 << (8 * width)) - 1)
            old = u.getprop(dtb, node_off, prop) or b""
            if len(old) < offset + width:
                if prop == "reg":
                    continue  # the library never creates or extends "reg"
                old = old + bytes(offset + width - len(old))
            new = old[:offset] + n.to_bytes(width, "big") + old[offset + width:]
            dtb.setprop(node_off, prop, new)
            if prop == "reg" and offset == 0 and "@" in u.name_of(dtb, node_off):
                dtb.set_name(u.node(dtb, path), "%s@%x" % (u.name_of(dtb, node_off).split("@")[0],
                                                          n & 0xFFFFFFFF))
        elif sep in ("?", "!"):
            on = bool(int_value(val)) ^ (sep == "!")
            if on:
                dtb.setprop(node_off, prop, b"")
            elif u.has(dtb, node_off, prop):
                dtb.delprop(node_off, prop)
        elif sep == "[":
            hexs = re.sub(r"[: \t]", "", val)
            if not re.fullmatch(r"([0-9a-fA-F]{2})*", hexs) or len(hexs) > 64:
                raise Refused("invalid bytestring '%s'" % val)
            dtb.setprop(node_off, prop, bytes.fromhex(hexs))
        else:  # string
            if "\\" in val:
                raise Refused("escapes in string values are not supported by this tool")
            if prop == "status":
                if val in ("y", "yes", "on", "true", "enable", "1"):
                    val = "okay"
                elif val in ("n", "no", "off", "false", "0"):
                    val = "disabled"
            if prop == "name":
                dtb.set_name(node_off, val)
            elif prop == "bootargs" and (u.getprop(dtb, node_off, prop) or b"\0")[:1] != b"\0":
                old = u.getprop(dtb, node_off, prop)
                dtb.setprop(node_off, prop, old[:-1] + b" " + val.encode() + b"\0")
            else:
                dtb.setprop_str(node_off, prop, val)


def find_override(dtb, name):
    ov = u.node(dtb, "/__overrides__")
    if ov is None:
        return None
    return u.getprop(dtb, ov, name)


def apply_params(base, ov, params):
    for p in params:
        name, eq, value = p.partition("=")
        if not eq:
            value = "true"
        raw = find_override(ov, name) if ov is not None else None
        if raw is not None:
            apply_param(ov, name, value, raw)
            continue
        raw = find_override(base.fdt, name)
        if raw is not None:
            apply_param(base.fdt, name, value, raw)
            continue
        raise Refused("unknown param '%s'" % name)


# ---------------------------------------------------------------- step 3: merge

def merge_node(base, tpath, ov, opath, depth):
    for name, raw in u.props(ov, u.node(ov, opath)):
        if name == "name" or (depth == 0 and name in ("phandle", "linux,phandle")):
            continue
        toff = u.node(base, tpath)
        old = u.getprop(base, toff, name)
        if name == "bootargs" and old and old[:1] != b"\0":
            base.setprop(toff, name, old[:-1] + b" " + raw)
        else:
            base.setprop(toff, name, raw)
    for sub in [u.name_of(ov, s) for s in u.subnodes(ov, u.node(ov, opath))]:
        child = tpath.rstrip("/") + "/" + sub
        if u.node(base, child) is None:
            base.add_subnode(u.node(base, tpath), sub)
        merge_node(base, child, ov, opath.rstrip("/") + "/" + sub, depth + 1)


def merge_overlay(base, ov):
    # Drop the overlay's symbols unless exported.
    sym = u.node(ov, "/__symbols__")
    if sym is not None:
        exports = u.node(ov, "/__exports__")
        keep = {n for n, _ in u.props(ov, exports)} if exports is not None else set()
        for name, _ in u.props(ov, sym):
            if name not in keep:
                ov.delprop(u.node(ov, "/__symbols__"), name)
        if keep:
            raise Refused("exported overlay symbols are not supported by this tool")
    frags = []
    for sub in u.subnodes(ov, 0):
        name = u.name_of(ov, sub)
        if name.startswith("fragment@") or name.startswith("fragment-"):
            frags.append(u.path_of(ov, sub))
    for fpath in frags:
        f = u.node(ov, fpath)
        if u.node(ov, fpath + "/__overlay__") is None:
            if u.node(ov, fpath + "/__dormant__") is None:
                print("* no overlay in fragment %s" % fpath[10:], file=sys.stderr)
            continue
        tp = u.getprop(ov, f, "target-path")
        if tp is not None:
            tpath = tp.rstrip(b"\0").decode()
            if u.node(base.fdt, tpath) is None:
                raise Refused("invalid target-path '%s'" % tpath)
        else:
            t = u.getprop(ov, f, "target")
            if t is None:
                raise Refused("no target or target-path")
            if len(t) != 4:
                raise Refused("bad target in %s" % fpath)
            ph = struct.unpack(">I", t)[0]
            if u.node(ov, fpath) is not None and ov.node_offset_by_phandle(ph, u.QUIET) >= 0:
                raise Refused("intra-overlay fragments are not supported by this tool")
            toff = base.fdt.node_offset_by_phandle(ph, u.QUIET)
            if toff < 0:
                raise Refused("invalid target (phandle %d)" % ph)
            tpath = u.path_of(base.fdt, toff)
        if u.name_of(base.fdt, u.node(base.fdt, tpath)) == "aliases":
            raise Refused("fragments targeting /aliases are not supported by this tool")
        merge_node(base.fdt, tpath, ov, fpath + "/__overlay__", 0)


def main(argv):
    args = [a for a in argv[1:] if a not in ("-d", "--debug")]
    if len(args) < 3:
        sys.exit(__doc__)
    base_file, out_file, ov_file, params = args[0], args[1], args[2], args[3:]
    try:
        base = Base(u.load(base_file))
        if ov_file == "-":
            apply_params(base, None, params)
        else:
            ov = u.load(ov_file)
            fixup_overlay(base, ov)
            apply_params(base, ov, params)
            merge_overlay(base, ov)
        u.save(base.fdt, out_file)
    except (Refused, u.libfdt.FdtException) as e:
        print("* %s" % e)
        print("* failed to apply overlay '%s'" % os.path.basename(ov_file))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
