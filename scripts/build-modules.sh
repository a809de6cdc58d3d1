#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build every out-of-tree module against KDIR, in build/kmod/<kernel>/ (a copy of the sources,
# so modules for different kernels never share objects and the source tree stays clean).
#
#   scripts/build-modules.sh KDIR [extra make arguments, e.g. CLIPPY=1]
# Prints the directory holding the .ko files.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
. "$top/scripts/env.sh"
kdir=$(cd "${1:?usage: build-modules.sh KDIR}" && pwd)
shift
out="${VCSM_KMOD_OUT:-$top/build/kmod/$(basename "$kdir")}"
mkdir -p "$out"
# Objects from earlier runs stay in place, so rebuilds are incremental.
srcs=("$top/Kbuild" "$top/drivers" "$top/uapi/linux")
for d in tests/vpu-sim tests/kmod; do [ -d "$top/$d" ] && srcs+=("$top/$d"); done
rsync -aR --exclude='target/' --exclude='*.o' --exclude='*.ko' --exclude='ext_bindings.rs' \
	--exclude='*.toml' --exclude='*.lock' --exclude='*.md' \
	"${srcs[@]/#$top\//$top/./}" "$out/" >/dev/null
make -C "$kdir" "${VCSM_KMAKE_ARGS[@]}" M="$out" -j"$(nproc)" "$@" modules >&2
# Test-only modules (the simulated VPU and the VCHIQ test client, see the Kbuild): a second
# kbuild pass in a directory of its own, so that the simulator's VCHIQ exports never resolve
# the driver's imports (which must come from the real vchiq.ko). Their .ko files are copied
# next to the others for the guest.
if [ -d "$top/tests/vpu-sim" ]; then
	tout="$out-tests"
	mkdir -p "$tout"
	rsync -aR --exclude='target/' --exclude='*.o' --exclude='*.ko' --exclude='ext_bindings.rs' \
		--exclude='*.toml' --exclude='*.lock' --exclude='*.md' \
		"${srcs[@]/#$top\//$top/./}" "$tout/" >/dev/null
	make -C "$kdir" "${VCSM_KMAKE_ARGS[@]}" M="$tout" VCSM_TEST_MODULES=y -j"$(nproc)" "$@" \
		modules >&2
	cp "$tout/vpu-sim.ko" "$tout/vchiq-test-client.ko" "$out/"
fi
echo "$out"
