#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Compile tests/check_header.c, whose _Static_asserts pin every size, offset and
# ioctl number of linux/vc_sm_cma_ioctl.h, for the host and for each cross
# compiler that is installed. Exits non-zero if any build fails.

set -u

UAPI=$(cd "$(dirname "$0")/.." && pwd)
SRC="$UAPI/tests/check_header.c"
CFLAGS="-std=c11 -Wall -Wextra -Wpedantic -Werror -I $UAPI"
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

passed=""
failed=""
skipped=""

# build NAME COMPILER [EXTRA_FLAGS...]: compile and link; a link failure (missing
# libc for a cross target) falls back to compile-only, which still runs the checks.
build() {
	name=$1
	cc=$2
	shift 2
	if ! command -v "$cc" >/dev/null 2>&1; then
		skipped="$skipped $name"
		return
	fi
	# shellcheck disable=SC2086
	if $cc $CFLAGS "$@" -o "$OUT/$name" "$SRC" 2>"$OUT/$name.log" ||
	   $cc $CFLAGS "$@" -c -o "$OUT/$name.o" "$SRC" 2>"$OUT/$name.log"; then
		passed="$passed $name"
	else
		cat "$OUT/$name.log" >&2
		failed="$failed $name"
	fi
}

build host "${CC:-cc}"
case " $skipped " in
*" host "*) failed="$failed host(no ${CC:-cc})" ;;
esac
build aarch64 aarch64-linux-gnu-gcc
build arm32 arm-linux-gnueabihf-gcc
# The 32-bit layout (20-byte clean_invalid block), if a compiler for it exists.
if ${CC:-cc} -m32 -E -x c /dev/null >/dev/null 2>&1 &&
   printf '#include <linux/ioctl.h>\n' | ${CC:-cc} -m32 -E -x c - >/dev/null 2>&1; then
	build host-m32 "${CC:-cc}" -m32
fi
# Also clang for armv7 (32-bit pointers), syntax only. It borrows the host's asm/ headers: the
# ones this header reaches (ioctl.h, types.h) are the asm-generic ones on arm too.
CLANG=$(command -v clang)
if [ -z "$CLANG" ]; then
	# The newest of the versioned installs (the last in glob order).
	for c in /usr/lib/llvm-*/bin/clang; do
		if [ -e "$c" ]; then CLANG=$c; fi
	done
fi
MULTIARCH=$(${CC:-cc} -dumpmachine 2>/dev/null)
if [ -n "$CLANG" ] && [ -n "$MULTIARCH" ] && [ -d "/usr/include/$MULTIARCH" ]; then
	build arm32-clang "$CLANG" --target=armv7-linux-gnueabihf -fsyntax-only \
		-I "/usr/include/$MULTIARCH" -I /usr/include
else
	skipped="$skipped arm32-clang"
fi

if [ -n "$failed" ]; then
	echo "check-header: FAIL:$failed (passed:${passed:- none})"
	exit 1
fi
if [ -z "$passed" ]; then
	echo "check-header: FAIL: no compiler"
	exit 1
fi
echo "check-header: PASS:$passed${skipped:+ (skipped:$skipped)}"
