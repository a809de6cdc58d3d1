# SPDX-License-Identifier: GPL-2.0
# Everything `make check` runs in the guest.
. /tests/lib.sh
. /tests/heap.sh
. /tests/vpusim.sh
. /tests/vcsm.sh
. /tests/tool.sh
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
