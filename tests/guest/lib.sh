# SPDX-License-Identifier: GPL-2.0
# Helpers for guest test scripts (busybox sh). Each test prints `@@VCSM RUN name`, then
# `@@VCSM PASS name` or `@@VCSM FAIL name: reason`; tests/qemu/judge.py counts them.

vcsm_run() { echo "@@VCSM RUN $1"; }
vcsm_pass() { echo "@@VCSM PASS $1"; }
vcsm_fail() { echo "@@VCSM FAIL $1: $2"; }

# vcsm_until TENTHS COMMAND...: retry COMMAND every 0.1 s until it succeeds, at most TENTHS
# times; the status of the last try.
vcsm_until() {
	# Local: callers keep their own variables (an `n` of theirs must survive this).
	local tries=$1
	shift
	while [ "$tries" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		tries=$((tries - 1))
	done
	"$@"
}

# vcsm_check NAME COMMAND...: a test that passes when COMMAND succeeds; its output is shown.
vcsm_check() {
	name=$1
	shift
	vcsm_run "$name"
	if out=$("$@" 2>&1); then
		[ -n "$out" ] && echo "$out"
		vcsm_pass "$name"
	else
		rc=$?
		[ -n "$out" ] && echo "$out"
		vcsm_fail "$name" "'$*' exited with $rc"
	fi
}

# vcsm_expect_fail NAME COMMAND...: passes when COMMAND fails.
vcsm_expect_fail() {
	name=$1
	shift
	vcsm_run "$name"
	if out=$("$@" 2>&1); then
		echo "$out"
		vcsm_fail "$name" "'$*' succeeded but must fail"
	else
		echo "$out"
		vcsm_pass "$name"
	fi
}

# kmemleak: forget everything allocated so far (boot), to judge only what the tests leak.
vcsm_kmemleak_clear() {
	[ -w /sys/kernel/debug/kmemleak ] && echo clear > /sys/kernel/debug/kmemleak
}

# kmemleak: scan (objects must be older than 5 s to be reported) and fail on any report.
vcsm_kmemleak_check() {
	vcsm_run kmemleak/scan
	if [ ! -w /sys/kernel/debug/kmemleak ]; then
		vcsm_fail kmemleak/scan "no /sys/kernel/debug/kmemleak: kernel without DEBUG_KMEMLEAK"
		return
	fi
	sleep 6
	echo scan > /sys/kernel/debug/kmemleak
	sleep 1
	echo scan > /sys/kernel/debug/kmemleak
	leaks=$(cat /sys/kernel/debug/kmemleak)
	if [ -n "$leaks" ]; then
		echo "$leaks" | head -n 60
		vcsm_fail kmemleak/scan "$(echo "$leaks" | grep -c 'unreferenced object') unreferenced objects"
	else
		vcsm_pass kmemleak/scan
	fi
}
