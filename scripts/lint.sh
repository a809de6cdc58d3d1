#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# The lint gates (`make lint`; `make check` runs them too, before the guest boots). Each gate is
# a step of scripts/lib.sh (a pass/fail line, its log in build/logs/lint-*.log):
#   lint-rustfmt-kernel     rustfmt --check in the kernel's style (its source's .rustfmt.toml,
#                           edition 2021) on every Rust file of drivers/, tests/kmod/ and
#                           tests/vpu-sim/ (drivers/common too: the kernel builds it as well)
#   lint-fmt-NAME           cargo fmt --check of each host cargo workspace (common, uapi,
#   lint-clippy-NAME        userspace) and cargo clippy --all-targets -D warnings
#   lint-clippy-kernel      the modules built with CLIPPY=1 (the kernel's lints): no warning
#   lint-kext-dead-code     no item of drivers/kernel-ext that no module uses (the modules
#                           built with VCSM_KEXT_AUDIT=1, judged by scripts/kext-dead-code.py)
#   lint-shellcheck         shellcheck on every shell script of the tree
#
#   scripts/lint.sh [KDIR]  KDIR: the kernel build (default: the cached debug kernel)
# The last line is `N passed, N failed`; the exit status is non-zero if a gate failed.
# check.sh sources this file and calls vcsm_lint KDIR, so the steps count in its totals.

# The host cargo workspaces: their directories, and the step names' suffixes.
VCSM_LINT_WORKSPACES=(drivers/common:common uapi/rust:uapi userspace:userspace)

# The kernel's .rustfmt.toml: in KDIR for an in-tree build, in its source tree for O= builds
# (KDIR/source, or the source that scripts/kernel.sh recorded in vcsm-build-info).
vcsm_lint_rustfmt_toml() {
	local kdir=$1 src
	for src in "$kdir" "$kdir/source" "$(sed -n 's/^source=//p' "$kdir/vcsm-build-info" 2>/dev/null)"; do
		if [ -n "$src" ] && [ -f "$src/.rustfmt.toml" ]; then
			echo "$src/.rustfmt.toml"
			return 0
		fi
	done
	echo "lint: no .rustfmt.toml in $kdir or its source tree" >&2
	return 1
}

# Every kernel-side Rust file (without the build's copies and generated bindings).
vcsm_lint_kernel_rs() {
	find drivers tests/kmod tests/vpu-sim -name target -prune -o \
		-name '*.rs' ! -name ext_bindings.rs -type f -print | sort
}

vcsm_lint_rustfmt_kernel() {
	local cfg files
	cfg=$(vcsm_lint_rustfmt_toml "$1") || return 1
	mapfile -t files < <(vcsm_lint_kernel_rs)
	rustfmt --version
	echo "config: $cfg; ${#files[@]} files"
	# A diff for each file that is not formatted (`rustfmt` with the same flags fixes them).
	# (A module's diff shows once for its own path and once through its crate root.)
	rustfmt --check --color never --edition 2021 --config-path "$cfg" "${files[@]}"
}

# Host cargo runs with the toolchain that has cargo fmt and clippy (the rustup one, first on
# PATH), never env.sh's RUSTC: the kernel's rustc cannot link the clippy driver's crates. A
# target directory of its own keeps it from rebuilding the host tests' objects. In the
# workspace's directory: `cargo fmt --manifest-path` finds no targets in a virtual manifest.
vcsm_lint_cargo() {
	local dir=$1 name=$2
	shift 2
	(cd "$dir" && env -u RUSTC -u HOSTRUSTC CARGO_TARGET_DIR="$top/build/lint/target-$name" cargo "$@")
}
vcsm_lint_fmt() {
	vcsm_lint_cargo "$1" "$2" fmt --version
	vcsm_lint_cargo "$1" "$2" fmt --check
}
vcsm_lint_clippy() {
	vcsm_lint_cargo "$1" "$2" clippy --version
	vcsm_lint_cargo "$1" "$2" clippy --locked --all-targets -- -D warnings
}

# The modules built afresh with CLIPPY=1 in a directory of their own (so every crate is linted
# each time and the test build's objects stay as they are). clippy reports through rustc's
# `warning:` lines and still builds: any such line fails the step.
vcsm_lint_clippy_kernel() {
	local kdir=$1 out log rc n
	out="$top/build/lint/kmod-clippy/$(basename "$kdir")"
	log="$top/build/lint/clippy-kernel-$(basename "$kdir").out"
	rm -rf "$out" "$out-tests"
	mkdir -p "$(dirname "$log")"
	"$CLIPPY_DRIVER" --version
	# The diagnostics name the copies in $out: give the sources' paths instead.
	VCSM_KMOD_OUT=$out "$top/scripts/build-modules.sh" "$kdir" CLIPPY=1 2>&1 |
		sed -e "s|$out-tests/||g" -e "s|$out/||g" >"$log"
	rc=${PIPESTATUS[0]}
	cat "$log"
	if [ "$rc" -ne 0 ]; then
		echo "lint: the CLIPPY=1 build failed (exit $rc)"
		return 1
	fi
	n=$(grep -E '^warning(\[[^]]*\])?:' "$log" | grep -cvE '^warning: [0-9]+ warnings? emitted')
	if [ "$n" -ne 0 ]; then
		echo "warnings:"
		grep -E -A1 '^warning(\[[^]]*\])?:' "$log" | grep -vE '^(--|warning: [0-9]+ warnings? emitted|)$'
		echo "lint: the CLIPPY=1 build printed $n warning(s)"
		return 1
	fi
	grep -cE '^ *CLIPPY ' "$log" | sed 's/$/ crates linted, no warning/'
}

# kernel-ext's dead code across all modules (drivers/kernel-ext/README.md): the modules built
# afresh with VCSM_KEXT_AUDIT=1 (the dead-code lint on in every module's kernel-ext includes,
# rustc's diagnostics as JSON) in a directory of their own; kext-dead-code.py fails on an item
# that no module including its file uses.
vcsm_lint_kext_dead_code() {
	local kdir=$1 out log rc=0
	out="$top/build/lint/kmod-audit/$(basename "$kdir")"
	log="$top/build/lint/kext-audit-$(basename "$kdir").out"
	rm -rf "$out" "$out-tests"
	mkdir -p "$(dirname "$log")"
	VCSM_KMOD_OUT=$out "$top/scripts/build-modules.sh" "$kdir" VCSM_KEXT_AUDIT=1 >"$log" 2>&1 ||
		rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -n 40 "$log"
		echo "lint: the VCSM_KEXT_AUDIT=1 build failed (exit $rc)"
		return 1
	fi
	python3 "$top/scripts/kext-dead-code.py" "$top" "$log"
}

# Every shell script: *.sh and the files with a sh or bash shebang. The sourced ones say their
# shell in a `# shellcheck shell=` line (the guest's run under busybox sh: shell=sh).
vcsm_lint_shell_files() {
	find . \( -name .git -o -name build -o -name target \) -prune -o -type f -print |
		sed 's|^\./||' | sort | while read -r f; do
			case $f in
			*.sh) echo "$f" ;;
			*) head -n 1 "$f" 2>/dev/null | grep -qE '^#!.*[/ ](ba|da|a)?sh( |$)' && echo "$f" ;;
			esac
		done
}

vcsm_lint_shellcheck() {
	local files out
	if ! command -v shellcheck >/dev/null; then
		echo "lint: shellcheck is not installed (scripts/install-deps.sh installs it)"
		return 1
	fi
	shellcheck --version | sed -n 's/^version: /shellcheck /p'
	mapfile -t files < <(vcsm_lint_shell_files)
	echo "${#files[@]} scripts"
	# -x: follow sourced files (their paths relative to the top, as the source= lines give them).
	out=$(shellcheck -x -f gcc "${files[@]}")
	if [ -n "$out" ]; then
		printf '%s\n' "$out"
		echo "lint: $(printf '%s\n' "$out" | wc -l) shellcheck finding(s)"
		return 1
	fi
	echo "no finding"
}

# vcsm_lint KDIR: all the gates, as steps (needs lib.sh's step and env.sh's CLIPPY_DRIVER).
vcsm_lint() {
	local kdir=$1 ws
	step lint-rustfmt-kernel vcsm_lint_rustfmt_kernel "$kdir"
	for ws in "${VCSM_LINT_WORKSPACES[@]}"; do
		step "lint-fmt-${ws#*:}" vcsm_lint_fmt "${ws%%:*}" "${ws#*:}"
		step "lint-clippy-${ws#*:}" vcsm_lint_clippy "${ws%%:*}" "${ws#*:}"
	done
	step lint-clippy-kernel vcsm_lint_clippy_kernel "$kdir"
	step lint-kext-dead-code vcsm_lint_kext_dead_code "$kdir"
	step lint-shellcheck vcsm_lint_shellcheck
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	top=$(cd "$(dirname "$0")/.." && pwd)
	cd "$top"
	# shellcheck source=scripts/lib.sh
	. "$top/scripts/lib.sh"
	# shellcheck source=scripts/env.sh
	. "$top/scripts/env.sh"
	kdir=${1:-$(scripts/kernel.sh kdir debug)}
	if [ ! -d "$kdir" ]; then
		echo "lint.sh: no kernel build at $kdir (make kernel, or give KDIR)" >&2
		exit 2
	fi
	kdir=$(cd "$kdir" && pwd)
	vcsm_lint "$kdir"
	vcsm_summary
	[ "$VCSM_FAILED" -eq 0 ]
fi
