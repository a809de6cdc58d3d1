#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Cross-build everything that runs in the guest, statically for aarch64, into OUTDIR:
# our Rust test programs and tools, and the kernel's own dmabuf-heaps selftest.
#   scripts/guest-build.sh KDIR OUTDIR
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
. "$top/scripts/env.sh"
kdir=$(cd "$1" && pwd)
out=$2
mkdir -p "$out"
target=aarch64-unknown-linux-gnu
(cd "$top/userspace" && RUSTC=/usr/bin/rustc cargo build --release --locked --target $target)
find "$top/userspace/target/$target/release" -maxdepth 1 -type f -perm -u+x -exec cp {} "$out/" \;
src=$(readlink -f "$kdir/source")
aarch64-linux-gnu-gcc -static -O2 -Wall -I"$kdir/usr-headers/include" \
	-I"$src/tools/testing/selftests" -o "$out/dmabuf-heap" \
	"$src/tools/testing/selftests/dmabuf-heaps/dmabuf-heap.c"
ls "$out"
