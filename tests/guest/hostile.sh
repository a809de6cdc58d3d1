# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# The hostile-user boot of `make check` (issue 9): the suite attacks itself, so that the next
# hole is found here and not by a user. Each phase starts with the modules loaded and
# /dev/vcsm-cma ready, and ends with the driver holding no buffer, the simulated VPU no handle
# and every CMA area's used count back at its start (lib.sh's vcsm_settled):
#
# - fuzz.sh: a seeded ioctl fuzzer as uid 1000 in group video under the udev rule's modes, and a
#   uid outside the group (EACCES everywhere);
# - faults.sh: fail-nth fault injection stepped through every entry point;
# - chaos.sh: processes killed at random points, fork, mmap races, unbind/rmmod loops.
#
# Then the modules must unload, and kmemleak must find nothing.
# shellcheck source=tests/guest/lib.sh
. /tests/lib.sh
# shellcheck source=tests/guest/heap.sh
. /tests/heap.sh
# shellcheck source=tests/guest/vcsm.sh
. /tests/vcsm.sh
# shellcheck source=tests/guest/fuzz.sh
. /tests/fuzz.sh
# shellcheck source=tests/guest/faults.sh
. /tests/faults.sh
# shellcheck source=tests/guest/chaos.sh
. /tests/chaos.sh

vcsm_kmemleak_clear
vc_test load t_vc_load || exit 0
fuzz_tests
fault_tests
chaos_tests
vc_test unload t_vc_unload
vcsm_kmemleak_check
