#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install everything the build and the tests need on a fresh Debian bookworm machine.
# Idempotent: each step checks first, so a second run costs a few seconds.
set -euo pipefail

BINDGEN_VERSION=${BINDGEN_VERSION:-0.73.2}
here=$(cd "$(dirname "$0")" && pwd)
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

log() { printf '[deps] %s\n' "$*"; }

PKGS=(linux-source-6.12 rustc-web rust-web-src clang-19 libclang-19-dev llvm-19 lld-19
      gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross linux-libc-dev-arm64-cross
      qemu-system-arm device-tree-compiler bc flex bison libelf-dev libssl-dev cpio kmod
      python3-docutils python3-libfdt xz-utils rsync rust-web-clippy shellcheck)
ARM64_PKGS=(libstd-rust-web-dev:arm64)

missing=()
for p in "${PKGS[@]}" "${ARM64_PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	log "installing: ${missing[*]}"
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		$SUDO dpkg --add-architecture arm64
	fi
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
	log "Debian packages present"
fi

# A static aarch64 busybox for the guest, unpacked into the cache (not installed: it would
# replace the host's busybox).
BB_DIR="${VCSM_CACHE:-$HOME/.cache/vcsm}/busybox-arm64"
if [ ! -x "$BB_DIR/bin/busybox" ]; then
	log "fetching busybox-static:arm64"
	tmp=$(mktemp -d)
	(cd "$tmp" && apt-get download -qq busybox-static:arm64)
	rm -rf "$BB_DIR" && mkdir -p "$BB_DIR"
	dpkg -x "$tmp"/busybox-static_*_arm64.deb "$BB_DIR"
	rm -rf "$tmp"
else
	log "busybox (arm64) present"
fi

# bindgen-cli, pinned, built with the machine's cargo.
BINDGEN_ROOT=${VCSM_TOOLS:-${VCSM_CACHE:-$HOME/.cache/vcsm}/tools}
if [ ! -x "$BINDGEN_ROOT/bin/bindgen" ] || ! "$BINDGEN_ROOT/bin/bindgen" --version | grep -q "$BINDGEN_VERSION"; then
	log "cargo install bindgen-cli $BINDGEN_VERSION"
	cargo install --locked --quiet --root "$BINDGEN_ROOT" bindgen-cli --version "$BINDGEN_VERSION"
else
	log "bindgen $BINDGEN_VERSION present"
fi
# linux-source-7.3 from trixie-backports (the second kernel, `make check KERNEL=7.3`): downloaded
# with a private apt state naming only scripts/apt/trixie-backports.sources and unpacked into the
# cache; nothing from trixie is installed. VCSM_NO_73=1 skips it (a machine building 6.12 only).
SRC73_DIR="${VCSM_CACHE:-$HOME/.cache/vcsm}/linux-source-7.3"
if [ "${VCSM_NO_73:-0}" != 1 ] && [ ! -f "$SRC73_DIR/version" ]; then
	log "fetching linux-source-7.3 from trixie-backports"
	tmp=$(mktemp -d)
	mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial"
	apt_priv=(-o Dir::Etc::SourceParts=-
		-o "Dir::Etc::SourceList=$here/apt/trixie-backports.sources"
		-o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
		-o APT::Sandbox::User=root)
	apt-get "${apt_priv[@]}" update -qq
	(cd "$tmp" && apt-get "${apt_priv[@]}" download -qq linux-source-7.3)
	rm -rf "$SRC73_DIR" && mkdir -p "$SRC73_DIR"
	dpkg -x "$tmp"/linux-source-7.3_*_all.deb "$SRC73_DIR"
	dpkg-deb -f "$tmp"/linux-source-7.3_*_all.deb Version > "$SRC73_DIR/version"
	rm -rf "$tmp"
else
	log "linux-source-7.3 present ($(cat "$SRC73_DIR/version" 2>/dev/null || echo skipped))"
fi
log "done"
