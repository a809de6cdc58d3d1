# SPDX-License-Identifier: GPL-2.0
# Only the simulated-VPU tests (tests/guest/vpusim.sh), with the kmemleak check: for working on
# the simulator without running everything (tests/qemu/run.sh --script vpusim-dev).
. /tests/lib.sh
. /tests/vpusim.sh

vcsm_kmemleak_clear
vpusim_tests
vcsm_kmemleak_check
