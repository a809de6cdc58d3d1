#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Boot the arm64 test kernel in QEMU `virt` with our overlay applied to QEMU's own device tree
# (or, with --machine raspi3b, in QEMU's Raspberry Pi 3 B with the kernel's own Pi 3 tree),
# run one guest script, and judge the console log.
#
#   tests/qemu/run.sh --kdir DIR --modules DIR --bin DIR --dtbo FILE [--dtbo FILE...]
#                     --script NAME [--timeout SECONDS] [--out DIR] [--kernel-cmdline ARGS]
#                     [--env NAME=VALUE...] [--machine virt|raspi3b]
#
# raspi3b: 1 GiB, 4 Cortex-A53; the firmware's property mailbox is emulated (the real
# raspberrypi-firmware driver attaches to it), VCHIQ is not (the simulated VPU stands in for
# it under /soc). The machine cannot power off: the harness stops QEMU at the end marker.
#
# Several --dtbo are applied in the order given (e.g. the heap overlay, then the test-only
# simulated-VPU overlay). --kernel-cmdline must not set cma= (see step 1). Each --env is
# exported to the guest script (e.g. VCSM_FUZZ_SEED=123 to replay a fuzzer run).
#
# The guest prints `@@VCSM RUN <test>`, then `@@VCSM PASS <test>` or `@@VCSM FAIL <test>: why`.
# Kernel reports (BUG, WARNING, Oops, KASAN, lockdep, kmemleak) anywhere in the log count as a
# failure of the test that was running. A guest that does not finish in time is killed and
# counted as a failure, with the tail of its console. The last line printed is
# `qemu: N passed, N failed`; the exit status is non-zero if anything failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
# shellcheck source=scripts/env.sh
. "$top/scripts/env.sh"

kdir="" moddir="" bindir="" dtbo="" script="" timeout=900 out="$top/build/qemu" extra="" mach=virt
dtbos=() envs=()
while [ $# -gt 0 ]; do
	case $1 in
	--kdir) kdir=$2; shift 2 ;;
	--modules) moddir=$2; shift 2 ;;
	--bin) bindir=$2; shift 2 ;;
	--dtbo)
		# shellcheck disable=SC2034 # dtbo: read through ${!v} in the check below
		dtbo=$2; dtbos+=("$2"); shift 2 ;;
	--script) script=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--kernel-cmdline) extra=$2; shift 2 ;;
	--machine)
		case $2 in
		virt|raspi3b) mach=$2 ;;
		*) echo "run.sh: --machine is virt or raspi3b, not '$2'" >&2; exit 2 ;;
		esac
		shift 2 ;;
	--env)
		case $2 in
		[A-Za-z_]*=*) envs+=("$2") ;;
		*) echo "run.sh: --env takes NAME=VALUE, not '$2'" >&2; exit 2 ;;
		esac
		shift 2 ;;
	*) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
for v in kdir moddir bindir dtbo script; do
	[ -n "${!v}" ] || { echo "run.sh: --${v/moddir/modules} is required" >&2; exit 2; }
done
# `cma=` makes the kernel bypass the device tree's linux,cma-default pool (rmem_cma_setup:
# "bypass linux,cma node, using cmdline CMA params instead"): the guest would no longer have
# the Pi's system pool that the system overlay and the benchmark's baseline rely on.
case " $extra " in
*" cma="*) echo "run.sh: no cma= on the kernel command line: the DT's linux,cma pool is the default CMA area" >&2; exit 2 ;;
esac
image="$kdir/arch/arm64/boot/Image"
[ -f "$image" ] || { echo "run.sh: no kernel image at $image" >&2; exit 2; }

mkdir -p "$out"
work="$out/$script"
rm -rf "$work"
mkdir -p "$work"
if [ "$mach" = virt ]; then
	MEM=2048 SMP=2
	machine=(-M virt -cpu cortex-a72 -smp "$SMP" -m "$MEM" -nic none)
	console="console=ttyAMA0"
	# 1. The device tree: QEMU's own, given the /reserved-memory node a Pi tree always has,
	#    with our overlay applied by fdtoverlay, exactly as the firmware would on a Pi.
	#    /reserved-memory also gets the Pi's system CMA pool, `cma: linux,cma` (64 MiB,
	#    reusable, linux,cma-default, in the first GiB), with a `cma` label in /__symbols__ for
	#    overlays that say <&cma> (vcsm-cma-heap-system). As on a Pi, it is the kernel's default
	#    CMA area (not the CONFIG_CMA_SIZE_MBYTES one) and the in-kernel CMA heap is
	#    /dev/dma_heap/linux,cma (not "reserved"). See pi-reserved-memory.sh.
	qemu-system-aarch64 "${machine[@]}" -machine dumpdtb="$work/base.dtb" -nographic >/dev/null 2>&1
	"$here/pi-reserved-memory.sh" "$work/base.dtb"
else
	# 1. The device tree: the kernel's own Pi 3 B tree (built with the test kernel), with the
	#    facts of the firmware's trees (tests/host/pi_tree.py, the tool the host overlay matrix
	#    uses: /soc's two dma-ranges, the system pool, 64 MiB of gpu_mem as QEMU reports) and
	#    our overlays. The firmware's revision, board and memory answers come from QEMU's
	#    mailbox.
	machine=(-M raspi3b -m 1G)
	console="console=ttyAMA0 earlycon=pl011,0x3f201000"
	pidtb="$kdir/arch/arm64/boot/dts/broadcom/bcm2837-rpi-3-b.dtb"
	[ -f "$pidtb" ] || { echo "run.sh: no $pidtb (the kernel build makes the Pi trees: make dtbs)" >&2; exit 2; }
	python3 "$top/tests/host/pi_tree.py" --board pi3b --ram 1G --gpu-mem 64M "$pidtb" "$work/base.dtb"
fi
fdtoverlay -i "$work/base.dtb" -o "$work/vcsm.dtb" "${dtbos[@]}"

# 2. The initramfs: busybox, our modules, the test binaries and the guest scripts.
root="$work/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,lib/modules,tests,etc}
cp "$VCSM_CACHE/busybox-arm64/bin/busybox" "$root/bin/busybox"
cp "$moddir"/*.ko "$root/lib/modules/" 2>/dev/null || true
# The kernel's own modules (V4L2 test drivers, vchiq, ...), stripped, with modules.dep, so the
# guest can `modprobe vivid`.
if [ -s "$kdir/modules.order" ]; then
	make -s -C "$(readlink -f "$kdir/source")" O="$kdir" "${VCSM_KMAKE_ARGS[@]}" \
		INSTALL_MOD_PATH="$(cd "$root" && pwd)" INSTALL_MOD_STRIP=1 modules_install >/dev/null
fi
find "$bindir" -maxdepth 1 -type f -perm -u+x -exec cp {} "$root/bin/" \;
cp "$top"/tests/guest/*.sh "$root/tests/"
: > "$root/tests/env"
for e in "${envs[@]}"; do printf 'export %s=%q\n' "${e%%=*}" "${e#*=}" >> "$root/tests/env"; done
cat > "$root/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug
mount -t tmpfs tmpfs /tmp
. /tests/env
echo "@@VCSM BOOTED \$(uname -r)"
sh /tests/$script.sh
echo "@@VCSM END rc=\$?"
sync
poweroff -f
INIT
chmod +x "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initramfs.cpio.gz"

# 3. Boot and wait for the end marker, the guest's power-off, or the timeout (raspi3b cannot
#    power off: the end marker is what stops it).
log="$work/console.log"
start=$(date +%s)
qemu-system-aarch64 "${machine[@]}" -nographic -no-reboot \
	-kernel "$image" -initrd "$work/initramfs.cpio.gz" -dtb "$work/vcsm.dtb" \
	-append "$console panic=-1 loglevel=6 $extra" \
	</dev/null >"$log" 2>&1 &
qpid=$!
hung=0
while kill -0 "$qpid" 2>/dev/null; do
	if grep -q '@@VCSM END' "$log" 2>/dev/null; then
		sleep 2
		break
	fi
	if [ $(( $(date +%s) - start )) -ge "$timeout" ]; then
		hung=1
		break
	fi
	sleep 1
done
kill "$qpid" 2>/dev/null || true
wait "$qpid" 2>/dev/null || true
elapsed=$(( $(date +%s) - start ))

# 4. Judge the log.
tr -d '\r' < "$log" > "$work/console.txt"
python3 "$here/judge.py" "$work/console.txt" --hung "$hung" --elapsed "$elapsed" --timeout "$timeout"
