//! Nodes, zones and the buddy allocator.
//!
//! Each node has the four x86-64 zones (DMA, DMA32, Normal, Movable); a zone is
//! a span of PFNs (`zone_start_pfn`, `spanned_pages`) of which `present_pages`
//! exist and `managed_pages` were handed to the buddy allocator. Spans grow when
//! memory is onlined into a zone and shrink only at their ends when it goes
//! offline, so holes inside a span keep belonging to the zone.
//!
//! Locking (kernel order): `mem_hotplug_lock` (write) → `zone->lock`; the
//! whole machine's lock order is drawn in the machine module's doc.
//! * `zone->lock` ([`Zone::lock`]) protects the free lists, the buddy state of
//!   every free page (PageBuddy, order, list links), pageblock isolation and
//!   `nr_isolate_pageblock`.
//! * Spans and present counts change only under `mem_hotplug_lock` held for
//!   write, inside the zone's span seqcount; lockless readers use the seqcount.
//! * `managed_pages` and `nr_free` are atomics: readers may see them mid-update
//!   (as `/proc/zoneinfo` readers do). `nr_free` counts the buddy free lists
//!   only, never the per-CPU lists (`account_freepages()`, 6.10 on).
//! * Each CPU's per-CPU lists sit behind their `pcp->lock`, taken before
//!   `zone->lock` (bulk refills and drains); `pcp_batch_high_lock` (the
//!   zone's pcp limits) is held by an offline from before isolation to its
//!   end, so it comes after `mem_hotplug_lock` and before everything an
//!   offline takes.
//!
//! Submodules: [`buddy`] (free lists, `__free_one_page`, `rmqueue`), [`pcp`]
//! (per-CPU page lists, `rmqueue_pcplist`, `free_unref_page`,
//! `zone_pcp_disable`), [`alloc`] (zonelists and `alloc_pages`/`free_pages`),
//! [`isolation`] (page isolation, `test_pages_isolated`), [`contig`]
//! (`alloc_contig_range`).

pub mod alloc;
pub mod buddy;
pub mod contig;
pub mod isolation;
pub mod pcp;

use crate::page::{Pfn, MAX_PAGE_ORDER};
pub use crate::page::{ZoneType, MAX_NR_ZONES};
use crate::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use crate::sync::{SeqCount, SpinLock};
use buddy::FreeArea;

/// A pageblock migratetype (`enum migratetype`); in 7.2 isolation is a
/// separate pageblock bit, but isolated free pages still sit on their own list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Migratetype {
    /// MIGRATE_UNMOVABLE.
    Unmovable = 0,
    /// MIGRATE_MOVABLE.
    Movable = 1,
    /// MIGRATE_RECLAIMABLE.
    Reclaimable = 2,
    /// MIGRATE_ISOLATE: the free list of isolated pageblocks.
    Isolate = 3,
}

/// Number of free lists per order.
pub const NR_FREE_LISTS: usize = 4;

impl Migratetype {
    /// From a raw pageblock or free-list value.
    pub const fn from_raw(v: u8) -> Migratetype {
        match v {
            0 => Migratetype::Unmovable,
            2 => Migratetype::Reclaimable,
            3 => Migratetype::Isolate,
            _ => Migratetype::Movable,
        }
    }

    /// The kernel's name.
    pub const fn name(self) -> &'static str {
        match self {
            Migratetype::Unmovable => "Unmovable",
            Migratetype::Movable => "Movable",
            Migratetype::Reclaimable => "Reclaimable",
            Migratetype::Isolate => "Isolate",
        }
    }

    /// `fallbacks[]`: where an allocation of this type may steal from.
    pub const fn fallbacks(self) -> &'static [Migratetype] {
        match self {
            Migratetype::Unmovable => &[Migratetype::Reclaimable, Migratetype::Movable],
            Migratetype::Movable => &[Migratetype::Reclaimable, Migratetype::Unmovable],
            Migratetype::Reclaimable => &[Migratetype::Unmovable, Migratetype::Movable],
            Migratetype::Isolate => &[],
        }
    }
}

/// State under `zone->lock`: holding a `&mut ZoneLocked` is the proof that
/// the lock is held (the buddy functions take one).
pub struct ZoneLocked {
    /// The buddy free lists, one per (order, migratetype).
    pub free_area: FreeArea,
    /// `nr_isolate_pageblock`: pageblocks of this zone isolated now
    /// (isolation and onlining count them; the checker compares with the
    /// pageblock bits).
    pub nr_isolate_pageblock: u64,
}

/// One `struct zone`.
pub struct Zone {
    /// The node the zone belongs to (`zone_to_nid()`).
    pub nid: usize,
    /// Which of the node's zones this is (`zone_idx()`).
    pub zone_type: ZoneType,
    /// `zone->lock` and what it protects: a spinlock, innermost but for
    /// leaf locks (see the machine module's lock order).
    pub lock: SpinLock<ZoneLocked>,
    zone_start_pfn: AtomicU64,
    spanned_pages: AtomicU64,
    span_seq: SeqCount,
    present_pages: AtomicU64,
    present_early_pages: AtomicU64,
    managed_pages: AtomicI64,
    /// NR_FREE_PAGES (free pages on every buddy list, including isolated
    /// ones; not those on the per-CPU lists).
    nr_free: AtomicI64,
    /// `populated_zone()` has had its pcp set up (`zone_pcp_init` ran).
    pageset_ready: AtomicBool,
    /// `zone->per_cpu_pageset`: the per-CPU page lists and their limits.
    pub pcp: pcp::Pageset,
}

/// A snapshot of a zone's counters (for `zoneinfo` and the checker).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ZoneInfo {
    /// `zone_start_pfn`: the first PFN of the span.
    pub start_pfn: u64,
    /// `spanned_pages`: the span's length, holes included.
    pub spanned: u64,
    /// `present_pages`: pages of the span that exist and are online.
    pub present: u64,
    /// `present_early_pages`: the present pages that came from boot memory.
    pub present_early: u64,
    /// `managed_pages`: present pages handed to the buddy allocator.
    pub managed: i64,
    /// NR_FREE_PAGES: pages on the free lists, isolated ones included.
    pub free: i64,
    /// `nr_isolate_pageblock`: pageblocks isolated now.
    pub nr_isolate_pageblock: u64,
}

impl Zone {
    /// An empty zone.
    pub fn new(nid: usize, zone_type: ZoneType) -> Zone {
        Zone {
            nid,
            zone_type,
            lock: SpinLock::new(ZoneLocked {
                free_area: FreeArea::new(),
                nr_isolate_pageblock: 0,
            }),
            zone_start_pfn: AtomicU64::new(0),
            spanned_pages: AtomicU64::new(0),
            span_seq: SeqCount::new(),
            present_pages: AtomicU64::new(0),
            present_early_pages: AtomicU64::new(0),
            managed_pages: AtomicI64::new(0),
            nr_free: AtomicI64::new(0),
            pageset_ready: AtomicBool::new(false),
            pcp: pcp::Pageset::new(),
        }
    }

    /// The span as `[start, end)`, read consistently under the span seqcount.
    pub fn span(&self) -> (Pfn, Pfn) {
        loop {
            let seq = self.span_seq.read_begin();
            let start = self.zone_start_pfn.load(Ordering::Relaxed);
            let spanned = self.spanned_pages.load(Ordering::Relaxed);
            if !self.span_seq.read_retry(seq) {
                return (Pfn(start), Pfn(start + spanned));
            }
        }
    }

    /// `zone_is_empty()`: spans nothing.
    pub fn is_empty(&self) -> bool {
        self.spanned_pages.load(Ordering::Relaxed) == 0
    }

    /// `zone_spans_pfn()`.
    pub fn spans_pfn(&self, pfn: Pfn) -> bool {
        let (s, e) = self.span();
        s <= pfn && pfn < e
    }

    /// `zone_intersects()`.
    pub fn intersects(&self, start: Pfn, nr: u64) -> bool {
        if self.is_empty() {
            return false;
        }
        let (s, e) = self.span();
        start < e && s < start + nr
    }

    /// Sets the span (mem_hotplug_lock held for write, or boot).
    pub fn set_span(&self, start: Pfn, end: Pfn) {
        self.span_seq.write_begin();
        self.zone_start_pfn.store(start.0, Ordering::Relaxed);
        self.spanned_pages
            .store(end.0.saturating_sub(start.0), Ordering::Relaxed);
        self.span_seq.write_end();
    }

    /// `resize_zone_range()`: grow the span to include `[start, end)`.
    pub fn grow_span(&self, start: Pfn, end: Pfn) {
        if self.is_empty() {
            self.set_span(start, end);
        } else {
            let (s, e) = self.span();
            self.set_span(s.min(start), e.max(end));
        }
    }

    /// `populated_zone()`: has present pages.
    pub fn populated(&self) -> bool {
        self.present_pages() > 0
    }

    /// `present_pages`: pages of the span that exist and are online.
    pub fn present_pages(&self) -> u64 {
        self.present_pages.load(Ordering::Relaxed)
    }

    /// `managed_pages`: present pages handed to the buddy allocator
    /// (`zone_managed_pages()`).
    pub fn managed_pages(&self) -> i64 {
        self.managed_pages.load(Ordering::Relaxed)
    }

    /// NR_FREE_PAGES.
    pub fn nr_free(&self) -> i64 {
        self.nr_free.load(Ordering::Relaxed)
    }

    pub(crate) fn add_nr_free(&self, n: i64) {
        self.nr_free.fetch_add(n, Ordering::Relaxed);
    }

    /// Part of `adjust_managed_page_count()`.
    pub fn adjust_managed(&self, n: i64) {
        self.managed_pages.fetch_add(n, Ordering::Relaxed);
    }

    /// Part of `adjust_present_page_count()`.
    pub fn adjust_present(&self, n: i64, early: bool) {
        add_signed(&self.present_pages, n);
        if early {
            add_signed(&self.present_early_pages, n);
        }
    }

    /// Whether `setup_zone_pageset()` ran.
    pub fn pageset_ready(&self) -> bool {
        self.pageset_ready.load(Ordering::Relaxed)
    }

    /// `setup_zone_pageset()` / `zone_pcp_reset()`.
    pub fn set_pageset_ready(&self, v: bool) {
        self.pageset_ready.store(v, Ordering::Relaxed);
    }

    /// A snapshot of the counters.
    pub fn info(&self) -> ZoneInfo {
        let (s, e) = self.span();
        ZoneInfo {
            start_pfn: s.0,
            spanned: e.0 - s.0,
            present: self.present_pages(),
            present_early: self.present_early_pages.load(Ordering::Relaxed),
            managed: self.managed_pages(),
            free: self.nr_free(),
            nr_isolate_pageblock: self.lock.lock().nr_isolate_pageblock,
        }
    }
}

fn add_signed(a: &AtomicU64, n: i64) {
    if n >= 0 {
        a.fetch_add(n as u64, Ordering::Relaxed);
    } else {
        a.fetch_sub(n.unsigned_abs(), Ordering::Relaxed);
    }
}

/// Node states that hotplug maintains (`node_states[]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// N_ONLINE.
    Online,
    /// N_MEMORY: has (onlined) memory.
    Memory,
    /// N_NORMAL_MEMORY: has memory in a kernel zone.
    NormalMemory,
}

/// One `pg_data_t`.
pub struct Node {
    /// `node_id`: the index of this node in the machine's node table.
    pub nid: usize,
    /// The zones, indexed by `ZoneType::index()`.
    pub zones: [Zone; MAX_NR_ZONES],
    node_start_pfn: AtomicU64,
    node_spanned_pages: AtomicU64,
    node_present_pages: AtomicU64,
    online: AtomicBool,
    has_memory: AtomicBool,
    has_normal_memory: AtomicBool,
}

impl Node {
    /// An offline node with empty zones.
    pub fn new(nid: usize) -> Node {
        Node {
            nid,
            // Written out rather than `ZoneType::ALL.map(..)`, which builds
            // each zone on the side and copies it (and a machine
            // builds MAX_NUMNODES nodes at every boot).
            zones: [
                Zone::new(nid, ZoneType::Dma),
                Zone::new(nid, ZoneType::Dma32),
                Zone::new(nid, ZoneType::Normal),
                Zone::new(nid, ZoneType::Movable),
                Zone::new(nid, ZoneType::Device),
            ],
            node_start_pfn: AtomicU64::new(0),
            node_spanned_pages: AtomicU64::new(0),
            node_present_pages: AtomicU64::new(0),
            online: AtomicBool::new(false),
            has_memory: AtomicBool::new(false),
            has_normal_memory: AtomicBool::new(false),
        }
    }

    /// The zone of type `z`.
    pub fn zone(&self, z: ZoneType) -> &Zone {
        &self.zones[z.index()]
    }

    /// `node_state(nid, s)`.
    pub fn state(&self, s: NodeState) -> bool {
        match s {
            NodeState::Online => &self.online,
            NodeState::Memory => &self.has_memory,
            NodeState::NormalMemory => &self.has_normal_memory,
        }
        .load(Ordering::Relaxed)
    }

    /// `node_set_state()` / `node_clear_state()` (mem_hotplug_lock write).
    pub fn set_state(&self, s: NodeState, v: bool) {
        match s {
            NodeState::Online => &self.online,
            NodeState::Memory => &self.has_memory,
            NodeState::NormalMemory => &self.has_normal_memory,
        }
        .store(v, Ordering::Relaxed);
    }

    /// `node_present_pages`.
    pub fn present_pages(&self) -> u64 {
        self.node_present_pages.load(Ordering::Relaxed)
    }

    /// Part of `adjust_present_page_count()`.
    pub fn adjust_present(&self, n: i64) {
        add_signed(&self.node_present_pages, n);
    }

    /// `[node_start_pfn, node_end_pfn)`.
    pub fn span(&self) -> (Pfn, Pfn) {
        let s = self.node_start_pfn.load(Ordering::Relaxed);
        (
            Pfn(s),
            Pfn(s + self.node_spanned_pages.load(Ordering::Relaxed)),
        )
    }

    /// `resize_pgdat_range()` (grow) or a recomputation from the zones.
    pub fn recompute_span(&self) {
        let spans = self
            .zones
            .iter()
            .filter(|z| !z.is_empty())
            .map(|z| z.span());
        let (mut s, mut e) = (u64::MAX, 0);
        for (zs, ze) in spans {
            s = s.min(zs.0);
            e = e.max(ze.0);
        }
        if e == 0 {
            s = 0;
        }
        self.node_start_pfn.store(s, Ordering::Relaxed);
        self.node_spanned_pages.store(e - s, Ordering::Relaxed);
    }

    /// Managed pages over all zones.
    pub fn managed_pages(&self) -> i64 {
        self.zones.iter().map(|z| z.managed_pages()).sum()
    }
}

/// Orders in the buddy allocator, 0..=MAX_PAGE_ORDER.
pub const NR_ORDERS: usize = MAX_PAGE_ORDER as usize + 1;
