# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# Only the simulated-VPU tests (tests/guest/vpusim.sh), with the kmemleak check: for working on
# the simulator without running everything (tests/qemu/run.sh --script vpusim-dev).
# shellcheck source=tests/guest/lib.sh
. /tests/lib.sh
# shellcheck source=tests/guest/vpusim.sh
. /tests/vpusim.sh

vcsm_kmemleak_clear
vpusim_tests
vcsm_kmemleak_check
