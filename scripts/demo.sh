#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make demo`: set up, build, boot the QEMU arm64 guest with our overlay and show the suite at
# work in a narrated session. Exits 0 only if every step held.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/lib.sh
. "$top/scripts/lib.sh"
echo "Setting up (first run: packages, a Rust-enabled arm64 kernel build of ~10 min, cached after)."
must deps scripts/install-deps.sh
must kernel-debug scripts/kernel.sh build debug
kdir=$(scripts/kernel.sh kdir debug)
must modules scripts/build-modules.sh "$kdir"
must guest-programs scripts/guest-build.sh "$kdir" "$top/build/guest-bin"
must dtbs dts-overlays/build.sh "$top/build/dtbs"
step demo-guest tests/qemu/run.sh --kdir "$kdir" --modules "$top/build/kmod/$(basename "$kdir")" \
	--bin "$top/build/guest-bin" --dtbo "$top/build/dtbs/vcsm-cma-heap-virt.dtbo" \
	--dtbo "$top/build/dtbs/vpu-sim-virt.dtbo" --script demo --timeout 600 --out "$top/build/qemu-demo"
echo
echo "What happened in the guest:"
grep -a 'DEMO: ' "$top/build/qemu-demo/demo/console.txt" | sed 's/^.*DEMO: /  /'
echo
if [ "$VCSM_FAILED" -eq 0 ]; then
	echo "Summary: every step held ($VCSM_PASSED checks). Console log: build/qemu-demo/demo/console.txt"
else
	echo "Summary: $VCSM_FAILED step(s) failed; see build/logs/demo-guest.log"
fi
vcsm_summary
[ "$VCSM_FAILED" -eq 0 ]
