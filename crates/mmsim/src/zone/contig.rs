//! `alloc_contig_range()` and `free_contig_range()`: allocating a given PFN
//! range, as virtio-mem does to take a subblock back from the buddy.
//!
//! The range is isolated (so nobody else can allocate from it), emptied by
//! migration (up to five rounds without progress), checked with
//! `test_pages_isolated()`, and its free blocks are taken off the isolate list
//! and split so that exactly `[start, end)` ends up allocated as order-0 pages
//! with refcount 1; the parts of a block outside the range are freed again.
//! Isolation is always undone. Mode OTHER means PageOffline pages that still
//! hold a reference count as unmovable (rule 6 of `page_is_unmovable` applies
//! to offlining only).
//!
//! Migration belongs to a layer above the allocator (it needs the owners of
//! the pages: the reverse map, movable_ops, the hugetlb pool), so the caller
//! passes it in as `migrate_range`, the model of
//! `__alloc_contig_migrate_range()`'s call of `migrate_pages()` and of
//! `replace_free_hugepage_folios()`.

use super::alloc::PageAlloc;
use super::buddy;
use super::isolation::IsolateMode;
use crate::errno::{Errno, KResult};
use crate::page::{PageType, Pfn, PG_LRU};
use crate::variant::OfflineSkip;

impl PageAlloc<'_> {
    /// `alloc_contig_range(start, end)`: every page of `[start, end)` is
    /// allocated (refcount 1, no type) or nothing is; -EBUSY if the range
    /// cannot be isolated or emptied, -EINVAL if part of it is not online or
    /// `mode` is MEM_OFFLINE (7.2 derives the mode from its ACR flags: CMA
    /// or OTHER, never offlining's).
    /// `migrate_range(first, end)` migrates what it can of `[first, end)`
    /// and returns how many pages moved.
    ///
    /// The caller keeps the range online for the duration — by
    /// `get_online_mems()`, or by its own serialisation with hotplug as
    /// virtio-mem's hotplug_mutex does. Isolation looks pageblocks up
    /// through `pfn_to_online_page()`; a range going offline underneath
    /// would leave an isolation counted in a zone that no longer spans it
    /// (the concurrency test found exactly that before the owner took
    /// get_online_mems()).
    pub fn alloc_contig_range(
        &self,
        start: Pfn,
        end: Pfn,
        mode: IsolateMode,
        migrate_range: &mut dyn FnMut(Pfn, Pfn) -> u64,
    ) -> KResult<()> {
        if start >= end || mode == IsolateMode::MemOffline {
            return Err(Errno::EINVAL);
        }
        if crate::page::pfn_range(start, end).any(|p| self.mem.pfn_to_online_page(p).is_none()) {
            return Err(Errno::EINVAL);
        }
        // Only MEM_OFFLINE consults the offline_skip policy; any value will do.
        let skip = OfflineSkip::Refcount;
        self.start_isolate_page_range(start, end, mode, skip)?;
        // Pages of the range sitting on per-CPU lists go back to the (now
        // isolate) buddy lists; one freed onto a list after this makes
        // test_pages_isolated() fail, as in the kernel.
        self.drain_all_pages(Some(self.page_zone(self.page(start))));
        let ret = self.alloc_contig_isolated(start, end, mode, skip, migrate_range);
        self.undo_isolate_page_range(start, end);
        ret
    }

    fn alloc_contig_isolated(
        &self,
        start: Pfn,
        end: Pfn,
        mode: IsolateMode,
        skip: OfflineSkip,
        migrate_range: &mut dyn FnMut(Pfn, Pfn) -> u64,
    ) -> KResult<()> {
        // __alloc_contig_migrate_range(): five rounds without progress.
        let mut tries = 0;
        loop {
            // What migration may still move: LRU pages, pages with
            // movable_ops and hugetlb folios (in use: migrated; free:
            // replaced in their pool).
            let movable = crate::page::pfn_range(start, end).find(|&p| {
                let page = self.page(p);
                let head = self.page(page.compound_head().unwrap_or(p));
                page.test(PG_LRU) || page.has_movable_ops() || head.is_type(PageType::Hugetlb)
            });
            let Some(first) = movable else { break };
            if migrate_range(first, end) == 0 {
                tries += 1;
                if tries >= 5 {
                    return Err(Errno::EBUSY);
                }
            }
        }
        self.test_pages_isolated(start, end, mode, skip)?;
        // isolate_freepages_range(): take every free block overlapping the
        // range, keep the pages inside, give the rest back.
        let zone = self.page_zone(self.page(start));
        let mut locked = zone.lock.lock();
        let mut pfn = start;
        let mut taken = Vec::new();
        while pfn < end {
            let Some((head, order)) = buddy::find_buddy_containing(self.mem, zone, pfn) else {
                // Give back what was taken: still free pages, refcount 0.
                for p in taken {
                    buddy::free_one_page(zone, &mut locked, self.mem, p, 0, false);
                }
                return Err(Errno::EBUSY);
            };
            buddy::del_from_free_list(zone, &mut locked, self.mem, head);
            let block_end = head + (1u64 << order);
            for p in crate::page::pfn_range(head, block_end) {
                if start <= p && p < end {
                    taken.push(p);
                } else {
                    buddy::free_one_page(zone, &mut locked, self.mem, p, 0, false);
                }
            }
            pfn = block_end;
        }
        drop(locked);
        for p in taken {
            self.page(p).ref_unfreeze(1);
        }
        Ok(())
    }
}
