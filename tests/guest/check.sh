# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# Everything `make check` runs in the guest.
# shellcheck source=tests/guest/lib.sh
. /tests/lib.sh
# shellcheck source=tests/guest/heap.sh
. /tests/heap.sh
# shellcheck source=tests/guest/vpusim.sh
. /tests/vpusim.sh
# shellcheck source=tests/guest/vcsm.sh
. /tests/vcsm.sh
# shellcheck source=tests/guest/tool.sh
. /tests/tool.sh
# shellcheck source=tests/guest/fuzz.sh
. /tests/fuzz.sh

vcsm_kmemleak_clear
# The boot has the vcsm-far-pool-virt overlay (scripts/check.sh).
HEAP_FAR_POOL=1
heap_tests
vpusim_tests
vcsm_tests
tool_tests
# tool/setup left the modules loaded and /dev/vcsm-cma ready.
fuzz_tests
vcsm_kmemleak_check
