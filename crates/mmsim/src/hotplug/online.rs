//! Onlining memory blocks (`device_online()` → `memory_subsys_online()` →
//! `memory_block_online()` → `online_pages()`), zone selection and
//! `valid_zones`.
//!
//! `online_pages()` initialises the block's memmap for its zone (every page
//! PageOffline with refcount 1 — PG_reserved before 6.11, variant
//! `memmap_init` — every pageblock MOVABLE and isolated), asks the
//! notifiers (MEM_GOING_ONLINE may veto), hands each chunk to the
//! online_page_callback, and only then marks the sections online and lifts
//! the isolation, so the allocator and PFN walkers see the pages all at once.

use super::{
    MemAction, MemHotplugWrite, MemoryBlock, MemoryBlockState, MemoryNotify, NodeAction, OnlineType,
};
use crate::errno::{Errno, KResult};
use crate::machine::Machine;
use crate::page::{Page, PageType, Pfn, SlotImage, ZoneType, PAGEBLOCK_NR_PAGES, PG_RESERVED};
use crate::sparse::PAGES_PER_SECTION;
use crate::variant::MemmapInit;
use crate::zone::{Migratetype, NodeState, Zone};

impl Machine {
    /// `device_online()`: Ok(false) if the block was already online (the
    /// kernel's return value 1).
    pub fn device_online(&self, mem: &MemoryBlock) -> KResult<bool> {
        let _dev = mem.device_lock();
        if mem.dev_online() {
            return Ok(false);
        }
        self.memory_subsys_online(mem)?;
        mem.dev_offline
            .store(false, crate::sync::atomic::Ordering::Relaxed);
        Ok(true)
    }

    /// `device_offline()`: Ok(false) if it was already offline.
    pub fn device_offline(&self, mem: &MemoryBlock, task: &super::Task) -> KResult<bool> {
        let _dev = mem.device_lock();
        if !mem.dev_online() {
            return Ok(false);
        }
        self.memory_subsys_offline(mem, task)?;
        mem.dev_offline
            .store(true, crate::sync::atomic::Ordering::Relaxed);
        Ok(true)
    }

    /// `memory_subsys_online()`: online with `mem->online_type` (MMOP_ONLINE
    /// if unset), which is reset afterwards whatever happened.
    fn memory_subsys_online(&self, mem: &MemoryBlock) -> KResult<()> {
        if mem.state() == MemoryBlockState::Online {
            return Ok(());
        }
        if mem.online_type() == OnlineType::Offline {
            mem.set_online_type(OnlineType::Online);
        }
        let ret = self.memory_block_change_state(
            mem,
            MemoryBlockState::Online,
            MemoryBlockState::Offline,
            None,
        );
        mem.set_online_type(OnlineType::Offline);
        ret
    }

    /// `memory_subsys_offline()`.
    fn memory_subsys_offline(&self, mem: &MemoryBlock, task: &super::Task) -> KResult<()> {
        if mem.state() == MemoryBlockState::Offline {
            return Ok(());
        }
        self.memory_block_change_state(
            mem,
            MemoryBlockState::Offline,
            MemoryBlockState::Online,
            Some(task),
        )
    }

    /// `memory_block_change_state()`: the block shows going-offline while an
    /// offline attempt runs and falls back to `from` on failure.
    fn memory_block_change_state(
        &self,
        mem: &MemoryBlock,
        to: MemoryBlockState,
        from: MemoryBlockState,
        task: Option<&super::Task>,
    ) -> KResult<()> {
        if mem.state() != from {
            return Err(Errno::EINVAL);
        }
        if to == MemoryBlockState::Offline {
            mem.set_state(MemoryBlockState::GoingOffline);
        }
        let ret = match to {
            MemoryBlockState::Online => self.memory_block_online(mem),
            _ => self.memory_block_offline(mem, task.expect("offline needs a task")),
        };
        mem.set_state(if ret.is_ok() { to } else { from });
        ret
    }

    /// `memory_block_online()`.
    fn memory_block_online(&self, mem: &MemoryBlock) -> KResult<()> {
        if mem.nr_hwpoison() != 0 {
            return Err(Errno::EHWPOISON);
        }
        let zone = self.zone_for_pfn_range(mem.online_type(), mem.nid, mem.start_pfn, mem.nr_pages);
        let hp = self.mem_hotplug_begin();
        self.online_pages(&hp, mem.start_pfn, mem.nr_pages, zone)?;
        mem.set_zone(Some((zone.nid, zone.zone_type)));
        self.mem_hotplug_done(hp);
        Ok(())
    }

    /// `online_pages()`: reference §2.5. Under `mem_hotplug_begin()`.
    pub fn online_pages(
        &self,
        hp: &MemHotplugWrite<'_>,
        start: Pfn,
        nr: u64,
        zone: &Zone,
    ) -> KResult<()> {
        if nr == 0
            || !start.is_aligned(PAGEBLOCK_NR_PAGES)
            || !(start + nr).is_aligned(PAGES_PER_SECTION)
        {
            return Err(Errno::EINVAL);
        }
        let end = start + nr;
        let node = self.node(zone.nid);
        self.move_pfn_range_to_zone(hp, zone, start, nr, Migratetype::Movable, true);
        let first_memory = !node.state(NodeState::Memory);
        if first_memory {
            self.node_notify(NodeAction::AddingFirstMemory, zone.nid);
        }
        let arg = MemoryNotify {
            start_pfn: start,
            nr_pages: nr,
        };
        let ret = self.memory_notify(MemAction::GoingOnline, arg);
        if let Some(err) = super::notifier::notifier_to_errno(ret) {
            self.memory_notify(MemAction::CancelOnline, arg);
            if first_memory {
                self.node_notify(NodeAction::CancelAddingFirstMemory, zone.nid);
            }
            self.remove_pfn_range_from_zone(hp, zone, start, nr);
            self.log(format!(
                "online_pages [mem {:#010x}-{:#010x}] failed",
                start.phys().0,
                end.phys().0 - 1
            ));
            return Err(err);
        }
        zone.lock.lock().nr_isolate_pageblock += nr / PAGEBLOCK_NR_PAGES;
        if !zone.pageset_ready() {
            zone.set_pageset_ready(true);
        }
        self.online_pages_range(hp, start, nr);
        self.adjust_present_page_count(hp, zone, start, nr as i64);
        node.set_state(NodeState::Memory, true);
        if zone.zone_type != ZoneType::Movable {
            node.set_state(NodeState::NormalMemory, true);
        }
        self.undo_isolate_page_range(start, end);
        // Reinitialise watermarks and update the pcp limits.
        self.init_per_zone_wmark_min();
        if first_memory {
            self.node_notify(NodeAction::AddedFirstMemory, zone.nid);
        }
        self.memory_notify(MemAction::Online, arg);
        Ok(())
    }

    /// `adjust_present_page_count()`: zone and node present pages (and the
    /// zone's early count for boot memory). Under `mem_hotplug_begin()`.
    pub(crate) fn adjust_present_page_count(
        &self,
        _hp: &MemHotplugWrite<'_>,
        zone: &Zone,
        start: Pfn,
        n: i64,
    ) {
        let early = self.mem().pfn_section(start).is_some_and(|s| s.early());
        zone.adjust_present(n, early);
        self.node(zone.nid).adjust_present(n);
    }

    /// `move_pfn_range_to_zone()`: grows the zone and node spans and runs
    /// `memmap_init_range(..., MEMINIT_HOTPLUG)`: every page gets the zone's
    /// links, refcount 1, no mapcount, and PageOffline (PG_reserved under
    /// `memmap_init=reserved`, the kernels before 6.11); every pageblock gets
    /// `mt` and, if asked, the isolate bit. Under `mem_hotplug_begin()`.
    pub fn move_pfn_range_to_zone(
        &self,
        _hp: &MemHotplugWrite<'_>,
        zone: &Zone,
        start: Pfn,
        nr: u64,
        mt: Migratetype,
        isolate: bool,
    ) {
        let end = start + nr;
        zone.grow_span(start, end);
        self.node(zone.nid).recompute_span();
        let init = self.variants().memmap_init;
        // The range is offline: no PFN walker or allocator looks at these
        // slots yet, so initialising them is one step for a checker, not
        // one per page.
        // __init_single_page() and, for hot-added memory, __SetPageOffline()
        // (6.11 on) or __SetPageReserved() (before) of every page.
        let image = match init {
            MemmapInit::Offline => {
                SlotImage::initialised(zone.zone_type, zone.nid, Some(PageType::Offline))
            }
            MemmapInit::Reserved => {
                SlotImage::initialised(zone.zone_type, zone.nid, None).with(PG_RESERVED)
            }
        };
        crate::sync::unscheduled(|| {
            self.mem()
                .for_each_run(start, end, |_, pages| Page::fill(pages, &image));
            let mut pb = start.align_up(PAGEBLOCK_NR_PAGES);
            while pb < end {
                self.mem().set_pageblock_migratetype_raw(pb, mt as u8);
                self.mem().set_pageblock_isolate(pb, isolate);
                pb = pb + PAGEBLOCK_NR_PAGES;
            }
        });
    }

    /// `remove_pfn_range_from_zone()`: poisons the memmap and shrinks the zone
    /// span if the range was at one of its ends. Under `mem_hotplug_begin()`.
    pub fn remove_pfn_range_from_zone(
        &self,
        _hp: &MemHotplugWrite<'_>,
        zone: &Zone,
        start: Pfn,
        nr: u64,
    ) {
        let end = start + nr;
        // One step for a checker: a lockless walker that still looks at the
        // range is caught by the section's state and the memmap's free, not
        // by which poisoned word it happens to read. (Stores to slots and
        // pageblock bits only: nothing inside can yield, so `quiescent` is
        // `unscheduled` at a counter per access, as in MemmapChunk::poison.)
        crate::sync::quiescent(|| {
            self.mem()
                .for_each_run(start, end, |_, pages| Page::fill(pages, &SlotImage::POISON));
            let mut pb = start.align_up(PAGEBLOCK_NR_PAGES);
            while pb < end {
                self.mem().set_pageblock_isolate(pb, false);
                pb = pb + PAGEBLOCK_NR_PAGES;
            }
        });
        // The kernel does not shrink ZONE_DEVICE: its span keeps every
        // range ever mapped into it.
        if zone.zone_type == crate::page::ZoneType::Device {
            return;
        }
        self.shrink_zone_span(zone, start, end);
        self.node(zone.nid).recompute_span();
    }

    /// `shrink_zone_span()`: looks for the first/last online page of the zone
    /// outside the removed range, stepping by subsection.
    fn shrink_zone_span(&self, zone: &Zone, start: Pfn, end: Pfn) {
        let (zs, ze) = zone.span();
        let belongs = |pfn: Pfn| {
            self.mem()
                .pfn_to_online_page(pfn)
                .is_some_and(|p| p.zonenum() == zone.zone_type && p.nid() == zone.nid)
        };
        let step = crate::sparse::PAGES_PER_SUBSECTION;
        if zs == start {
            let mut pfn = end;
            while pfn < ze && !belongs(pfn) {
                pfn = pfn + step;
            }
            if pfn >= ze {
                zone.set_span(Pfn(0), Pfn(0));
            } else {
                zone.set_span(pfn, ze);
            }
        } else if ze == end {
            let mut pfn = start;
            let mut last = None;
            while pfn > zs {
                pfn = pfn - step;
                if belongs(pfn) {
                    last = Some(pfn);
                    break;
                }
            }
            match last {
                Some(l) => zone.set_span(zs, l + step),
                None => zone.set_span(Pfn(0), Pfn(0)),
            }
        }
    }

    /// `default_kernel_zone_for_pfn()`: the first zone below ZONE_NORMAL whose
    /// span intersects the range, else ZONE_NORMAL.
    fn default_kernel_zone_for_pfn(&self, nid: usize, start: Pfn, nr: u64) -> &Zone {
        for zt in [ZoneType::Dma, ZoneType::Dma32] {
            let z = self.zone(nid, zt);
            if z.intersects(start, nr) {
                return z;
            }
        }
        self.zone(nid, ZoneType::Normal)
    }

    /// `zone_for_pfn_range()` (online_policy=contig-zones).
    pub fn zone_for_pfn_range(&self, t: OnlineType, nid: usize, start: Pfn, nr: u64) -> &Zone {
        match t {
            OnlineType::OnlineKernel => self.default_kernel_zone_for_pfn(nid, start, nr),
            OnlineType::OnlineMovable => self.zone(nid, ZoneType::Movable),
            OnlineType::Online | OnlineType::Offline => {
                let kernel = self.default_kernel_zone_for_pfn(nid, start, nr);
                let movable = self.zone(nid, ZoneType::Movable);
                let in_kernel = kernel.intersects(start, nr);
                let in_movable = movable.intersects(start, nr);
                match (in_kernel, in_movable) {
                    (true, false) => kernel,
                    (false, true) => movable,
                    _ => kernel,
                }
            }
        }
    }

    /// The `valid_zones` file of a block (without the newline).
    pub fn valid_zones(&self, mem: &MemoryBlock) -> String {
        if mem.state() == MemoryBlockState::Online {
            return match mem.zone() {
                Some((_, zt)) => zt.name().to_string(),
                None => "none".to_string(),
            };
        }
        let (s, n) = (mem.start_pfn, mem.nr_pages);
        let default = self.zone_for_pfn_range(OnlineType::Online, mem.nid, s, n);
        let mut out = default.zone_type.name().to_string();
        for t in [OnlineType::OnlineKernel, OnlineType::OnlineMovable] {
            let z = self.zone_for_pfn_range(t, mem.nid, s, n);
            if !std::ptr::eq(z, default) {
                out.push(' ');
                out.push_str(z.zone_type.name());
            }
        }
        out
    }

    /// Sets the online type and runs `device_online()` — the `state` store
    /// of an online string.
    pub fn online_memory_block(&self, mem: &MemoryBlock, t: OnlineType) -> KResult<bool> {
        mem.set_online_type(t);
        self.device_online(mem)
    }
}

#[cfg(test)]
mod tests {
    use crate::machine::{Machine, MachineConfig};
    use crate::page::{PageType, Pfn, PhysAddr, ZoneType, PG_RESERVED};
    use crate::variant::Variants;

    const START: Pfn = Pfn(1 << 20); // 4 GiB
    const NR: u64 = crate::sparse::PAGES_PER_SECTION;

    /// A machine with one hot-added, offline section at 4 GiB.
    fn added(memmap_init: &str) -> Machine {
        let mut v = Variants::default();
        v.set("memmap_init", memmap_init).unwrap();
        let m = Machine::boot(MachineConfig::default(), v).unwrap();
        m.add_memory(0, PhysAddr(1 << 32), NR << crate::page::PAGE_SHIFT)
            .unwrap();
        m
    }

    /// `memmap_init_range(..., MEMINIT_HOTPLUG)` on the whole section.
    fn memmap_init(m: &Machine) {
        let hp = m.mem_hotplug_begin();
        let zone = m.zone(0, ZoneType::Movable);
        m.move_pfn_range_to_zone(
            &hp,
            zone,
            START,
            NR,
            crate::zone::Migratetype::Movable,
            true,
        );
        m.mem_hotplug_done(hp);
    }

    /// Every page of the section: zone links, refcount 1, and `ty` and
    /// PG_reserved as memmap init left them.
    fn assert_every_page(m: &Machine, ty: Option<PageType>, reserved: bool) {
        for pfn in crate::page::pfn_range(START, START + NR) {
            let p = m.page(pfn);
            assert_eq!(p.page_type(), ty, "{pfn}");
            assert_eq!(p.test(PG_RESERVED), reserved, "{pfn}");
            assert_eq!(p.ref_count(), 1, "{pfn}");
            assert_eq!(p.zonenum(), ZoneType::Movable, "{pfn}");
        }
    }

    // mm/mm_init.c memmap_init_range(MEMINIT_HOTPLUG), 6.11 on: every page
    // __SetPageOffline with refcount 1 and the zone's links, no PG_reserved.
    #[test]
    fn memmap_init_hotplug_offline_sets_pageoffline() {
        let m = added("offline");
        memmap_init(&m);
        assert_every_page(&m, Some(PageType::Offline), false);
    }

    // memmap_init_range(MEMINIT_HOTPLUG) up to 6.10: __SetPageReserved on
    // every page, refcount 1, no page type.
    #[test]
    fn memmap_init_hotplug_reserved_sets_pg_reserved() {
        let m = added("reserved");
        memmap_init(&m);
        assert_every_page(&m, None, true);
    }

    // generic_online_page() -> __free_pages_core(): each value clears what
    // its memmap init set and frees to the buddy without a complaint; a page
    // left with the other value's marking is a kernel bug (7.2's
    // VM_WARN_ON_ONCE(PageReserved), the old kernels' bad page).
    #[test]
    fn free_pages_core_clears_what_memmap_init_set() {
        for value in ["offline", "reserved"] {
            let m = added(value);
            memmap_init(&m);
            m.generic_online_page(START, 9);
            let p = m.page(START + 3);
            assert_eq!(p.page_type(), None, "{value}");
            assert!(!p.test(PG_RESERVED), "{value}");
            assert!(m.page(START).is_type(PageType::Buddy), "{value}");
            assert!(m.take_bugs().is_empty(), "{value}");
            // A page memmap init marked the other way.
            let other = START + 512;
            match value {
                "offline" => m.page(other).set(PG_RESERVED),
                _ => m.page(other).set_type(PageType::Offline),
            }
            m.generic_online_page(other, 0);
            let bugs = m.take_bugs();
            assert_eq!(bugs.len(), 1, "{value}: {bugs:?}");
            assert!(bugs[0].contains("__free_pages_core"), "{bugs:?}");
        }
    }
}
