#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build the overlays and apply them to the device trees they are for: with fdtoverlay to a
# minimal Pi-like tree and to QEMU virt's generated DTB as tests/qemu/run.sh prepares it
# (each application asserts the resulting nodes and properties; the system-pool overlay must
# also fail to apply to a tree without the Pi's `cma` label), and, the way the Raspberry Pi
# firmware applies them, to the test kernel's Raspberry Pi DTBs rewritten to carry the Pi
# firmware's facts: the board x RAM x system pool x overlay x parameter matrix of
# tests/host/pi_matrix.py. Then the README entries `dtoverlay -h` prints.
#   tests/host/overlays.sh OUTDIR [KDIR]
# KDIR: the kernel build directory (its Raspberry Pi DTBs, arch/arm64/boot/dts/broadcom/), or
# a kernel source tree to build them from.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:?usage: overlays.sh OUTDIR [KDIR]}
kdir=${2:-}
# Debian's python3 (python3-libfdt is installed for it), not a pyenv/venv one first on PATH.
py=python3
[ -x /usr/bin/python3 ] && py=/usr/bin/python3
pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }

if ! "$top/dts-overlays/build.sh" "$out"; then
	bad build "dts-overlays/build.sh failed"
	echo "overlays: $pass passed, $fail failed"
	exit 1
fi
ok build

# assert NAME DTB SIZE_CELLS: the merged tree has the pool and the heap node, wired together.
assert_merged() {
	local name=$1 dtb=$2 want_size=$3 pool=/reserved-memory/vcsm-cma-pool
	local why=""
	[ "$(fdtget "$dtb" $pool compatible 2>&1)" = shared-dma-pool ] || why="pool compatible"
	fdtget "$dtb" $pool reusable >/dev/null 2>&1 || why="$why pool not reusable"
	[ "$(fdtget -t x "$dtb" $pool size 2>&1)" = "$want_size" ] || why="$why size=$(fdtget -t x "$dtb" $pool size 2>&1)"
	[ "$(fdtget "$dtb" /vcsm-cma-heap compatible 2>&1)" = raspberrypi,vcsm-cma-heap ] || why="$why heap compatible"
	local ph ref
	ph=$(fdtget "$dtb" $pool phandle 2>/dev/null)
	ref=$(fdtget "$dtb" /vcsm-cma-heap memory-region 2>/dev/null)
	[ -n "$ph" ] && [ "$ph" = "$ref" ] || why="$why memory-region ($ref) is not the pool ($ph)"
	# Whatever /reserved-memory held before is still there.
	if [ -n "${4:-}" ]; then
		for n in $4; do fdtget -l "$dtb" /reserved-memory | grep -qx "$n" || why="$why lost /reserved-memory/$n"; done
	fi
	if [ -z "$why" ]; then ok "$name"; else bad "$name" "$why"; fi
}

# assert_system NAME DTB: the system overlay added only the heap node, and its memory-region is
# the phandle of the node the base tree's `cma` label names (/reserved-memory/linux,cma).
assert_system() {
	local name=$1 dtb=$2 why="" cma ph ref
	[ "$(fdtget "$dtb" /vcsm-cma-heap compatible 2>&1)" = raspberrypi,vcsm-cma-heap ] || why="heap compatible"
	[ "$(fdtget "$dtb" /vcsm-cma-heap status 2>&1)" = okay ] || why="$why status"
	cma=$(fdtget "$dtb" /__symbols__ cma 2>&1)
	[ "$cma" = /reserved-memory/linux,cma ] || why="$why cma label is '$cma'"
	[ "$(fdtget "$dtb" /reserved-memory/linux,cma compatible 2>&1)" = shared-dma-pool ] || why="$why linux,cma compatible"
	ph=$(fdtget "$dtb" /reserved-memory/linux,cma phandle 2>/dev/null)
	ref=$(fdtget "$dtb" /vcsm-cma-heap memory-region 2>/dev/null)
	[ -n "$ph" ] && [ "$ph" = "$ref" ] || why="$why memory-region ($ref) is not linux,cma ($ph)"
	# No pool of its own.
	fdtget -l "$dtb" /reserved-memory | grep -qx vcsm-cma-pool && why="$why a vcsm-cma-pool was added"
	if [ -z "$why" ]; then ok "$name"; else bad "$name" "$why"; fi
}

# expect_no_apply NAME BASE DTBO: fdtoverlay must refuse (the base has no `cma` label).
expect_no_apply() {
	if fdtoverlay -i "$2" -o "$out/$1.dtb" "$3" 2>"$out/$1.log"; then
		bad "$1" "fdtoverlay applied $(basename "$3") to a tree without a cma label"
	elif grep -q FDT_ERR "$out/$1.log"; then
		ok "$1"
	else
		bad "$1" "fdtoverlay failed, but not with an FDT error: $(head -n 2 "$out/$1.log" | tr '\n' ' ')"
	fi
}

# The system-pool overlay itself: nothing to reserve, one reference to resolve, `cma`.
sys_dtbo=$out/vcsm-cma-heap-system.dtbo
if [ ! -f "$sys_dtbo" ]; then
	bad system-build "dts-overlays/build.sh did not produce $sys_dtbo"
elif [ "$(fdtget "$sys_dtbo" /__fixups__ cma 2>&1)" != /fragment@0/__overlay__/vcsm-cma-heap:memory-region:0 ]; then
	bad system-build "no __fixups__ entry for <&cma> in the heap's memory-region: $(fdtget "$sys_dtbo" /__fixups__ cma 2>&1)"
elif [ "$(fdtget "$sys_dtbo" /fragment@0 target-path 2>&1)" != / ] || fdtget -l "$sys_dtbo" / | grep -qx fragment@1; then
	bad system-build "the overlay must have one fragment, for /"
else
	ok system-build
fi

# A Raspberry Pi-like tree: one address and one size cell, the system pool as bcm283x.dtsi has
# it; built with -@ as the Pi trees are, so its __symbols__ has `cma`. And the same tree without
# the label.
pi_like() { # pi_like LABEL OUT
	cat > "$out/pi-like.dts" <<DTS
/dts-v1/;
/ {
	compatible = "raspberrypi,3-model-b", "brcm,bcm2837";
	#address-cells = <1>;
	#size-cells = <1>;
	memory@0 { device_type = "memory"; reg = <0x0 0x40000000>; };
	reserved-memory {
		#address-cells = <1>;
		#size-cells = <1>;
		ranges;
		$1 linux,cma {
			compatible = "shared-dma-pool";
			size = <0x4000000>;
			reusable;
			linux,cma-default;
			alloc-ranges = <0x0 0x30000000>;
		};
	};
};
DTS
	dtc -q -@ -I dts -O dtb -o "$2" "$out/pi-like.dts"
}
if pi_like "cma:" "$out/pi-like.dtb" && pi_like "" "$out/pi-like-nolabel.dtb"; then
	if fdtoverlay -i "$out/pi-like.dtb" -o "$out/pi-like-system.dtb" "$sys_dtbo"; then
		assert_system system-pi-like "$out/pi-like-system.dtb"
	else
		bad system-pi-like "fdtoverlay failed"
	fi
	expect_no_apply system-pi-like-no-cma-label "$out/pi-like-nolabel.dtb" "$sys_dtbo"
else
	bad system-pi-like "cannot build the Pi-like base tree"
fi

# QEMU virt: the tree QEMU generates, plus the /reserved-memory node and the Pi's system CMA
# pool that the harness adds (the very script tests/qemu/run.sh uses).
if command -v qemu-system-aarch64 >/dev/null; then
	qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 2048 -nic none -machine dumpdtb="$out/virt-qemu.dtb" -nographic >/dev/null 2>&1
	cp "$out/virt-qemu.dtb" "$out/virt.dtb"
	"$top/tests/qemu/pi-reserved-memory.sh" "$out/virt.dtb"
	# The base tree: the pool's phandle is new, and the label names it.
	ph=$(fdtget "$out/virt.dtb" /reserved-memory/linux,cma phandle 2>/dev/null)
	dup=$(dtc -q -I dtb -O dts "$out/virt.dtb" | grep -c "phandle = <$(printf '%#x' "${ph:-0}")>;")
	if [ -n "$ph" ] && [ "$dup" = 1 ] && [ "$(fdtget "$out/virt.dtb" /__symbols__ cma 2>&1)" = /reserved-memory/linux,cma ] &&
		[ "$(fdtget -t x "$out/virt.dtb" /reserved-memory/linux,cma size 2>&1)" = "0 4000000" ] &&
		[ "$(fdtget -t x "$out/virt.dtb" /reserved-memory/linux,cma alloc-ranges 2>&1)" = "0 40000000 0 40000000" ] &&
		fdtget "$out/virt.dtb" /reserved-memory/linux,cma linux,cma-default >/dev/null 2>&1; then
		ok virt-system-pool
	else
		bad virt-system-pool "linux,cma in the harness's tree: phandle '$ph' (used $dup times), label '$(fdtget "$out/virt.dtb" /__symbols__ cma 2>&1)'"
	fi
	if fdtoverlay -i "$out/virt.dtb" -o "$out/virt-system.dtb" "$sys_dtbo"; then
		assert_system system-virt "$out/virt-system.dtb"
	else
		bad system-virt "fdtoverlay failed"
	fi
	# With the simulated VPU's overlay after it, as the benchmark boots.
	if fdtoverlay -i "$out/virt.dtb" -o "$out/virt-system-sim.dtb" "$sys_dtbo" "$out/vpu-sim-virt.dtbo"; then
		assert_system system-virt-vpu-sim "$out/virt-system-sim.dtb"
	else
		bad system-virt-vpu-sim "fdtoverlay failed"
	fi
	# QEMU's tree as generated has no `cma` label (nor __symbols__ at all).
	expect_no_apply system-virt-no-cma-label "$out/virt-qemu.dtb" "$sys_dtbo"
	if fdtoverlay -i "$out/virt.dtb" -o "$out/virt-vcsm.dtb" "$out/vcsm-cma-heap-virt.dtbo"; then
		assert_merged virt "$out/virt-vcsm.dtb" "0 8000000" linux,cma
		range=$(fdtget -t x "$out/virt-vcsm.dtb" /reserved-memory/vcsm-cma-pool alloc-ranges 2>&1)
		if [ "$range" = "0 40000000 0 40000000" ]; then ok virt-alloc-ranges
		else bad virt-alloc-ranges "pool alloc-ranges is '$range', not the VPU's first GiB"; fi
	else
		bad virt "fdtoverlay failed"
	fi
else
	bad virt "qemu-system-aarch64 not installed"
fi

# The Raspberry Pi matrix (tests/host/pi_matrix.py): the kernel's own Pi DTBs, rewritten by
# pi_tree.py to carry what the Raspberry Pi firmware hands the kernel, with and without
# Raspberry Pi OS's system-pool resize, our overlays and parameters applied by dtmerge.py as
# the firmware applies them, and pi_boot_model.py's reading of the result as 6.12 reads it.
# Its PASS/FAIL lines count here.
pi_dtbs=""
if [ -n "$kdir" ]; then
	if [ -f "$kdir/arch/arm64/boot/dts/broadcom/bcm2711-rpi-4-b.dtb" ]; then
		pi_dtbs=$kdir/arch/arm64/boot/dts/broadcom
	else
		# A source tree (or a build without DTBs): build the four DTBs from the sources.
		src=$kdir
		[ -d "$kdir/source" ] && src=$(readlink -f "$kdir/source")
		pi_dtbs=$out/pi-dtbs
		mkdir -p "$pi_dtbs"
		for b in bcm2837-rpi-3-b bcm2837-rpi-3-a-plus bcm2837-rpi-zero-2-w bcm2711-rpi-4-b bcm2712-rpi-5-b; do
			dts=$src/arch/arm64/boot/dts/broadcom/$b.dts
			cpp -nostdinc -undef -x assembler-with-cpp -D__DTS__ -P \
				-I "$src/scripts/dtc/include-prefixes" -I "$src/arch/arm64/boot/dts/broadcom" \
				"$dts" 2>"$out/$b.cpp.log" | dtc -q -@ -I dts -O dtb -o "$pi_dtbs/$b.dtb" - 2>"$out/$b.dtc.log" ||
				bad "pi/$b-dtb" "cannot build $b.dtb from $dts"
		done
	fi
	"$py" "$top/tests/host/pi_matrix.py" --dtbs "$pi_dtbs" --overlays "$out" --work "$out/pi" >"$out/pi-matrix.txt" 2>&1
	# Its own total line is left out: the PASS/FAIL lines count once, in this script's total.
	grep -v '^pi-matrix: ' "$out/pi-matrix.txt"
	p=$(grep -c '^PASS ' "$out/pi-matrix.txt") f=$(grep -c '^FAIL ' "$out/pi-matrix.txt")
	pass=$((pass + p)) fail=$((fail + f))
	grep -q '^pi-matrix: ' "$out/pi-matrix.txt" || bad pi-matrix "pi_matrix.py did not finish (see $out/pi-matrix.txt)"
else
	bad raspberry-pi-dtbs "no kernel directory given: the Raspberry Pi DTBs cannot be found or built"
fi

# dtmerge.py itself, on a small overlay of every parameter kind the Pi library knows, against
# the Pi-like tree: what each value does to the merged tree.
cat > "$out/params-test.dts" <<'DTS'
/dts-v1/;
/plugin/;
/ {
	fragment@0 { target-path = "/"; __overlay__ { t: params-test { v32 = <7>; b8 = [01]; s = "x"; status = "disabled"; }; }; };
	fragment@1 { target-path = "/"; __dormant__ { dormant-one { }; }; };
	fragment@2 { target-path = "/"; __overlay__ { active-two { }; }; };
	__overrides__ {
		n32 = <&t>, "v32:0";
		n8 = <&t>, "b8.0";
		flag = <&t>, "flag?";
		noflag = <&t>, "gone!";
		str = <&t>, "s";
		st = <&t>, "status";
		lit = <&t>, "v32:0=", <42>;
		swap = <0>, "+1-2";
	};
};
DTS
if dtc -@ -q -I dts -O dtb -o "$out/params-test.dtbo" "$out/params-test.dts" 2>"$out/params-test.log"; then
	# dtmerge_case NAME EXPECT-RC PARAMS... ; then check with fdtget on $out/params.dtb
	dtmerge_case() {
		local name=$1 want=$2 rc
		shift 2
		rm -f "$out/params.dtb"
		"$py" "$top/tests/host/dtmerge.py" "$out/pi-like.dtb" "$out/params.dtb" "$out/params-test.dtbo" "$@" >"$out/params.log" 2>&1
		rc=$?
		if [ "$want" = fail ]; then
			if [ $rc -ne 0 ] && [ ! -e "$out/params.dtb" ]; then ok "dtmerge/$name"; else bad "dtmerge/$name" "accepted $*"; fi
			return 1
		fi
		[ $rc -eq 0 ] || { bad "dtmerge/$name" "refused $*: $(cat "$out/params.log")"; return 1; }
	}
	expect_prop() { # NAME PROP TYPE WANT
		local got
		got=$(fdtget -t "$3" "$out/params.dtb" /params-test "$2" 2>&1)
		if [ "$got" = "$4" ]; then ok "dtmerge/$1"; else bad "dtmerge/$1" "$2 is '$got', expected '$4'"; fi
	}
	dtmerge_case decimal ok n32=100 && expect_prop decimal v32 u 100
	dtmerge_case hex ok n32=0x10 && expect_prop hex v32 u 16
	dtmerge_case octal ok n32=010 && expect_prop octal v32 u 8
	dtmerge_case truncated ok n32=0x100000005 && expect_prop truncated v32 u 5
	dtmerge_case empty-is-0 ok n32= && expect_prop empty-is-0 v32 u 0
	dtmerge_case no-value-is-true ok n32 && expect_prop no-value-is-true v32 u 1
	dtmerge_case keyword-on ok n32=on && expect_prop keyword-on v32 u 1
	dtmerge_case byte ok n8=0x1ff && expect_prop byte b8 x ff
	dtmerge_case literal-ignores-value ok lit=5 && expect_prop literal-ignores-value v32 u 42
	dtmerge_case string ok str=hello && expect_prop string s s hello
	dtmerge_case status-boolean ok st=on && expect_prop status-boolean status s okay
	if dtmerge_case boolean ok flag=yes noflag=no; then
		if fdtget "$out/params.dtb" /params-test flag >/dev/null 2>&1 && fdtget "$out/params.dtb" /params-test gone >/dev/null 2>&1; then
			ok dtmerge/booleans
		else
			bad dtmerge/booleans "flag? and gone! did not add the properties"
		fi
	fi
	if dtmerge_case fragment-switch ok swap; then
		if fdtget -l "$out/params.dtb" / | grep -qx dormant-one && ! fdtget -l "$out/params.dtb" / | grep -qx active-two; then
			ok dtmerge/fragment-switch-applied
		else
			bad dtmerge/fragment-switch-applied "+1-2 did not swap the fragments"
		fi
	fi
	if dtmerge_case no-labels-exported ok; then
		if fdtget "$out/params.dtb" /__symbols__ t >/dev/null 2>&1; then
			bad dtmerge/no-labels-exported-checked "the overlay's label t is in /__symbols__"
		else
			ok dtmerge/no-labels-exported-checked
		fi
	fi
	dtmerge_case unit-suffix fail n32=256M
	dtmerge_case unknown-param fail nosuch=1
	dtmerge_case bad-keyword fail n32=maybe
else
	bad dtmerge/params-overlay "cannot build the parameter test overlay: $(cat "$out/params-test.log")"
fi

# The help `dtoverlay -h NAME` prints: every Pi overlay has an entry in dts-overlays/README
# (the Raspberry Pi overlays/README format: Name/Info/Load/Params), listing exactly the
# parameters its __overrides__ define.
readme=$top/dts-overlays/README
for o in vcsm-cma-heap-pi3 vcsm-cma-heap-pi4 vcsm-cma-heap-system; do
	entry=$(awk -v n="$o" '$1 == "Name:" { on = ($2 == n) } on' "$readme" 2>/dev/null)
	if [ -z "$entry" ]; then
		bad "readme/$o" "no 'Name:   $o' entry in dts-overlays/README"
		continue
	fi
	why=""
	for k in Info: Load: Params:; do grep -q "^$k" <<<"$entry" || why="$why no $k line;"; done
	grep -q "^Load:   dtoverlay=$o" <<<"$entry" || why="$why Load: does not say dtoverlay=$o;"
	have=$(fdtget -p "$out/$o.dtbo" /__overrides__ 2>/dev/null | sort | tr '\n' ' ')
	doc=$(awk '/^Params:/ { p = 1; sub(/^Params: */, ""); if ($1 != "" && $1 != "<None>") print $1; next }
		p && /^        [^ ]/ { print $1 }' <<<"$entry" | sort | tr '\n' ' ')
	[ "$have" = "$doc" ] || why="$why parameters in the overlay '$have', in the README '$doc';"
	if [ -z "$why" ]; then ok "readme/$o"; else bad "readme/$o" "$why"; fi
done

# The Pi overlays' board check is the first fragment, on a label (a __fixups__ entry), and
# adds nothing.
for o in vcsm-cma-heap-pi3 vcsm-cma-heap-pi4; do
	f=$out/$o.dtbo
	if [ "$(fdtget -l "$f" / 2>/dev/null | head -n 1)" = fragment@0 ] &&
		fdtget -p "$f" /__fixups__ 2>/dev/null | while read -r sym; do fdtget "$f" /__fixups__ "$sym"; done |
			grep -q '^/fragment@0:target:0$' &&
		[ -z "$(fdtget -l "$f" /fragment@0/__overlay__ 2>/dev/null)" ] &&
		[ -z "$(fdtget -p "$f" /fragment@0/__overlay__ 2>/dev/null)" ]; then
		ok "$o-board-check-first"
	else
		bad "$o-board-check-first" "fragment@0 must be an empty fragment targeting a board-only label"
	fi
done

echo "overlays: $pass passed, $fail failed"
[ $fail -eq 0 ]
