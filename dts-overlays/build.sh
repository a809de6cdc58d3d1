#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Build every *-overlay.dts here into OUTDIR/<name>.dtbo (cpp, then dtc -@ as the Raspberry Pi
# overlays are built), failing on any dtc warning.
#   dts-overlays/build.sh OUTDIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}
mkdir -p "$out"
for src in "$here"/*-overlay.dts; do
	name=$(basename "$src" -overlay.dts)
	cpp -nostdinc -undef -x assembler-with-cpp -D__DTS__ -P -I "$here" "$src" > "$out/$name.pre.dts"
	dtc -@ -q -W no-unit_address_vs_reg -I dts -O dtb -o "$out/$name.dtbo" "$out/$name.pre.dts" 2> "$out/$name.dtc.log" || { cat "$out/$name.dtc.log" >&2; exit 1; }
	if [ -s "$out/$name.dtc.log" ]; then cat "$out/$name.dtc.log" >&2; exit 1; fi
	echo "$out/$name.dtbo"
done
