#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Install the vcsm suite into a root file system (Raspberry Pi OS bookworm layout).
#
#   scripts/install.sh DESTDIR KDIR MODDIR
#
# DESTDIR  the root to install into: / on the Pi itself, or a mounted SD card's root
# KDIR     the kernel build directory the modules were built against (gives the release)
# MODDIR   the directory holding vcsm-cma-heap.ko and vc-sm-cma.ko (build/kmod/<kernel>)
#
# Installs
#   lib/modules/<release>/updates/vcsm/{vcsm-cma-heap,vc-sm-cma}.ko
#   boot/firmware/overlays/vcsm-cma-heap-{pi3,pi4,system}.dtbo, and their entries in the
#     overlays directory's README (appended to Raspberry Pi's, replacing an earlier vcsm block)
#   etc/udev/rules.d/99-vcsm.rules
#   etc/modprobe.d/vcsm.conf, etc/depmod.d/vcsm.conf   (ours replaces the in-tree vc_sm_cma)
#   usr/bin/vcsm-tool, its man pages (usr/share/man/man1) and bash/zsh/fish completions
#
# Inputs that can be overridden from the environment:
#   VCSM_TOOL       the vcsm-tool binary to install
#                   (default userspace/target/aarch64-unknown-linux-gnu/release/vcsm-tool)
#   VCSM_TOOL_HOST  a vcsm-tool that runs here, to generate the man pages and completions
#                   (default: VCSM_TOOL if it runs here, else a host build, made if needed)
#   VCSM_DTBS       the directory of built overlays (default build/dtbs, built if missing)
# depmod runs only when DESTDIR is /; otherwise the script says what to run on the target.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)

usage() { echo "usage: scripts/install.sh DESTDIR KDIR MODDIR" >&2; exit 2; }
die() { echo "install.sh: $*" >&2; exit 1; }
[ $# -eq 3 ] || usage
destdir=$1 kdir=$2 moddir=$3
[ -n "$destdir" ] || usage
[ -d "$kdir" ] || die "KDIR $kdir is not a directory"
[ -d "$moddir" ] || die "MODDIR $moddir is not a directory"

# The kernel release the modules belong to.
if [ -s "$kdir/include/config/kernel.release" ]; then
	krel=$(cat "$kdir/include/config/kernel.release")
else
	krel=$(make -s -C "$kdir" kernelrelease 2>/dev/null) || true
fi
[ -n "${krel:-}" ] || die "cannot tell the kernel release of $kdir (no include/config/kernel.release: is it a built kernel?)"

modules=(vcsm-cma-heap.ko vc-sm-cma.ko)
for m in "${modules[@]}"; do
	[ -f "$moddir/$m" ] || die "$moddir/$m is missing: build the modules first (make KDIR=$kdir)"
done

tool=${VCSM_TOOL:-$top/userspace/target/aarch64-unknown-linux-gnu/release/vcsm-tool}
[ -x "$tool" ] || die "$tool is missing: cross-build it (cd userspace && RUSTC=/usr/bin/rustc cargo build --release --locked --target aarch64-unknown-linux-gnu)"

# A vcsm-tool that runs on this machine, for the man pages and completions.
host_tool=${VCSM_TOOL_HOST:-}
if [ -z "$host_tool" ]; then
	if "$tool" --version >/dev/null 2>&1; then
		host_tool=$tool
	else
		host_tool=$top/userspace/target/release/vcsm-tool
		if ! "$host_tool" --version >/dev/null 2>&1; then
			echo "install.sh: building a host vcsm-tool for the man pages and completions" >&2
			(cd "$top/userspace" && cargo build --release --locked -p vcsm-tool >&2)
		fi
	fi
fi
"$host_tool" --version >/dev/null 2>&1 || die "$host_tool does not run here (set VCSM_TOOL_HOST)"

# The Raspberry Pi overlays: one per board family (dts-overlays/README).
overlays=(vcsm-cma-heap-pi3 vcsm-cma-heap-pi4 vcsm-cma-heap-system)
dtbs=${VCSM_DTBS:-$top/build/dtbs}
if [ -z "${VCSM_DTBS:-}" ] && [ ! -f "$dtbs/vcsm-cma-heap-pi3.dtbo" ]; then
	"$top/dts-overlays/build.sh" "$top/build/dtbs" >/dev/null
fi
for o in "${overlays[@]}"; do
	[ -f "$dtbs/$o.dtbo" ] || die "overlay $dtbs/$o.dtbo is missing (dts-overlays/build.sh $dtbs)"
done
readme=$top/dts-overlays/README
[ -f "$readme" ] || die "$readme is missing"

inst() { # inst MODE SRC DEST
	install -D -m "$1" "$2" "$3"
	echo "  ${3#"$destdir"}"
}

echo "installing vcsm for kernel $krel into $destdir"
for m in "${modules[@]}"; do
	inst 0644 "$moddir/$m" "$destdir/lib/modules/$krel/updates/vcsm/$m"
done
for o in "${overlays[@]}"; do
	inst 0644 "$dtbs/$o.dtbo" "$destdir/boot/firmware/overlays/$o.dtbo"
done
inst 0644 "$top/udev/99-vcsm.rules" "$destdir/etc/udev/rules.d/99-vcsm.rules"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# `dtoverlay -h NAME` reads the overlays directory's one README. Raspberry Pi OS's belongs to
# its firmware package: our entries are appended to it between two marker lines (an earlier
# vcsm block is replaced; a firmware upgrade that replaces the README drops them until the
# next install). Without a README there, ours is installed as it is.
begin='[ vcsm: the entries from here to the vcsm end marker come from vcsm'"'"'s scripts/install.sh ]'
end='[ vcsm: end ]'
target=$destdir/boot/firmware/overlays/README
if [ -f "$target" ]; then
	awk -v b="$begin" -v e="$end" '$0 == b { skip = 1 } !skip { print } $0 == e { skip = 0 }' "$target" |
		sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' > "$tmp/README"
	{ printf '\n\n%s\n\n\n' "$begin"; sed -n '/^Name:/,$p' "$readme"; printf '\n\n%s\n' "$end"; } >> "$tmp/README"
	inst 0644 "$tmp/README" "$target"
else
	inst 0644 "$readme" "$target"
fi

# Our vc-sm-cma has the in-tree driver's module name (vc_sm_cma) on purpose: drivers that
# depend on it (bcm2835-mmal-vchiq) then load ours. A modprobe "blacklist vc_sm_cma" would
# stop ours too, so the in-tree copy is displaced through depmod instead.
cat > "$tmp/depmod.conf" <<'EOF'
# vcsm (scripts/install.sh): prefer the vcsm modules over same-named in-tree ones.
override vc_sm_cma * updates/vcsm
override vcsm_cma_heap * updates/vcsm
EOF
cat > "$tmp/modprobe.conf" <<'EOF'
# vcsm (scripts/install.sh)
#
# vc-sm-cma.ko in updates/vcsm/ replaces the kernel's own C vc-sm-cma. Both are named
# vc_sm_cma, so it is not blacklisted here (that would stop ours from loading as well):
# /etc/depmod.d/vcsm.conf makes depmod choose the vcsm copy, and modprobe, udev and the
# modules that depend on vc_sm_cma (bcm2835-mmal-vchiq) then load it.
#
# How long vc-sm-cma waits for the VPU to answer, in ms (default 3000):
#options vc_sm_cma timeout_ms=3000
EOF
inst 0644 "$tmp/depmod.conf" "$destdir/etc/depmod.d/vcsm.conf"
inst 0644 "$tmp/modprobe.conf" "$destdir/etc/modprobe.d/vcsm.conf"

inst 0755 "$tool" "$destdir/usr/bin/vcsm-tool"
"$host_tool" man --dir "$tmp/man" >/dev/null
for page in "$tmp"/man/*.1; do
	inst 0644 "$page" "$destdir/usr/share/man/man1/$(basename "$page")"
done
"$host_tool" completions bash > "$tmp/bash"
"$host_tool" completions zsh > "$tmp/zsh"
"$host_tool" completions fish > "$tmp/fish"
inst 0644 "$tmp/bash" "$destdir/usr/share/bash-completion/completions/vcsm-tool"
inst 0644 "$tmp/zsh" "$destdir/usr/share/zsh/vendor-completions/_vcsm-tool"
inst 0644 "$tmp/fish" "$destdir/usr/share/fish/vendor_completions.d/vcsm-tool.fish"

if [ "$(cd "$destdir" && pwd -P)" = / ]; then
	depmod -a "$krel"
	echo "ran depmod -a $krel"
else
	echo "on the target: depmod -a $krel"
fi
echo "then add the overlay for the board to /boot/firmware/config.txt ([pi4] dtoverlay=vcsm-cma-heap-pi4,"
echo "[pi3] dtoverlay=vcsm-cma-heap-pi3, [pi02] dtoverlay=vcsm-cma-heap-system: Documentation/installing.rst)"
echo "and reboot"
