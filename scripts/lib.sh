# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Step runner shared by check.sh, demo.sh and bench.sh. Source it.
#
# step NAME COMMAND...   runs COMMAND with its output in build/logs/NAME.log and adds its
#                        test counts to the totals: a line `X: N passed, M failed` or cargo's
#                        `test result: ... N passed; M failed` gives the counts; a command
#                        without such lines counts as one test; a command that fails without
#                        reporting a failure counts one failure more.

VCSM_PASSED=0
VCSM_FAILED=0
VCSM_LOGS=${VCSM_LOGS:-$top/build/logs}
mkdir -p "$VCSM_LOGS"

step() {
	local name=$1
	shift
	local log="$VCSM_LOGS/$name.log" t0 rc p f
	t0=$(date +%s)
	printf '==> %-28s ' "$name"
	set +e
	"$@" >"$log" 2>&1
	rc=$?
	set -e
	p=0 f=0
	while read -r a b; do p=$((p + a)); f=$((f + b)); done < <(
		sed -nE 's/^test result: [a-zA-Z]+\. ([0-9]+) passed; ([0-9]+) failed.*/\1 \2/p;
			 s/^[a-z0-9-]+: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/p' "$log")
	if [ $p -eq 0 ] && [ $f -eq 0 ]; then
		if [ $rc -eq 0 ]; then p=1; else f=1; fi
	elif [ $rc -ne 0 ] && [ $f -eq 0 ]; then
		f=1
	fi
	VCSM_PASSED=$((VCSM_PASSED + p))
	VCSM_FAILED=$((VCSM_FAILED + f))
	printf '%4d passed, %d failed  (%ds)\n' "$p" "$f" "$(( $(date +%s) - t0 ))"
	if [ $f -ne 0 ]; then
		# (No such line is no error: under pipefail grep's status would end the caller.)
		{ grep -E '^(FAIL|test .* FAILED|---- )' "$log" || true; } | head -n 40 | sed 's/^/    /'
		echo "    (exit $rc; last lines of $log:)"
		tail -n 25 "$log" | sed 's/^/    | /'
	fi
	return 0
}

# must NAME COMMAND...: a set-up step; without it nothing after can run, so stop here.
must() {
	local name=$1
	shift
	printf '==> %-28s ' "$name"
	local t0
	t0=$(date +%s)
	if "$@" >"$VCSM_LOGS/$name.log" 2>&1; then
		printf 'ok  (%ds)\n' "$(( $(date +%s) - t0 ))"
	else
		echo "FAILED"
		tail -n 40 "$VCSM_LOGS/$name.log" | sed 's/^/    | /'
		VCSM_FAILED=$((VCSM_FAILED + 1))
		vcsm_summary
		exit 1
	fi
}

vcsm_summary() {
	echo "$VCSM_PASSED passed, $VCSM_FAILED failed"
}
