//! The sparse memory model: `mem_section`s, subsection maps and the memmap.
//!
//! Physical memory is cut into 128 MiB sections. Each section has a
//! `MemSection` slot in one flat table (sized by `max_phys`, like
//! SPARSEMEM_EXTREME's root array but allocated up front, as a zero-filled
//! host mapping: an absent section is all zero bytes, so only the host
//! pages of sections ever written cost memory or time), carrying
//!
//! * the section flags of `section_mem_map`: PRESENT, HAS_MEM_MAP, ONLINE, EARLY
//!   and TAINT_ZONE_DEVICE;
//! * a pointer to the section's memmap, published with Release when the section
//!   is activated and cleared when it is deactivated;
//! * the subsection map (one bit per 2 MiB) that `pfn_valid()` consults for
//!   hotplugged sections;
//! * the pageblock bits (migratetype and the 7.2 isolate bit) of its 64
//!   pageblocks;
//! * the `pfn_active` map (one bit per subsection) of the proposed
//!   `pfn_walker=active` protocol.
//!
//! # ZONE_DEVICE in a section shared with RAM
//!
//! A device range (the memremap module above) is added in whole subsections, so it may
//! share a section with RAM. The section is then online (its RAM part is)
//! while the device part must not be treated as online memory: the section
//! carries SECTION_TAINT_ZONE_DEVICE, and `pfn_to_online_page()` asks, for a
//! tainted section, whether a live `dev_pagemap` covers the PFN — the
//! kernel's `get_dev_pagemap()` slow path. That lookup belongs to a higher
//! layer, so this one takes it as a [`PgmapLookup`] trait object.
//!
//! # pfn_active (the proposal behind `pfn_walker=active`)
//!
//! One bit per subsection says "this memmap is initialised and will not be
//! invalidated before a grace period": set after the memmap is initialised
//! (onlining RAM, `memremap_pages()`), cleared a grace period before it is
//! invalidated (`offline_pages()` and `pageunmap_range()` clear, call
//! `synchronize_rcu()`, then poison), read under RCU. A walker that finds
//! the bit set inside its read-side section therefore reads an initialised
//! memmap until the section ends; the walkers' end-of-PFN check
//! (`memmap_slot_done`, a layer up) reports a slot poisoned under one.
//! With it a walker needs no slow path: `pfn_to_online_page() =
//! pfn_active() && zone != ZONE_DEVICE` and `pfn_to_device_page() =
//! pfn_active() && zone == ZONE_DEVICE`.
//!
//! Writers (section activation, onlining) run under `mem_hotplug_lock` held for
//! write, so they never race with one another. Readers (`pfn_valid`,
//! `pfn_to_online_page`, PFN walkers, GUP-fast) are lockless: they load the
//! flags and the memmap pointer and may see a state that is stale an instant
//! later — that is the kernel's contract, and races built on it are what the
//! race explorer looks for. Memmaps are never unmapped while the machine lives
//! (see [`memmap`]), so a stale reader reads poison, not freed host memory.
//!
//! Unlike the kernel, `mem_section_usage` is embedded in the section slot rather
//! than kfree_rcu()'d, so `pfn_valid()` needs no RCU-sched section here.
//!
//! # Lockless readers and use after free
//!
//! A lockless reader (a PFN walker, GUP-fast, the compaction scanner) looks
//! a slot up with [`SparseMem::memmap_slot`], which takes its RCU read guard
//! and returns a [`MemmapSlot`] borrowing from it. The slot remembers the
//! free generation of its memmap chunk (see [`memmap`]); when the reader is
//! done with the PFN it asks [`MemmapSlot::freed_since_lookup`], and a
//! `true` is a use after free: the memmap was freed while the reader still
//! used it. Under `memmap_free=rcu` the free waits for a grace period, so a
//! reader inside its read-side section never sees one; under mainline's
//! `immediate` nothing waits.

pub mod memmap;

use crate::errno::{Errno, KResult};
use crate::hostmem::HostMap;
use crate::page::{Folio, Page, Pfn, PAGEBLOCK_NR_PAGES, PG_HEAD};
use crate::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, Ordering};
use crate::sync::{Arc, Rcu, RcuReadGuard};
use memmap::{MemmapChunk, MemmapPool};

/// SECTION_SIZE_BITS on x86-64.
pub const SECTION_SIZE_BITS: u32 = 27;
/// Bytes per section (128 MiB).
pub const SECTION_SIZE: u64 = 1 << SECTION_SIZE_BITS;
/// Pages per section (32768).
pub const PAGES_PER_SECTION: u64 = SECTION_SIZE >> crate::page::PAGE_SHIFT;
/// SUBSECTION_SHIFT: subsections are 2 MiB.
pub const SUBSECTION_SHIFT: u32 = 21;
/// Bytes per subsection (2 MiB).
pub const SUBSECTION_SIZE: u64 = 1 << SUBSECTION_SHIFT;
/// Pages per subsection (512).
pub const PAGES_PER_SUBSECTION: u64 = 1 << (SUBSECTION_SHIFT - crate::page::PAGE_SHIFT);
/// Subsections per section (64).
pub const SUBSECTIONS_PER_SECTION: u64 = PAGES_PER_SECTION / PAGES_PER_SUBSECTION;
/// Pageblocks per section (64).
pub const PAGEBLOCKS_PER_SECTION: usize = (PAGES_PER_SECTION / PAGEBLOCK_NR_PAGES) as usize;

/// SECTION_MARKED_PRESENT.
pub const SECTION_MARKED_PRESENT: u64 = 1 << 0;
/// SECTION_HAS_MEM_MAP.
pub const SECTION_HAS_MEM_MAP: u64 = 1 << 1;
/// SECTION_IS_ONLINE.
pub const SECTION_IS_ONLINE: u64 = 1 << 2;
/// SECTION_IS_EARLY.
pub const SECTION_IS_EARLY: u64 = 1 << 3;
/// SECTION_TAINT_ZONE_DEVICE: ZONE_DEVICE shares the section with other
/// memory, so `pfn_to_online_page()` must take the pgmap slow path.
pub const SECTION_TAINT_ZONE_DEVICE: u64 = 1 << 4;

/// The `get_dev_pagemap()` a lower layer needs: whether a live
/// `dev_pagemap` covers a PFN (taking and dropping its reference, under the
/// caller's RCU read-side section or none). Installed by the layer that owns
/// the pgmaps (the memremap module above).
pub trait PgmapLookup: Send + Sync {
    /// `get_dev_pagemap(pfn)` followed by `put_dev_pagemap()`: true if the
    /// PFN belongs to a pgmap whose reference is still live.
    fn pfn_has_live_pgmap(&self, pfn: Pfn) -> bool;
}

/// A lookup that finds no pgmap (a machine without ZONE_DEVICE).
struct NoPgmaps;

impl PgmapLookup for NoPgmaps {
    fn pfn_has_live_pgmap(&self, _pfn: Pfn) -> bool {
        false
    }
}

/// Pageblock bit: the pageblock is isolated (7.2 keeps it apart from the
/// migratetype, which is preserved underneath).
const PB_ISOLATE: u8 = 0x8;
const PB_MIGRATETYPE_MASK: u8 = 0x7;

/// `pfn_to_section_nr()`.
pub const fn pfn_to_section_nr(pfn: Pfn) -> u64 {
    pfn.0 / PAGES_PER_SECTION
}

/// `section_nr_to_pfn()`.
pub const fn section_nr_to_pfn(nr: u64) -> Pfn {
    Pfn(nr * PAGES_PER_SECTION)
}

/// `subsection_map_index()`.
pub const fn subsection_map_index(pfn: Pfn) -> u64 {
    (pfn.0 % PAGES_PER_SECTION) / PAGES_PER_SUBSECTION
}

/// One `struct mem_section` (with its usage embedded).
pub struct MemSection {
    /// The flag bits of `section_mem_map`.
    flags: AtomicU64,
    /// The section's memmap: slot 0 is the section's first PFN. Release on
    /// publish pairs with the Acquire in `memmap()`.
    memmap: AtomicPtr<Page>,
    /// The memmap chunk `memmap` points into (null: none). Published with
    /// Release before `memmap`, cleared after it; the Acquire loads are in
    /// [`SparseMem::memmap_slot`]. The pool keeps every chunk alive as long
    /// as the table.
    chunk: AtomicPtr<MemmapChunk>,
    /// `usage->subsection_map`.
    subsection_map: AtomicU64,
    /// The proposed `pfn_active` map, one bit per subsection (see the
    /// module doc). Release on set pairs with the Acquire in `pfn_active()`.
    active_map: AtomicU64,
    /// `usage->pageblock_flags`: migratetype in the low bits, PB_ISOLATE.
    pageblock_flags: [AtomicU8; PAGEBLOCKS_PER_SECTION],
}

impl MemSection {
    /// The flag bits.
    pub fn flags(&self) -> u64 {
        self.flags.load(Ordering::Acquire) // pairs with the Release in set/clear_flags
    }

    fn set_flags(&self, f: u64) {
        // Release: the memmap initialisation before it is visible to a reader
        // that sees the flag (pairs with the Acquire in `flags()`).
        self.flags.fetch_or(f, Ordering::Release);
    }

    fn clear_flags(&self, f: u64) {
        self.flags.fetch_and(!f, Ordering::Release); // pairs with `flags()`
    }

    /// `present_section()`.
    pub fn present(&self) -> bool {
        self.flags() & SECTION_MARKED_PRESENT != 0
    }

    /// `valid_section()`: the section has a memmap.
    pub fn valid(&self) -> bool {
        self.flags() & SECTION_HAS_MEM_MAP != 0
    }

    /// `online_section()`.
    pub fn online(&self) -> bool {
        self.flags() & SECTION_IS_ONLINE != 0
    }

    /// `early_section()`.
    pub fn early(&self) -> bool {
        self.flags() & SECTION_IS_EARLY != 0
    }

    /// `online_device_section()`: online and tainted by ZONE_DEVICE.
    pub fn online_device_section(&self) -> bool {
        let f = self.flags();
        f & SECTION_IS_ONLINE != 0 && f & SECTION_TAINT_ZONE_DEVICE != 0
    }

    /// The `pfn_active` map (one bit per subsection).
    pub fn active_map(&self) -> u64 {
        self.active_map.load(Ordering::Acquire) // pairs with set_pfn_active
    }

    /// The subsection map.
    pub fn subsection_map(&self) -> u64 {
        self.subsection_map.load(Ordering::Acquire) // pairs with fill_subsection_map
    }

    fn memmap(&self) -> *mut Page {
        self.memmap.load(Ordering::Acquire) // pairs with the Release in activate
    }
}

/// The section table: `nr` [`MemSection`]s in a zero-filled host mapping
/// (all-zero bytes are an absent section: every field is an atomic, and
/// the atomics of every backend are `repr(transparent)` over the
/// hardware's, for which zero is a valid value).
struct SectionTable {
    map: HostMap,
    nr: usize,
}

impl SectionTable {
    fn new(nr: usize) -> SectionTable {
        let bytes = nr * std::mem::size_of::<MemSection>();
        let map = HostMap::zeroed(bytes)
            .unwrap_or_else(|e| panic!("cannot map a section table of {bytes} bytes: {e}"));
        SectionTable { map, nr }
    }
}

impl std::ops::Deref for SectionTable {
    type Target = [MemSection];

    fn deref(&self) -> &[MemSection] {
        // SAFETY: the mapping holds at least `nr` sections' bytes, is aligned
        // to a host page, zero or written only through the atomics of these
        // sections, and lives as long as `self`.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().cast(), self.nr) }
    }
}

/// The sparse memory model of one machine.
pub struct SparseMem {
    sections: SectionTable,
    pool: Arc<MemmapPool>,
    /// `get_dev_pagemap()` for the slow path of `pfn_to_online_page()`.
    pgmaps: Arc<dyn PgmapLookup>,
}

/// A memmap slot as a lockless reader found it inside its RCU read-side
/// section ([`SparseMem::memmap_slot`]), with the free generation of its
/// memmap at the lookup. It borrows from the guard: it cannot outlive the
/// section.
#[derive(Clone, Copy)]
pub struct MemmapSlot<'a> {
    pfn: Pfn,
    page: &'a Page,
    chunk: &'a MemmapChunk,
    gen: u64,
}

impl<'a> MemmapSlot<'a> {
    /// The frame number.
    pub fn pfn(&self) -> Pfn {
        self.pfn
    }

    /// The slot (`struct page`). Its fields may be poison if the memmap was
    /// freed; callers must not trust them to index anything.
    pub fn page(&self) -> &'a Page {
        self.page
    }

    /// Whether the memmap holding the slot was freed since the lookup: the
    /// check a reader makes after its last use of the slot. Certain: it
    /// compares generations, it does not guess from the slot's contents.
    pub fn freed_since_lookup(&self) -> bool {
        self.chunk.freed_since(self.gen)
    }

    /// Who freed the memmap last (meaningful after
    /// [`MemmapSlot::freed_since_lookup`] said true).
    pub fn freed_by(&self) -> &'static str {
        self.chunk.freed_by()
    }
}

/// What a caller of `sparse_add_section` asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SectionKind {
    /// Boot memory (`sparse_init_early_section`).
    Early,
    /// Hotplugged memory.
    Hotplug,
}

impl SparseMem {
    /// A table for `nr_sections` sections, all absent.
    pub fn new(nr_sections: u64) -> SparseMem {
        SparseMem::with_pgmaps(nr_sections, Arc::new(NoPgmaps))
    }

    /// A table for `nr_sections` sections whose tainted sections ask
    /// `pgmaps` which PFNs are device memory.
    pub fn with_pgmaps(nr_sections: u64, pgmaps: Arc<dyn PgmapLookup>) -> SparseMem {
        SparseMem {
            sections: SectionTable::new(nr_sections as usize),
            pool: Arc::new(MemmapPool::new(PAGES_PER_SECTION as usize)),
            pgmaps,
        }
    }

    /// NR_MEM_SECTIONS.
    pub fn nr_sections(&self) -> u64 {
        self.sections.len() as u64
    }

    /// `__nr_to_section()`.
    pub fn section(&self, nr: u64) -> Option<&MemSection> {
        self.sections.get(nr as usize)
    }

    /// `__pfn_to_section()`.
    pub fn pfn_section(&self, pfn: Pfn) -> Option<&MemSection> {
        self.section(pfn_to_section_nr(pfn))
    }

    /// Memmap chunks mapped and free (for the note on memory cost).
    pub fn memmap_stats(&self) -> (usize, usize) {
        self.pool.stats()
    }

    /// `pfn_valid()`: a memmap slot exists for `pfn` (it may be offline,
    /// poisoned or a hole).
    pub fn pfn_valid(&self, pfn: Pfn) -> bool {
        let Some(ms) = self.pfn_section(pfn) else {
            return false;
        };
        if !ms.valid() {
            return false;
        }
        ms.early() || pfn_section_valid(ms, pfn)
    }

    /// `pfn_to_page()` for a PFN whose section has a memmap, else None. Like
    /// the kernel's, it does not check that the slot is initialised.
    pub fn pfn_to_page(&self, pfn: Pfn) -> Option<&Page> {
        let ms = self.pfn_section(pfn)?;
        let base = ms.memmap();
        if base.is_null() {
            return None;
        }
        let idx = (pfn.0 % PAGES_PER_SECTION) as usize;
        // SAFETY: `base` points at a chunk of PAGES_PER_SECTION slots that the
        // pool keeps mapped for the machine's lifetime (≥ &self); idx is in
        // bounds. The slot may be stale or poisoned, which is the protocol's
        // business, not memory safety's.
        Some(unsafe { &*base.add(idx) })
    }

    /// The memmap slots of `[start, end)`, which must lie within one
    /// section: `pfn_to_page()` of each, looked up once (bulk
    /// initialisation). None if the section has no memmap.
    pub fn pfn_range_to_pages(&self, start: Pfn, end: Pfn) -> Option<&[Page]> {
        assert!(
            start <= end && end.0 - start.0 <= PAGES_PER_SECTION - start.0 % PAGES_PER_SECTION,
            "[{start}, {end}) lies within one section"
        );
        let base = self.pfn_section(start)?.memmap();
        if base.is_null() {
            return None;
        }
        // SAFETY: as in pfn_to_page: `base` points at the section's
        // PAGES_PER_SECTION slots, kept mapped by the pool as long as `self`,
        // and the range lies within them.
        Some(unsafe {
            std::slice::from_raw_parts(
                base.add((start.0 % PAGES_PER_SECTION) as usize),
                (end.0 - start.0) as usize,
            )
        })
    }

    /// Calls `f` with every PFN of `[start, end)` and its memmap slot, the
    /// slots looked up once per section ([`SparseMem::pfn_range_to_pages`]):
    /// a bulk pass over a range the caller knows has a memmap (a BUG
    /// otherwise, as for `pfn_to_page()`).
    pub fn for_each_page(&self, start: Pfn, end: Pfn, mut f: impl FnMut(Pfn, &Page)) {
        self.for_each_run(start, end, |first, pages| {
            for (p, page) in (first.0..).zip(pages) {
                f(Pfn(p), page);
            }
        });
    }

    /// As [`SparseMem::for_each_page`], a section's part of the range at a
    /// time: its first PFN and its slots.
    pub fn for_each_run(&self, start: Pfn, end: Pfn, mut f: impl FnMut(Pfn, &[Page])) {
        let mut pfn = start;
        while pfn < end {
            let section_end = Pfn((pfn.0 / PAGES_PER_SECTION + 1) * PAGES_PER_SECTION).min(end);
            let pages = self
                .pfn_range_to_pages(pfn, section_end)
                .unwrap_or_else(|| panic!("BUG: pfn {pfn} has no memmap"));
            f(pfn, pages);
            pfn = section_end;
        }
    }

    /// `page_folio(pfn_to_page(pfn))`: a view of the folio `pfn` belongs to,
    /// or None if the page or its head has no memmap slot. Without a
    /// reference on the folio the view may be stale at once (see
    /// [`Folio`]).
    pub fn page_folio(&self, pfn: Pfn) -> Option<Folio<'_>> {
        let page = self.pfn_to_page(pfn)?;
        let (head_pfn, head) = match page.compound_head() {
            Some(head_pfn) => (head_pfn, self.pfn_to_page(head_pfn)?),
            None => (pfn, page),
        };
        let first_tail = if head.test(PG_HEAD) {
            self.pfn_to_page(head_pfn + 1)
        } else {
            None
        };
        Some(Folio::new(head, head_pfn, first_tail))
    }

    /// `pfn_to_online_page()`: the page if its section is online and the PFN
    /// is valid in its subsection map, else None; in a section that ZONE_DEVICE
    /// tainted, None also where a live pgmap covers the PFN (the
    /// `get_dev_pagemap()` slow path). Unsynchronised: a pgmap whose reference
    /// was already killed by `memunmap_pages()` is not found, so its pages read
    /// as online until their subsection is removed, as in the kernel.
    pub fn pfn_to_online_page(&self, pfn: Pfn) -> Option<&Page> {
        if !self.pfn_is_online(pfn) {
            return None;
        }
        self.pfn_to_page(pfn)
    }

    /// Calls `f` with every PFN of `[start, end)` that
    /// [`SparseMem::pfn_to_online_page`] finds, and its page, in order: the
    /// section and subsection checks once per subsection rather than per
    /// page (a walk over a zone's pages, as the checker makes).
    pub fn for_each_online_page(&self, start: Pfn, end: Pfn, mut f: impl FnMut(Pfn, &Page)) {
        self.for_each_online_run(start, end, |first, pages| {
            for (p, page) in (first.0..).zip(pages) {
                f(Pfn(p), page);
            }
        });
    }

    /// As [`SparseMem::for_each_online_page`], a run of online slots at a
    /// time (at most a subsection; one page at a time where ZONE_DEVICE
    /// shares the section): its first PFN and its slots.
    pub fn for_each_online_run(&self, start: Pfn, end: Pfn, mut f: impl FnMut(Pfn, &[Page])) {
        let mut pfn = start;
        while pfn < end {
            let sub_end = Pfn((pfn.0 / PAGES_PER_SUBSECTION + 1) * PAGES_PER_SUBSECTION).min(end);
            let Some(ms) = self.pfn_section(pfn) else {
                pfn = sub_end;
                continue;
            };
            let base = ms.memmap();
            if !ms.online() || !pfn_section_valid(ms, pfn) || base.is_null() {
                pfn = sub_end;
                continue;
            }
            let tainted = ms.online_device_section();
            // SAFETY: as in pfn_to_page: `base` points at the section's
            // PAGES_PER_SECTION slots, kept mapped by the pool as long as
            // `self`, and [pfn, sub_end) lies within the section.
            let slots = unsafe {
                std::slice::from_raw_parts(
                    base.add((pfn.0 % PAGES_PER_SECTION) as usize),
                    (sub_end.0 - pfn.0) as usize,
                )
            };
            if tainted {
                for (p, slot) in (pfn.0..).zip(slots) {
                    if !self.pgmaps.pfn_has_live_pgmap(Pfn(p)) {
                        f(Pfn(p), std::slice::from_ref(slot));
                    }
                }
            } else {
                f(pfn, slots);
            }
            pfn = sub_end;
        }
    }

    /// The checks of `pfn_to_online_page()` without the lookup.
    pub fn pfn_is_online(&self, pfn: Pfn) -> bool {
        let Some(ms) = self.pfn_section(pfn) else {
            return false;
        };
        // Unlike pfn_valid(), this checks the subsection map of early
        // sections too: the part of a boot section beyond RAM is not online.
        ms.online()
            && pfn_section_valid(ms, pfn)
            && !(ms.online_device_section() && self.pgmaps.pfn_has_live_pgmap(pfn))
    }

    /// `pfn_to_page()` for a lockless reader inside the read-side section
    /// `rcu`: the slot, with the free generation of its memmap noted so that
    /// the reader can ask, when done, whether the memmap was freed under it
    /// ([`MemmapSlot::freed_since_lookup`]). None if the section has no
    /// memmap, or is losing it during the lookup.
    pub fn memmap_slot<'a>(
        &'a self,
        _rcu: &'a RcuReadGuard<'_>,
        pfn: Pfn,
    ) -> Option<MemmapSlot<'a>> {
        let ms = self.pfn_section(pfn)?;
        // Acquire: pairs with the Release in sparse_add_section (the slots'
        // initialisation or poison before the pointer).
        let c = ms.chunk.load(Ordering::Acquire);
        if c.is_null() {
            return None;
        }
        // SAFETY: a chunk is owned by the pool, which holds it (an Arc in
        // `all`) until the pool drops with this table, i.e. longer than &self.
        let chunk = unsafe { &*c };
        let gen = chunk.freed_gen();
        // The chunk must still be the section's after the generation was
        // read: a free unpublishes the chunk before it bumps the generation
        // (the Acquire in freed_gen() makes that visible), so a free that
        // the generation missed is caught here or by freed_since_lookup().
        if ms.chunk.load(Ordering::Acquire) != c {
            return None;
        }
        let page = chunk.pages().get((pfn.0 % PAGES_PER_SECTION) as usize)?;
        Some(MemmapSlot {
            pfn,
            page,
            chunk,
            gen,
        })
    }

    /// `section_taint_zone_device()`: the section of `pfn` holds ZONE_DEVICE
    /// memory beside other memory. Cleared when the section goes away.
    pub fn section_taint_zone_device(&self, pfn: Pfn) {
        if let Some(ms) = self.pfn_section(pfn) {
            ms.set_flags(SECTION_TAINT_ZONE_DEVICE);
        }
    }

    /// The proposed `pfn_active()`: the memmap slot of `pfn` is initialised
    /// and stays valid until the caller's RCU read-side section ends (under
    /// `memmap_free=rcu`). Lockless; the caller holds the section.
    pub fn pfn_active(&self, pfn: Pfn) -> bool {
        self.pfn_section(pfn)
            .is_some_and(|ms| ms.active_map() & (1 << subsection_map_index(pfn)) != 0)
    }

    /// Sets the `pfn_active` bits of the populated subsections of
    /// `[start, end)`, after their memmap is initialised.
    pub fn set_pfn_active(&self, start: Pfn, end: Pfn) {
        self.for_each_subsection_mask(start, end, |ms, mask| {
            let mask = mask & ms.subsection_map();
            // Release: the memmap initialisation before the bit (pairs with
            // the Acquire in MemSection::active_map).
            ms.active_map.fetch_or(mask, Ordering::Release);
        });
    }

    /// Clears the `pfn_active` bits of `[start, end)`, before their memmap
    /// is invalidated (offlined, poisoned or freed).
    pub fn clear_pfn_active(&self, start: Pfn, end: Pfn) {
        self.for_each_subsection_mask(start, end, |ms, mask| {
            // Release: pairs with the Acquire in MemSection::active_map; the
            // updater then waits for a grace period before poisoning.
            ms.active_map.fetch_and(!mask, Ordering::Release);
        });
    }

    /// Calls `f` with each section of `[start, end)` and the subsection bits
    /// the range covers in it (partial subsections count whole).
    fn for_each_subsection_mask(&self, start: Pfn, end: Pfn, f: impl Fn(&MemSection, u64)) {
        let mut pfn = start;
        while pfn < end {
            let sec_end = Pfn((pfn_to_section_nr(pfn) + 1) * PAGES_PER_SECTION).min(end);
            let first = subsection_map_index(pfn);
            let last = subsection_map_index(Pfn(sec_end.0 - 1));
            let count = last - first + 1;
            let bits = if count == 64 {
                u64::MAX
            } else {
                ((1u64 << count) - 1) << first
            };
            if let Some(ms) = self.pfn_section(pfn) {
                f(ms, bits);
            }
            pfn = sec_end;
        }
    }

    /// `sparse_add_section()` for `[start, start + nr)` within one section:
    /// fills the subsection map (-EINVAL for an empty mask, -EEXIST on
    /// overlap), maps and poisons a memmap if the section had none, marks the
    /// section present and valid. Caller holds mem_hotplug_lock for write.
    pub fn sparse_add_section(&self, start: Pfn, nr: u64, kind: SectionKind) -> KResult<()> {
        let ms = self.pfn_section(start).ok_or(Errno::E2BIG)?;
        let mask = subsection_mask(start, nr)?;
        let old = ms.subsection_map.load(Ordering::Relaxed);
        if old & mask != 0 {
            return Err(Errno::EEXIST);
        }
        if ms.memmap().is_null() {
            let hotplug = kind == SectionKind::Hotplug;
            let chunk = self.pool.alloc(hotplug).ok_or(Errno::ENOMEM)?;
            match kind {
                // Boot memmaps are initialised by memmap_init right away.
                SectionKind::Early => {}
                SectionKind::Hotplug => chunk.poison(),
            }
            // Release: the poisoned/zeroed slots before the pointers (pairs
            // with the Acquire in SparseMem::memmap_slot and in
            // MemSection::memmap).
            ms.chunk
                .store(Arc::as_ptr(&chunk).cast_mut(), Ordering::Release);
            ms.memmap.store(chunk.as_ptr(), Ordering::Release);
        }
        for pb in &ms.pageblock_flags {
            pb.store(0, Ordering::Relaxed);
        }
        // Release: pairs with the Acquire in subsection_map().
        ms.subsection_map.fetch_or(mask, Ordering::Release);
        let mut f = SECTION_MARKED_PRESENT | SECTION_HAS_MEM_MAP;
        if kind == SectionKind::Early {
            f |= SECTION_IS_EARLY;
        }
        ms.set_flags(f);
        Ok(())
    }

    /// `section_deactivate()` for `[start, start + nr)` within one section.
    /// When the subsection map becomes empty the section loses every flag and
    /// its memmap; the chunk index is returned so that the caller frees it at
    /// once or after a grace period (the `memmap_free` variant).
    pub fn sparse_remove_section(&self, start: Pfn, nr: u64) -> KResult<Option<usize>> {
        let ms = self.pfn_section(start).ok_or(Errno::EINVAL)?;
        let mask = subsection_mask(start, nr)?;
        let old = ms.subsection_map.load(Ordering::Relaxed);
        if old & mask != mask {
            // WARN "section already deactivated"
            return Err(Errno::EINVAL);
        }
        ms.active_map.fetch_and(!mask, Ordering::Release); // pairs with active_map()
                                                           // Release: pairs with the Acquire in subsection_map().
        ms.subsection_map.fetch_and(!mask, Ordering::Release);
        if old & !mask != 0 {
            return Ok(None);
        }
        ms.clear_flags(
            SECTION_MARKED_PRESENT
                | SECTION_HAS_MEM_MAP
                | SECTION_IS_ONLINE
                | SECTION_IS_EARLY
                | SECTION_TAINT_ZONE_DEVICE,
        );
        // Release: the flag clear before the pointer clear (pairs with the
        // Acquire in MemSection::memmap).
        ms.memmap.store(std::ptr::null_mut(), Ordering::Release);
        // Release: pairs with the Acquire loads in memmap_slot; the free
        // that follows bumps the generation after this store.
        let c = ms.chunk.swap(std::ptr::null_mut(), Ordering::Release);
        // SAFETY: as in memmap_slot, the pool keeps the chunk alive.
        Ok((!c.is_null()).then(|| unsafe { &*c }.idx()))
    }

    /// Frees a memmap chunk on behalf of `by` (the hot-remove path that
    /// removed its section, for the use-after-free report): at once
    /// (mainline) or after an RCU grace period (`memmap_free=rcu`).
    pub fn free_memmap(&self, idx: usize, rcu: Option<&Rcu>, by: &'static str) {
        match rcu {
            None => self.pool.free(idx, by),
            Some(rcu) => {
                let pool = self.pool.clone();
                rcu.call_rcu(Box::new(move || pool.free(idx, by)));
            }
        }
    }

    /// `online_mem_sections()`: sets SECTION_IS_ONLINE on every section of
    /// `[start, end)`, and (the proposal) the range's `pfn_active` bits: the
    /// memmap was initialised before.
    pub fn online_mem_sections(&self, start: Pfn, end: Pfn) {
        self.for_each_section(start, end, |ms| ms.set_flags(SECTION_IS_ONLINE));
        self.set_pfn_active(start, end);
    }

    /// `offline_mem_sections()`, and (the proposal) clearing the range's
    /// `pfn_active` bits before the memmap is invalidated.
    pub fn offline_mem_sections(&self, start: Pfn, end: Pfn) {
        self.clear_pfn_active(start, end);
        self.for_each_section(start, end, |ms| ms.clear_flags(SECTION_IS_ONLINE));
    }

    fn for_each_section(&self, start: Pfn, end: Pfn, f: impl Fn(&MemSection)) {
        let first = pfn_to_section_nr(start);
        let last = pfn_to_section_nr(Pfn(end.0.saturating_sub(1)));
        for nr in first..=last {
            if let Some(ms) = self.section(nr) {
                f(ms);
            }
        }
    }

    // ----- pageblock bits --------------------------------------------------

    fn pageblock(&self, pfn: Pfn) -> Option<&AtomicU8> {
        let ms = self.pfn_section(pfn)?;
        let idx = ((pfn.0 % PAGES_PER_SECTION) / PAGEBLOCK_NR_PAGES) as usize;
        Some(&ms.pageblock_flags[idx])
    }

    /// `get_pageblock_migratetype()` without the isolate bit (raw value).
    pub fn pageblock_migratetype_raw(&self, pfn: Pfn) -> u8 {
        self.pageblock(pfn)
            .map_or(0, |b| b.load(Ordering::Relaxed) & PB_MIGRATETYPE_MASK)
    }

    /// `set_pageblock_migratetype()` (zone->lock or sole owner).
    pub fn set_pageblock_migratetype_raw(&self, pfn: Pfn, mt: u8) {
        if let Some(b) = self.pageblock(pfn) {
            let old = b.load(Ordering::Relaxed);
            b.store(
                (old & !PB_MIGRATETYPE_MASK) | (mt & PB_MIGRATETYPE_MASK),
                Ordering::Relaxed,
            );
        }
    }

    /// `get_pageblock_isolate()`.
    pub fn pageblock_isolated(&self, pfn: Pfn) -> bool {
        self.pageblock(pfn)
            .is_some_and(|b| b.load(Ordering::Relaxed) & PB_ISOLATE != 0)
    }

    /// Sets or clears the isolate bit (zone->lock held).
    pub fn set_pageblock_isolate(&self, pfn: Pfn, isolated: bool) {
        if let Some(b) = self.pageblock(pfn) {
            if isolated {
                b.fetch_or(PB_ISOLATE, Ordering::Relaxed);
            } else {
                b.fetch_and(!PB_ISOLATE, Ordering::Relaxed);
            }
        }
    }
}

/// `pfn_section_valid()`: the PFN's subsection is populated.
fn pfn_section_valid(ms: &MemSection, pfn: Pfn) -> bool {
    ms.subsection_map() & (1 << subsection_map_index(pfn)) != 0
}

/// The subsection bits of `[start, start + nr)`, which must lie within one
/// section and be subsection aligned (`check_pfn_span`).
fn subsection_mask(start: Pfn, nr: u64) -> KResult<u64> {
    if nr == 0 {
        return Err(Errno::EINVAL);
    }
    if !start.is_aligned(PAGES_PER_SUBSECTION) || nr % PAGES_PER_SUBSECTION != 0 {
        return Err(Errno::EINVAL);
    }
    let first = subsection_map_index(start);
    let count = nr / PAGES_PER_SUBSECTION;
    if first + count > SUBSECTIONS_PER_SECTION {
        return Err(Errno::EINVAL);
    }
    let bits = if count == 64 {
        u64::MAX
    } else {
        (1u64 << count) - 1
    };
    Ok(bits << first)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Reference §10 case 38: a 2 MiB add sets one subsection bit; pfn_valid only
    // for those 512 PFNs; adding again → -EEXIST; 1 MiB → -EINVAL.
    #[test]
    fn sparse_add_section_subsection_granularity() {
        let s = SparseMem::new(4);
        let start = Pfn(PAGES_PER_SECTION + 3 * PAGES_PER_SUBSECTION);
        s.sparse_add_section(start, PAGES_PER_SUBSECTION, SectionKind::Hotplug)
            .unwrap();
        let ms = s.pfn_section(start).unwrap();
        assert_eq!(ms.subsection_map(), 1 << 3);
        assert!(ms.present() && ms.valid() && !ms.online() && !ms.early());
        assert!(s.pfn_valid(start));
        assert!(s.pfn_valid(start + 511));
        assert!(!s.pfn_valid(start + 512));
        assert!(!s.pfn_valid(start - 1));
        assert_eq!(
            s.sparse_add_section(start, PAGES_PER_SUBSECTION, SectionKind::Hotplug),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            s.sparse_add_section(start + 1024, 256, SectionKind::Hotplug),
            Err(Errno::EINVAL)
        );
        // A hot-added memmap starts poisoned.
        assert!(s.pfn_to_page(start).unwrap().is_poisoned());
    }

    // Reference §10 case 39: removing the last subsection clears every flag.
    #[test]
    fn section_deactivate_clears_flags_with_last_subsection() {
        let s = SparseMem::new(2);
        let a = Pfn(0);
        let b = Pfn(PAGES_PER_SUBSECTION);
        s.sparse_add_section(a, PAGES_PER_SUBSECTION, SectionKind::Hotplug)
            .unwrap();
        s.sparse_add_section(b, PAGES_PER_SUBSECTION, SectionKind::Hotplug)
            .unwrap();
        s.online_mem_sections(a, b + PAGES_PER_SUBSECTION);
        assert_eq!(s.sparse_remove_section(a, PAGES_PER_SUBSECTION), Ok(None));
        assert!(s.section(0).unwrap().present());
        let idx = s.sparse_remove_section(b, PAGES_PER_SUBSECTION).unwrap();
        assert!(idx.is_some());
        assert_eq!(s.section(0).unwrap().flags(), 0);
        assert!(!s.pfn_valid(b));
        assert!(s.pfn_to_page(b).is_none());
        s.free_memmap(idx.unwrap(), None, "test");
        assert_eq!(s.memmap_stats(), (1, 1));
    }

    // section_deactivate() frees the memmap (mainline: at once): a slot a
    // lockless reader looked up before the free reports it, whatever the
    // slot holds; the chunk sits in quarantine for MEMMAP_QUARANTINE frees.
    #[test]
    fn freed_memmap_is_detected_and_quarantined() {
        let s = SparseMem::new(8);
        let rcu = Rcu::new();
        let add = |nr: u64| {
            s.sparse_add_section(
                section_nr_to_pfn(nr),
                PAGES_PER_SECTION,
                SectionKind::Hotplug,
            )
            .unwrap();
            std::ptr::from_ref(s.pfn_to_page(section_nr_to_pfn(nr)).unwrap())
        };
        let remove = |nr: u64| {
            let idx = s
                .sparse_remove_section(section_nr_to_pfn(nr), PAGES_PER_SECTION)
                .unwrap()
                .unwrap();
            s.free_memmap(idx, None, "remove_memory");
        };
        let first = add(0);
        let guard = rcu.read_lock();
        let slot = s.memmap_slot(&guard, Pfn(5)).unwrap();
        let idx = s
            .sparse_remove_section(Pfn(0), PAGES_PER_SECTION)
            .unwrap()
            .unwrap();
        assert!(!slot.freed_since_lookup(), "unpublished is not freed yet");
        assert!(s.memmap_slot(&guard, Pfn(5)).is_none());
        s.free_memmap(idx, None, "remove_memory");
        assert!(slot.freed_since_lookup());
        assert_eq!(slot.freed_by(), "remove_memory");
        assert!(slot.page().is_poisoned());
        drop(guard);
        let n = memmap::MEMMAP_QUARANTINE as u64;
        for nr in 1..=n {
            assert_ne!(add(nr), first, "quarantined chunk handed out");
        }
        for nr in 1..=n {
            remove(nr);
        }
        assert_eq!(s.memmap_stats(), (5, 5));
        assert_eq!(add(n + 1), first, "oldest out of quarantine first");
    }

    // Reference §10 case 40: early sections are valid over the whole section.
    #[test]
    fn early_section_valid_everywhere() {
        let s = SparseMem::new(1);
        s.sparse_add_section(Pfn(0), PAGES_PER_SUBSECTION, SectionKind::Early)
            .unwrap();
        assert!(s.pfn_valid(Pfn(PAGES_PER_SECTION - 1)));
        assert!(s.pfn_to_online_page(Pfn(0)).is_none(), "not online yet");
        s.online_mem_sections(Pfn(0), Pfn(PAGES_PER_SECTION));
        assert!(s
            .pfn_to_online_page(Pfn(PAGES_PER_SUBSECTION - 1))
            .is_some());
        // pfn_to_online_page() checks the subsection map even of an early
        // section (mm/memory_hotplug.c): the unpopulated rest is not online.
        assert!(s.pfn_to_online_page(Pfn(PAGES_PER_SECTION - 1)).is_none());
        assert!(s.pfn_active(Pfn(PAGES_PER_SUBSECTION - 1)));
        assert!(!s.pfn_active(Pfn(PAGES_PER_SECTION - 1)));
    }
}
