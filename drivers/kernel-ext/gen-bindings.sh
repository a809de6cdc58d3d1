#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# Generate ext_bindings.rs: raw bindings for the C APIs the 6.12 `kernel` crate lacks,
# with the exact clang flags the kernel used for its own bindings (saved by kbuild in
# rust/bindings/.bindings_generated.rs.cmd), so layouts match the kernel we link against.
#
#   gen-bindings.sh KDIR OUT.rs [EXTRA_CLANG_FLAGS...]
set -euo pipefail
kdir=$(cd "$1" && pwd)
out=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
shift 2
here=$(cd "$(dirname "$0")" && pwd)
cmdfile="$kdir/rust/bindings/.bindings_generated.rs.cmd"
[ -f "$cmdfile" ] || { echo "gen-bindings: $cmdfile missing: is $kdir a built Rust kernel?" >&2; exit 1; }
# Everything after ` -- ` is the clang command line; drop the dependency-file option.
# The saved command is shell-quoted (e.g. -DARM64_ASM_ARCH='"armv8.5-a"'): let the shell split it.
cflags=()
eval "cflags=($(sed -n 's/^savedcmd_[^=]*:= .* -- //p' "$cmdfile" | sed -e 's/ ; .*//' -e 's/-Wp,-MMD,[^ ]*//'))"
bindgen=${BINDGEN:-bindgen}

fns='dma_buf_(export|fd|get|put|attach|detach|map_attachment_unlocked|unmap_attachment_unlocked|begin_cpu_access|end_cpu_access|mmap|vmap_unlocked|vunmap_unlocked)'
fns+='|dma_heap_(add|remove|get_drvdata|get_name)'
fns+='|dma_(alloc_attrs|free_attrs|alloc_pages|free_pages|mmap_attrs|mmap_pages|get_sgtable_attrs|map_sgtable|unmap_sg_attrs|sync_sg_for_cpu|sync_sg_for_device|set_mask|set_coherent_mask)'
fns+='|sg_(alloc_table|free_table)|vmap|vunmap|of_reserved_mem_device_(init_by_idx|release)'
fns+='|debugfs_(create_dir|create_file|remove)|misc_(register|deregister)|single_(open|release)|seq_(read|lseek|write|printf)'
fns+='|get_unused_fd_flags|put_unused_fd|fd_install|kext_.*'
types='dma_buf|dma_buf_ops|dma_buf_attachment|dma_buf_attach_ops|dma_buf_export_info|dma_heap|dma_heap_ops|dma_heap_export_info'
types+='|iosys_map|dma_resv|dma_fence|dma_fence_cb|dma_fence_func_t|miscdevice|seq_file|seq_operations|dma_buf_poll_cb_t'

# VCHIQ client API and vchiq-bus types (vchiq.rs). The 6.12 headers are found with the
# -I flags the Kbuild passes (drivers/staging/vc04_services/{include,interface}).
fns+='|vchiq_(initialise|shutdown|connect|open_service|close_service|use_service|release_service)'
fns+='|vchiq_(queue_kernel_message|msg_queue_push|msg_hold|release_message|get_service_userdata|add_connected_callback)'
types+='|vchiq_.*|kext_vchiq_.*'

# Importer side of dma-buf (dma_buf_import.rs): the locked map/vmap variants, for exporters that
# forward to another buffer under its (shared) reservation lock.
fns+='|dma_buf_(map_attachment|unmap_attachment|vmap|vunmap)'

# Raspberry Pi firmware (rpi_firmware.rs): only the kext_rpi_firmware_* glue (matched by kext_.*
# above) and the opaque firmware type it passes around.
types+='|rpi_firmware|kext_dma_range|kext_vpu_dt'

# Delayed work and shrinkers (workqueue.rs, shrinker.rs): opaque handles of the kext_ glue.
types+='|kext_dwork|kext_shrinker'

# The /dev/vcsm-cma ioctl arguments (uapi/linux/vc_sm_cma_ioctl.h, for vc-sm-cma's ioctl.rs).
types+='|vc_sm_cma_ioctl_(alloc|import_dmabuf)'

# The saved flags use paths relative to the kernel build directory.
cd "$kdir"
"$bindgen" "$here/ext_bindings.h" \
	--rust-target 1.68 --use-core --with-derive-default --ctypes-prefix ffi \
	--no-layout-tests --no-debug '.*' --enable-function-attribute-detection --no-doc-comments \
	--no-recursive-allowlist \
	--allowlist-function "$fns" --allowlist-type "$types" \
	--opaque-type 'dma_resv|dma_fence|seq_file' \
	--raw-line 'use kernel::bindings::*;' \
	-o "$out.tmp" -- "${cflags[@]}" -I"$here" "$@" -w
mv "$out.tmp" "$out"
