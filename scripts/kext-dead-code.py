#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Shared kernel code's dead code (kernel-ext, the test modules' support/), judged across every
module that includes it (lint-kext-dead-code).

Each module compiles its own copy of the kernel-ext files it includes (`#[path]` in its crate
root or its kext.rs) and uses part of each, so rustc's dead-code lint, which sees one module at a
time, is allowed on those includes in normal builds. `scripts/lint.sh` builds every module with
`VCSM_KEXT_AUDIT=1` (the lint on, diagnostics as JSON) and runs this on the build's output: an
item is dead when every module that includes its file reports it so.

    kext-dead-code.py TOP BUILD_LOG     exit status 1 if anything is dead
"""
import json
import os
import re
import sys

# The crates that include kernel-ext files: their directories, relative to the top.
CRATES = ["drivers/vc-sm-cma", "drivers/cma-heap", "tests/kmod", "tests/vpu-sim"]
PATH_ATTR = re.compile(r'#\[path = "([^"]*(?:kernel-ext/[^"]+|support/mod)\.rs)"\]')


def includes(top):
    """Crate directory -> the kernel-ext files (relative to the top) it includes."""
    out = {}
    for crate in CRATES:
        files = set()
        d = os.path.join(top, crate)
        for name in os.listdir(d):
            if not name.endswith(".rs"):
                continue
            with open(os.path.join(d, name), encoding="utf-8") as f:
                for m in PATH_ATTR.finditer(f.read()):
                    path = os.path.normpath(os.path.join(crate, m.group(1)))
                    if path.endswith("/mod.rs"):
                        # A directory module (the test modules' support/): all its files.
                        sub = os.path.dirname(path)
                        files.update(
                            os.path.join(sub, n)
                            for n in os.listdir(os.path.join(top, sub))
                            if n.endswith(".rs")
                        )
                    else:
                        files.add(path)
        out[crate] = files
    return out


def crate_and_file(path):
    """A path in a build copy -> (crate, path relative to the top): a shared file through its
    includer (`.../drivers/cma-heap/../kernel-ext/x.rs` -> drivers/cma-heap and
    drivers/kernel-ext/x.rs), or a file inside a crate's own directory."""
    head, sep, _ = path.partition("/../")
    for crate in CRATES:
        if sep:
            if not head.endswith("/" + crate):
                continue
            root = head[: -len(crate)]
        else:
            at = path.rfind("/" + crate + "/")
            if at < 0:
                continue
            root = path[: at + 1]
        return crate, os.path.relpath(os.path.normpath(path), root)
    return None


def main():
    top, log = sys.argv[1], sys.argv[2]
    users = includes(top)
    if not all(users.values()):
        print("kext-dead-code: a crate includes no kernel-ext file:", users)
        return 2
    dead = {}  # (file, line) -> (message, crates reporting it)
    diagnostics = 0
    with open(log, encoding="utf-8", errors="replace") as f:
        for line in f:
            if not line.startswith("{"):
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue
            if (d.get("code") or {}).get("code") != "dead_code":
                continue
            diagnostics += 1
            for span in d["spans"]:
                where = crate_and_file(span["file_name"]) if span["is_primary"] else None
                if where is None:
                    continue
                crate, path = where
                text = span["text"][0]["text"].strip() if span["text"] else ""
                key = (path, span["line_start"])
                dead.setdefault(key, [text, set()])[1].add(crate)
    found = 0
    for (path, line), (text, crates) in sorted(dead.items()):
        including = {c for c, files in users.items() if path in files}
        if including and crates >= including:
            found += 1
            print(f"{path}:{line}: used by no module ({', '.join(sorted(including))}): {text}")
    files = sorted(set().union(*users.values()))
    print(
        f"kext-dead-code: {len(files)} shared files in {len(CRATES)} modules, "
        f"{diagnostics} per-module dead-code reports, {found} item(s) no module uses"
    )
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
