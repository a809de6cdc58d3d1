#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Host tests of the installation pieces: dkms.conf against the Kbuild, the udev rule, and
# scripts/install.sh run into a temporary DESTDIR with stub modules, kernel and overlay (and
# the real vcsm-tool, built for the host, for the man pages and completions).
# Last line: `install: N passed, M failed`.
#   tests/host/install.sh
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
finish() {
	echo "install: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ---- dkms.conf ----

# Read dkms.conf the way dkms does (bash `source`), with the variables dkms provides.
if ! dkms_vars=$(
	# shellcheck disable=SC2034 # kernelver: dkms sets it too, dkms.conf may use it
	kernelver=6.12.0-test kernel_source_dir=/lib/modules/6.12.0-test/build dkms_tree=/var/lib/dkms
	# shellcheck source=dkms.conf
	source "$top/dkms.conf" || exit 1
	echo "name=$PACKAGE_NAME"
	echo "version=${PACKAGE_VERSION:-}"
	echo "make=${MAKE[0]:-}"
	echo "autoinstall=${AUTOINSTALL:-}"
	for i in "${!BUILT_MODULE_NAME[@]}"; do
		echo "module=${BUILT_MODULE_NAME[$i]}|${BUILT_MODULE_LOCATION[$i]:-}|${DEST_MODULE_LOCATION[$i]:-}"
	done
) || [ -z "$dkms_vars" ]; then
	bad dkms/parses "dkms.conf does not source in bash"
	finish
fi
ok dkms/parses
get() { sed -n "s/^$1=//p" <<<"$dkms_vars"; }

if [ "$(get name)" = vcsm ]; then ok dkms/package-name; else bad dkms/package-name "PACKAGE_NAME is '$(get name)', not vcsm"; fi
version=$(get version)
if [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then ok dkms/package-version; else bad dkms/package-version "PACKAGE_VERSION '$version' is not set to a version"; fi
ws_version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$top/userspace/Cargo.toml" | head -n 1)
if [ "$version" = "$ws_version" ]; then
	ok dkms/version-matches-userspace
else
	bad dkms/version-matches-userspace "PACKAGE_VERSION $version, userspace workspace version $ws_version"
fi
if [ "$(get autoinstall)" = yes ]; then ok dkms/autoinstall; else bad dkms/autoinstall "AUTOINSTALL is '$(get autoinstall)'"; fi

make_cmd=$(get make)
case "$make_cmd" in
*"KDIR=/lib/modules/6.12.0-test/build"*) ok dkms/make-uses-kdir ;;
*) bad dkms/make-uses-kdir "MAKE[0] '$make_cmd' does not pass KDIR=\${kernel_source_dir}" ;;
esac
if [[ "$make_cmd" == make\ * ]]; then ok dkms/make-runs-make; else bad dkms/make-runs-make "MAKE[0] '$make_cmd' does not run make"; fi

# obj-m names of the Kbuild outside the test-only pass (ifeq ($(VCSM_TEST_MODULES),y)).
kbuild_modules=$(awk '
	/^ifeq \(\$\(VCSM_TEST_MODULES\),y\)/ { stack[++n] = "test"; next }
	/^if(n?eq|n?def)/ { stack[++n] = "other"; next }
	/^else/ { if (stack[n] == "test") stack[n] = "other-test-else"; next }
	/^endif/ { n--; next }
	/^obj-m/ {
		intest = 0
		for (i = 1; i <= n; i++) if (stack[i] == "test") intest = 1
		if (intest) next
		sub(/^obj-m[ \t]*[:+]?=[ \t]*/, "")
		for (i = 1; i <= NF; i++) { m = $i; sub(/\.o$/, "", m); print m }
	}' "$top/Kbuild" | sort -u)
modules=$(sed -n 's/^module=//p' <<<"$dkms_vars")
if [ -n "$modules" ]; then ok dkms/has-modules; else bad dkms/has-modules "no BUILT_MODULE_NAME"; fi
loc=""
while IFS='|' read -r name built dest; do
	[ -n "$name" ] || continue
	if grep -qx "$name" <<<"$kbuild_modules"; then
		ok "dkms/module-$name-in-kbuild"
	else
		bad "dkms/module-$name-in-kbuild" "BUILT_MODULE_NAME $name has no obj-m in the Kbuild (it has: ${kbuild_modules//$'\n'/ })"
	fi
	case "$dest" in
	/updates* | /kernel* | /extra*) ok "dkms/module-$name-dest" ;;
	*) bad "dkms/module-$name-dest" "DEST_MODULE_LOCATION '$dest' must start with /kernel, /updates or /extra" ;;
	esac
	# MAKE[0] must put the modules where BUILT_MODULE_LOCATION says (relative to the build dir).
	case "$make_cmd" in
	*"VCSM_KMOD_OUT=/var/lib/dkms/vcsm/$version/build/${built%/}"*) ok "dkms/module-$name-location" ;;
	*) bad "dkms/module-$name-location" "MAKE[0] does not build into BUILT_MODULE_LOCATION $built" ;;
	esac
	loc=$built
done <<<"$modules"
for m in vcsm-cma-heap vc-sm-cma; do
	if grep -q "^module=$m|" <<<"$dkms_vars"; then ok "dkms/builds-$m"; else bad "dkms/builds-$m" "dkms.conf does not build $m"; fi
done
: "$loc"

# ---- udev rule ----

rules=$top/udev/99-vcsm.rules
# Logical lines (joined continuations), without comments.
logical=$(sed -e 's/#.*//' "$rules" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta' | grep -v '^[[:space:]]*$')
syntax_ok=1
while IFS= read -r line; do
	rest=$(sed -E 's/[A-Z_]+(\{[^}]*\})?(==|!=|\+=|-=|:=|=)"[^"]*"[[:space:]]*(,[[:space:]]*)?//g' <<<"$line")
	[ -z "${rest// /}" ] || { syntax_ok=0; bad udev/syntax "cannot parse: $line"; }
done <<<"$logical"
[ $syntax_ok = 1 ] && ok udev/syntax
rule_for() { grep -F "KERNEL==\"$1\"" <<<"$logical"; }
r=$(rule_for vcsm-cma)
if grep -q 'SUBSYSTEM=="misc"' <<<"$r" && grep -q 'GROUP="video"' <<<"$r" && grep -q 'MODE="0660"' <<<"$r"; then
	ok udev/vcsm-cma-video-0660
else
	bad udev/vcsm-cma-video-0660 "no misc rule giving vcsm-cma group video mode 0660: '$r'"
fi
for h in vcsm-uncached vcsm-cached; do
	r=$(rule_for "$h")
	if grep -q 'SUBSYSTEM=="dma_heap"' <<<"$r" && grep -q 'GROUP="video"' <<<"$r" && grep -q 'MODE="0660"' <<<"$r"; then
		ok "udev/$h-video-0660"
	else
		bad "udev/$h-video-0660" "no dma_heap rule giving $h group video mode 0660: '$r'"
	fi
done
# Issue 10 D6: no rule names vidbuf_cached (picamera2 and rpicam-apps would allocate every
# camera buffer from our pool, smaller than the system pool they get by default); the
# opt-in line for the system-pool overlay stays a comment.
if grep -q 'vidbuf_cached' <<<"$logical"; then
	bad udev/no-vidbuf_cached-link "a rule links vidbuf_cached: $(grep vidbuf_cached <<<"$logical")"
else
	ok udev/no-vidbuf_cached-link
fi
if grep -q '^#SUBSYSTEM=="dma_heap", KERNEL=="vcsm-cached", SYMLINK+="dma_heap/vidbuf_cached"' "$rules"; then
	ok udev/vidbuf_cached-opt-in-documented
else
	bad udev/vidbuf_cached-opt-in-documented "no commented opt-in line for the system-pool overlay"
fi

# ---- scripts/install.sh ----

# Stub inputs: a kernel build directory that only knows its release, two module files, an
# overlay, and a target "binary" that does not run here (like an aarch64 build on x86).
kdir=$work/kbuild moddir=$work/kmod dest=$work/root
mkdir -p "$kdir/include/config" "$moddir"
echo 6.12.0-vcsm-test > "$kdir/include/config/kernel.release"
echo "stub heap module" > "$moddir/vcsm-cma-heap.ko"
echo "stub vc-sm-cma module" > "$moddir/vc-sm-cma.ko"
echo "stub test module" > "$moddir/vpu-sim.ko"
mkdir -p "$work/dtbs"
for o in vcsm-cma-heap-pi3 vcsm-cma-heap-pi4 vcsm-cma-heap-system; do
	echo "stub overlay $o" > "$work/dtbs/$o.dtbo"
done
printf '#!/bin/sh\nexit 126\n' > "$work/vcsm-tool-aarch64"
chmod +x "$work/vcsm-tool-aarch64"

# The real tool for this machine, for the man pages and completions.
if ! (cd "$top/userspace" && cargo build --locked -q -p vcsm-tool) >"$work/cargo.log" 2>&1; then
	bad install/host-tool "cargo build -p vcsm-tool failed: $(tail -n 5 "$work/cargo.log")"
	finish
fi
host_tool=$top/userspace/target/debug/vcsm-tool

run_install() { # run_install DESTDIR KDIR MODDIR, with the stubs
	VCSM_TOOL=$work/vcsm-tool-aarch64 VCSM_TOOL_HOST=$host_tool VCSM_DTBS=$work/dtbs \
		"$top/scripts/install.sh" "$@"
}

if run_install "$dest" "$kdir" "$moddir" >"$work/install.log" 2>&1; then
	ok install/runs
else
	bad install/runs "exit $?: $(tail -n 5 "$work/install.log")"
	finish
fi
cat "$work/install.log"

# expect_file PATH MODE [SAME-AS]: PATH (under the DESTDIR) exists with MODE (and content).
expect_file() {
	local p=$dest/$1
	if [ ! -f "$p" ]; then
		bad "install/$1" "missing"
	elif [ "$(stat -c %a "$p")" != "$2" ]; then
		bad "install/$1" "mode $(stat -c %a "$p"), expected $2"
	elif [ -n "${3:-}" ] && ! cmp -s "$p" "$3"; then
		bad "install/$1" "differs from $3"
	else
		ok "install/$1"
	fi
}
mods=lib/modules/6.12.0-vcsm-test/updates/vcsm
expect_file $mods/vcsm-cma-heap.ko 644 "$moddir/vcsm-cma-heap.ko"
expect_file $mods/vc-sm-cma.ko 644 "$moddir/vc-sm-cma.ko"
if [ ! -e "$dest/$mods/vpu-sim.ko" ]; then ok install/no-test-modules; else bad install/no-test-modules "the test-only vpu-sim.ko was installed"; fi
for o in vcsm-cma-heap-pi3 vcsm-cma-heap-pi4 vcsm-cma-heap-system; do
	expect_file "boot/firmware/overlays/$o.dtbo" 644 "$work/dtbs/$o.dtbo"
done
if [ ! -e "$dest/boot/firmware/overlays/vcsm-cma-heap.dtbo" ]; then
	ok install/no-board-less-overlay
else
	bad install/no-board-less-overlay "the old vcsm-cma-heap.dtbo (no board check) was installed"
fi
# No README in the overlays directory before: ours is installed as it is.
expect_file boot/firmware/overlays/README 644 "$top/dts-overlays/README"
expect_file etc/udev/rules.d/99-vcsm.rules 644 "$rules"
expect_file usr/bin/vcsm-tool 755 "$work/vcsm-tool-aarch64"
expect_file etc/modprobe.d/vcsm.conf 644
expect_file etc/depmod.d/vcsm.conf 644

for m in vc_sm_cma vcsm_cma_heap; do
	if grep -qE "^override $m \* updates/vcsm$" "$dest/etc/depmod.d/vcsm.conf" 2>/dev/null; then
		ok "install/depmod-prefers-$m"
	else
		bad "install/depmod-prefers-$m" "etc/depmod.d/vcsm.conf has no 'override $m * updates/vcsm'"
	fi
done
# Ours is named vc_sm_cma too: an active blacklist line would disable it.
if grep -qE '^[[:space:]]*blacklist[[:space:]]+(vc_sm_cma|vc-sm-cma|vcsm_cma_heap)' "$dest/etc/modprobe.d/vcsm.conf" 2>/dev/null; then
	bad install/modprobe-keeps-ours-loadable "etc/modprobe.d/vcsm.conf blacklists a module name vcsm itself uses"
else
	ok install/modprobe-keeps-ours-loadable
fi

pages=$(find "$dest/usr/share/man/man1" -type f 2>/dev/null | wc -l)
if [ "$pages" = 12 ]; then ok install/man-pages; else bad install/man-pages "$pages man pages, expected 12"; fi
if grep -q '^\.TH vcsm-tool 1' "$dest/usr/share/man/man1/vcsm-tool.1" 2>/dev/null &&
	grep -q '^\.SH "EXIT STATUS"' "$dest/usr/share/man/man1/vcsm-tool.1"; then
	ok install/man-page-content
else
	bad install/man-page-content "usr/share/man/man1/vcsm-tool.1 is not the vcsm-tool man page"
fi
if grep -q 'complete -F _vcsm__tool' "$dest/usr/share/bash-completion/completions/vcsm-tool" 2>/dev/null; then
	ok install/bash-completion
else
	bad install/bash-completion "no bash completion"
fi
if grep -q '^#compdef vcsm-tool' "$dest/usr/share/zsh/vendor-completions/_vcsm-tool" 2>/dev/null; then
	ok install/zsh-completion
else
	bad install/zsh-completion "no zsh completion"
fi
if grep -q 'complete -c vcsm-tool' "$dest/usr/share/fish/vendor_completions.d/vcsm-tool.fish" 2>/dev/null; then
	ok install/fish-completion
else
	bad install/fish-completion "no fish completion"
fi
if grep -q 'on the target: depmod -a 6.12.0-vcsm-test' "$work/install.log"; then
	ok install/depmod-left-to-target
else
	bad install/depmod-left-to-target "no depmod hint for a DESTDIR other than /"
fi
extra=$(cd "$dest" && find . -type f | grep -vE '^\./(lib/modules/6\.12\.0-vcsm-test/updates/vcsm|boot/firmware/overlays|etc/(udev/rules\.d|modprobe\.d|depmod\.d)|usr/(bin|share/(man/man1|bash-completion/completions|zsh/vendor-completions|fish/vendor_completions\.d)))/')
if [ -z "$extra" ]; then ok install/nothing-else; else bad install/nothing-else "unexpected files: $extra"; fi

# The host tool is found without VCSM_TOOL_HOST when the target binary runs here.
if VCSM_TOOL=$host_tool VCSM_DTBS=$work/dtbs "$top/scripts/install.sh" "$work/root2" "$kdir" "$moddir" >"$work/install2.log" 2>&1 &&
	[ -f "$work/root2/usr/share/man/man1/vcsm-tool-import.1" ]; then
	ok install/uses-runnable-target-tool
else
	bad install/uses-runnable-target-tool "$(tail -n 3 "$work/install2.log")"
fi

# A Raspberry Pi OS root already has the firmware's overlays/README: our entries are appended
# to it once (a second install replaces them), and its own entries stay.
mkdir -p "$work/root5/boot/firmware/overlays"
printf 'Introduction\n============\n\nName:   cma\nInfo:   a stand-in for the firmware README\nLoad:   dtoverlay=cma\nParams: <None>\n\n' \
	> "$work/root5/boot/firmware/overlays/README"
cp "$work/root5/boot/firmware/overlays/README" "$work/pi-readme"
if run_install "$work/root5" "$kdir" "$moddir" >"$work/install5.log" 2>&1 &&
	run_install "$work/root5" "$kdir" "$moddir" >>"$work/install5.log" 2>&1; then
	r5=$work/root5/boot/firmware/overlays/README
	why=""
	[ "$(head -c "$(stat -c %s "$work/pi-readme")" "$r5" | cmp -s - "$work/pi-readme"; echo $?)" = 0 ] ||
		why="the firmware's entries changed;"
	for o in vcsm-cma-heap-pi3 vcsm-cma-heap-pi4 vcsm-cma-heap-system; do
		[ "$(grep -c "^Name:   $o\$" "$r5")" = 1 ] || why="$why $o has $(grep -c "^Name:   $o\$" "$r5") entries;"
	done
	[ "$(grep -c '^\[ vcsm: end \]$' "$r5")" = 1 ] || why="$why not one vcsm block;"
	if [ -z "$why" ]; then ok install/readme-appended-once; else bad install/readme-appended-once "$why"; fi
else
	bad install/readme-appended-once "$(tail -n 3 "$work/install5.log")"
fi

# Failures are reported, with what is missing.
rm "$moddir/vc-sm-cma.ko"
if run_install "$work/root3" "$kdir" "$moddir" >"$work/install3.log" 2>&1; then
	bad install/missing-module-fails "succeeded without vc-sm-cma.ko"
elif grep -q 'vc-sm-cma.ko is missing' "$work/install3.log" && [ ! -e "$work/root3/usr/bin/vcsm-tool" ]; then
	ok install/missing-module-fails
else
	bad install/missing-module-fails "$(cat "$work/install3.log")"
fi
mkdir -p "$work/notakernel"
if run_install "$work/root4" "$work/notakernel" "$moddir" >"$work/install4.log" 2>&1; then
	bad install/not-a-kernel-fails "succeeded with a KDIR that is not a kernel build"
elif grep -q 'cannot tell the kernel release' "$work/install4.log"; then
	ok install/not-a-kernel-fails
else
	bad install/not-a-kernel-fails "$(cat "$work/install4.log")"
fi
"$top/scripts/install.sh" "$dest" >/dev/null 2>&1
if [ $? = 2 ]; then ok install/usage-exit-2; else bad install/usage-exit-2 "wrong argument count did not exit 2"; fi

finish
