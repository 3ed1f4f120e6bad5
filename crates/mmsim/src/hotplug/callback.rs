//! `online_page_callback`: who decides what happens to each chunk of a block
//! that goes online.
//!
//! The default, `generic_online_page()`, hands the chunk to the buddy
//! allocator. One driver at a time may override it (virtio-mem does, to keep
//! unplugged subblocks back as PageOffline pages): `set_online_page_callback()`
//! succeeds only while the generic callback is installed, and
//! `restore_online_page_callback()` only by the one who set it; both -EINVAL
//! otherwise. A callback must cover every PFN it is given exactly once: pages
//! it neither frees nor keeps stay as memmap init left them, refcount 1,
//! unmanaged: PageOffline in 7.2, PG_reserved before 6.11 (variant
//! `memmap_init`), where a driver that wanted walkers and offlining to see
//! its pages as offline had to set PageOffline (and clear PG_reserved)
//! itself.

use super::MemHotplugWrite;
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::Pfn;
use crate::sync::Arc;

/// `online_page_callback_t`.
pub trait OnlinePageCallback: Send + Sync {
    /// Onlines (or keeps back) the 2^order pages at `pfn`.
    fn online_page(&self, m: &Machine, pfn: Pfn, order: u32);
}

/// A callback that keeps `[keep_start, keep_end)` back and gives everything
/// else to `generic_online_page()`; for scenarios and tests. It does nothing
/// to the pages it keeps, so they stay refcount 1, unmanaged, and PageOffline
/// or PG_reserved by `memmap_init`: the pages of a driver that does no more
/// than the core asks.
pub struct KeepRangeCallback {
    /// First kept PFN.
    pub keep_start: Pfn,
    /// One past the last kept PFN.
    pub keep_end: Pfn,
}

impl OnlinePageCallback for KeepRangeCallback {
    fn online_page(&self, m: &Machine, pfn: Pfn, order: u32) {
        let end = pfn + (1u64 << order);
        if end <= self.keep_start || self.keep_end <= pfn {
            m.generic_online_page(pfn, order);
            return;
        }
        // Split the chunk and decide page by page: kept pages stay as
        // memmap_init left them.
        for p in crate::page::pfn_range(pfn, end) {
            if p < self.keep_start || self.keep_end <= p {
                m.generic_online_page(p, 0);
            }
        }
    }
}

impl Machine {
    /// `generic_online_page()`.
    pub fn generic_online_page(&self, pfn: Pfn, order: u32) {
        self.free_pages_core(pfn, order);
    }

    /// `set_online_page_callback()`.
    pub fn set_online_page_callback(&self, cb: Arc<dyn OnlinePageCallback>) -> KResult<()> {
        let _mems = self.get_online_mems();
        let mut slot = self.hotplug().online_page_callback.lock();
        if slot.is_some() {
            return Err(Errno::EINVAL);
        }
        *slot = Some(cb);
        Ok(())
    }

    /// `restore_online_page_callback()`.
    pub fn restore_online_page_callback(&self, cb: &Arc<dyn OnlinePageCallback>) -> KResult<()> {
        let _mems = self.get_online_mems();
        let mut slot = self.hotplug().online_page_callback.lock();
        match &*slot {
            Some(cur) if Arc::ptr_eq(cur, cb) => {
                *slot = None;
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// `online_pages_range()`: calls the callback on maximal aligned chunks.
    /// SECTION_IS_ONLINE is set only afterwards, so PFN walkers do not see
    /// the pages while the callback decides about them. Under
    /// `mem_hotplug_begin()`, which also keeps the callback from changing.
    pub(crate) fn online_pages_range(&self, _hp: &MemHotplugWrite<'_>, start: Pfn, nr: u64) {
        let cb = self.hotplug().online_page_callback.lock().clone();
        let end = start + nr;
        let mut pfn = start;
        while pfn < end {
            let align = if pfn.0 == 0 {
                crate::page::MAX_PAGE_ORDER
            } else {
                pfn.0.trailing_zeros().min(crate::page::MAX_PAGE_ORDER)
            };
            let mut order = align;
            while pfn + (1u64 << order) > end {
                order -= 1;
            }
            match &cb {
                Some(cb) => cb.online_page(self, pfn, order),
                None => self.generic_online_page(pfn, order),
            }
            pfn = pfn + (1u64 << order);
        }
        self.mem().online_mem_sections(start, end);
    }
}
