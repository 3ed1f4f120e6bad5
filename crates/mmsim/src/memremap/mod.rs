//! ZONE_DEVICE: `memremap_pages()`, `memunmap_pages()`, `get_dev_pagemap()`
//! and the device pages' allocator (mm/memremap.c, mm/mm_init.c).
//!
//! A device driver gives a range of device memory a memmap without ever
//! onlining it: the pages sit in their node's ZONE_DEVICE, never in the
//! buddy allocator, and each belongs to a [`DevPagemap`] that says what the
//! memory is ([`MemoryType`]) and holds a reference (`pgmap->ref`) that
//! every user of the pages pins.
//!
//! # Life of a pgmap
//!
//! ```text
//!  memremap_pages()                               memunmap_pages()
//!  ───────────────                                ────────────────
//!  pgmap_array insert                             kill pgmap->ref, drop the
//!  mem_hotplug_begin                              initial references
//!    __add_pages (subsections)                    wait until the last
//!    move_pfn_range_to_zone(ZONE_DEVICE)            reference goes   ──► EDEADLK
//!    taint a section shared with other memory     clear pfn_active
//!  mem_hotplug_done                               mem_hotplug_begin
//!  memmap_init_zone_device                          remove_pfn_range_from_zone
//!  initial references, pfn_active, free list       __remove_pages (memmap_free)
//!        Live ─────────────────────────────────►  mem_hotplug_done
//!                                                 pgmap_array delete, synchronize_rcu
//!                                                        Dead
//! ```
//!
//! # References (7.2)
//!
//! `__init_zone_device_page()` gives every page PG_reserved, its pgmap and
//! refcount 0, except generic (device-dax) pages, which start and stay in
//! use at refcount 1 and whose last put resets them to 1. For every type but
//! private and coherent the pgmap holds one reference per page from the
//! start (the initial references), which `memunmap_pages()` drops.
//!
//! The other pages are handed out by their owner
//! ([`Machine::zone_device_page_alloc`], `zone_device_page_init()`) at
//! refcount 1, and their last put ([`Machine::free_zone_device_folio`],
//! reached from `folio_put()`) gives them back through
//! `pgmap->ops->page_free` to the pgmap's free list. **Model choice:** every
//! handed-out page holds a pgmap reference until it is freed — the kernel's
//! rule for private and coherent pages, extended here to fsdax and p2pdma,
//! whose owners in 7.2 (the file system breaking its layouts, the p2pdma
//! allocator's own ref) make sure of the same before the device goes. So
//! `memunmap_pages()` waits for every folio reference, as its comment says.
//!
//! # A wait that can never end
//!
//! `memunmap_pages()` waits uninterruptibly. [`Machine::memunmap_pages`]
//! does, and succeeds when another thread drops the last reference.
//! [`Machine::memunmap_pages_nowait`] is for a caller that knows no other
//! actor could drop one (a scenario's own thread): if references remain
//! after the kill it undoes it — the initial references and the live ref
//! come back, the pgmap is exactly as before — and fails with -EDEADLK, so
//! the caller may drop its references and retry. In between, for an
//! instant, `get_dev_pagemap()` fails as it would in the kernel.
//!
//! # Device-private memory
//!
//! Private memory is not CPU-addressable. Like `request_free_mem_region()`,
//! `memremap_pages()` places it itself, ignoring the caller's address: at
//! the lowest free section-aligned range of the device-private window
//! [`Machine::device_private_window`], which starts at `max_phys`, above
//! every hot-pluggable address. (The kernel searches downwards from the top
//! of the physical address space; the model searches upwards so that the
//! first range is at `max_phys`.) It has a memmap but no bytes: physmem
//! ends at `max_phys`, so any access through it fails with EFAULT and the
//! kernel-side callers report a bug.
//!
//! # Lock order
//!
//! mem_hotplug_lock (write) around the sparse and zone changes, as for RAM
//! (the [machine's lock order](crate::machine#lock-order)); the pgmap
//! table and each free list are leaf locks.

mod pgmap;

pub use pgmap::{DevPagemap, MemoryType, PgmapRef, PgmapState, PgmapTable};

use crate::errno::{Errno, KResult};
use crate::machine::{Machine, MAX_PHYS};
use crate::page::{
    pfn_range, Page, Pfn, PhysAddr, ZoneType, MAX_NUMNODES, PAGE_SHIFT, PG_RESERVED,
};
use crate::sparse::{PAGES_PER_SECTION, SECTION_SIZE, SUBSECTION_SIZE};
use crate::sync::Arc;
use crate::zone::Migratetype;
use std::ops::Range;

/// The most device-private memory a machine can map: 256 GiB above
/// `max_phys` (less when `max_phys` is near the model's 8 TiB limit).
pub const DEVICE_PRIVATE_WINDOW: u64 = 256 << 30;

impl Machine {
    /// The physical addresses device-private pgmaps are placed in:
    /// `[max_phys, max_phys + 256G)`, clipped to the model's address space.
    pub fn device_private_window(&self) -> Range<u64> {
        let start = self.config().max_phys;
        start..(start + DEVICE_PRIVATE_WINDOW).min(MAX_PHYS)
    }

    /// The table behind `get_dev_pagemap()`.
    pub fn pgmaps(&self) -> &PgmapTable {
        self.pgmap_table()
    }

    /// The live or dying pgmap called `name`.
    pub fn dev_pagemap(&self, name: &str) -> Option<Arc<DevPagemap>> {
        self.pgmaps().by_name(name)
    }

    /// `memremap_pages()` (with the driver's resource request before it):
    /// maps `[addr, addr + size)` of device memory of type `ty` on node
    /// `nid` and gives it a memmap in ZONE_DEVICE. For `DevicePrivate` the
    /// address is ignored and the range placed in the device-private window.
    ///
    /// Errors: -EINVAL for an empty range, one not made of whole 2 MiB
    /// subsections, beyond `max_phys` (`mhp_range_allowed()`), or a bad node;
    /// -EEXIST for a name in use; -EBUSY where another pgmap holds part of
    /// the range (the driver's `request_mem_region()`); -ENXIO where it
    /// intersects System RAM (`region_intersects()`); -ERANGE when the
    /// device-private window is full; -ENOMEM when the memmap cannot be
    /// allocated.
    ///
    /// ```
    /// use mmsim::memremap::MemoryType;
    /// use mmsim::page::PhysAddr;
    /// use mmsim::{Machine, MachineConfig};
    ///
    /// let m = Machine::boot(MachineConfig::default(), Default::default()).unwrap();
    /// let pm = m
    ///     .memremap_pages("pmem0", PhysAddr(4 << 30), 2 << 20, MemoryType::FsDax, 0)
    ///     .unwrap();
    /// assert!(m.is_zone_device_page(pm.range().start));
    /// m.memunmap_pages(&pm).unwrap();
    /// assert!(!m.mem().pfn_valid(pm.range().start));
    /// ```
    pub fn memremap_pages(
        &self,
        name: &str,
        addr: PhysAddr,
        size: u64,
        ty: MemoryType,
        nid: usize,
    ) -> KResult<Arc<DevPagemap>> {
        if size == 0 || size % SUBSECTION_SIZE != 0 || nid >= MAX_NUMNODES {
            return Err(Errno::EINVAL);
        }
        let _dev = self.hotplug().device_hotplug_lock.lock();
        if self.dev_pagemap(name).is_some() {
            return Err(Errno::EEXIST);
        }
        let start = if ty == MemoryType::DevicePrivate {
            self.request_free_mem_region(size)?
        } else {
            self.check_device_range(addr, size)?;
            addr.0
        };
        let range = Pfn(start >> PAGE_SHIFT)..Pfn((start + size) >> PAGE_SHIFT);
        let pgmap = Arc::new(DevPagemap::new(name, ty, range, nid));
        self.pagemap_range(&pgmap)?;
        Ok(pgmap)
    }

    /// The checks of a CPU-addressable range: whole subsections within
    /// `max_phys`, no other pgmap, no System RAM.
    fn check_device_range(&self, addr: PhysAddr, size: u64) -> KResult<()> {
        if addr.0 % SUBSECTION_SIZE != 0 || !self.mhp_range_allowed(addr.0, size) {
            return Err(Errno::EINVAL);
        }
        let pfns = addr.pfn()..Pfn((addr.0 + size) >> PAGE_SHIFT);
        if self.pgmaps().overlapping(&pfns).is_some() {
            return Err(Errno::EBUSY);
        }
        let end = addr.0 + size;
        if self
            .resources()
            .iter()
            .any(|r| r.range.start < end && addr.0 < r.range.end)
        {
            self.log(format!(
                "memremap: attempted on ram region {:#x}-{:#x}",
                addr.0,
                end - 1
            ));
            return Err(Errno::ENXIO);
        }
        Ok(())
    }

    /// `request_free_mem_region()`: the lowest free section-aligned range
    /// of `size` bytes in the device-private window; -ERANGE if none.
    fn request_free_mem_region(&self, size: u64) -> KResult<u64> {
        let window = self.device_private_window();
        let mut start = window.start;
        while start.checked_add(size).is_some_and(|e| e <= window.end) {
            let pfns = Pfn(start >> PAGE_SHIFT)..Pfn((start + size) >> PAGE_SHIFT);
            match self.pgmaps().overlapping(&pfns) {
                None => return Ok(start),
                Some(p) => start = p.range().end.phys().0.next_multiple_of(SECTION_SIZE),
            }
        }
        Err(Errno::ERANGE)
    }

    /// `pagemap_range()` for the pgmap's one range.
    fn pagemap_range(&self, pgmap: &Arc<DevPagemap>) -> KResult<()> {
        let range = pgmap.range();
        let (start, nr) = (range.start, pgmap.nr_pages());
        let ty = pgmap.memory_type();
        self.pgmap_table().insert(pgmap.clone());
        {
            let hp = self.mem_hotplug_begin();
            if let Err(e) = self.add_pages(&hp, start, nr) {
                drop(hp);
                self.pgmap_array_delete(pgmap);
                return Err(e);
            }
            let zone = self.zone(pgmap.nid(), ZoneType::Device);
            self.move_pfn_range_to_zone(&hp, zone, start, nr, Migratetype::Movable, false);
            // move_pfn_range_to_zone()'s ZONE_DEVICE branch: a range that
            // does not fill its first or last section shares it.
            if !start.is_aligned(PAGES_PER_SECTION) {
                self.mem().section_taint_zone_device(start);
            }
            if !range.end.is_aligned(PAGES_PER_SECTION) {
                self.mem().section_taint_zone_device(range.end);
            }
            self.mem_hotplug_done(hp);
        }
        self.memmap_init_zone_device(pgmap);
        if ty.has_initial_refs() {
            pgmap.pgref.get_many(nr as i64);
        }
        if ty.has_allocator() {
            let mut free: Vec<Pfn> = pfn_range(start, range.end).collect();
            free.reverse();
            *pgmap.free.lock() = free;
        }
        self.mem().set_pfn_active(start, range.end);
        Ok(())
    }

    /// `memmap_init_zone_device()`: `__init_zone_device_page()` on every
    /// page of the range (zone and node links, PG_reserved, the refcount of
    /// the type; the page→pgmap link is the range itself, see
    /// [`Machine::page_pgmap`]).
    fn memmap_init_zone_device(&self, pgmap: &DevPagemap) {
        let refcount = pgmap.memory_type().initial_page_refcount();
        // Not yet published (pfn_active and the pgmap table come after).
        crate::sync::unscheduled(|| {
            for pfn in pfn_range(pgmap.range().start, pgmap.range().end) {
                let page = self.page(pfn);
                page.init_single(ZoneType::Device, pgmap.nid());
                page.set(PG_RESERVED);
                page.set_ref_count(refcount);
            }
        });
    }

    /// `pgmap_array_delete()`: the pgmap leaves the table, and readers that
    /// may have found it finish (`synchronize_rcu()`).
    fn pgmap_array_delete(&self, pgmap: &DevPagemap) {
        self.pgmap_table().remove(pgmap);
        self.rcu().synchronize();
    }

    /// `memunmap_pages()`: kills the pgmap's reference, drops the initial
    /// references, waits (uninterruptibly) until the last reference is
    /// gone, then unmaps the range. -EINVAL if the pgmap is not live.
    pub fn memunmap_pages(&self, pgmap: &Arc<DevPagemap>) -> KResult<()> {
        self.memunmap(pgmap, false)
    }

    /// `memunmap_pages()` for a caller that is the only actor: where the
    /// wait could never end (references remain after the kill) it undoes
    /// the kill and fails with -EDEADLK, leaving the pgmap live (module
    /// doc, "A wait that can never end").
    pub fn memunmap_pages_nowait(&self, pgmap: &Arc<DevPagemap>) -> KResult<()> {
        self.memunmap(pgmap, true)
    }

    fn memunmap(&self, pgmap: &Arc<DevPagemap>, nowait: bool) -> KResult<()> {
        let _dev = self.hotplug().device_hotplug_lock.lock();
        if pgmap.state() != PgmapState::Live {
            return Err(Errno::EINVAL);
        }
        let initial = if pgmap.memory_type().has_initial_refs() {
            pgmap.nr_pages() as i64
        } else {
            0
        };
        pgmap.set_state(PgmapState::Dying);
        if !pgmap.kill(initial, nowait) {
            pgmap.set_state(PgmapState::Live);
            return Err(Errno::EDEADLK);
        }
        pgmap.wait_for_refs();
        self.pageunmap_range(pgmap);
        pgmap.set_state(PgmapState::Dead);
        Ok(())
    }

    /// `pageunmap_range()`: the memmap goes (its `pfn_active` bits first).
    fn pageunmap_range(&self, pgmap: &DevPagemap) {
        let range = pgmap.range();
        let nr = pgmap.nr_pages();
        self.mem().clear_pfn_active(range.start, range.end);
        // The proposal: walkers that saw the bits set finish before the
        // memmap is poisoned (mainline has no such wait).
        if self.variants().pfn_walker == crate::variant::PfnWalker::Active {
            self.rcu().synchronize();
        }
        pgmap.free.lock().clear();
        {
            let hp = self.mem_hotplug_begin();
            let zone = self.zone(pgmap.nid(), ZoneType::Device);
            self.remove_pfn_range_from_zone(&hp, zone, range.start, nr);
            self.remove_pages(&hp, range.start, nr, "memunmap_pages");
            self.mem_hotplug_done(hp);
        }
        self.pgmap_array_delete(pgmap);
    }

    /// `get_dev_pagemap(pfn)`: under RCU, the pgmap whose range holds
    /// `pfn`, with a reference taken (`percpu_ref_tryget_live`); None if
    /// there is none or it is being unmapped. Drop the reference with
    /// [`Machine::put_dev_pagemap`].
    pub fn get_dev_pagemap(&self, pfn: Pfn) -> Option<Arc<DevPagemap>> {
        let _rcu = self.rcu().read_lock();
        let pgmap = self.pgmaps().lookup(pfn)?;
        pgmap.pgref.tryget_live().then_some(pgmap)
    }

    /// `put_dev_pagemap()`.
    pub fn put_dev_pagemap(&self, pgmap: &DevPagemap) {
        pgmap.pgref.put_many(1);
    }

    /// `page_pgmap()`: the pgmap a ZONE_DEVICE page belongs to, without a
    /// reference. The kernel keeps a pointer in the page; the model finds
    /// the pgmap by the page's PFN, which is equivalent because a pgmap
    /// outlives its memmap.
    pub fn page_pgmap(&self, pfn: Pfn) -> Option<Arc<DevPagemap>> {
        if !self.is_zone_device_page(pfn) {
            return None;
        }
        self.pgmaps().lookup(pfn)
    }

    /// `is_zone_device_page()`: the PFN has a memmap slot in ZONE_DEVICE.
    pub fn is_zone_device_page(&self, pfn: Pfn) -> bool {
        self.mem().pfn_valid(pfn)
            && self
                .mem()
                .pfn_to_page(pfn)
                .is_some_and(|p| !p.is_poisoned() && p.zonenum() == ZoneType::Device)
    }

    /// `pfn_to_device_page()` (the pfn_active proposal): the page if its
    /// memmap is active and in ZONE_DEVICE. Mainline has no such function;
    /// without the `pfn_active` bits a caller uses `get_dev_pagemap()`.
    pub fn pfn_to_device_page(&self, pfn: Pfn) -> Option<&Page> {
        if !self.mem().pfn_active(pfn) {
            return None;
        }
        self.mem()
            .pfn_to_page(pfn)
            .filter(|p| p.zonenum() == ZoneType::Device)
    }

    /// A device driver allocates a page of its pgmap
    /// (`zone_device_page_init()`): the lowest free page, at refcount 1,
    /// holding a pgmap reference. -EINVAL for a generic pgmap (no
    /// allocator: its pages are always in use), -ENODEV if the pgmap is
    /// being unmapped, -ENOMEM if every page is in use.
    pub fn zone_device_page_alloc(&self, pgmap: &DevPagemap) -> KResult<Pfn> {
        if !pgmap.memory_type().has_allocator() {
            return Err(Errno::EINVAL);
        }
        if !pgmap.pgref.tryget_live() {
            return Err(Errno::ENODEV);
        }
        let Some(pfn) = pgmap.free.lock().pop() else {
            pgmap.pgref.put_many(1);
            return Err(Errno::ENOMEM);
        };
        self.page(pfn).set_ref_count(1);
        Ok(pfn)
    }

    /// A device driver drops its reference on a page it handed out
    /// (`put_page()`); the last reference returns it to the free list.
    /// -EINVAL for a PFN outside the pgmap, a generic pgmap, or a page that
    /// is free.
    pub fn zone_device_page_free(&self, pgmap: &DevPagemap, pfn: Pfn) -> KResult<()> {
        if !pgmap.contains(pfn)
            || !pgmap.memory_type().has_allocator()
            || pgmap.state() == PgmapState::Dead
            || self.page(pfn).ref_count() <= 0
        {
            return Err(Errno::EINVAL);
        }
        self.folio_put(pfn);
        Ok(())
    }

    /// `free_zone_device_folio()`: the last reference of a device page went
    /// (from `folio_put()`). Generic pages are reset to refcount 1; the
    /// others go back to their pgmap's free list (`pgmap->ops->page_free`)
    /// and drop the pgmap reference their allocation took.
    pub fn free_zone_device_folio(&self, pfn: Pfn) {
        let Some(pgmap) = self.pgmaps().lookup(pfn) else {
            self.report_bug(format!(
                "BUG: free_zone_device_folio: pfn {pfn} belongs to no pgmap"
            ));
            return;
        };
        let page = self.page(pfn);
        page.clear(crate::page::PG_ANON_EXCLUSIVE);
        if pgmap.memory_type() == MemoryType::DevicePrivate {
            // An HMM page was an anonymous folio: its identity goes (the
            // device's copy of its bytes below). An fsdax page keeps its
            // file identity: the file system owns it.
            page.clear(crate::page::PG_LRU);
            page.clear(crate::page::PG_UPTODATE);
            page.set_private(0);
            page.set_mapcount(0);
        }
        if !pgmap.memory_type().has_allocator() {
            page.set_ref_count(1);
            return;
        }
        pgmap.store.lock().remove(&pfn.0);
        pgmap.free.lock().push(pfn);
        pgmap.pgref.put_many(1);
    }

    /// A reference on page `pfn` of `pgmap` for a user that addresses its
    /// pages directly (an fsdax file's page `i` is page `i`): one more if it
    /// is in use, else it leaves the free list with refcount 1 and a pgmap
    /// reference, as `zone_device_page_alloc()`'s pages do. -EINVAL outside
    /// the pgmap, -ENODEV once it is being torn down. Callers serialise the
    /// first get of a page (the file lock).
    pub fn zone_device_folio_get(&self, pgmap: &DevPagemap, pfn: Pfn) -> KResult<()> {
        if !pgmap.contains(pfn) || !pgmap.memory_type().has_allocator() {
            return Err(Errno::EINVAL);
        }
        let page = self.page(pfn);
        if page.try_get() {
            return Ok(());
        }
        if !pgmap.pgref.tryget_live() {
            return Err(Errno::ENODEV);
        }
        {
            let mut free = pgmap.free.lock();
            if let Some(i) = free.iter().rposition(|&p| p == pfn) {
                free.remove(i);
            }
        }
        page.set_ref_count(1);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
