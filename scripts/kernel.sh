#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build (or find in the cache) the arm64 Rust-enabled test kernel.
#
#   scripts/kernel.sh build FLAVOUR     build if needed, print the build directory (KDIR)
#   scripts/kernel.sh kdir FLAVOUR      print the build directory without building
#   scripts/kernel.sh key FLAVOUR       print the cache key
#
# FLAVOUR is `debug` (KASAN, lockdep, kmemleak, DMA-API debug: `make check`) or `perf`
# (`make bench`). VCSM_KERNEL (scripts/env.sh) picks the kernel: 6.12 (the default) is Debian's
# linux-source-6.12, 7.3 is Debian's linux-source-7.3 from trixie-backports (fetched into the
# cache by scripts/install-deps.sh); either gets patches/linux-$VCSM_KERNEL and is configured as
# allnoconfig + tests/kernel/base.config + tests/kernel/FLAVOUR.config (+ tests/kernel/
# linux-$VCSM_KERNEL.config and linux-$VCSM_KERNEL-FLAVOUR.config where they exist). It lives outside the clone, in
# $VCSM_CACHE/kernel, keyed by source version, fragments, patches, this script and the
# toolchain, so a second run reuses it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/env.sh
. "$top/scripts/env.sh"

cmd=${1:?usage: kernel.sh build|kdir|key FLAVOUR}
flavour=${2:-debug}
frag_dir="$top/tests/kernel"
[ -f "$frag_dir/$flavour.config" ] || { echo "kernel.sh: no flavour '$flavour'" >&2; exit 2; }
patch_dir="$top/patches/linux-$VCSM_KERNEL"
case $VCSM_KERNEL in
6.12)
	tarball=/usr/src/linux-source-6.12.tar.xz
	src_version() { dpkg-query -W -f='${Version}\n' linux-source-6.12; } ;;
7.3)
	tarball="$VCSM_CACHE/linux-source-7.3/usr/src/linux-source-7.3.tar.xz"
	src_version() { cat "$VCSM_CACHE/linux-source-7.3/version"; } ;;
*) echo "kernel.sh: VCSM_KERNEL must be 6.12 or 7.3, not '$VCSM_KERNEL'" >&2; exit 2 ;;
esac
frags=("$frag_dir/base.config" "$frag_dir/$flavour.config")
for f in "linux-$VCSM_KERNEL" "linux-$VCSM_KERNEL-$flavour"; do
	[ -f "$frag_dir/$f.config" ] && frags+=("$frag_dir/$f.config")
done

src_key() {
	{ echo "$VCSM_KERNEL"; src_version; cat "$patch_dir"/*.patch; } | sha256sum | cut -c1-16
}
build_key() {
	{ vcsm_toolchain_id; src_version; cat "${frags[@]}" "$patch_dir"/*.patch "$0"; } |
		sha256sum | cut -c1-16
}

# 6.12's directories keep their old names (build-FLAVOUR-KEY), 7.3's carry the version.
tag=""
[ "$VCSM_KERNEL" = 6.12 ] || tag="$VCSM_KERNEL-"
srcdir="$VCSM_CACHE/kernel/src-$tag$(src_key)"
kdir="$VCSM_CACHE/kernel/build-$tag$flavour-$(build_key)"

case $cmd in
key) build_key; exit 0 ;;
kdir) echo "$kdir"; exit 0 ;;
build) ;;
*) echo "kernel.sh: unknown command $cmd" >&2; exit 2 ;;
esac

if [ -f "$kdir/.vcsm-complete" ]; then
	echo "$kdir"
	exit 0
fi

log() { printf '[kernel] %s\n' "$*" >&2; }

[ -f "$tarball" ] || { log "no $tarball: run scripts/install-deps.sh"; exit 1; }
if [ ! -f "$srcdir/.vcsm-complete" ]; then
	log "unpacking $tarball into $srcdir"
	rm -rf "$srcdir" "$srcdir.tmp"
	mkdir -p "$srcdir.tmp"
	tar -xf "$tarball" -C "$srcdir.tmp" --strip-components=1
	for p in "$patch_dir"/*.patch; do
		log "applying $(basename "$p")"
		patch -d "$srcdir.tmp" -p1 --quiet --no-backup-if-mismatch < "$p"
	done
	touch "$srcdir.tmp/.vcsm-complete"
	mv "$srcdir.tmp" "$srcdir"
fi

start=$(date +%s)
log "building $VCSM_KERNEL $flavour kernel in $kdir (about 5-8 minutes on 2 cores)"
rm -rf "$kdir"
mkdir -p "$kdir"
km() { make -C "$srcdir" O="$kdir" "${VCSM_KMAKE_ARGS[@]}" "$@"; }
km -s allnoconfig
"$srcdir/scripts/kconfig/merge_config.sh" -m -O "$kdir" "$kdir/.config" "${frags[@]}" >/dev/null
km -s olddefconfig

# A fragment line that did not survive olddefconfig (unmet dependency) is a build error:
# the tests would otherwise silently run without, say, lockdep.
bad=0
for f in "${frags[@]}"; do
	while IFS= read -r line; do
		case $line in
		CONFIG_*=n) opt=${line%%=*}
			if grep -q "^$opt=" "$kdir/.config"; then log "wanted $line, got $(grep "^$opt=" "$kdir/.config")"; bad=1; fi ;;
		CONFIG_*=*) grep -qx "$line" "$kdir/.config" || { log "wanted $line, got: $(grep "^${line%%=*}=" "$kdir/.config" || echo unset)"; bad=1; } ;;
		esac
	done < "$f"
done
[ $bad = 0 ] || { log "config fragment not honoured (see above)"; exit 1; }

km -s -j"$(nproc)" Image modules dtbs >"$kdir/build.log" 2>&1 || { tail -n 60 "$kdir/build.log" >&2; exit 1; }
km -s headers_install INSTALL_HDR_PATH="$kdir/usr-headers" >/dev/null
# A record of what this build is, for the logs.
{ echo "kernel=$VCSM_KERNEL $(src_version)"; echo "flavour=$flavour"; echo "source=$srcdir"; vcsm_toolchain_id; } > "$kdir/vcsm-build-info"
touch "$kdir/.vcsm-complete"
log "built in $(( $(date +%s) - start )) s"
echo "$kdir"
