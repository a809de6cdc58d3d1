# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# shellcheck disable=SC3043 # local: not POSIX, but busybox sh (ash) has it
# Guest tests of the simulated VideoCore (vpu-sim.ko) through the VCHIQ test client
# (vchiq-test-client.ko): the SMEM firmware model, asynchronous VCHIQ delivery, the debugfs
# controls, zero-copy access through bus addresses, and clean unload. Sourced after lib.sh;
# the entry point is vpusim_tests. Needs the vpu-sim-virt overlay (node "vcsm,vpu-sim").

VS=/sys/kernel/debug/vpu-sim
VC=/sys/kernel/debug/vchiq-test-client

# ---- helpers ----

# vs_kv FILE KEY NAME: NAME's value on the line "KEY a=1 NAME=2 ..." of FILE.
vs_kv() {
	awk -v k="$2" -v n="$3" '$1 == k { for (i = 2; i <= NF; i++) { split($i, a, "="); if (a[1] == n) print a[2] } }' "$1"
}

# vs_word FILE KEY VALUE FIELD: X on the line "KEY VALUE ... FIELD X ..." of FILE.
vs_word() {
	awk -v k="$2" -v v="$3" -v f="$4" '$1 == k && $2 == v { for (i = 3; i < NF; i++) if ($i == f) { print $(i + 1); exit } }' "$1"
}

# vs_value FILE KEY: the second word of the line starting with KEY.
vs_value() {
	awk -v k="$2" '$1 == k { print $2; exit }' "$1"
}

# Centiseconds since boot.
vs_now() {
	awk '{ printf "%d\n", $1 * 100 }' /proc/uptime
}

# The kernel ids of the last `import`, one per line.
vs_last_kids() {
	awk '$1 == "kid" { print $2 }' "$VC/import"
}

# vs_buf KID FIELD: a field of the client's buffer KID (addr, size, handle, state, trans).
vs_buf() {
	vs_word "$VC/state" kid "$1" "$2"
}

# vs_handle HANDLE FIELD: a field of the simulator's handle (addr, size, kernel_id, refs, ...).
vs_handle() {
	vs_word "$VS/state" handle "$1" "$2"
}

vs_gone() { [ -z "$(vs_buf "$1" state)" ]; }
# vs_counter_is FILE KEY NAME VALUE
vs_counter_is() { [ "$(vs_kv "$1" "$2" "$3")" = "$4" ]; }
vs_handle_gone() { [ -z "$(vs_handle "$1" refs)" ]; }

# vs_test NAME FUNCTION: run a test; FUNCTION sets VS_WHY and returns non-zero on failure.
vs_test() {
	vcsm_run "vpusim/$1"
	VS_WHY=""
	if "$2"; then
		vcsm_pass "vpusim/$1"
	else
		vcsm_fail "vpusim/$1" "${VS_WHY:-failed}"
		vs_defaults 2>/dev/null
		return 1
	fi
}

vs_why() { VS_WHY=$*; return 1; }

# Puts every knob back to its default (after a failed test, so the next one starts clean).
vs_defaults() {
	echo on > "$VC/drain"
	echo 0 > "$VS/reply_delay_ms"
	echo 0 > "$VS/release_delay_ms"
	echo off > "$VS/reorder"
	echo off > "$VS/duplicate"
	echo off > "$VS/hang"
	echo 0 > "$VS/fail_next"
	echo 0 > "$VS/zero_handle_next"
	echo 5000 > "$VC/timeout_ms"
	echo normal > "$VC/mem_reply"
	echo on > "$VS/connected"
}

# vs_import COUNT SIZE: import, and check every new buffer is mapped with a distinct non-zero
# handle that the simulator lists with the same address, size and kernel id.
vs_import() {
	local kids seen k st h a
	echo "$1 $2" > "$VC/import" || { vs_why "import $1 $2 failed"; return 1; }
	kids=$(vs_last_kids)
	[ "$(echo "$kids" | wc -w)" -eq "$1" ] || { cat "$VC/import"; vs_why "expected $1 buffers"; return 1; }
	seen=""
	for k in $kids; do
		st=$(vs_buf "$k" state) h=$(vs_buf "$k" handle) a=$(vs_buf "$k" addr)
		[ "$st" = mapped ] || { vs_why "kid $k is $st, not mapped"; return 1; }
		[ "$h" != 0x0 ] || { vs_why "kid $k got handle 0"; return 1; }
		case " $seen " in *" $h "*) vs_why "handle $h given twice"; return 1 ;; esac
		seen="$seen $h"
		[ $(( a & 0xc0000000 )) -eq $(( 0xc0000000 )) ] || { vs_why "kid $k address $a lacks the 0xC0000000 alias"; return 1; }
		[ "$(vs_handle "$h" kernel_id)" = "$k" ] || { vs_why "simulator handle $h has kernel_id $(vs_handle "$h" kernel_id), not $k"; return 1; }
		[ "$(vs_handle "$h" addr)" = "$a" ] || { vs_why "simulator handle $h address differs from $a"; return 1; }
		[ "$(vs_handle "$h" size)" = "$(vs_buf "$k" size)" ] || { vs_why "simulator handle $h size differs"; return 1; }
	done
	return 0
}

# vs_free_all: free every mapped (or rejected) imported buffer and wait for all of them to go.
vs_free_all() {
	local k
	# shellcheck disable=SC2013 # one id a line; all are read before the first is freed
	for k in $(awk '$1 == "kid" && $0 ~ /state (mapped|rejected)$/ { print $2 }' "$VC/state"); do
		echo "$k" > "$VC/free"
	done
	vcsm_until 30 vs_no_buffers
}
vs_no_buffers() { [ "$(vs_value "$VC/state" buffers)" = 0 ]; }

vs_load_client() {
	insmod /lib/modules/vchiq-test-client.ko || return 1
	vcsm_until 20 vs_acked
}
vs_acked() { [ "$(vs_value "$VC/state" version_acked)" = 1 ]; }

# ---- tests ----

t_load() {
	insmod /lib/modules/vpu-sim.ko || { vs_why "insmod vpu-sim.ko failed"; return 1; }
	[ -e /sys/bus/vchiq-bus/devices/vcsm-cma ] || { vs_why "no vchiq-bus device vcsm-cma"; return 1; }
	[ "$(readlink -f /sys/bus/vchiq-bus/devices/vcsm-cma/..)" = "$(readlink -f /sys/bus/platform/devices/vpu-sim)" ] ||
		{ vs_why "vcsm-cma is not a child of the vpu-sim platform device"; return 1; }
	grep -q '^MODALIAS=vchiq:vcsm-cma$' /sys/bus/vchiq-bus/devices/vcsm-cma/uevent || { vs_why "no MODALIAS=vchiq:vcsm-cma"; return 1; }
	[ "$(vs_value "$VS/state" instances)" = 0 ] || { vs_why "instances before any client"; return 1; }
}

t_connect() {
	vs_load_client || { dmesg | tail -n 20; vs_why "client did not bind or got no CLIENT_VERSION acknowledgement"; return 1; }
	[ "$(readlink -f /sys/bus/vchiq-bus/devices/vcsm-cma/driver)" = "$(readlink -f /sys/bus/vchiq-bus/drivers/vcsm-cma)" ] ||
		{ vs_why "vcsm-cma not bound to the vcsm-cma driver"; return 1; }
	[ "$(vs_value "$VS/state" client_version)" = 2 ] || { vs_why "simulator did not record CLIENT_VERSION 2"; return 1; }
	[ "$(vs_kv "$VS/state" tx client_version_ack)" = 1 ] || { vs_why "not exactly one CLIENT_VERSION acknowledgement"; return 1; }
	# The client released the use that vchiq_open_service leaves held.
	[ "$(vs_word "$VS/state" service "$(vs_service)" use_count)" = 0 ] || { cat "$VS/state"; vs_why "service use count is not 0"; return 1; }
}

t_handles() {
	vs_import 3 0x10000 || return 1
	vs_import 2 0x2000 || return 1
	[ "$(vs_value "$VS/state" handles)" = 5 ] || { vs_why "simulator lists $(vs_value "$VS/state" handles) handles, expected 5"; return 1; }
	vs_free_all || { vs_why "buffers not released after FREE"; return 1; }
	[ "$(vs_value "$VS/state" handles)" = 0 ] || { vs_why "handles left after FREE of everything"; return 1; }
}

# The raw round trip the benchmark compares the driver's import with: `ping N` times N
# IMPORT round trips (send to reply) and frees each buffer; two writers at once are both
# counted; `reset` forgets the samples; nothing is left once the RELEASEDs are in.
t_ping() {
	echo reset > "$VC/ping" || { vs_why "ping reset refused"; return 1; }
	[ "$(cat "$VC/ping")" = "count 0" ] || { vs_why "after reset: $(cat "$VC/ping")"; return 1; }
	echo 20 > "$VC/ping" &
	# On a failure, both sides' state: which trans_id the simulator answered or still holds.
	echo 15 > "$VC/ping" || { wait; cat "$VS/state" "$VC/state"; vs_why "ping 15 failed"; return 1; }
	wait $! || { cat "$VS/state" "$VC/state"; vs_why "ping 20 failed"; return 1; }
	line=$(cat "$VC/ping")
	case "$line" in
	"count 35 p50_ns "[1-9]*" p99_ns "[1-9]*" mean_ns "[1-9]*) ;;
	*) vs_why "after 20 + 15 round trips: '$line'"; return 1 ;;
	esac
	echo "$line"
	if echo 0 > "$VC/ping" 2>/dev/null; then vs_why "ping 0 accepted"; return 1; fi
	vcsm_until 30 vs_no_buffers || { cat "$VC/state"; vs_why "buffers left after the pings"; return 1; }
}

t_release_after_last_ref() {
	vs_import 1 0x4000 || return 1
	k=$(vs_last_kids) h=$(vs_buf "$k" handle)
	before=$(vs_kv "$VS/state" tx released)
	echo "$h" > "$VS/hold" || { vs_why "hold $h failed"; return 1; }
	echo "$h" > "$VS/hold" || { vs_why "second hold $h failed"; return 1; }
	echo "$k" > "$VC/free" || { vs_why "free $k failed"; return 1; }
	sleep 0.3
	[ "$(vs_buf "$k" state)" = freeing ] || { vs_why "buffer $k is '$(vs_buf "$k" state)' while the VPU holds it"; return 1; }
	[ "$(vs_handle "$h" importer)" = 0 ] || { vs_why "FREE did not drop the importer reference"; return 1; }
	[ "$(vs_handle "$h" refs)" = 2 ] || { vs_why "refs $(vs_handle "$h" refs), expected 2 VPU references"; return 1; }
	[ "$(vs_kv "$VS/state" tx released)" = "$before" ] || { vs_why "RELEASED sent while the VPU holds references"; return 1; }
	echo "$h" > "$VS/drop"
	sleep 0.3
	[ "$(vs_buf "$k" state)" = freeing ] || { vs_why "RELEASED after dropping only one of two VPU references"; return 1; }
	echo "$h" > "$VS/drop"
	vcsm_until 20 vs_gone "$k" || { vs_why "no RELEASED after the last VPU reference was dropped"; return 1; }
	vs_handle_gone "$h" || { vs_why "handle $h still listed"; return 1; }
	[ "$(vs_kv "$VS/state" tx released)" = $((before + 1)) ] || { vs_why "not exactly one RELEASED"; return 1; }
	if echo "$h" > "$VS/drop" 2>/dev/null; then vs_why "drop of a released handle accepted"; return 1; fi
}

t_release_delay() {
	echo 2000 > "$VS/release_delay_ms"
	vs_import 1 0x4000 || return 1
	k=$(vs_last_kids)
	t0=$(vs_now)
	echo "$k" > "$VC/free"
	[ "$(vs_value "$VS/state" pending_releases)" = 1 ] || { vs_why "RELEASED not pending during release_delay_ms"; return 1; }
	[ "$(vs_buf "$k" state)" = freeing ] || { vs_why "buffer released before the delay"; return 1; }
	vcsm_until 50 vs_gone "$k" || { vs_why "no RELEASED after the delay"; return 1; }
	[ $(( $(vs_now) - t0 )) -ge 190 ] || { vs_why "RELEASED after $(( $(vs_now) - t0 )) cs, before release_delay_ms 2000"; return 1; }
	[ "$(vs_value "$VS/state" pending_releases)" = 0 ] || { vs_why "a release still pending"; return 1; }
	echo 0 > "$VS/release_delay_ms"
}

t_reply_delay() {
	echo 400 > "$VS/reply_delay_ms"
	t0=$(vs_now)
	vs_import 1 0x4000 || return 1
	t1=$(vs_now)
	[ $((t1 - t0)) -ge 35 ] || { vs_why "IMPORT answered after $((t1 - t0)) cs despite reply_delay_ms 400"; return 1; }
	# A reply later than the client's timeout: the import fails, and the late reply is freed.
	echo 1000 > "$VS/reply_delay_ms"
	echo 200 > "$VC/timeout_ms"
	late=$(vs_kv "$VC/state" counters late_replies)
	if echo "1 0x4000" > "$VC/import" 2>/dev/null; then vs_why "import succeeded past its timeout"; return 1; fi
	k=$(vs_last_kids)
	[ "$(vs_buf "$k" state)" = timed-out ] || { vs_why "buffer $k is '$(vs_buf "$k" state)', not timed-out"; return 1; }
	vcsm_until 30 vs_gone "$k" || { vs_why "late reply not answered with FREE/RELEASED"; return 1; }
	[ "$(vs_kv "$VC/state" counters late_replies)" = $((late + 1)) ] || { vs_why "late reply not seen"; return 1; }
	vs_defaults
	vs_free_all
}

t_reorder() {
	echo 300 > "$VS/reply_delay_ms"
	echo on > "$VS/reorder"
	vs_import 4 0x2000 || return 1
	# The last four replies arrived newest first.
	order=$(awk '$1 == "reply_order" { for (i = NF - 3; i <= NF; i++) printf "%s ", $i }' "$VC/state")
	prev=""
	for t in $order; do
		if [ -n "$prev" ] && [ "$t" -ge "$prev" ]; then vs_why "replies arrived in order '$order', not newest first"; return 1; fi
		prev=$t
	done
	vs_defaults
	vs_free_all
}

t_duplicate() {
	echo on > "$VS/duplicate"
	unexpected=$(vs_kv "$VC/state" counters unexpected_replies)
	dups=$(vs_kv "$VS/state" tx duplicate)
	vs_import 2 0x2000 || return 1
	vcsm_until 10 vs_counter_is "$VC/state" counters unexpected_replies $((unexpected + 2)) ||
		{ vs_why "client saw $(( $(vs_kv "$VC/state" counters unexpected_replies) - unexpected )) duplicates, expected 2"; return 1; }
	[ "$(vs_kv "$VS/state" tx duplicate)" = $((dups + 2)) ] || { vs_why "simulator did not count 2 duplicates"; return 1; }
	[ "$(vs_value "$VS/state" handles)" = 2 ] || { vs_why "duplicates created handles"; return 1; }
	vs_defaults
	vs_free_all
}

t_hang() {
	echo on > "$VS/hang"
	echo 300 > "$VC/timeout_ms"
	if echo "1 0x2000" > "$VC/import" 2>/dev/null; then vs_why "import answered while hung"; return 1; fi
	k=$(vs_last_kids)
	[ "$(vs_value "$VS/state" outbox)" -ge 1 ] || { vs_why "reply not held back in the outbox"; return 1; }
	echo off > "$VS/hang"
	vcsm_until 20 vs_gone "$k" || { vs_why "held-back reply not delivered (and freed) after hang off"; return 1; }
	vs_defaults
}

t_fail_next() {
	echo 1 > "$VS/fail_next"
	rx=$(vs_kv "$VS/state" rx import)
	if echo "1 0x2000" > "$VC/import" 2>/dev/null; then vs_why "IMPORT send did not fail"; return 1; fi
	[ "$(vs_kv "$VS/state" errors send_failed)" = 1 ] || { vs_why "send_failed not counted"; return 1; }
	[ "$(vs_kv "$VS/state" rx import)" = "$rx" ] || { vs_why "a failed send reached the firmware"; return 1; }
	[ "$(vs_value "$VC/state" buffers)" = 0 ] || { vs_why "client kept a buffer whose IMPORT was never sent"; return 1; }
	vs_import 1 0x2000 || { vs_why "fail_next 1 failed more than one IMPORT"; return 1; }
	vs_free_all
}

t_zero_handle() {
	echo 1 > "$VS/zero_handle_next"
	echo "1 0x2000" > "$VC/import" || { vs_why "import failed"; return 1; }
	k=$(vs_last_kids)
	{ [ "$(vs_buf "$k" state)" = rejected ] && [ "$(vs_buf "$k" handle)" = 0x0 ]; } || { vs_why "IMPORT not answered with handle 0"; return 1; }
	[ "$(vs_value "$VS/state" handles)" = 0 ] || { vs_why "a refused IMPORT left a handle"; return 1; }
	[ "$(vs_kv "$VS/state" errors import_zero_handle)" = 1 ] || { vs_why "not counted"; return 1; }
	vs_import 1 0x2000 || return 1
	vs_free_all
}

# vs_reject ADDR SIZE REASON: IMPORT of bus range ADDR+SIZE gets handle 0, logged with REASON.
vs_reject() {
	local rejected k
	rejected=$(vs_kv "$VS/state" errors import_rejected)
	echo "$1 $2" > "$VC/import_raw" || { vs_why "import_raw $1 $2 failed"; return 1; }
	k=$(vs_last_kids)
	[ "$(vs_buf "$k" state)" = rejected ] || { vs_why "IMPORT of $1+$2 got handle $(vs_buf "$k" handle)"; return 1; }
	[ "$(vs_kv "$VS/state" errors import_rejected)" = $((rejected + 1)) ] || { vs_why "rejection of $1+$2 not counted"; return 1; }
	dmesg | grep -q "addr $1 size $2: $3" || { dmesg | tail -n 5; vs_why "no log line '$3' for $1+$2"; return 1; }
}

t_invalid_import() {
	vs_import 1 0x4000 || return 1
	k=$(vs_last_kids) a=$(vs_buf "$k" addr)
	phys=$(printf '0x%08x' $(( a & 0x3fffffff | 0x40000000 )))
	vs_reject "$phys" 0x1000 "not a 0xC0000000-aliased" || return 1
	vs_reject "$a" 0x1001 "size not page aligned" || return 1
	vs_reject "$a" 0x0 "size 0" || return 1
	vs_reject "$(printf '0x%08x' $((a + 0x10)))" 0x1000 "address not page aligned" || return 1
	vs_reject 0xfffff000 0x2000 "outside the VPU's dma-ranges" || return 1
	[ "$(vs_value "$VS/state" handles)" = 1 ] || { vs_why "rejected IMPORTs left handles"; return 1; }
	# Rejected raw imports hold no memory; drop them with the rest.
	vs_free_all
}

t_zero_copy() {
	vs_import 1 0x10000 || return 1
	k=$(vs_last_kids) h=$(vs_buf "$k" handle)
	# The VPU writes through the bus address; the CPU reads the same bytes.
	echo "$h 0x1234" > "$VS/fill" || { vs_why "VPU fill failed"; return 1; }
	echo "$h" > "$VS/checksum"
	vpu=$(vs_word "$VS/checksum" handle "$h" checksum)
	echo "$k" > "$VC/checksum"
	cpu=$(vs_word "$VC/checksum" kid "$k" checksum)
	{ [ -n "$vpu" ] && [ "$vpu" = "$cpu" ]; } || { vs_why "VPU checksum $vpu, CPU checksum $cpu"; return 1; }
	# ...and they are exactly the pattern of seed 0x1234, as the CPU writes it itself.
	echo "$k 0x1234" > "$VC/fill"
	echo "$k" > "$VC/checksum"
	[ "$(vs_word "$VC/checksum" kid "$k" checksum)" = "$vpu" ] || { vs_why "VPU-written data is not the pattern"; return 1; }
	# The CPU writes; the VPU reads the same bytes.
	echo "$k 0x5678" > "$VC/fill"
	echo "$k" > "$VC/checksum"
	cpu=$(vs_word "$VC/checksum" kid "$k" checksum)
	echo "$h" > "$VS/checksum"
	vpu2=$(vs_word "$VS/checksum" handle "$h" checksum)
	[ "$cpu" = "$vpu2" ] || { vs_why "CPU wrote checksum $cpu, VPU reads $vpu2"; return 1; }
	[ "$cpu" != "$vpu" ] || { vs_why "different seeds gave the same checksum"; return 1; }
	[ "$(vs_handle "$h" refs)" = 1 ] || { vs_why "VPU DMA left a reference behind"; return 1; }
	vs_free_all
}

t_mem_request() {
	released=$(vs_kv "$VC/state" counters released)
	echo "0x3000 0x10000 vpu-buffer" > "$VS/mem_request" || { vs_why "mem_request refused"; return 1; }
	vcsm_until 20 grep -q '^mem_request ok' "$VS/mem_request" || { cat "$VS/mem_request"; vs_why "no valid VC_MEM_REQUEST_REPLY"; return 1; }
	line=$(cat "$VS/mem_request")
	h=$(echo "$line" | awk '{ for (i = 1; i < NF; i++) if ($i == "vc_handle") print $(i + 1) }')
	kid=$(echo "$line" | awk '{ for (i = 1; i < NF; i++) if ($i == "kernel_id") print $(i + 1) }')
	addr=$(echo "$line" | awk '{ for (i = 1; i < NF; i++) if ($i == "addr") print $(i + 1) }')
	[ $(( addr % 0x10000 )) -eq 0 ] || { vs_why "address $addr not aligned to 0x10000"; return 1; }
	{ [ "$(vs_buf "$kid" handle)" = "$h" ] && [ "$(vs_buf "$kid" addr)" = "$addr" ]; } || { vs_why "client has no buffer $kid for handle $h"; return 1; }
	{ [ "$(vs_handle "$h" refs)" = 1 ] && [ "$(vs_handle "$h" kernel_id)" = "$kid" ]; } || { vs_why "simulator does not hold handle $h"; return 1; }
	grep "^handle $h " "$VS/state" | grep -q 'vpu-alloc name vpu-buffer$' || { vs_why "handle $h is not the named VPU allocation"; return 1; }
	# Zero copy for VPU-requested memory too.
	echo "$h 0xabc" > "$VS/fill"
	echo "$h" > "$VS/checksum"
	echo "$kid" > "$VC/checksum"
	[ "$(vs_word "$VS/checksum" handle "$h" checksum)" = "$(vs_word "$VC/checksum" kid "$kid" checksum)" ] || { vs_why "VPU and CPU see different data"; return 1; }
	# The VPU lets go: RELEASED, and the host frees the memory.
	echo "$h" > "$VS/drop"
	vcsm_until 20 vs_gone "$kid" || { vs_why "no RELEASED for the VPU allocation"; return 1; }
	[ "$(vs_kv "$VC/state" counters released)" = $((released + 1)) ] || { vs_why "RELEASED not counted by the client"; return 1; }
	# A request the host cannot serve (over its 16 MiB limit) is answered with address 0.
	echo "0x2000000 0x1000 too-big" > "$VS/mem_request" || { vs_why "mem_request refused"; return 1; }
	vcsm_until 20 grep -q '^mem_request host-failed' "$VS/mem_request" || { cat "$VS/mem_request"; vs_why "failure reply not recognised"; return 1; }
	[ "$(vs_kv "$VS/state" errors mem_request_reply_invalid)" = 0 ] || { vs_why "the simulator found invalid replies"; return 1; }
	[ "$(vs_kv "$VS/state" errors mem_request_bad_addr)" = 0 ] || { vs_why "the simulator refused the client's memory"; return 1; }
}

vs_mem_request_answered() { ! grep -q '^mem_request pending' "$VS/mem_request"; }
# The value of FIELD on the mem_request result line.
vs_mem_field() { awk -v f="$1" '{ for (i = 1; i < NF; i++) if ($i == f) print $(i + 1) }' "$VS/mem_request"; }

# vs_bad_reply MODE SIZE ALIGN RESULT REASON: the client answers the next VC_MEM_REQUEST (SIZE
# ALIGN) wrong on purpose, as MODE says (its mem_reply file); the simulator must refuse the
# reply as RESULT (host-bad-addr or invalid) with a reason starting with REASON, create no
# handle, keep no pending request, and count it (mem_request_bad_addr or
# mem_request_reply_invalid).
vs_bad_reply() {
	local counter before handles sent line
	case $4 in
	host-bad-addr) counter=mem_request_bad_addr ;;
	*) counter=mem_request_reply_invalid ;;
	esac
	before=$(vs_kv "$VS/state" errors "$counter")
	handles=$(vs_value "$VS/state" handles)
	sent=$(vs_kv "$VC/state" counters bad_replies)
	echo "$1" > "$VC/mem_reply" || { vs_why "mem_reply '$1' refused"; return 1; }
	echo "$2 $3 bad-reply" > "$VS/mem_request" || { vs_why "mem_request $2 $3 refused"; return 1; }
	vcsm_until 20 vs_mem_request_answered || { vs_why "no reply to the request for '$1'"; return 1; }
	line=$(cat "$VS/mem_request")
	[ "$(vs_kv "$VC/state" counters bad_replies)" = $((sent + 1)) ] ||
		{ vs_why "the client did not send the wrong reply '$1' ($line)"; return 1; }
	case "$line" in
	"mem_request $4 trans_id "*": $5"*) ;;
	*) vs_why "reply '$1' to $2/$3: '$line', expected $4: $5"; return 1 ;;
	esac
	[ "$(vs_kv "$VS/state" errors "$counter")" = $((before + 1)) ] || { vs_why "reply '$1' not counted in $counter"; return 1; }
	[ "$(vs_value "$VS/state" handles)" = "$handles" ] || { cat "$VS/state"; vs_why "reply '$1' created a handle"; return 1; }
	! grep -q '^mem_request_pending' "$VS/state" || { vs_why "request still pending after the reply '$1'"; return 1; }
	[ "$(cat "$VC/mem_reply")" = normal ] || { vs_why "mem_reply did not go back to normal"; return 1; }
}

# A VC_MEM_REQUEST_REPLY must name memory the host allocated for that request: the simulator
# refuses every other address, and still accepts the right one.
t_mem_request_bad_reply() {
	local k h vk vh logged
	logged=$(dmesg | grep -c 'refused, not memory the host allocated')
	vs_import 1 0x4000 || return 1
	k=$(vs_last_kids) h=$(vs_buf "$k" handle)
	# A correct VPU allocation first: another live buffer of a different kind.
	echo "0x2000 0 good" > "$VS/mem_request" || { vs_why "mem_request refused"; return 1; }
	vcsm_until 20 grep -q '^mem_request ok' "$VS/mem_request" || { cat "$VS/mem_request"; vs_why "correct reply refused"; return 1; }
	vk=$(vs_mem_field kernel_id) vh=$(vs_mem_field vc_handle)
	# Another live buffer: an import, and the earlier VPU allocation.
	vs_bad_reply "kid $k" 0x4000 0 host-bad-addr "overlaps a live handle (handle $h)" || return 1
	vs_bad_reply "kid $vk" 0x2000 0 host-bad-addr "overlaps a live handle (handle $vh)" || return 1
	# Memory allocated for the request but freed before the reply.
	vs_bad_reply freed 0x4000 0 host-bad-addr "page is free" || return 1
	# Misaligned: not page aligned; page aligned but not as requested.
	vs_bad_reply "offset 0x800" 0x2000 0 host-bad-addr "address not page aligned" || return 1
	vs_bad_reply "offset 0x1000" 0x1000 0x10000 host-bad-addr "address not aligned to the requested alignment" || return 1
	# Outside the VPU's window: past the end of its bus, and a physical (unaliased) address.
	vs_bad_reply "raw 0xfffff000" 0x2000 0 host-bad-addr "outside the VPU's dma-ranges" || return 1
	vs_bad_reply "raw 0x40001000" 0x1000 0 host-bad-addr "not a 0xC0000000-aliased" || return 1
	# Memory that is not the DMA API's: a slab object in the window.
	vs_bad_reply slab 0x1000 0 host-bad-addr "page is slab memory" || return 1
	# Right memory, but the kernel id of a live buffer: RELEASED could not tell them apart.
	vs_bad_reply "kernel-id $k" 0x1000 0 invalid "kernel_id already names a live handle (handle $h)" || return 1
	[ "$(dmesg | grep -c 'refused, not memory the host allocated')" -gt "$logged" ] || { vs_why "no kernel log line for a refused reply"; return 1; }
	# The right memory is still accepted after all that.
	echo "0x3000 0x1000 good-again" > "$VS/mem_request" || { vs_why "mem_request refused"; return 1; }
	vcsm_until 20 grep -q '^mem_request ok' "$VS/mem_request" || { cat "$VS/mem_request"; vs_why "correct reply refused after the wrong ones"; return 1; }
	echo "$vh" > "$VS/drop"
	vs_mem_field vc_handle > "$VS/drop"
	vs_free_all || { vs_why "buffers not released"; return 1; }
	[ "$(vs_value "$VS/state" handles)" = 0 ] || { cat "$VS/state"; vs_why "handles left"; return 1; }
}

t_protocol1() {
	rmmod vchiq_test_client || { vs_why "rmmod client failed"; return 1; }
	echo 1 > "$VS/protocol"
	insmod /lib/modules/vchiq-test-client.ko || { vs_why "insmod client failed"; return 1; }
	sleep 0.3
	[ "$(vs_value "$VC/state" version_acked)" = 0 ] || { vs_why "protocol 1 firmware acknowledged CLIENT_VERSION"; return 1; }
	silently=$(vs_kv "$VS/state" errors released_silently)
	sent=$(vs_kv "$VS/state" tx released)
	vs_import 1 0x4000 || return 1
	k=$(vs_last_kids) h=$(vs_buf "$k" handle)
	echo "$h" > "$VS/hold"
	echo "$k" > "$VC/free"
	# Without the handshake FREE is final for the host.
	vs_gone "$k" || { vs_why "client kept the buffer after FREE without the handshake"; return 1; }
	[ "$(vs_handle "$h" refs)" = 1 ] || { vs_why "VPU reference lost"; return 1; }
	echo "$h" > "$VS/drop"
	vs_handle_gone "$h" || { vs_why "handle not dropped"; return 1; }
	sleep 0.3
	[ "$(vs_kv "$VS/state" tx released)" = "$sent" ] || { vs_why "protocol 1 firmware sent RELEASED"; return 1; }
	[ "$(vs_kv "$VS/state" errors released_silently)" = $((silently + 1)) ] || { vs_why "silent release not counted"; return 1; }
	[ "$(vs_kv "$VC/state" counters released_unknown)" = 0 ] || { vs_why "client got an unexpected RELEASED"; return 1; }
	if echo "0x1000 0 x" > "$VS/mem_request" 2>/dev/null; then vs_why "protocol 1 firmware sent VC_MEM_REQUEST"; return 1; fi
	rmmod vchiq_test_client
	echo 2 > "$VS/protocol"
	vs_load_client || { vs_why "no handshake after going back to protocol 2"; return 1; }
}

# vs_refused FILE INPUT: writing INPUT to FILE must fail with a kernel log line.
vs_refused() {
	local n
	n=$(dmesg | grep -c refused)
	if echo "$2" > "$1" 2>/dev/null; then vs_why "'$2' > $1 accepted"; return 1; fi
	[ "$(dmesg | grep -c refused)" -gt "$n" ] || { vs_why "'$2' > $1 refused without a log line"; return 1; }
}

t_bad_input() {
	vs_refused "$VS/reorder" maybe || return 1
	vs_refused "$VS/protocol" 3 || return 1
	vs_refused "$VS/reply_delay_ms" 99999999 || return 1
	vs_refused "$VS/release_delay_ms" -1 || return 1
	vs_refused "$VS/hold" 0 || return 1
	vs_refused "$VS/fill" "0x1001" || return 1
	vs_refused "$VS/mem_request" "1 2" || return 1
	vs_refused "$VS/mem_request" "0x1000 3 name" || return 1
	vs_refused "$VS/checksum" zero || return 1
	vs_refused "$VC/import" "0 0x1000" || return 1
	vs_refused "$VC/import" "1 0x1001" || return 1
	# A well-formed write about a handle that does not exist fails too.
	if echo 0x7ffffff0 > "$VS/hold" 2>/dev/null; then vs_why "hold of an unknown handle accepted"; return 1; fi
	if echo 0x7ffffff0 > "$VS/drop" 2>/dev/null; then vs_why "drop of an unknown handle accepted"; return 1; fi
	return 0
}

# A client that takes no messages stalls the VPU after 64 unreleased ones (VCHIQ slots full);
# taking them lets everything through.
t_stall() {
	n=70 svc=$(vs_service)
	echo off > "$VC/drain"
	i=0
	while [ $i -lt $n ]; do
		echo "0x1000 0 stall$i" > "$VS/mem_request" || { vs_why "mem_request $i refused"; return 1; }
		i=$((i + 1))
	done
	vcsm_until 30 vs_counter_is_word service "$svc" unreleased 64 || { cat "$VS/state"; vs_why "not stalled at 64 unreleased messages"; return 1; }
	sleep 0.3
	[ "$(vs_word "$VS/state" service "$svc" unreleased)" = 64 ] || { vs_why "delivered past 64 unreleased messages"; return 1; }
	[ "$(vs_value "$VS/state" outbox)" = $((n - 64)) ] || { vs_why "outbox holds $(vs_value "$VS/state" outbox), expected $((n - 64))"; return 1; }
	echo on > "$VC/drain"
	vcsm_until 100 vs_counter_is_word service "$svc" unreleased 0 || { vs_why "messages not released after drain on"; return 1; }
	vcsm_until 100 vs_mem_requests_served $n || { cat "$VS/state"; vs_why "not every VC_MEM_REQUEST answered"; return 1; }
	# The VPU lets go of all of them; the client frees them on RELEASED.
	# shellcheck disable=SC2013 # one handle a line; all are read before the first is dropped
	for h in $(awk '$1 == "handle" && / vpu-alloc name stall/ { print $2 }' "$VS/state"); do
		echo "$h" > "$VS/drop"
	done
	vcsm_until 100 vs_no_buffers || { vs_why "VPU allocations not freed after RELEASED"; return 1; }
}
# The number of the test client's connected callbacks that have run.
vs_callbacks_run() { awk '$1 == "registered" { print $4 }' "$VC/connected_callbacks"; }
vs_conn() { vs_kv "$VS/state" connection "$1"; }
vs_client_version_is() { [ "$(vs_value "$VS/state" client_version)" = "$1" ]; }

# vchiq_add_connected_callback as VCHIQ has it: at once while connected; before the connection,
# deferred (at most 10, then VCHIQ's error line) and run when it comes up; a client that probes
# before it gets ENOTCONN from vchiq_initialise, and its deferred callback goes with its probe.
t_connected_callbacks() {
	local run imm over ran dropped
	{ [ "$(cat "$VS/connected")" = on ] && [ "$(vs_conn remote_up)" = on ]; } || { vs_why "not connected after probe"; return 1; }
	run=$(vs_callbacks_run) imm=$(vs_conn immediate)
	echo 3 > "$VC/connected_callbacks" || { vs_why "connected_callbacks 3 failed"; return 1; }
	[ "$(vs_callbacks_run)" = $((run + 3)) ] || { vs_why "$(( $(vs_callbacks_run) - run )) of 3 callbacks ran at once while connected"; return 1; }
	[ "$(vs_conn immediate)" = $((imm + 3)) ] || { vs_why "immediate calls not counted"; return 1; }
	over=$(vs_conn over_limit) ran=$(vs_conn deferred_run)
	echo off > "$VS/connected" || { vs_why "connected off failed"; return 1; }
	echo 11 > "$VC/connected_callbacks" || { vs_why "connected_callbacks 11 failed"; return 1; }
	[ "$(vs_callbacks_run)" = $((run + 3)) ] || { vs_why "a callback ran before the connection"; return 1; }
	[ "$(vs_conn deferred)" = 10 ] || { grep ^connection "$VS/state"; vs_why "not 10 deferred callbacks"; return 1; }
	[ "$(vs_conn over_limit)" = $((over + 1)) ] || { vs_why "the 11th callback was not refused"; return 1; }
	dmesg | grep -q 'deferred callbacks(10) exceeded the maximum limit(10)' || { vs_why "no error line for the 11th callback"; return 1; }
	echo on > "$VS/connected" || { vs_why "connected on failed"; return 1; }
	[ "$(vs_callbacks_run)" = $((run + 13)) ] || { vs_why "$(( $(vs_callbacks_run) - run - 3 )) of 10 deferred callbacks ran on connecting"; return 1; }
	{ [ "$(vs_conn deferred)" = 0 ] && [ "$(vs_conn deferred_run)" = $((ran + 10)) ]; } || { grep ^connection "$VS/state"; vs_why "deferred callbacks not run once each"; return 1; }
	# Probing before the connection: the test client initialises at once, and fails.
	dropped=$(vs_conn dropped)
	rmmod vchiq_test_client || { vs_why "rmmod failed"; return 1; }
	echo off > "$VS/connected"
	insmod /lib/modules/vchiq-test-client.ko || { vs_why "insmod failed"; return 1; }
	[ ! -e /sys/bus/vchiq-bus/devices/vcsm-cma/driver ] || { echo on > "$VS/connected"; vs_why "the client bound before VCHIQ was connected"; return 1; }
	dmesg | grep -q 'vchiq_initialise: Videocore not initialized' || { echo on > "$VS/connected"; vs_why "no ENOTCONN log line"; return 1; }
	{ [ "$(vs_conn dropped)" = $((dropped + 1)) ] && [ "$(vs_conn deferred)" = 0 ]; } ||
		{ echo on > "$VS/connected"; grep ^connection "$VS/state"; vs_why "the failed probe's deferred callback was kept"; return 1; }
	rmmod vchiq_test_client
	echo on > "$VS/connected"
	vs_load_client || { vs_why "client did not bind once connected"; return 1; }
}

# The real driver's connected callback (vc_sm_cma.rs vchiq_connected, from probe) when VCHIQ
# connects after the probe: it waits, then connects from the callback, run under the connected
# mutex. Lockdep watches the mutex throughout.
t_connected_driver() {
	[ -e /lib/modules/vc-sm-cma.ko ] || { vs_why "no vc-sm-cma.ko"; return 1; }
	rmmod vchiq_test_client || { vs_why "rmmod failed"; return 1; }
	echo off > "$VS/connected"
	insmod /lib/modules/vc-sm-cma.ko || { echo on > "$VS/connected"; vs_why "insmod vc-sm-cma failed"; return 1; }
	sleep 0.5
	[ "$(readlink -f /sys/bus/vchiq-bus/devices/vcsm-cma/driver)" = "$(readlink -f /sys/bus/vchiq-bus/drivers/vcsm-cma)" ] ||
		{ echo on > "$VS/connected"; vs_why "vc-sm-cma did not bind"; return 1; }
	{ [ ! -e /dev/vcsm-cma ] && [ "$(vs_value "$VS/state" instances)" = 0 ]; } ||
		{ echo on > "$VS/connected"; vs_why "the driver used VCHIQ before its connected callback"; return 1; }
	[ "$(vs_conn deferred)" = 1 ] || { echo on > "$VS/connected"; vs_why "the driver's callback was not deferred"; return 1; }
	echo on > "$VS/connected" || { vs_why "connected on failed"; return 1; }
	vcsm_until 50 [ -c /dev/vcsm-cma ] || { dmesg | tail -n 10; vs_why "driver not ready after the connection came up"; return 1; }
	vcsm_until 20 vs_client_version_is 2 || { vs_why "driver did not announce protocol 2"; return 1; }
	rmmod vc_sm_cma || { vs_why "rmmod vc_sm_cma failed"; return 1; }
	vs_load_client || { vs_why "client did not bind again"; return 1; }
}

vs_counter_is_word() { [ "$(vs_word "$VS/state" "$1" "$2" "$3")" = "$4" ]; }
# The handle of the (one) open service.
vs_service() { awk '$1 == "service" { print $2; exit }' "$VS/state"; }
vs_mem_requests_served() {
	[ "$(awk '$1 == "handle" && / vpu-alloc name stall/' "$VS/state" | wc -l)" = "$1" ] &&
		! grep -q '^mem_request_pending' "$VS/state"
}

t_no_misuse() {
	[ "$(vs_kv "$VS/state" errors client_errors)" = 0 ] || { dmesg | grep vpu_sim | tail -n 10; vs_why "the client misused the VCHIQ API"; return 1; }
	[ "$(vs_kv "$VS/state" rx invalid)" = 0 ] || { vs_why "undecodable host messages"; return 1; }
	[ "$(vs_kv "$VC/state" counters undecodable)" = 0 ] || { vs_why "undecodable VPU messages"; return 1; }
	[ "$(vs_kv "$VC/state" counters released_unknown)" = 0 ] || { vs_why "RELEASED for unknown buffers"; return 1; }
}

t_rebind() {
	# A second bind of the same vchiq device: the driver core dropped its DMA set-up on unbind;
	# the client restores it, so addresses still carry the alias.
	rmmod vchiq_test_client || { vs_why "rmmod failed"; return 1; }
	vs_load_client || { vs_why "client did not bind again"; return 1; }
	vs_import 1 0x2000 || return 1
	vs_free_all
}

t_unload() {
	vs_import 2 0x4000 || return 1
	echo "0x2000 0x1000 held" > "$VS/mem_request"
	vcsm_until 20 grep -q '^mem_request ok' "$VS/mem_request" || { vs_why "mem request failed"; return 1; }
	# The client gives every import back on unload and frees its memory.
	rmmod vchiq_test_client || { vs_why "rmmod vchiq_test_client failed"; return 1; }
	{ [ "$(vs_value "$VS/state" instances)" = 0 ] && [ "$(vs_value "$VS/state" services)" = 0 ]; } ||
		{ cat "$VS/state"; vs_why "client left instances or services"; return 1; }
	[ "$(vs_value "$VS/state" handles)" = 1 ] || { cat "$VS/state"; vs_why "imports not freed on unload"; return 1; }
	rmmod vpu_sim || { vs_why "rmmod vpu_sim failed"; return 1; }
	[ ! -e /sys/bus/vchiq-bus ] || { vs_why "vchiq-bus still registered"; return 1; }
	[ ! -e "$VS" ] || { vs_why "debugfs vpu-sim still there"; return 1; }
	# And once more from scratch.
	insmod /lib/modules/vpu-sim.ko || { vs_why "reload of vpu-sim failed"; return 1; }
	vs_load_client || { vs_why "client did not bind after reload"; return 1; }
	vs_import 1 0x2000 || return 1
	{ rmmod vchiq_test_client && rmmod vpu_sim; } || { vs_why "second unload failed"; return 1; }
}

vpusim_tests() {
	if [ ! -d /sys/firmware/devicetree/base/vpu-sim ]; then
		vcsm_run vpusim/load
		vcsm_fail vpusim/load "no /vpu-sim node in the device tree (vpu-sim-virt overlay not applied)"
		return
	fi
	vs_test load t_load || return
	vs_test connect t_connect
	vs_test import-handles t_handles
	vs_test ping t_ping
	vs_test released-after-last-vpu-ref t_release_after_last_ref
	vs_test release-delay t_release_delay
	vs_test reply-delay t_reply_delay
	vs_test reorder t_reorder
	vs_test duplicate t_duplicate
	vs_test hang t_hang
	vs_test fail-next t_fail_next
	vs_test zero-handle t_zero_handle
	vs_test invalid-import t_invalid_import
	vs_test zero-copy t_zero_copy
	vs_test mem-request t_mem_request
	vs_test mem-request-bad-reply t_mem_request_bad_reply
	vs_test protocol-1 t_protocol1
	vs_test bad-control-input t_bad_input
	vs_test rebind t_rebind
	vs_test connected-callbacks t_connected_callbacks
	vs_test connected-callback-driver t_connected_driver
	vs_test stall-when-unreleased t_stall
	vs_test no-api-misuse t_no_misuse
	vs_test unload t_unload
}
