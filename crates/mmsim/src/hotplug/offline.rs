//! Offlining (`memory_block_offline()` → `offline_pages()`), reference §2.7.
//!
//! The pipeline: isolate the range (refusing unmovable pages outside
//! ZONE_MOVABLE), tell the notifiers MEM_GOING_OFFLINE (drivers drop the
//! references of their PageOffline pages here), then loop — migrate whatever
//! `scan_movable_pages()` finds (LRU folios, pages with movable_ops, in-use
//! hugetlb folios), until nothing movable is left, dissolve the free hugetlb
//! folios of the range (`dissolve_free_hugetlb_folios()`: the pool shrinks),
//! and test that every page is free, HWPoison or a released PageOffline
//! page. There is no
//! timeout: the loop ends with success, with -EBUSY for a definitely unmovable
//! page (a PageOffline page still referenced), or with -EINTR when the writer
//! has a signal pending. Success takes the free pages off the isolated free
//! lists, clears SECTION_IS_ONLINE and fixes the accounting. The zone's
//! per-CPU page lists are disabled (`zone_pcp_disable()`) from before the
//! isolation to the end of the attempt, so no free page of the range hides
//! on them from `test_pages_isolated()`.

use super::{MemAction, MemHotplugWrite, MemoryBlock, MemoryNotify, NodeAction, Task};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{PageType, Pfn, PAGEBLOCK_NR_PAGES, PG_HWPOISON, PG_LRU, PG_MOVABLE_OPS};
use crate::sparse::PAGES_PER_SECTION;
use crate::variant::OfflineSkip;
use crate::zone::isolation::{page_offline_skippable, IsolateMode};
use crate::zone::{buddy, NodeState, Zone, ZoneType};

impl Machine {
    /// `memory_block_offline()`.
    pub(crate) fn memory_block_offline(&self, mem: &MemoryBlock, task: &Task) -> KResult<()> {
        let Some((nid, zt)) = mem.zone() else {
            return Err(Errno::EINVAL);
        };
        let hp = self.mem_hotplug_begin();
        self.offline_pages(&hp, mem.start_pfn, mem.nr_pages, self.zone(nid, zt), task)?;
        mem.set_zone(None);
        self.mem_hotplug_done(hp);
        Ok(())
    }

    /// `offline_pages()`. Under `mem_hotplug_begin()`; sleeps (migration,
    /// notifiers) with it held.
    pub fn offline_pages(
        &self,
        hp: &MemHotplugWrite<'_>,
        start: Pfn,
        nr: u64,
        zone: &Zone,
        task: &Task,
    ) -> KResult<()> {
        let end = start + nr;
        let fail = |reason: &str, e: Errno| {
            self.log(format!(
                "memory offlining [mem {:#010x}-{:#010x}] failed due to {reason}",
                start.phys().0,
                end.phys().0 - 1
            ));
            Err(e)
        };
        if nr == 0 || !start.is_aligned(PAGEBLOCK_NR_PAGES) || !end.is_aligned(PAGES_PER_SECTION) {
            return Err(Errno::EINVAL);
        }
        if self.system_ram_pages(start, end) != nr {
            return fail("memory holes", Errno::EINVAL);
        }
        let in_zone = |pfn: Pfn| {
            self.mem()
                .pfn_to_online_page(pfn)
                .is_some_and(|p| p.zonenum() == zone.zone_type && p.nid() == zone.nid)
        };
        if !in_zone(start) || !in_zone(end - 1) {
            return fail("multizone range", Errno::EINVAL);
        }
        // Disable the pcplists so that page isolation cannot race with a
        // free that leaves a page of an isolated pageblock on them; the
        // guard re-enables them on every way out (zone_pcp_enable()).
        let pcp = self.zone_pcp_disable(zone);
        if self
            .start_isolate_page_range(start, end, IsolateMode::MemOffline)
            .is_err()
        {
            return fail("failure to isolate range", Errno::EBUSY);
        }
        let node = self.node(zone.nid);
        let last_memory = nr >= node.present_pages();
        let arg = MemoryNotify {
            start_pfn: start,
            nr_pages: nr,
        };
        if last_memory {
            self.node_notify(NodeAction::RemovingLastMemory, zone.nid);
        }
        let undo = |reason: &str, e: Errno| {
            self.undo_isolate_page_range(start, end);
            self.memory_notify(MemAction::CancelOffline, arg);
            if last_memory {
                self.node_notify(NodeAction::CancelRemovingLastMemory, zone.nid);
            }
            fail(reason, e)
        };
        let ret = self.memory_notify(MemAction::GoingOffline, arg);
        if let Some(e) = super::notifier::notifier_to_errno(ret) {
            return undo("notifier failure", e);
        }
        loop {
            let mut pfn = start;
            let ret = loop {
                if task.signal_pending() {
                    return undo("signal backoff", Errno::EINTR);
                }
                task.cond_resched();
                match self.scan_movable_pages(pfn, end) {
                    Ok(found) => {
                        pfn = found;
                        self.do_migrate_range(found, end);
                    }
                    Err(e) => break e,
                }
            };
            if ret != Errno::ENOENT {
                return undo("unmovable page", Errno::EBUSY);
            }
            // "Dissolve free hugetlb folios in the memory block before doing
            // offlining actually in order to make hugetlbfs's object
            // counting consistent."
            if let Err(e) = self.hugetlb_owner_dissolve(start, end) {
                return undo("failure to dissolve huge pages", e);
            }
            if self
                .test_pages_isolated(start, end, IsolateMode::MemOffline)
                .is_ok()
            {
                break;
            }
        }
        let managed = self.offline_isolated_pages(hp, zone, start, end);
        zone.lock.lock().nr_isolate_pageblock -= nr / PAGEBLOCK_NR_PAGES;
        pcp.enable();
        self.adjust_managed_page_count(zone, -(managed as i64));
        self.adjust_present_page_count(hp, zone, start, -(nr as i64));
        self.init_per_zone_wmark_min();
        if !node
            .zones
            .iter()
            .any(|z| z.zone_type != ZoneType::Movable && z.present_pages() > 0)
        {
            node.set_state(NodeState::NormalMemory, false);
        }
        if node.present_pages() == 0 {
            node.set_state(NodeState::Memory, false);
        }
        if !zone.populated() {
            self.page_alloc().zone_pcp_reset(zone);
            zone.set_pageset_ready(false);
        }
        if last_memory {
            self.node_notify(NodeAction::RemovedLastMemory, zone.nid);
        }
        self.memory_notify(MemAction::Offline, arg);
        // The pfn_active proposal: __offline_isolated_pages() cleared the
        // range's bits; walkers that found them set finish before the
        // memmap is poisoned (mainline has no such wait).
        if self.offline_waits_for_pfn_walkers() {
            self.rcu().synchronize();
        }
        self.remove_pfn_range_from_zone(hp, zone, start, nr);
        Ok(())
    }

    /// `scan_movable_pages()`: Ok(pfn) of the first movable page, ENOENT if
    /// none is left, EBUSY for a definitely unmovable one. Reference §2.8.
    pub fn scan_movable_pages(&self, start: Pfn, end: Pfn) -> Result<Pfn, Errno> {
        let mut from = start;
        while from < end {
            // The memmap slots of the rest of the section, looked up once
            // (pfn_to_page() is arithmetic in the kernel).
            let section_end = Pfn((from.0 / PAGES_PER_SECTION + 1) * PAGES_PER_SECTION).min(end);
            let pages = self
                .mem()
                .pfn_range_to_pages(from, section_end)
                .unwrap_or_else(|| panic!("BUG: pfn {from} has no memmap"));
            let mut next = section_end;
            for (pfn, p) in (from.0..).map(Pfn).zip(pages) {
                // The page type read once for the three tests that need it
                // (a free block's pages are all looked at, as in the kernel).
                let ty = p.page_type();
                // PageLRU() || page_has_movable_ops().
                if p.test(PG_LRU)
                    || (matches!(ty, Some(PageType::Offline | PageType::Zsmalloc))
                        && p.test(PG_MOVABLE_OPS))
                {
                    return Ok(pfn);
                }
                // PageHuge(): the head's type (the page's own for a small folio).
                let is_huge = match p.compound_head() {
                    None => ty == Some(PageType::Hugetlb),
                    Some(head) => self.page(head).is_type(PageType::Hugetlb),
                };
                if is_huge {
                    let folio = self.folio(pfn);
                    // A racy test, as in the kernel: the folio may be freed
                    // or isolated meanwhile; the caller copes.
                    if self.hugetlb_owner_migratable(pfn) {
                        return Ok(pfn);
                    }
                    next = (folio.pfn() + (1u64 << folio.order())).max(pfn + 1);
                    break;
                }
                if ty == Some(PageType::Offline) {
                    let skip = self.variants().offline_skip;
                    let busy = match skip {
                        OfflineSkip::Refcount => p.ref_count() != 0,
                        OfflineSkip::Skippable | OfflineSkip::Frozen => {
                            !page_offline_skippable(p, skip)
                        }
                    };
                    if busy {
                        return Err(Errno::EBUSY);
                    }
                }
            }
            from = next;
        }
        Err(Errno::ENOENT)
    }

    /// `__offline_isolated_pages()`: clears SECTION_IS_ONLINE, takes every free
    /// block off the isolate list and returns the number of managed pages
    /// that left (PageOffline pages were never managed). Reference §3.5.
    /// Under `mem_hotplug_begin()`, with the range isolated.
    pub fn offline_isolated_pages(
        &self,
        _hp: &MemHotplugWrite<'_>,
        zone: &Zone,
        start: Pfn,
        end: Pfn,
    ) -> u64 {
        self.mem().offline_mem_sections(start, end);
        let mut locked = zone.lock.lock();
        let mut already_offline = 0;
        let mut pfn = start;
        while pfn < end {
            let p = self.page(pfn);
            if !p.is_type(PageType::Buddy) && p.test(PG_HWPOISON) {
                pfn = pfn + 1;
                continue;
            }
            if p.is_type(PageType::Offline) {
                // The refcount a skipped page must have: released by its
                // owner (mainline), kept (skippable) or frozen (frozen).
                // Anything more is a reference that outlives the memory.
                let expected = match self.variants().offline_skip {
                    OfflineSkip::Refcount | OfflineSkip::Frozen => 0,
                    OfflineSkip::Skippable => 1,
                };
                if p.ref_count() != expected {
                    self.report_bug(format!(
                        "BUG: __offline_isolated_pages: PageOffline pfn {pfn} has refcount {}",
                        p.ref_count()
                    ));
                }
                already_offline += 1;
                pfn = pfn + 1;
                continue;
            }
            if !p.is_type(PageType::Buddy) || p.ref_count() != 0 {
                self.report_bug(format!(
                    "BUG: __offline_isolated_pages: pfn {pfn} is not a free buddy page"
                ));
                pfn = pfn + 1;
                continue;
            }
            let order = buddy::del_from_free_list(zone, &mut locked, self.mem(), pfn);
            pfn = pfn + (1u64 << order);
        }
        (end - start) - already_offline
    }
}
