#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build every Documentation/*.rst to HTML with docutils, failing on any warning (--halt=warning),
# into OUTDIR (default build/docs). Last line: `docs: N passed, M failed`.
#   tests/host/docs.sh [OUTDIR]
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$top/build/docs}
mkdir -p "$out"
pass=0 fail=0

# The docutils front end: `python3 -m docutils` (docutils >= 0.19, Debian's python3-docutils)
# or rst2html.
conv=()
for py in /usr/bin/python3 python3; do
	if "$py" -m docutils --version >/dev/null 2>&1; then
		conv=("$py" -m docutils --writer=html)
		break
	fi
done
if [ ${#conv[@]} -eq 0 ] && command -v rst2html >/dev/null; then
	conv=(rst2html)
fi
if [ ${#conv[@]} -eq 0 ]; then
	echo "FAIL docutils: neither 'python3 -m docutils' nor rst2html (install python3-docutils)"
	echo "docs: 0 passed, 1 failed"
	exit 1
fi

shopt -s nullglob
files=("$top"/Documentation/*.rst)
if [ ${#files[@]} -eq 0 ]; then
	echo "FAIL docs: no Documentation/*.rst"
	fail=1
fi
for f in "${files[@]}"; do
	name=$(basename "$f" .rst)
	if msg=$("${conv[@]}" --halt=warning --report=warning --no-datestamp \
		"$f" "$out/$name.html" 2>&1 >/dev/null | grep -v '^$'); [ -z "$msg" ] && [ -s "$out/$name.html" ]; then
		echo "PASS $name"
		pass=$((pass + 1))
	else
		echo "FAIL $name: $(echo "$msg" | head -n 5 | tr '\n' ' ')"
		fail=$((fail + 1))
		rm -f "$out/$name.html"
	fi
done

# Links between the pages (`page <page.html>`_) must point at pages that exist.
for f in "${files[@]}"; do
	for target in $(grep -o '<[a-z0-9-]*\.html>' "$f" | tr -d '<>' | sort -u); do
		if [ -f "$top/Documentation/${target%.html}.rst" ]; then
			continue
		fi
		echo "FAIL $(basename "$f" .rst)/link: $target has no Documentation/${target%.html}.rst"
		fail=$((fail + 1))
	done
done
echo "docs: $pass passed, $fail failed (HTML in $out)"
[ "$fail" -eq 0 ]
