// SPDX-License-Identifier: GPL-2.0

//! CMA dma-heaps for VideoCore shared memory.
//!
//! A device-tree node `compatible = "raspberrypi,vcsm-cma-heap"` whose `memory-region` is a
//! reusable `shared-dma-pool` gets two heaps backed by that CMA region:
//!
//! - `vcsm-uncached`: CPU mappings are write-combined and device mappings skip cache
//!   maintenance. This is what the VideoCore imports from.
//! - `vcsm-cached`: normal cached CPU mappings; `DMA_BUF_IOCTL_SYNC` (begin/end CPU access)
//!   does the cache maintenance for every attached device.
//!
//! Buffers are physically contiguous (one scatter-gather entry), zeroed on allocation, and
//! mapped per attachment for the attaching device. An uncached buffer's zeroes are cleaned
//! from the CPU caches to memory once, by its first mapping of any kind. Every live buffer and
//! every open heap file pins the module, so it unloads only when nothing uses it.
//!
//! `/sys/kernel/debug/vcsm-cma-heap/stats` shows the region and what the heaps hold of it:
//!
//! ```text
//! region base=0x48000000 size=134217728
//! buffers=2 bytes=1052672
//! vcsm-uncached allocs=10 cleans=7
//! vcsm-cached allocs=3
//! vpu_window cpu_base=0x40000000 cpu_end=0x80000000 bus_base=0xc0000000 size=1073741824 source=dma-ranges reachable=yes
//! pool buffers=1 bytes=1048576 max=33554432 dirty=0 zeroing=0 hits=3 misses=2 zeroed_bg_bytes=3145728 ...
//! ```
//!
//! Freed buffers go to a pool (`pool.rs`), are zeroed and cleaned there by a background
//! worker, and serve the next allocation of the same size; the `pool` line shows it
//! (Documentation/heap.rst explains every counter).
//!
//! At probe the region must lie inside the VPU's window (`reach.rs`); a region the VPU cannot
//! reach is refused.
//!
//! `allocs` counts successful allocations since the heaps were added; `cleans` counts uncached
//! buffers whose zeroes were cleaned to memory (one per buffer that was ever mapped: by its
//! first mapping, or before it was handed out for a buffer from the pool).

use crate::kext::compat::ARef;
use core::{
    ffi::{c_int, c_void},
    fmt::Write,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
};
use kernel::{
    bindings, c_str,
    device::Device,
    new_mutex,
    prelude::*,
    rbtree::RBTree,
    str::CStr,
    sync::{Arc, Mutex},
};

// kernel-ext is shared by every module, each using part of it, so its dead-code warnings are
// only meaningful across all of them: `scripts/lint.sh` builds with `--cfg kext_audit` and fails
// on an item no module uses (lint-kext-dead-code).
#[cfg_attr(not(kext_audit), allow(dead_code))]
mod kext;

#[path = "../common/src/rpi_fw.rs"]
#[allow(dead_code, unreachable_pub)] // Shared; this module asks for the ARM memory only.
mod rpi_fw;

#[path = "../kernel-ext/rpi_firmware.rs"]
#[cfg_attr(not(kext_audit), allow(dead_code))]
mod rpi_firmware;

#[path = "../common/src/vpu_window.rs"]
#[allow(dead_code, unreachable_pub)] // Shared with vc-sm-cma.
mod vpu_window;
// The kernel's `Display` for the shared window types (host crates know only core's).
kext::compat::kext_impl_display!(vpu_window::WindowError, vpu_window::Window);

#[path = "../kernel-ext/vpu_ranges.rs"]
#[cfg_attr(not(kext_audit), allow(dead_code))]
mod vpu_ranges;

mod pool;
mod reach;

use pool::{Pool, PooledPages};
use reach::Reach;

use kext::{
    debugfs::{Dir, SeqFile, Show, ShowFile, ShowFops},
    dma::{self, ContigPages, DataDirection, MappedSgt, SgTable, Vma, VmapAddr},
    dma_buf::{self, DmaBuf, Exporter, ResvLocked},
    dma_heap::{HeapOps, Registration},
    miscdev::this_module,
    platform::CPlatformDriver,
    ratelimit::{current_killed, pr_limited},
    shrinker::Shrinker,
};

module! {
    type: CmaHeapModule,
    name: "vcsm_cma_heap",
    description: "CMA dma-heaps (cached and uncached) for VideoCore shared memory",
    license: "GPL",
}

/// The module parameters, declared in `cma_heap_shim.c` (the 6.12 `module!` cannot).
mod params {
    use crate::kext::param::kext_param;

    kext_param! {
        /// The module parameter `pool_max_kb` (-1: the default cap, 0: no pool).
        pub(crate) fn pool_max_kb: i32;
    }

    kext_param! {
        /// The module parameter `pool_idle_ms` (0: no idle trimming).
        pub(crate) fn pool_idle_ms: u32;
    }
}

struct CmaHeapModule {
    /// The platform driver of `cma_heap_shim.c`, whose probe and remove come back to
    /// [`vcsm_cma_heap_rust_probe`] and [`vcsm_cma_heap_rust_remove`].
    _driver: CPlatformDriver,
}

impl kernel::Module for CmaHeapModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Self {
            _driver: CPlatformDriver::register()?,
        })
    }
}

/// What the two heaps of one region share.
struct Region {
    dev: ARef<Device>,
    base: u64,
    size: u64,
    /// Bytes allocated by both heaps and not yet freed.
    used: AtomicUsize,
    /// Buffers alive in both heaps.
    buffers: AtomicUsize,
    /// Successful allocations of the uncached heap.
    uncached_allocs: AtomicUsize,
    /// Successful allocations of the cached heap.
    cached_allocs: AtomicUsize,
    /// Uncached buffers whose zeroes were cleaned to memory (by their first mapping).
    cleans: AtomicUsize,
    /// Whether the VPU reaches the region (checked at probe).
    reach: Reach,
    /// Freed buffers, zeroed in the background for the next allocation of their size.
    pool: Arc<Pool>,
}

impl Region {
    fn contains(&self, start: u64, len: usize) -> bool {
        start >= self.base
            && (len as u64) <= self.size
            && start - self.base <= self.size - len as u64
    }
}

/// One heap: a CPU caching policy over a region.
struct CmaHeap {
    name: &'static CStr,
    cached: bool,
    region: Arc<Region>,
}

impl HeapOps for CmaHeap {
    fn allocate(&self, len: usize, fd_flags: u32, _heap_flags: u64) -> Result<ARef<DmaBuf>> {
        let region = &self.region;
        if len as u64 > region.size {
            pr_limited!(
                pr_warn,
                "{}: {} bytes requested, larger than the whole {} byte region\n",
                self.name,
                len,
                region.size
            );
            return Err(ENOMEM);
        }
        let pool = &region.pool;
        // A pooled buffer is zeroed and cleaned (pool.rs), so either heap can take it: the
        // uncached heap's first mapping owes it no clean, the cached heap marks it cached.
        // With the pool off (`pool_max_kb=0`) nothing of the pool is touched and no clock is
        // read: the allocation does what linux,cma's does.
        if pool.max_bytes() == 0 {
            return self.allocate_fresh(len, fd_flags);
        }
        // A clock read is not free (under QEMU TCG it takes the emulator's global lock), so
        // only every `HIT_SAMPLE`th allocation times a hit; a miss is timed from here.
        let t0 = pool.sample_hit().then(pool::now_ns);
        if let Some(node) = pool.take(len.div_ceil(kernel::page::PAGE_SIZE)) {
            let buf = self.export(
                PooledPages::reused(node, self.cached, pool.clone()),
                len,
                fd_flags,
            );
            if let Some(t0) = t0 {
                pool.account_hit(pool::now_ns().saturating_sub(t0));
            }
            return buf;
        }
        let t0 = t0.unwrap_or_else(pool::now_ns);
        let buf = self.allocate_fresh(len, fd_flags);
        pool.account_miss(pool::now_ns().saturating_sub(t0));
        buf
    }
}

impl CmaHeap {
    /// An allocation from CMA, zeroed on this thread.
    fn allocate_fresh(&self, len: usize, fd_flags: u32) -> Result<ARef<DmaBuf>> {
        let region = &self.region;
        // The cached heap's CPU mappings are cached and every device mapping of it does the
        // cache maintenance (see `map_attrs`), so its zeroes are never cleaned to memory as
        // such. The uncached heap's are cleaned once, by the first mapping of any kind (`mmap`,
        // `vmap`, `map`), before anything can access the memory around the CPU caches.
        let fresh = || {
            if self.cached {
                ContigPages::alloc_cached(&region.dev, len)
            } else {
                ContigPages::alloc_clean_on_map(&region.dev, len)
            }
        };
        // Pooled buffers hold CMA that this allocation may need: return them all and try once
        // more, so that the pool never fails an allocation that would succeed without it.
        let mem = match fresh() {
            Err(e) if e == ENOMEM && !current_killed() && region.pool.drain() > 0 => fresh(),
            r => r,
        };
        let exhausted = |e: Error| {
            if current_killed() {
                // CMA gave up because the caller is being killed, not for want of memory.
                return e;
            }
            pr_limited!(
                pr_warn,
                "{}: cannot allocate {} bytes: no free run that large in the region ({} of {} bytes held by the vcsm heaps)\n",
                self.name,
                len,
                region.used.load(Ordering::Relaxed),
                region.size
            );
            e
        };
        let mem = mem.map_err(exhausted)?;
        // The DMA API falls back to the page allocator when the CMA area is exhausted; such
        // memory is outside the region the VideoCore was told about, so it is refused.
        if !region.contains(mem.phys_addr(), len) {
            return Err(exhausted(ENOMEM));
        }
        self.export(PooledPages::fresh(mem, region.pool.clone()), len, fd_flags)
    }

    /// Wraps `mem` in a buffer and exports it as a dma-buf of `len` bytes.
    fn export(&self, mem: PooledPages, len: usize, fd_flags: u32) -> Result<ARef<DmaBuf>> {
        let region = &self.region;
        let buffer = KBox::pin_init(
            try_pin_init!(CmaBuffer {
                region: region.clone(),
                cached: self.cached,
                mem,
                cleaned: AtomicBool::new(false),
                inner <- new_mutex!(BufferInner { attachments: RBTree::new() }, "CmaBuffer::inner"),
            }),
            GFP_KERNEL,
        )?;
        region.used.fetch_add(len, Ordering::Relaxed);
        region.buffers.fetch_add(1, Ordering::Relaxed);
        // On failure the buffer is dropped, which undoes the accounting above (and gives its
        // pages to the pool).
        let buf = dma_buf::export(
            buffer,
            len,
            fd_flags,
            self.name,
            kext::compat::this_module(),
        )?;
        let allocs = if self.cached {
            &region.cached_allocs
        } else {
            &region.uncached_allocs
        };
        allocs.fetch_add(1, Ordering::Relaxed);
        Ok(buf)
    }
}

/// The attachments of a buffer, for CPU-access cache maintenance, keyed by address.
struct BufferInner {
    attachments: RBTree<usize, Arc<CmaAttachment>>,
}

/// One allocated buffer.
#[pin_data(PinnedDrop)]
struct CmaBuffer {
    region: Arc<Region>,
    cached: bool,
    /// The pages; dropping them (after this buffer's `drop`) gives them to the pool.
    mem: PooledPages,
    /// Whether this uncached buffer was counted in `cleans` (its first mapping).
    cleaned: AtomicBool,
    #[pin]
    inner: Mutex<BufferInner>,
}

#[pinned_drop]
impl PinnedDrop for CmaBuffer {
    fn drop(self: Pin<&mut Self>) {
        self.region
            .used
            .fetch_sub(self.mem.size(), Ordering::Relaxed);
        self.region.buffers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One device's attachment: its own table, mapped for it.
#[pin_data]
struct CmaAttachment {
    dev: ARef<Device>,
    #[pin]
    table: Mutex<SgTable>,
}

impl CmaBuffer {
    /// Before an access around the CPU caches (write-combined CPU mapping, device mapping
    /// without cache maintenance): makes sure an uncached buffer's zeroes are in memory.
    ///
    /// A fresh buffer's are cleaned here, by its first mapping. A buffer from the pool had
    /// them cleaned by the pool's worker before it was handed out (`ContigPages::scrub`), so
    /// nothing is left to clean. Either way the buffer is counted once in `cleans` (buffers
    /// mapped with their zeroes cleaned to memory), and a pooled one also in the pool's
    /// `clean_reused`.
    fn prepare_uncached_access(&self) {
        if self.cached {
            return;
        }
        self.mem.prepare_uncached_access();
        if !self.cleaned.swap(true, Ordering::AcqRel) {
            self.region.cleans.fetch_add(1, Ordering::Relaxed);
            if self.mem.is_reused() {
                self.mem.pool().account_clean_reused();
            }
        }
    }

    fn map_attrs(&self) -> u64 {
        if self.cached {
            0
        } else {
            // Write-combined memory has nothing in the CPU caches to maintain.
            dma::ATTR_SKIP_CPU_SYNC
        }
    }
}

impl Exporter for CmaBuffer {
    type Attachment = Arc<CmaAttachment>;

    fn attach(&self, dev: &Device) -> Result<KBox<Arc<CmaAttachment>>> {
        let table = self.mem.sg_table_for(dev)?;
        let att = Arc::pin_init(
            pin_init!(CmaAttachment {
                dev: dev.into(),
                table <- new_mutex!(table, "CmaAttachment::table"),
            }),
            GFP_KERNEL,
        )?;
        let key = core::ptr::from_ref::<CmaAttachment>(&*att) as usize;
        let handle = KBox::new(att.clone(), GFP_KERNEL)?;
        self.inner
            .lock()
            .attachments
            .try_create_and_insert(key, att, GFP_KERNEL)?;
        Ok(handle)
    }

    fn detach(&self, att: KBox<Arc<CmaAttachment>>) {
        let key = core::ptr::from_ref::<CmaAttachment>(&**att) as usize;
        // Dropped after the lock is released.
        let removed = self.inner.lock().attachments.remove(&key);
        drop(removed);
    }

    fn map(
        &self,
        att: &Arc<CmaAttachment>,
        _held: &ResvLocked<'_>,
        dir: DataDirection,
    ) -> Result<MappedSgt> {
        // An uncached mapping skips CPU cache maintenance: the zeroes must be in memory first.
        self.prepare_uncached_access();
        att.table
            .lock()
            .map(&att.dev, dir, self.map_attrs())
            .inspect_err(|e| {
                pr_limited!(
                    pr_warn,
                    "cannot map a buffer for {:?} access: {:?}\n",
                    dir,
                    e
                );
            })
    }

    fn unmap(
        &self,
        att: &Arc<CmaAttachment>,
        _held: &ResvLocked<'_>,
        _sgt: MappedSgt,
        _dir: DataDirection,
    ) {
        att.table.lock().unmap();
    }

    fn begin_cpu_access(&self, dir: DataDirection) -> Result {
        if self.cached {
            for att in self.inner.lock().attachments.values() {
                att.table.lock().sync_for_cpu(dir);
            }
        }
        Ok(())
    }

    fn end_cpu_access(&self, dir: DataDirection) -> Result {
        if self.cached {
            for att in self.inner.lock().attachments.values() {
                att.table.lock().sync_for_device(dir);
            }
        }
        Ok(())
    }

    fn mmap(&self, vma: &mut Vma) -> Result {
        self.prepare_uncached_access();
        self.mem.mmap(vma, !self.cached)
    }

    fn vmap(&self, _held: &ResvLocked<'_>) -> Result<VmapAddr> {
        self.prepare_uncached_access();
        self.mem.vmap(!self.cached)
    }

    fn vunmap(&self, _held: &ResvLocked<'_>, vaddr: VmapAddr) {
        self.mem.vunmap(vaddr);
    }
}

static STATS_FOPS: ShowFops = ShowFops::new::<Region>(this_module!());

impl Show for Region {
    fn show(&self, m: &mut SeqFile<'_>) -> Result {
        let n = |c: &AtomicUsize| c.load(Ordering::Relaxed);
        let _ = writeln!(m, "region base={:#x} size={}", self.base, self.size);
        let _ = writeln!(m, "buffers={} bytes={}", n(&self.buffers), n(&self.used));
        let _ = writeln!(
            m,
            "vcsm-uncached allocs={} cleans={}",
            n(&self.uncached_allocs),
            n(&self.cleans)
        );
        let _ = writeln!(m, "vcsm-cached allocs={}", n(&self.cached_allocs));
        let _ = writeln!(m, "vpu_window {}", self.reach);
        let p = self.pool.snapshot();
        let _ = write!(
            m,
            "pool buffers={} bytes={} max={} dirty={} zeroing={}",
            p.buffers, p.bytes, p.max, p.dirty, p.zeroing
        );
        for (name, value) in self.pool.counters() {
            let _ = write!(m, " {}={}", name, value);
        }
        let _ = writeln!(m);
        Ok(())
    }
}

/// `/sys/kernel/debug/vcsm-cma-heap/stats`; removed on drop (the file before the directory).
struct DebugFiles {
    _stats: ShowFile<Region>,
    _dir: Dir,
}

impl DebugFiles {
    fn new(region: Arc<Region>) -> Result<Self> {
        let dir = Dir::new(c_str!("vcsm-cma-heap"))?;
        let stats = dir.show_file(c_str!("stats"), region, &STATS_FOPS)?;
        Ok(Self {
            _stats: stats,
            _dir: dir,
        })
    }
}

/// The heaps of one device.
struct HeapDevice {
    uncached: Registration<CmaHeap>,
    // Kept for its `Drop`, which removes the heap.
    _cached: Registration<CmaHeap>,
    // Statistics only: the heaps work without them.
    _debug: Option<DebugFiles>,
    // Returns pooled buffers under memory pressure.
    shrinker: Shrinker<Pool>,
}

impl HeapDevice {
    fn new(
        dev: ARef<Device>,
        name: &CStr,
        base: u64,
        size: u64,
        pool_max: Option<u64>,
    ) -> Result<Self> {
        let reach = Reach::probe(name, base, size)?;
        // The VideoCore addresses 32 bits (and the Pi's dma-ranges restrict it further).
        dma::set_mask_and_coherent(&dev, 32)?;
        let pool = Pool::new(size, pool_max)?;
        let shrinker = Shrinker::register(c_str!("vcsm-cma-heap-pool"), pool.clone())?;
        let region = Arc::new(
            Region {
                dev,
                base,
                size,
                used: AtomicUsize::new(0),
                buffers: AtomicUsize::new(0),
                uncached_allocs: AtomicUsize::new(0),
                cached_allocs: AtomicUsize::new(0),
                cleans: AtomicUsize::new(0),
                reach,
                pool,
            },
            GFP_KERNEL,
        )?;
        let heap = |name: &'static CStr, cached: bool| -> Result<Registration<CmaHeap>> {
            let data = KBox::pin(
                CmaHeap {
                    name,
                    cached,
                    region: region.clone(),
                },
                GFP_KERNEL,
            )?;
            Registration::new(name, data, kext::compat::this_module())
        };
        let uncached = heap(c_str!("vcsm-uncached"), false)?;
        let cached = heap(c_str!("vcsm-cached"), true)?;
        pr_info!(
            "heaps vcsm-uncached and vcsm-cached on {} MiB CMA at {:#x}\n",
            size >> 20,
            base
        );
        let debug = DebugFiles::new(region.clone())
            .inspect_err(|e| pr_warn!("no debugfs statistics: {:?}\n", e))
            .ok();
        Ok(Self {
            uncached,
            _cached: cached,
            _debug: debug,
            shrinker,
        })
    }
}

impl Drop for HeapDevice {
    fn drop(&mut self) {
        let region = &self.uncached.data().region;
        pr_info!(
            "removing heaps ({} buffers, {} bytes still allocated)\n",
            region.buffers.load(Ordering::Relaxed),
            region.used.load(Ordering::Relaxed)
        );
        // Every buffer is gone (each pins the module); the pooled pages go back to CMA and the
        // worker is stopped before the module's code can go.
        self.shrinker.data().shutdown();
    }
}

/// Probe entry point, called by the platform driver in `cma_heap_shim.c`.
///
/// # Safety
///
/// `dev` is a bound platform device, `name` a NUL-terminated string valid for the duration of
/// the call, and `state` is valid for writes.
#[no_mangle]
pub unsafe extern "C" fn vcsm_cma_heap_rust_probe(
    dev: *mut bindings::device,
    name: *const core::ffi::c_char,
    base: u64,
    size: u64,
    pool_max: u64,
    state: *mut *mut c_void,
) -> c_int {
    // SAFETY: The driver core holds a reference to `dev` during probe.
    let dev = unsafe { Device::get_device(dev) };
    // SAFETY: `name` is a NUL-terminated string valid for the call (safety requirements).
    let name = unsafe { CStr::from_char_ptr(name) };
    let pool_max = (pool_max != u64::MAX).then_some(pool_max);
    match HeapDevice::new(dev, name, base, size, pool_max)
        .and_then(|hd| Ok(KBox::new(hd, GFP_KERNEL)?))
    {
        Ok(hd) => {
            // SAFETY: `state` is valid for writes by the safety requirements.
            unsafe { *state = KBox::into_raw(hd).cast() };
            0
        }
        Err(e) if e == EPROBE_DEFER => e.to_errno(),
        Err(e) => {
            pr_err!("cannot register the heaps: {:?}\n", e);
            e.to_errno()
        }
    }
}

/// Remove entry point, called by the platform driver in `cma_heap_shim.c`.
///
/// # Safety
///
/// `state` was produced by a successful [`vcsm_cma_heap_rust_probe`] and is not used again.
#[no_mangle]
pub unsafe extern "C" fn vcsm_cma_heap_rust_remove(state: *mut c_void) {
    // SAFETY: By the safety requirements, `state` is the box leaked by probe.
    drop(unsafe { KBox::from_raw(state.cast::<HeapDevice>()) });
}
