# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Toolchain environment shared by every build script. Source it, do not run it.
#
# The kernel must be built and its modules linked with one and the same rustc: Debian's
# rustc-web (with rust-web-src). The rustup rustc that is usually first on PATH has no
# rust-src, so it is never used for kernel code.

VCSM_CACHE=${VCSM_CACHE:-$HOME/.cache/vcsm}
VCSM_TOOLS=${VCSM_TOOLS:-$VCSM_CACHE/tools}
export VCSM_CACHE VCSM_TOOLS

# Each setting may be preset by the caller (e.g. DKMS building against a Pi kernel made with
# other tools); the defaults are the test kernel's toolchain.
# clang/LLVM 19 (bookworm): Linux 7.3 needs >= 17, and 19 builds 6.12 as well, so one
# toolchain serves both kernels.
export PATH="/usr/lib/llvm-19/bin:$VCSM_TOOLS/bin:$PATH"
# bindgen's libclang, the same LLVM (bindgen would otherwise take the newest it finds).
export LIBCLANG_PATH=${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}
export ARCH=${ARCH:-arm64}
export LLVM=${LLVM:-1}
export RUSTC=${RUSTC:-/usr/bin/rustc}
export HOSTRUSTC=${HOSTRUSTC:-$RUSTC}
if [ -z "${BINDGEN:-}" ]; then
	BINDGEN="$VCSM_TOOLS/bin/bindgen"
	[ -x "$BINDGEN" ] || BINDGEN=$(command -v bindgen || echo bindgen)
fi
export BINDGEN
export CLIPPY_DRIVER=${CLIPPY_DRIVER:-/usr/bin/clippy-driver}

# Everything the kernel build, our modules and the guest userspace depend on; a change to
# any of these gives a new kernel cache key.
vcsm_toolchain_id() {
	"$RUSTC" -V
	clang --version | head -n1
	"$BINDGEN" --version
}

# The kernel the build is for: VCSM_KERNEL=6.12 (the default) or 7.3 (`make check KERNEL=7.3`).
VCSM_KERNEL=${VCSM_KERNEL:-6.12}
export VCSM_KERNEL

# Make arguments for the kernel and for out-of-tree modules.
# shellcheck disable=SC2034 # used by the scripts that source this file
VCSM_KMAKE_ARGS=("ARCH=$ARCH" "LLVM=$LLVM" "RUSTC=$RUSTC" "HOSTRUSTC=$HOSTRUSTC" "BINDGEN=$BINDGEN"
	"CLIPPY_DRIVER=$CLIPPY_DRIVER")
