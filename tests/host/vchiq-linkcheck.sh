#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Link check of our VCHIQ clients against the real VCHIQ module, so that the binary tested on
# the simulated VPU is the one that loads on a Raspberry Pi:
#
#   - every undefined vchiq_* symbol of each module is exported by the real vchiq.ko (the
#     kernel's Module.symvers), and a GPL-only export is only used by a GPL-compatible module;
#   - with --sim-symvers, the simulator (vpu-sim.ko) exports each of them too, with the same
#     GPL-only-ness, so the module also loads in the test bed;
#   - a non-test module that uses VCHIQ depends on vchiq and never on the simulator (its
#     modpost run must not have seen the simulator's exports, see scripts/build-modules.sh).
#
# Struct layouts (vchiq_header, vchiq_service_params_kernel, vchiq_device, vchiq_driver) are
# checked at build time: static_assert in drivers/kernel-ext/kext_vchiq.c and
# tests/vpu-sim/vpu_sim_shim.c, const assertions in drivers/kernel-ext/vchiq.rs.
#
#   tests/host/vchiq-linkcheck.sh --kdir KDIR [--sim-symvers FILE] MODULE.ko...
#
# Prints one line per check and `vchiq-linkcheck: N passed, M failed`; fails if any failed.
set -uo pipefail

kdir="" sim_symvers="" mods=()
while [ $# -gt 0 ]; do
	case $1 in
	--kdir) kdir=$2; shift 2 ;;
	--sim-symvers) sim_symvers=$2; shift 2 ;;
	-*) echo "vchiq-linkcheck: unknown option $1" >&2; exit 2 ;;
	*) mods+=("$1"); shift ;;
	esac
done
if [ -z "$kdir" ] || [ ${#mods[@]} -eq 0 ]; then
	echo "usage: vchiq-linkcheck.sh --kdir KDIR [--sim-symvers FILE] MODULE.ko..." >&2
	exit 2
fi

pass=0 fail=0
ok() { echo "PASS $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1: $2"; fail=$((fail + 1)); }
finish() {
	echo "vchiq-linkcheck: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit
}

nm=llvm-nm
command -v "$nm" >/dev/null || nm="nm"

symvers="$kdir/Module.symvers"
# The real VCHIQ exports: "symbol TYPE" for the vc04_services vchiq module (6.12 staging) or its
# home in 7.3 (drivers/platform/raspberrypi/vchiq.ko, built from vchiq-interface/).
real=$(awk -F'\t' '$3 ~ /(vc04_services|platform\/raspberrypi)\/vchiq$/ { print $2 " " $4 }' "$symvers" 2>/dev/null)
if [ -z "$real" ]; then
	bad "real-vchiq-exports" "no vchiq module exports in $symvers (kernel without CONFIG_BCM2835_VCHIQ=m?)"
	finish
fi
ok "real-vchiq-exports ($(echo "$real" | wc -l) symbols in $(basename "$(dirname "$symvers")")/Module.symvers)"

sim=""
if [ -n "$sim_symvers" ]; then
	sim=$(awk -F'\t' '$3 ~ /(^|\/)vpu-sim$/ { print $2 " " $4 }' "$sim_symvers" 2>/dev/null)
	if [ -z "$sim" ]; then
		bad "simulator-exports" "no vpu-sim exports in $sim_symvers"
	else
		ok "simulator-exports ($(echo "$sim" | wc -l) symbols)"
	fi
fi

# export_type LIST SYMBOL: the export macro of SYMBOL in LIST, or nothing.
export_type() {
	echo "$1" | awk -v s="$2" '$1 == s { print $2; exit }'
}

for ko in "${mods[@]}"; do
	name=$(basename "$ko" .ko)
	if [ ! -f "$ko" ]; then
		bad "$name" "no such module file: $ko"
		continue
	fi
	license=$(modinfo -F license "$ko" 2>/dev/null)
	depends=$(modinfo -F depends "$ko" 2>/dev/null)
	syms=$("$nm" -u "$ko" 2>/dev/null | awk '$1 == "U" && $2 ~ /^vchiq_/ { print $2 }' | sort -u)
	if [ -z "$syms" ]; then
		bad "$name" "imports no vchiq_* symbol (not a VCHIQ client?)"
		continue
	fi
	for s in $syms; do
		t=$(export_type "$real" "$s")
		if [ -z "$t" ]; then
			bad "$name/$s" "not exported by the real vchiq.ko: the module would not load on a Pi"
			continue
		fi
		if [ "$t" = EXPORT_SYMBOL_GPL ] && ! case $license in GPL | "GPL v2" | "GPL and additional rights" | "Dual BSD/GPL" | "Dual MIT/GPL" | "Dual MPL/GPL") true ;; *) false ;; esac; then
			bad "$name/$s" "GPL-only export used by a module with license '$license'"
			continue
		fi
		if [ -n "$sim" ]; then
			st=$(export_type "$sim" "$s")
			if [ -z "$st" ]; then
				bad "$name/$s" "exported by vchiq.ko but not by the simulator"
				continue
			elif [ "$st" != "$t" ]; then
				bad "$name/$s" "vchiq.ko exports it with $t, the simulator with $st"
				continue
			fi
		fi
		ok "$name/$s ($t)"
	done
	case $name in
	vpu-sim | vchiq-test-client) ;; # Test modules are built against the simulator.
	*)
		case ",$depends," in
		*,vpu-sim,* | *,vpu_sim,*) bad "$name/depends" "depends on the simulator (depends=$depends)" ;;
		*,vchiq,*) ok "$name/depends (depends=$depends)" ;;
		*) bad "$name/depends" "uses VCHIQ but does not depend on vchiq (depends=$depends)" ;;
		esac
		;;
	esac
done
finish
