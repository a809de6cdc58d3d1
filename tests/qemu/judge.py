#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Judge a guest console log: count @@VCSM PASS/FAIL lines and turn every kernel report
(BUG, WARNING, Oops, KASAN, lockdep, kmemleak, hung task) into a failure of the test that was
running when it appeared. Prints one line per failure, a summary, and exits non-zero on any
failure."""

import argparse
import re
import sys

MARK = re.compile(r"@@VCSM (RUN|PASS|FAIL|SKIP|BENCH|END|BOOTED)\b ?(.*)")
KERNEL_REPORTS = [
    re.compile(p)
    for p in (
        r"\bBUG:",
        r"\bWARNING:",
        r"\bOops\b",
        r"Internal error:",
        r"\bKASAN\b",
        r"possible circular locking dependency",
        r"possible recursive locking",
        r"inconsistent lock state",
        r"suspicious RCU usage",
        r"\blockdep\b.*(?:warning|BUG|turning off)",
        r"kmemleak: \d+ new suspected memory leaks",
        r"unreferenced object 0x",
        r"Kernel panic",
        r"blocked for more than \d+ seconds",
        r"DMA-API: .*(?:driver|device) (?:frees|tries|has)",
        r"Call trace:",
    )
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("log")
    ap.add_argument("--hung", type=int, default=0)
    ap.add_argument("--elapsed", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=0)
    args = ap.parse_args()

    with open(args.log, errors="replace") as f:
        lines = f.read().splitlines()

    passed, failed = [], []
    current = "boot"
    reported = set()
    booted = ended = False
    for line in lines:
        m = MARK.search(line)
        if m:
            kind, rest = m.group(1), m.group(2).strip()
            if kind == "RUN":
                current = rest
            elif kind == "PASS":
                passed.append(rest)
                current = f"after {rest}"
            elif kind == "FAIL":
                failed.append(rest)
                current = f"after {rest.split(':', 1)[0]}"
            elif kind == "SKIP":
                # A test that could not run is not a pass.
                failed.append(f"{rest} (skipped)")
                current = f"after {rest.split(':', 1)[0]}"
            elif kind == "BOOTED":
                booted = True
                current = "guest start-up"
            elif kind == "END":
                ended = True
            continue
        for pat in KERNEL_REPORTS:
            if pat.search(line):
                key = (current, pat.pattern)
                if key not in reported:
                    reported.add(key)
                    failed.append(f"kernel-report/{current}: {line.strip()}")
                break

    if not booted:
        failed.append("boot: the guest never reached /init")
    if args.hung:
        failed.append(f"timeout: guest still running after {args.timeout} s (last test: {current})")
    elif not ended:
        failed.append(f"guest: no end marker (crashed or powered off early; last test: {current})")

    for name in failed:
        print(f"FAIL {name}")
    if failed and (args.hung or not ended):
        print("---- last 40 console lines ----")
        for line in lines[-40:]:
            print(line)
        print("----")
    print(f"guest finished in {args.elapsed} s")
    print(f"qemu: {len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
