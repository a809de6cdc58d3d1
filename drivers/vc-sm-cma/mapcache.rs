// SPDX-License-Identifier: GPL-2.0

//! One attachment and DMA mapping of each imported dma-buf for the vchiq device, shared by
//! every import of that dma-buf.
//!
//! Importing a buffer attaches the vchiq device to it and maps it. Done once per import, 64
//! live imports of one buffer would be 64 overlapping mappings of the same memory for the
//! same device, which the DMA API rejects (DMA-API debug warns at the 8th). So the
//! [`MapCache`] keeps one [`Mapping`] per source dma-buf, counted by its users ([`MapUse`]):
//! the first import attaches and maps, the last user's drop unmaps and detaches.
//!
//! The mappings are for the vchiq device, whose DMA configuration (the VPU's bus-address
//! window, `dma_range_map`) the driver core frees right after the driver's remove. So remove
//! [`MapCache::revoke`]s the cache: every mapping is undone before remove returns, and later
//! imports fail. Buffers whose wrapper is still open keep their source dma-buf referenced
//! (and usable by other devices and the CPU) but are no longer mapped for the VPU.
//!
//! # Locking
//!
//! [`MapCache::table`] is held across attaching and mapping (so that two imports of one new
//! source make one mapping) and so is taken before a source's reservation lock; it is never
//! taken with [`crate::vcsm::Vcsm::bufs`] held.

use crate::{
    kext::{
        dma_buf::DmaBuf,
        dma_buf_import::{Attachment, Mapping},
    },
    vcsm::VPU_DIR,
};
use kernel::{
    device::Device,
    new_mutex,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{Arc, Mutex},
};

/// What a mapping of a source says, copied for its users.
#[derive(Clone, Copy)]
pub(crate) struct MapInfo {
    /// Number of DMA segments.
    pub(crate) nents: u32,
    /// DMA address of the first segment.
    pub(crate) dma_addr: u64,
    /// DMA length of the first segment.
    pub(crate) dma_len: u32,
    /// The first segment is a swiotlb bounce buffer.
    pub(crate) bounced: bool,
}

struct Shared {
    _map: Mapping,
    info: MapInfo,
    users: u32,
}

struct Table {
    /// By the address of the source's `struct dma_buf` (live while its entry holds the
    /// mapping, whose attachment holds a reference to it).
    by_src: RBTree<usize, Shared>,
    /// The device's DMA configuration is going away: no new mappings.
    revoked: bool,
    /// Sources mapped so far and users of shared mappings, for debugfs.
    mapped_total: u64,
    shared_total: u64,
}

/// The vchiq device's mappings of imported dma-bufs. See the module documentation.
#[pin_data]
pub(crate) struct MapCache {
    #[pin]
    table: Mutex<Table>,
}

/// A use of the shared mapping of one source; the mapping is undone with its last use.
pub(crate) struct MapUse {
    cache: Arc<MapCache>,
    key: usize,
    pub(crate) info: MapInfo,
}

impl MapCache {
    pub(crate) fn new() -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(Self {
                table <- new_mutex!(
                    Table {
                        by_src: RBTree::new(),
                        revoked: false,
                        mapped_total: 0,
                        shared_total: 0,
                    },
                    "vcsm:maps"
                ),
            }),
            GFP_KERNEL,
        )
    }

    /// A use of `src`'s mapping for `dev`, attaching and mapping it if it has none yet.
    ///
    /// Fails with `ENODEV` once the cache is revoked, or with the attach or map error.
    pub(crate) fn get(self: &Arc<Self>, src: &DmaBuf, dev: &Device) -> Result<MapUse> {
        let key = src.as_raw() as usize;
        let mut t = self.table.lock();
        if t.revoked {
            return Err(ENODEV);
        }
        if let Some(s) = t.by_src.get_mut(&key) {
            s.users += 1;
            let info = s.info;
            t.shared_total += 1;
            return Ok(MapUse {
                cache: self.clone(),
                key,
                info,
            });
        }
        // Only a new mapping needs a tree node (allocated under the lock, which is a mutex
        // and covers the attach and map below anyway); a shared one allocates nothing.
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let map = Attachment::new(src, dev)?.map(VPU_DIR)?;
        let info = MapInfo {
            nents: map.nents(),
            dma_addr: map.dma_address(),
            dma_len: map.dma_len(),
            bounced: map.is_bounced(),
        };
        t.by_src.insert(node.into_node(
            key,
            Shared {
                _map: map,
                info,
                users: 1,
            },
        ));
        t.mapped_total += 1;
        Ok(MapUse {
            cache: self.clone(),
            key,
            info,
        })
    }

    /// Undoes every mapping now (the device's DMA configuration is about to go); later uses
    /// find none and `get` fails. Returns how many mappings were still in use.
    pub(crate) fn revoke(&self) -> usize {
        let mut dead = KVec::new();
        let mut count = 0;
        {
            let mut t = self.table.lock();
            t.revoked = true;
            loop {
                let key = match t.by_src.keys().next() {
                    Some(k) => *k,
                    None => break,
                };
                if let Some(s) = t.by_src.remove(&key) {
                    count += 1;
                    // Without room to defer it, `push` drops it: unmapped under the lock
                    // (allowed, see Locking).
                    let _ = dead.push(s, GFP_KERNEL);
                }
            }
        }
        // Unmapped and detached here, outside the lock.
        drop(dead);
        count
    }

    /// (sources mapped now, their users, sources mapped so far, imports that shared one).
    pub(crate) fn stats(&self) -> (usize, u64, u64, u64) {
        let t = self.table.lock();
        let users = t.by_src.values().map(|s| u64::from(s.users)).sum();
        (
            t.by_src.iter().count(),
            users,
            t.mapped_total,
            t.shared_total,
        )
    }
}

impl Drop for MapUse {
    fn drop(&mut self) {
        let last = {
            let mut t = self.cache.table.lock();
            match t.by_src.get_mut(&self.key) {
                Some(s) if s.users > 1 => {
                    s.users -= 1;
                    None
                }
                Some(_) => t.by_src.remove(&self.key),
                // Revoked meanwhile.
                None => None,
            }
        };
        // The last use: unmapped and detached outside the lock.
        drop(last);
    }
}
