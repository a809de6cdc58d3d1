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
#   boot/firmware/overlays/vcsm-cma-heap.dtbo (and -pi4, -system when built beside it)
#   etc/udev/rules.d/99-vcsm.rules
#   etc/modprobe.d/vcsm.conf, etc/depmod.d/vcsm.conf   (ours replaces the in-tree vc_sm_cma)
#   usr/bin/vcsm-tool, its man pages (usr/share/man/man1) and bash/zsh/fish completions
#
# Inputs that can be overridden from the environment:
#   VCSM_TOOL       the vcsm-tool binary to install
#                   (default userspace/target/aarch64-unknown-linux-gnu/release/vcsm-tool)
#   VCSM_TOOL_HOST  a vcsm-tool that runs here, to generate the man pages and completions
#                   (default: VCSM_TOOL if it runs here, else a host build, made if needed)
#   VCSM_DTBO       the overlay (default build/dtbs/vcsm-cma-heap.dtbo, built if missing)
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

dtbo=${VCSM_DTBO:-$top/build/dtbs/vcsm-cma-heap.dtbo}
if [ -z "${VCSM_DTBO:-}" ] && [ ! -f "$dtbo" ]; then
	"$top/dts-overlays/build.sh" "$top/build/dtbs" >/dev/null
fi
[ -f "$dtbo" ] || die "overlay $dtbo is missing"

inst() { # inst MODE SRC DEST
	install -D -m "$1" "$2" "$3"
	echo "  ${3#"$destdir"}"
}

echo "installing vcsm for kernel $krel into $destdir"
for m in "${modules[@]}"; do
	inst 0644 "$moddir/$m" "$destdir/lib/modules/$krel/updates/vcsm/$m"
done
inst 0644 "$dtbo" "$destdir/boot/firmware/overlays/vcsm-cma-heap.dtbo"
# The Pi 4 variant keeps the pool in the VideoCore's first GiB (for boards with more RAM).
pi4="$(dirname "$dtbo")/vcsm-cma-heap-pi4.dtbo"
[ -f "$pi4" ] && inst 0644 "$pi4" "$destdir/boot/firmware/overlays/vcsm-cma-heap-pi4.dtbo"
# The heaps on the Pi's own system CMA pool (linux,cma) instead of a dedicated one.
sys="$(dirname "$dtbo")/vcsm-cma-heap-system.dtbo"
[ -f "$sys" ] && inst 0644 "$sys" "$destdir/boot/firmware/overlays/vcsm-cma-heap-system.dtbo"
inst 0644 "$top/udev/99-vcsm.rules" "$destdir/etc/udev/rules.d/99-vcsm.rules"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

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
echo "then add 'dtoverlay=vcsm-cma-heap-system' (the system CMA pool) or 'dtoverlay=vcsm-cma-heap'"
echo "(a dedicated pool) to /boot/firmware/config.txt and reboot (Documentation/installing.rst)"
