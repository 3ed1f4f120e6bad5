//! Page isolation (mm/page_isolation.c).
//!
//! Isolating a pageblock sets its isolate bit under `zone->lock` and moves its
//! free blocks to the MIGRATE_ISOLATE list, so the allocator can no longer hand
//! them out; pages freed into an isolated pageblock land there too. Offlining
//! and `alloc_contig_range()` isolate their range first, then empty it
//! (migration), then check with `test_pages_isolated()` that nothing but free
//! (or, for offlining, skippable) pages is left.
//!
//! Isolation refuses a pageblock that is already isolated (someone else is
//! working on it: -EBUSY) or that holds a page `page_is_unmovable()` calls
//! unmovable. That check is best effort and racy, as in the kernel: a page may
//! become unmovable right after, which the later steps then notice.
//!
//! What counts as skippable for offlining depends on the `offline_skip`
//! variant, which callers pass in; the unmovable page that made isolation
//! fail comes back in the error ([`IsolateError::Unmovable`]) for the caller
//! to report (`dump_page()` in the kernel).

use super::alloc::PageAlloc;
use super::buddy;
use super::{Migratetype, Zone, ZoneLocked};
use crate::errno::{Errno, KResult};
use crate::page::{
    Page, PageType, Pfn, ZoneType, PAGEBLOCK_NR_PAGES, PAGEBLOCK_ORDER, PG_HEAD, PG_HWPOISON,
    PG_LRU, PG_OFFLINE_SKIPPABLE, PG_RESERVED,
};
use crate::variant::OfflineSkip;

/// Why a range is being isolated (`enum pb_isolate_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsolateMode {
    /// PB_ISOLATE_MODE_MEM_OFFLINE.
    MemOffline,
    /// PB_ISOLATE_MODE_CMA_ALLOC.
    CmaAlloc,
    /// PB_ISOLATE_MODE_OTHER (alloc_contig_range for drivers).
    Other,
}

/// Why a range could not be isolated; both are -EBUSY to the kernel's
/// callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IsolateError {
    /// The pageblock at this PFN is isolated already: someone else is
    /// working on it.
    AlreadyIsolated(Pfn),
    /// `has_unmovable_pages()` found this page.
    Unmovable(Pfn),
}

impl From<IsolateError> for Errno {
    fn from(_: IsolateError) -> Errno {
        Errno::EBUSY
    }
}

/// `PageOffline() && PageOfflineSkippable()`, meaningful only under the
/// `offline_skip=skippable` and `frozen` variants (PG_offline_skippable
/// aliases PG_owner_2, which means PG_anon_exclusive on anonymous pages).
pub fn page_offline_skippable(p: &Page, skip: OfflineSkip) -> bool {
    skip != OfflineSkip::Refcount && p.is_type(PageType::Offline) && p.test(PG_OFFLINE_SKIPPABLE)
}

impl PageAlloc<'_> {
    /// `page_is_unmovable()`: (unmovable, pages to step over). Reference §3.1.
    pub fn page_is_unmovable(
        &self,
        zone: &Zone,
        pfn: Pfn,
        mode: IsolateMode,
        skip: OfflineSkip,
    ) -> (bool, u64) {
        self.page_is_unmovable_at(zone, pfn, self.page(pfn), mode, skip)
    }

    /// [`PageAlloc::page_is_unmovable`] of `pfn`, whose slot `p` the
    /// caller looked up.
    fn page_is_unmovable_at(
        &self,
        zone: &Zone,
        pfn: Pfn,
        p: &Page,
        mode: IsolateMode,
        skip: OfflineSkip,
    ) -> (bool, u64) {
        if p.test(PG_RESERVED) {
            return (true, 1);
        }
        if zone.zone_type == ZoneType::Movable {
            return (false, 1);
        }
        if p.test(PG_HEAD) || p.is_tail() {
            let head = p.compound_head().unwrap_or(pfn);
            let hp = self.page(head);
            let order = if self.mem.pfn_valid(head + 1) {
                self.page(head + 1).private() as u32
            } else {
                0
            };
            let end = head + (1u64 << order);
            // A THP is on the LRU; a 2 MiB hugetlb folio migrates
            // (hugepage_migration_supported()), in use or free.
            if !hp.test(PG_LRU) && !hp.is_type(PageType::Hugetlb) {
                return (true, 1);
            }
            return (false, end - pfn);
        }
        if p.ref_count() == 0 {
            if p.is_type(PageType::Buddy) {
                return (false, 1 << buddy::buddy_order(p));
            }
            return (false, 1);
        }
        if mode == IsolateMode::MemOffline {
            if p.test(PG_HWPOISON) {
                return (false, 1);
            }
            if p.is_type(PageType::Offline) {
                // Mainline gives drivers the chance to drop their reference in
                // MEM_GOING_OFFLINE; the skippable proposal only lets flagged
                // pages through and reports the rest as unmovable right here.
                // (Frozen skippable pages have refcount 0 and passed above.)
                let skippable = match skip {
                    OfflineSkip::Refcount => true,
                    OfflineSkip::Skippable | OfflineSkip::Frozen => page_offline_skippable(p, skip),
                };
                if skippable {
                    return (false, 1);
                }
            }
        }
        if p.test(PG_LRU) || p.has_movable_ops() {
            return (false, 1);
        }
        (true, 1)
    }

    /// `has_unmovable_pages()` over `[start, end)` (within one pageblock).
    fn has_unmovable_pages(
        &self,
        zone: &Zone,
        start: Pfn,
        end: Pfn,
        mode: IsolateMode,
        skip: OfflineSkip,
    ) -> Option<Pfn> {
        // The online pages of the range (section and subsection checked
        // once per subsection), each looked at unless a free block or a
        // folio seen before covers it.
        let (mut next, mut found) = (start, None);
        if zone.zone_type == ZoneType::Movable {
            // Past the reserved check, ZONE_MOVABLE is taken to be movable
            // (page_is_unmovable_at): the walk is one flag test per page.
            self.mem.for_each_online_run(start, end, |first, pages| {
                if found.is_none() {
                    let reserved = pages.iter().position(|p| p.test(PG_RESERVED));
                    found = reserved.map(|i| first + i as u64);
                }
            });
            return found;
        }
        self.mem.for_each_online_page(start, end, |pfn, p| {
            if found.is_some() || pfn < next {
                return;
            }
            let (unmovable, step) = self.page_is_unmovable_at(zone, pfn, p, mode, skip);
            if unmovable {
                found = Some(pfn);
            }
            next = pfn + step.max(1);
        });
        found
    }

    /// The zone of the first online page of a pageblock (`__first_valid_page`).
    fn pageblock_zone(&self, pb: Pfn) -> Option<&Zone> {
        (0..PAGEBLOCK_NR_PAGES)
            .find_map(|i| self.mem.pfn_to_online_page(pb + i))
            .map(|p| self.page_zone(p))
    }

    /// `set_migratetype_isolate()` for the pageblock at `pb`, checking
    /// `[start, end)` ∩ pageblock for unmovable pages.
    fn set_migratetype_isolate(
        &self,
        pb: Pfn,
        mode: IsolateMode,
        skip: OfflineSkip,
        start: Pfn,
        end: Pfn,
    ) -> Result<(), IsolateError> {
        let Some(zone) = self.pageblock_zone(pb) else {
            return Ok(());
        };
        let mut locked = zone.lock.lock();
        if self.mem.pageblock_isolated(pb) {
            return Err(IsolateError::AlreadyIsolated(pb));
        }
        let check_start = pb.max(start);
        let check_end = (pb + PAGEBLOCK_NR_PAGES).min(end);
        if let Some(bad) = self.has_unmovable_pages(zone, check_start, check_end, mode, skip) {
            return Err(IsolateError::Unmovable(bad));
        }
        self.mem.set_pageblock_isolate(pb, true);
        // A free block larger than a pageblock that covers this one is split
        // so that only this pageblock's part moves to the isolate list.
        if let Some((head, order)) = buddy::find_buddy_containing(self.mem, zone, pb) {
            if order > PAGEBLOCK_ORDER {
                buddy::del_from_free_list(zone, &mut locked, self.mem, head);
                let mut part = head;
                while part < head + (1u64 << order) {
                    let mt = buddy::list_for(self.mem, part);
                    buddy::add_to_free_list(
                        zone,
                        &mut locked,
                        self.mem,
                        part,
                        PAGEBLOCK_ORDER,
                        mt,
                        true,
                    );
                    part = part + PAGEBLOCK_NR_PAGES;
                }
            }
        }
        self.move_pageblock_free_pages(zone, &mut locked, pb, Some(Migratetype::Isolate));
        locked.nr_isolate_pageblock += 1;
        Ok(())
    }

    /// Moves every free block that starts inside pageblock `pb` to the list
    /// of `mt`, or with `None` frees it again so it merges with its buddies.
    fn move_pageblock_free_pages(
        &self,
        zone: &Zone,
        locked: &mut ZoneLocked,
        pb: Pfn,
        mt: Option<Migratetype>,
    ) {
        // A pageblock that is the tail of a larger free block starting
        // before it (`find_large_buddy()` in move_freepages_block_isolate())
        // has no free block of its own: the walk below would step over its
        // pages one by one and find nothing. Unisolating the pageblock that
        // holds the head already put the whole block back.
        if let Some((head, order)) = buddy::find_buddy_containing(self.mem, zone, pb) {
            if head < pb && head + (1u64 << order) >= pb + PAGEBLOCK_NR_PAGES {
                return;
            }
        }
        let mut pfn = pb;
        while pfn < pb + PAGEBLOCK_NR_PAGES {
            let Some(p) = self.mem.pfn_to_page(pfn) else {
                pfn = pfn + 1;
                continue;
            };
            if p.is_type(PageType::Buddy) {
                let order = buddy::buddy_order(p);
                match mt {
                    Some(mt) => buddy::move_to_free_list(zone, locked, self.mem, pfn, mt),
                    None => {
                        buddy::del_from_free_list(zone, locked, self.mem, pfn);
                        buddy::free_one_page(zone, locked, self.mem, pfn, order, true);
                    }
                }
                pfn = pfn + (1u64 << order);
            } else {
                pfn = pfn + 1;
            }
        }
    }

    /// `unset_migratetype_isolate()`.
    fn unset_migratetype_isolate(&self, pb: Pfn) {
        let Some(zone) = self.pageblock_zone(pb) else {
            return;
        };
        let mut locked = zone.lock.lock();
        if !self.mem.pageblock_isolated(pb) {
            return;
        }
        self.mem.set_pageblock_isolate(pb, false);
        self.move_pageblock_free_pages(zone, &mut locked, pb, None);
        locked.nr_isolate_pageblock -= 1;
    }

    /// `start_isolate_page_range()`: isolates every pageblock of
    /// `[start, end)` that has an online page; on any failure undoes what it
    /// did and says why.
    pub fn start_isolate_page_range(
        &self,
        start: Pfn,
        end: Pfn,
        mode: IsolateMode,
        skip: OfflineSkip,
    ) -> Result<(), IsolateError> {
        let first = start.align_down(PAGEBLOCK_NR_PAGES);
        let last = end.align_up(PAGEBLOCK_NR_PAGES);
        let mut pb = first;
        while pb < last {
            if let Err(e) = self.set_migratetype_isolate(pb, mode, skip, start, end) {
                let mut undo = first;
                while undo < pb {
                    self.unset_migratetype_isolate(undo);
                    undo = undo + PAGEBLOCK_NR_PAGES;
                }
                return Err(e);
            }
            pb = pb + PAGEBLOCK_NR_PAGES;
        }
        Ok(())
    }

    /// `undo_isolate_page_range()`.
    pub fn undo_isolate_page_range(&self, start: Pfn, end: Pfn) {
        let mut pb = start.align_down(PAGEBLOCK_NR_PAGES);
        let last = end.align_up(PAGEBLOCK_NR_PAGES);
        while pb < last {
            self.unset_migratetype_isolate(pb);
            pb = pb + PAGEBLOCK_NR_PAGES;
        }
    }

    /// `test_pages_isolated()`: 0 if every page of `[start, end)` is an
    /// isolated free page or (MEM_OFFLINE) a HWPoison page or a PageOffline
    /// page its owner let go of; -EBUSY otherwise. Reference §3.3.
    pub fn test_pages_isolated(
        &self,
        start: Pfn,
        end: Pfn,
        mode: IsolateMode,
        skip: OfflineSkip,
    ) -> KResult<()> {
        let mut pb = start.align_down(PAGEBLOCK_NR_PAGES);
        let mut zone = None;
        while pb < end {
            if let Some(z) = self.pageblock_zone(pb) {
                if !self.mem.pageblock_isolated(pb) {
                    return Err(Errno::EBUSY);
                }
                zone.get_or_insert(z);
            }
            pb = pb + PAGEBLOCK_NR_PAGES;
        }
        let zone = zone.ok_or(Errno::EBUSY)?;
        let _locked = zone.lock.lock();
        let mut pfn = start;
        if let Some((head, order)) = buddy::find_buddy_containing(self.mem, zone, pfn) {
            pfn = head + (1u64 << order);
        }
        while pfn < end {
            let Some(p) = self.mem.pfn_to_page(pfn) else {
                break;
            };
            if p.is_type(PageType::Buddy) {
                pfn = pfn + (1u64 << buddy::buddy_order(p));
            } else if mode == IsolateMode::MemOffline
                && (p.test(PG_HWPOISON)
                    || p.is_type(PageType::Offline)
                        && (p.ref_count() == 0 || page_offline_skippable(p, skip)))
            {
                pfn = pfn + 1;
            } else {
                break;
            }
        }
        if pfn < end {
            return Err(Errno::EBUSY);
        }
        Ok(())
    }
}
