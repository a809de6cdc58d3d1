#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Host tests of judge.py: the harness must turn kernel reports, skips, hangs and crashes into
failures attributed to the right test. Prints `judge: N passed, M failed`."""

import os
import subprocess
import sys
import tempfile
import unittest

JUDGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "judge.py")


def judge(log: str, *extra: str) -> tuple[int, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False) as f:
        f.write(log)
        path = f.name
    try:
        p = subprocess.run([sys.executable, JUDGE, path, *extra], capture_output=True, text=True)
        return p.returncode, p.stdout
    finally:
        os.unlink(path)


BOOT = "Booting Linux\n@@VCSM BOOTED 6.12.117\n"
END = "@@VCSM END rc=0\n"


class Judge(unittest.TestCase):
    def test_clean_run_passes(self):
        rc, out = judge(BOOT + "@@VCSM RUN a\n@@VCSM PASS a\n@@VCSM RUN b\n@@VCSM PASS b\n" + END)
        self.assertEqual(rc, 0)
        self.assertIn("qemu: 2 passed, 0 failed", out)

    def test_fail_line_counts(self):
        rc, out = judge(BOOT + "@@VCSM RUN a\n@@VCSM FAIL a: broken\n" + END)
        self.assertEqual(rc, 1)
        self.assertIn("FAIL a: broken", out)
        self.assertIn("qemu: 0 passed, 1 failed", out)

    def test_kernel_warning_names_running_test(self):
        log = BOOT + "@@VCSM RUN heap/x\n[   1.0] WARNING: CPU: 0 PID: 4 at mm/foo.c:1 bar\n" \
            "@@VCSM PASS heap/x\n" + END
        rc, out = judge(log)
        self.assertEqual(rc, 1)
        self.assertIn("kernel-report/heap/x: ", out)
        self.assertIn("qemu: 1 passed, 1 failed", out)

    def test_kasan_and_kmemleak_and_lockdep_fail(self):
        for line in ("BUG: KASAN: slab-use-after-free in foo",
                     "kmemleak: 3 new suspected memory leaks (see /sys/kernel/debug/kmemleak)",
                     "WARNING: possible circular locking dependency detected",
                     "Unable to handle kernel NULL pointer dereference; Internal error: Oops: 96000005"):
            rc, out = judge(BOOT + "@@VCSM RUN t\n" + line + "\n@@VCSM PASS t\n" + END)
            self.assertEqual(rc, 1, line)

    def test_report_during_boot_fails(self):
        rc, out = judge("BUG: sleeping function called from invalid context\n" + BOOT + END)
        self.assertEqual(rc, 1)
        self.assertIn("kernel-report/boot", out)

    def test_skip_is_a_failure(self):
        rc, out = judge(BOOT + "@@VCSM SKIP heap/y/alloc-64M: region too small\n" + END)
        self.assertEqual(rc, 1)
        self.assertIn("(skipped)", out)

    def test_hang_is_reported_with_tail(self):
        rc, out = judge(BOOT + "@@VCSM RUN slow\n", "--hung", "1", "--timeout", "5")
        self.assertEqual(rc, 1)
        self.assertIn("timeout: guest still running after 5 s (last test: slow)", out)
        self.assertIn("last 40 console lines", out)

    def test_crash_without_end_marker(self):
        rc, out = judge(BOOT + "@@VCSM RUN t\n")
        self.assertEqual(rc, 1)
        self.assertIn("no end marker", out)

    def test_no_boot(self):
        rc, out = judge("qemu: could not load kernel\n")
        self.assertEqual(rc, 1)
        self.assertIn("never reached /init", out)

    def test_marker_inside_interleaved_line(self):
        log = BOOT + "@@VCSM RUN a\n[ 2.0] random: crng init done@@VCSM PASS a\n" + END
        rc, out = judge(log)
        self.assertEqual(rc, 0)


if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=1).run(unittest.defaultTestLoader.loadTestsFromTestCase(Judge))
    failed = len(result.failures) + len(result.errors)
    print(f"judge: {result.testsRun - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
