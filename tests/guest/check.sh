# SPDX-License-Identifier: GPL-2.0
# Everything `make check` runs in the guest.
. /tests/lib.sh
. /tests/heap.sh

vcsm_kmemleak_clear
heap_tests
vcsm_kmemleak_check
